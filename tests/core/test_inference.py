"""``infer_slices``, the viewers' call: shapes, ranges, timings, masks, classifier choices,
devices, cancel and bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import lfmri_core.weights as shipped
from lfmri_core.coils import estimate_sensitivities
from lfmri_core.errors import InputError
from lfmri_core.inference import InferenceResult, infer_slices
from lfmri_core.masks import MaskSpec, SamplingMask
from lfmri_core.models import (
    ClassifierConfig,
    LesionClassifier,
    LFMRIConfig,
    LFMRINet,
    load_weights,
    save_weights,
)
from lfmri_core.models.inputs import model_sensitivities, readout_window
from lfmri_core.physics import apply_mask, center_crop
from lfmri_core.recon import Cancelled
from lfmri_core.recon.registry import METHOD_REGISTRY, MethodInfo
from lfmri_core.synthetic import SyntheticConfig, generate_volume
from tests.tolerances import assert_close_in_norm, relative_error, rounding_rtol

TINY_CLASSIFIER = ClassifierConfig(width=4, num_classes=3)
RECON_SHAPE = (96, 80)


def _seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().eval()


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("weights")
    lfmri = _seeded(lambda: LFMRINet(LFMRIConfig(num_stages=2, width=4, depth=2, cg_iterations=1,
                                                 classifier=ClassifierConfig(width=4))), seed=1)
    return {
        "lfmri": save_weights(folder / "lfmri.safetensors", lfmri),
        "net_c": save_weights(folder / "net_c.safetensors", _seeded(lambda: LesionClassifier(TINY_CLASSIFIER), seed=2)),
    }


@pytest.fixture(scope="module")
def knee() -> tuple[np.ndarray, SamplingMask]:
    """Fully sampled k-space of 2 synthetic knee slices, complex64 (2, 4, 320, 320), and a 4x mask."""
    volume = generate_volume(SyntheticConfig(num_slices=2, num_coils=4, seed=3))
    return volume.kspace, MaskSpec("random", 4.0, 0.08, seed=11).build(volume.kspace.shape[-2:])


@pytest.fixture
def no_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "shipped"
    folder.mkdir()
    monkeypatch.setattr(shipped, "WEIGHTS_DIR", folder)
    return folder


def _check(result: InferenceResult, slices: int, classes: int | None) -> None:
    assert result.image.shape == (slices, *RECON_SHAPE) and result.image.dtype == np.float32
    assert np.isfinite(result.image).all() and (result.image >= 0).all() and result.image.max() > 0
    assert set(result.timings) == {"compression", "maps", "reconstruction", "classifier", "total"}
    assert all(v >= 0 for v in result.timings.values())
    assert result.timings["total"] >= result.timings["maps"] + result.timings["reconstruction"] + result.timings["classifier"]
    assert result.device == "cpu"
    if classes is None:
        assert result.cam is None and result.class_scores is None and result.timings["classifier"] == 0
    else:
        assert result.cam is not None and result.class_scores is not None
        assert result.cam.shape == result.image.shape and result.cam.dtype == np.float32
        assert result.cam.min() >= 0 and result.cam.max() <= 1
        assert result.class_scores.shape == (slices, classes) and result.class_scores.dtype == np.float32
        assert ((result.class_scores > 0) & (result.class_scores < 1)).all()


def _fft_rtol(kspace: np.ndarray | torch.Tensor, passes: int) -> float:
    """complex64 rounding of ``passes`` 2-D FFTs of the k-space's size, summed over its coils."""
    return rounding_rtol(torch.complex64, fft_points=kspace.shape[-2] * kspace.shape[-1], fft_passes=passes,
                         terms=kspace.shape[-3])


def _check_classifier_outputs(result: InferenceResult, classifier: Path) -> None:
    """The CAM and scores are Net_c's on the cropped magnitude, computed in the same process
    on the same input: equal to the last bit."""
    net_c = load_weights(classifier, kind="classifier")
    with torch.no_grad():
        out = net_c(torch.from_numpy(result.image)[:, None])
    np.testing.assert_array_equal(result.cam, out.cam[:, 0].numpy())
    np.testing.assert_array_equal(result.class_scores, torch.sigmoid(out.logits).numpy())


def test_classical_method_equals_the_zero_filled_chain(knee: tuple[np.ndarray, SamplingMask], weights: dict[str, Path]) -> None:
    kspace, mask = knee
    result = infer_slices(kspace, mask, "zero-filled", device="cpu", recon_shape=RECON_SHAPE, classifier=weights["net_c"])
    _check(result, 2, classes=3)
    assert result.method == "zero-filled" and result.timings["maps"] == 0
    # fastMRI's definition in double precision: rss of the centred inverse FFT of masked k-space
    coils = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(mask.apply(kspace).astype(np.complex128), axes=(-2, -1)),
                                         norm="ortho"), axes=(-2, -1))
    expected = center_crop(torch.from_numpy(np.sqrt(np.sum(np.abs(coils) ** 2, axis=1))), RECON_SHAPE).numpy()
    assert_close_in_norm(result.image, expected, _fft_rtol(kspace, passes=1))
    _check_classifier_outputs(result, weights["net_c"])


def test_learned_method_with_maps_timed(knee: tuple[np.ndarray, SamplingMask], weights: dict[str, Path]) -> None:
    kspace, mask = knee
    steps: list[tuple[int, int]] = []
    result = infer_slices(torch.from_numpy(kspace[:1]), mask, "lfmri", device="cpu", recon_shape=RECON_SHAPE,
                          classifier=weights["net_c"], method_params={"weights": weights["lfmri"]},
                          progress=lambda d, t: steps.append((d, t)))
    _check(result, 1, classes=3)
    assert result.method == "lfmri" and result.timings["maps"] > 0
    assert steps == [(1, 2), (2, 2)]  # one batch, two stages
    # the model itself on the masked k-space of the readout window (the recon crop's 96 rows
    # of 320 and 64 on each side), with the maps it was trained with
    undersampled = mask.apply(torch.from_numpy(kspace[:1]))
    mask_tensor = mask.to_tensor(undersampled.shape)
    window = apply_mask(readout_window(undersampled, slice(48, 272)), mask_tensor)
    model = load_weights(weights["lfmri"], kind="lfmri")
    with torch.no_grad():
        image = model(window, mask_tensor, model_sensitivities(window, mask_tensor)).image
        whole = model(undersampled, mask_tensor, model_sensitivities(undersampled, mask_tensor)).image
    assert image.shape[-2:] == (224, 320)
    # (the same operations on the same data in this process; the tolerance is the rounding of
    # one stage's FFTs, should the batching of the two calls ever differ)
    assert_close_in_norm(result.image, center_crop(image.abs(), RECON_SHAPE), _fft_rtol(kspace, passes=4))
    _check_classifier_outputs(result, weights["net_c"])
    # readout_margin=None: the whole readout, as before the window (a different result)
    full = infer_slices(torch.from_numpy(kspace[:1]), mask, "lfmri", device="cpu", recon_shape=RECON_SHAPE,
                        classifier=None, method_params={"weights": weights["lfmri"]}, readout_margin=None)
    assert_close_in_norm(full.image, center_crop(whole.abs(), RECON_SHAPE), _fft_rtol(kspace, passes=4))
    assert relative_error(full.image, result.image) > 10 * _fft_rtol(kspace, passes=4)


def test_no_window_without_readout_oversampling_or_for_2d_masks(knee: tuple[np.ndarray, SamplingMask],
                                                                weights: dict[str, Path]) -> None:
    """A recon crop of (nearly) the whole readout, or a 2-D mask: the model sees every row."""
    kspace, line = knee
    params = {"weights": weights["lfmri"]}
    for recon_shape, mask in (((200, 80), line), (RECON_SHAPE, np.repeat(line.pattern[None], 320, 0))):
        windowed = infer_slices(kspace[0], mask, "lfmri", device="cpu", recon_shape=recon_shape, classifier=None,
                                method_params=params)
        whole = infer_slices(kspace[0], mask, "lfmri", device="cpu", recon_shape=recon_shape, classifier=None,
                             method_params=params, readout_margin=None)
        np.testing.assert_array_equal(windowed.image, whole.image)


def test_classical_method_with_maps(knee: tuple[np.ndarray, SamplingMask]) -> None:
    kspace, mask = knee
    result = infer_slices(kspace[:1], mask, "zero-filled-sense", device="cpu", recon_shape=RECON_SHAPE,
                          classifier=None, sensitivity_method="lowres")
    _check(result, 1, classes=None)
    assert result.timings["maps"] > 0
    # sum_c conj(S_c) x_c / sum_c |S_c|^2 in double precision, with the low-resolution maps of
    # the masked k-space (0 where the maps vanish)
    undersampled = mask.apply(kspace[:1])
    maps = estimate_sensitivities(torch.from_numpy(undersampled), "lowres", mask=mask).maps.numpy().astype(np.complex128)
    coils = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(undersampled.astype(np.complex128), axes=(-2, -1)),
                                         norm="ortho"), axes=(-2, -1))
    energy = np.sum(np.abs(maps) ** 2, axis=1)
    combined = np.sum(np.conj(maps) * coils, axis=1) / np.where(energy > 0, energy, 1.0)
    expected = center_crop(torch.from_numpy(np.abs(combined)), RECON_SHAPE).numpy()
    assert_close_in_norm(result.image, expected, _fft_rtol(kspace, passes=1))


def test_coil_compression(knee: tuple[np.ndarray, SamplingMask]) -> None:
    """All coils kept: the same image; one coil fewer (the weakest component dropped): nearly
    the same image, with the compression timed; too many virtual coils: no compression."""
    kspace, mask = knee

    def run(virtual: int | None) -> InferenceResult:
        return infer_slices(kspace[:1], mask, "cg-sense", device="cpu", recon_shape=RECON_SHAPE, classifier=None,
                            sensitivity_method="lowres", coil_compression=virtual)

    full = run(None)
    assert full.timings["compression"] == 0 and run(9).timings["compression"] == 0
    assert np.array_equal(run(4).image, full.image)
    three = run(3)
    _check(three, 1, classes=None)
    assert three.timings["compression"] > 0
    error = np.linalg.norm(three.image - full.image) / np.linalg.norm(full.image)
    assert 0 < error < 0.05
    with pytest.raises(InputError, match="coil compression needs 1 to 4 virtual coils"):
        run(0)


def test_shipped_classifier_when_installed_none_otherwise(knee: tuple[np.ndarray, SamplingMask], weights: dict[str, Path],
                                                          no_shipped: Path) -> None:
    kspace, mask = knee
    args = {"device": "cpu", "recon_shape": RECON_SHAPE}
    _check(infer_slices(kspace[0], mask, "zero-filled", **args), 1, classes=None)
    (no_shipped / "net_c.safetensors").write_bytes(weights["net_c"].read_bytes())
    _check(infer_slices(kspace[0], mask, "zero-filled", **args), 1, classes=3)
    _check(infer_slices(kspace[0], mask, "zero-filled", classifier=None, **args), 1, classes=None)
    # an LF-MRI file lends its own Net_c (one class)
    _check(infer_slices(kspace[0], mask, "zero-filled", classifier=weights["lfmri"], **args), 1, classes=1)
    _check(infer_slices(kspace[0], mask, "zero-filled", classifier=LesionClassifier(TINY_CLASSIFIER).eval(), **args), 1, classes=3)


def test_every_mask_form_gives_the_same_image(knee: tuple[np.ndarray, SamplingMask]) -> None:
    kspace, mask = knee
    line = np.asarray(mask.pattern)
    forms = [mask, line, torch.from_numpy(line.copy())[None], np.broadcast_to(line, kspace.shape[-2:]).copy()]
    images = [infer_slices(kspace[0], m, "zero-filled", device="cpu", classifier=None).image for m in forms]
    assert images[0].shape == (1, 320, 320)  # default recon shape: the full image
    for image in images[1:]:
        np.testing.assert_array_equal(image, images[0])


def test_the_method_gets_masked_kspace_with_positive_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, torch.Tensor] = {}

    def capture(kspace: torch.Tensor, mask: torch.Tensor, **_: object) -> torch.Tensor:
        seen["kspace"], seen["mask"] = kspace, mask
        return kspace[:, 0]

    monkeypatch.setitem(METHOD_REGISTRY, "capture", MethodInfo("capture", "test", lambda: capture))
    kspace = np.full((2, 3, 8, 10), -1 - 1j, dtype=np.complex64)  # negative everywhere
    line = np.zeros(10, dtype=bool)
    line[[2, 4, 5, 6]] = True
    infer_slices(kspace, line, "capture", device="cpu", classifier=None)
    got = torch.view_as_real(seen["kspace"])
    assert seen["mask"].shape == (1, 10) and seen["mask"].dtype == torch.bool
    assert (got[..., ~line, :] == 0).all() and not torch.signbit(got[..., ~line, :]).any()
    assert (got[..., line, :] == -1).all()


def test_cuda_without_gpu_falls_back_or_raises_when_strict(knee: tuple[np.ndarray, SamplingMask]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: nothing falls back")
    kspace, mask = knee
    with pytest.warns(RuntimeWarning, match="no CUDA GPU is available; using the CPU"):
        result = infer_slices(kspace[0], mask, "zero-filled", device="cuda", classifier=None)
    assert result.device == "cpu"
    with pytest.raises(InputError, match="device 'cuda' requested but no CUDA GPU is available"):
        infer_slices(kspace[0], mask, "zero-filled", device="cuda", strict_device=True, classifier=None)


def test_cancel(knee: tuple[np.ndarray, SamplingMask], weights: dict[str, Path]) -> None:
    kspace, mask = knee
    with pytest.raises(Cancelled):
        infer_slices(kspace[0], mask, "zero-filled", device="cpu", classifier=None, cancel=lambda: True)
    polls: list[int] = []

    def after_maps() -> bool:
        polls.append(1)
        return len(polls) > 2  # before the reconstruction, after the maps, then stop

    with pytest.raises(Cancelled):
        infer_slices(kspace[0], mask, "lfmri", device="cpu", classifier=None,
                     method_params={"weights": weights["lfmri"]}, cancel=after_maps)
    assert len(polls) == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "magic"}, "unknown reconstruction method 'magic'"),
        ({"kspace": np.ones((4, 32, 32), np.float32)}, "k-space must be complex"),
        ({"kspace": np.ones((32, 32), np.complex64)}, "k-space must have shape (coils, H, W) or (slices, coils, H, W)"),
        ({"mask": np.ones(31, bool)}, "does not match the given mask"),
        ({"mask": np.ones(32, np.float32)}, "mask must be a boolean (W,), (1, W) or (H, W) array"),
        ({"mask": [True] * 32}, "mask must be a SamplingMask or a boolean array/tensor, got list"),
        ({"recon_shape": (40, 8)}, "recon_shape 40 x 8 is larger than the image, 32 x 32"),
        ({"recon_shape": (0, 8)}, "recon_shape must be two positive integers"),
        ({"classifier": 3}, "classifier must be 'shipped', a weights file"),
        ({"method": "cg-sense", "method_params": {"lam": -1}}, "lam must be a finite number >= 0"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"readout_margin": -8}, "the readout margin must be a whole number of rows >= 0 or None, got -8"),
    ],
)
def test_bad_input_is_one_line(change: dict[str, object], message: str) -> None:
    line = np.zeros(32, bool)
    line[12:20] = True
    args: dict[str, object] = {"kspace": np.ones((4, 32, 32), np.complex64), "mask": line, "method": "zero-filled",
                                   "classifier": None, "device": "cpu"}
    args.update(change)
    kspace, mask, method = args.pop("kspace"), args.pop("mask"), args.pop("method")
    with pytest.raises(InputError) as err:
        infer_slices(kspace, mask, method, **args)  # type: ignore[arg-type]
    assert message in str(err.value) and "\n" not in str(err.value)
