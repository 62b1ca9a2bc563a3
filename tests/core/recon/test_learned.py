"""Learned methods (``lfmri``, ``unrolled-no-focus``, ``unet``): registry, weights resolution and
checks, the model cache, progress/cancel, the volume pipeline, the command line and the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

import lfmri_core.weights as shipped
from lfmri_core.cli import main
from lfmri_core.errors import InputError
from lfmri_core.io.volume import open_volume
from lfmri_core.masks import MaskSpec
from lfmri_core.models import (
    ClassifierConfig,
    LesionClassifier,
    LFMRIConfig,
    LFMRINet,
    UNetConfig,
    UNetRecon,
    model_sensitivities,
    save_weights,
)
from lfmri_core.physics import center_crop
from lfmri_core.physics.sense import apply_mask
from lfmri_core.recon import (
    Cancelled,
    available_methods,
    build_method,
    learned,
    method_info,
)
from lfmri_core.recon.learned import LEARNED_METHODS, LearnedReconstruction
from lfmri_core.recon.pipeline import reconstruct_volume
from lfmri_core.synthetic import SyntheticConfig, generate_volume
from lfmri_core.synthetic.export import write_dataset
from tests.conftest import devices
from tests.tolerances import assert_close_in_norm, learned_model_rtol

TINY_CLASSIFIER = ClassifierConfig(width=4)
CONFIGS: dict[str, Callable[[], nn.Module]] = {
    "lfmri": lambda: LFMRINet(LFMRIConfig(num_stages=2, width=4, depth=2, cg_iterations=1, classifier=TINY_CLASSIFIER)),
    "unrolled-no-focus": lambda: LFMRINet(
        LFMRIConfig(num_stages=1, width=4, depth=2, cg_iterations=1, lesion_focus=False, classifier=TINY_CLASSIFIER)
    ),
    "unet": lambda: UNetRecon(UNetConfig(width=4, levels=2)),
    "net_c": lambda: LesionClassifier(TINY_CLASSIFIER),
    "lfmri-oracle": lambda: LFMRINet(LFMRIConfig(num_stages=2, width=4, depth=2, cg_iterations=1, focus="oracle")),
}
SHIPPED_METHODS = [name for name, spec in LEARNED_METHODS.items() if spec.shipped_name is not None]


def _model_rtol(model: nn.Module, kspace: torch.Tensor) -> float:
    """float32 rounding of a learned model's image, relative in norm (:func:`learned_model_rtol`)."""
    return learned_model_rtol(model, tuple(kspace.shape))


def _seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().eval()


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny weights file per model, named like the shipped files (``<name>.safetensors``)."""
    folder = tmp_path_factory.mktemp("weights")
    return {name: save_weights(folder / f"{name}.safetensors", _seeded(build, seed=n))
            for n, (name, build) in enumerate(CONFIGS.items())}


@pytest.fixture(scope="module")
def knee_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-slice, 4-coil synthetic knee written as a fastMRI file (with annotations)."""
    folder = tmp_path_factory.mktemp("knee")
    volume = generate_volume(SyntheticConfig(num_slices=2, num_coils=4, seed=3))
    return write_dataset(folder, [("file_knee", volume)])[0]


@pytest.fixture
def no_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty shipped-weights folder."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    monkeypatch.setattr(shipped, "WEIGHTS_DIR", folder)
    return folder


def _small_problem(slices: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked random k-space (slices, 4, 32, 32) and a (1, 32) line mask with a full centre."""
    gen = torch.Generator().manual_seed(seed)
    shape = (slices, 4, 32, 32)
    mask = torch.rand(1, 32, generator=gen) < 0.4
    mask[:, 12:20] = True
    kspace = torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))
    return apply_mask(kspace, mask), mask


# --- registry and weights ------------------------------------------------------------------------


def test_registry_lists_the_learned_methods_after_the_classical_ones() -> None:
    names = available_methods()
    assert names[-4:] == ["unet", "unrolled-no-focus", "lfmri", "lfmri-oracle"]
    for name in LEARNED_METHODS:
        info = method_info(name)
        assert info.learned and not info.needs_sensitivities
        assert info.needs_boxes == (name == "lfmri-oracle")
    assert "lesion focus" in method_info("lfmri").description
    assert not any(method_info(n).learned for n in names[:-4])


def test_missing_shipped_weights_say_how_to_get_them(no_shipped: Path) -> None:
    assert learned.installed_learned_methods() == []
    assert not learned.weights_installed("lfmri-oracle")
    with pytest.raises(InputError, match=r"^no weights are shipped for 'lfmri-oracle'; train them \(`lfmri train lfmri "
                                         r"--focus oracle"):
        build_method("lfmri-oracle")
    for name in SHIPPED_METHODS:
        assert not learned.weights_installed(name)
        with pytest.raises(InputError) as err:
            build_method(name)
        message = str(err.value)
        assert message == (
            f"no trained weights installed for {name!r} (expected {no_shipped / (name + '.safetensors')}); "
            f"train them with `lfmri train {name} ...` or pass weights=<file> (--weights on the command line)"
        )


def test_shipped_weights_are_found(no_shipped: Path, tiny_weights: dict[str, Path]) -> None:
    (no_shipped / "unet.safetensors").write_bytes(tiny_weights["unet"].read_bytes())
    (no_shipped / "lfmri-t3.safetensors").write_bytes(tiny_weights["lfmri"].read_bytes())
    (no_shipped / "lfmri-tx.safetensors").write_bytes(b"not a stage file name")
    assert shipped.shipped_weights("unet") == no_shipped / "unet.safetensors"
    assert shipped.shipped_weights("net_c") is None
    assert shipped.shipped_stage_weights() == {3: no_shipped / "lfmri-t3.safetensors"}
    assert learned.installed_learned_methods() == ["unet"]
    method = build_method("unet")
    assert isinstance(method, LearnedReconstruction) and method.weights == no_shipped / "unet.safetensors"
    with pytest.raises(InputError, match="no shipped weights are called 'resnet'"):
        shipped.shipped_weights("resnet")


@pytest.mark.parametrize(
    ("method", "file", "message"),
    [
        ("lfmri", "unrolled-no-focus", ("holds an unrolled network without lesion focus; method 'lfmri' needs an LF-MRI "
                                        "network with lesion focus (kind 'lfmri', lesion_focus true) (use method 'unrolled-no-focus'")),
        ("unrolled-no-focus", "lfmri", ("holds an unrolled network with lesion focus; method 'unrolled-no-focus' needs an "
                                        "unrolled network without lesion focus")),
        ("unet", "lfmri", "holds an unrolled network with lesion focus; method 'unet' needs a U-Net model"),
        ("lfmri", "unet", "holds a U-Net model; method 'lfmri' needs an LF-MRI network"),
        ("lfmri", "net_c", "holds a model of kind 'classifier'; method 'lfmri' needs"),
    ],
)
def test_a_file_of_another_kind_is_refused(method: str, file: str, message: str, tiny_weights: dict[str, Path]) -> None:
    with pytest.raises(InputError) as err:
        build_method(method, weights=tiny_weights[file])
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"{tiny_weights[file]}: ") and message in text


def test_bad_parameters(tiny_weights: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="lfmri has no parameter 'steps'; its parameters: weights, batch_size"):
        build_method("lfmri", weights=tiny_weights["lfmri"], steps=3)
    with pytest.raises(InputError, match="batch_size must be an integer >= 1"):
        build_method("lfmri", weights=tiny_weights["lfmri"], batch_size=0)
    with pytest.raises(InputError, match="weights must be a file path, got int"):
        build_method("unet", weights=3)
    with pytest.raises(InputError, match="weights file not found"):
        build_method("unet", weights=tmp_path / "absent.safetensors")


def test_models_are_cached_until_the_file_changes(tiny_weights: dict[str, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "unet.safetensors"
    path.write_bytes(tiny_weights["unet"].read_bytes())
    reads: list[Path] = []
    real = learned.load_weights

    def counting(p: Path, **kwargs: object) -> nn.Module:
        reads.append(Path(p))
        return real(p, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(learned, "load_weights", counting)
    learned.clear_model_cache()
    kspace, mask = _small_problem()
    first = build_method("unet", weights=path)
    first(kspace, mask)
    second = build_method("unet", weights=str(path))
    second(kspace, mask)
    assert reads == [path]
    assert first.model() is second.model()
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # retrained: read again
    build_method("unet", weights=path)
    assert len(reads) == 2


# --- running ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("method", SHIPPED_METHODS)
def test_output_is_the_model_output(method: str, device: str, tiny_weights: dict[str, Path]) -> None:
    kspace, mask = _small_problem(slices=3)
    recon = build_method(method, weights=tiny_weights[method], batch_size=2)
    image = recon(kspace.to(device), mask.to(device))
    assert image.shape == (3, 32, 32) and image.dtype == torch.complex64 and image.device.type == device
    model = learned.load_model(tiny_weights[method])
    with torch.no_grad():
        expected = model(kspace, mask, model_sensitivities(kspace, mask)).image
    rtol = _model_rtol(model, kspace)
    assert_close_in_norm(image, expected, rtol)
    # maps passed in (as infer_slices does, to time them) give the same result
    maps = model_sensitivities(kspace, mask).to(device)
    assert_close_in_norm(recon(kspace.to(device), mask.to(device), sensitivities=maps), image, rtol)


def test_progress_counts_stages_of_every_batch(tiny_weights: dict[str, Path]) -> None:
    kspace, mask = _small_problem(slices=3)
    calls: list[tuple[int, int]] = []
    build_method("lfmri", weights=tiny_weights["lfmri"], batch_size=2)(kspace, mask, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]  # 2 batches x 2 stages
    calls.clear()
    build_method("unet", weights=tiny_weights["unet"], batch_size=1)(kspace, mask, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("polls_before_yes", [0, 1, 2])
def test_cancel_between_stages(polls_before_yes: int, tiny_weights: dict[str, Path]) -> None:
    kspace, mask = _small_problem(slices=2)
    polls: list[int] = []

    def cancel() -> bool:
        polls.append(1)
        return len(polls) > polls_before_yes

    stages: list[int] = []
    recon = build_method("lfmri", weights=tiny_weights["lfmri"], batch_size=1)
    with pytest.raises(Cancelled, match="lfmri cancelled"):
        recon(kspace, mask, progress=lambda d, t: stages.append(d), cancel=cancel)
    assert len(stages) == polls_before_yes  # stopped right at the poll that said yes


def test_volume_pipeline_with_learned_weights(knee_file: Path, tiny_weights: dict[str, Path]) -> None:
    spec = MaskSpec("random", 4.0, 0.08)
    with open_volume(knee_file) as vol:
        result = reconstruct_volume(vol, method="lfmri", mask_spec=spec, device="cpu", slices=[1],
                                    method_params={"weights": tiny_weights["lfmri"]})
        info = vol.info
        kspace = torch.from_numpy(vol.kspace(1))[None]
    assert result.images.shape == (1, *info.recon_shape) and result.images.dtype == np.float32
    assert result.method == "lfmri" and result.sensitivity_method is None and result.slices == (1,)
    mask = result.mask.to_tensor(kspace.shape)
    masked = apply_mask(kspace, mask)
    model = learned.load_model(tiny_weights["lfmri"])
    with torch.no_grad():
        expected = center_crop(model(masked, mask, model_sensitivities(masked, mask)).image.abs(), info.recon_shape)
    assert_close_in_norm(result.images, expected, _model_rtol(model, kspace))


# --- command line and demo --------------------------------------------------------------------------


def test_cli_recon_with_weights(knee_file: Path, tiny_weights: dict[str, Path], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lfmri.h5"
    code = main(["recon", str(knee_file), "--method", "lfmri", "--weights", str(tiny_weights["lfmri"]),
                 "--slices", "1", "--out", str(out), "--report", str(tmp_path / "r.json"), "--quiet"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert f"weights {tiny_weights['lfmri']}" in stdout and "PSNR" in stdout
    with h5py.File(out, "r") as f:
        assert f["reconstruction"].shape == (1, 320, 320)
        assert f.attrs["method"] == "lfmri" and f.attrs["weights"] == str(tiny_weights["lfmri"])
    report = (tmp_path / "r.json").read_text()
    assert '"coil_maps": "lowres (the learned model\'s own maps)"' in report


def test_cli_weights_errors(knee_file: Path, tiny_weights: dict[str, Path], no_shipped: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["--method", "cg-sense", "--weights", str(tiny_weights["unet"])], "--weights is for the learned methods"),
        (["--method", "unet", "--weights", str(tiny_weights["lfmri"])], "method 'unet' needs a U-Net model"),
        (["--method", "lfmri"], "no trained weights installed for 'lfmri'"),
    ]
    for extra, message in cases:
        code = main(["recon", str(knee_file), "--quiet", *extra])
        _, stderr = capsys.readouterr()
        assert code == 2
        assert stderr.startswith("lfmri: error: ") and stderr.count("\n") == 1 and message in stderr


def test_cli_pickle_weights_fail_cleanly_in_a_subprocess(knee_file: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "checkpoint.safetensors"
    torch.save({"state_dict": {"x": torch.zeros(3)}}, pickled)
    proc = subprocess.run([sys.executable, "-m", "lfmri_core.cli", "recon", str(knee_file), "--method", "lfmri",
                           "--weights", str(pickled)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"lfmri: error: {pickled}: not a readable safetensors file (Error while deserializing header: header too large)"
    ]


def test_cli_list_shows_learned_methods_and_their_weights(no_shipped: Path, tiny_weights: dict[str, Path],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in LEARNED_METHODS:
        assert any(line.split()[0] == name and "no weights installed" in line for line in out.splitlines() if line.strip())
    (no_shipped / "lfmri.safetensors").write_bytes(tiny_weights["lfmri"].read_bytes())
    assert main(["list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert "[learned; weights installed]" in lines["lfmri"] and "no weights installed" in lines["unet"]
    assert "[needs coil maps]" in lines["cg-sense"]


def test_cuda_request_without_gpu_runs_learned_method_on_cpu(knee_file: Path, tiny_weights: dict[str, Path],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: nothing falls back")
    code = main(["recon", str(knee_file), "--method", "unet", "--weights", str(tiny_weights["unet"]),
                 "--device", "cuda", "--slices", "0", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0 and "unet on cpu" in out
    assert err.strip() == "lfmri: warning: device 'cuda' requested but no CUDA GPU is available; using the CPU"


def test_demo_adds_learned_methods_whose_weights_are_installed(no_shipped: Path, tiny_weights: dict[str, Path]) -> None:
    from lfmri_core.demo import default_methods

    classical = [name for name in available_methods() if not method_info(name).learned]
    assert default_methods() == classical
    for name in ("lfmri", "unet"):
        (no_shipped / f"{name}.safetensors").write_bytes(tiny_weights[name].read_bytes())
    assert default_methods() == [*classical, "unet", "lfmri"]


# --- the oracle focus and batched slices -----------------------------------------------------------


def test_oracle_method_needs_and_uses_the_focus_map(tiny_weights: dict[str, Path]) -> None:
    kspace, mask = _small_problem(slices=3)
    recon = build_method("lfmri-oracle", weights=tiny_weights["lfmri-oracle"], batch_size=2)
    with pytest.raises(InputError, match="lfmri-oracle: needs the lesion boxes' focus map"):
        recon(kspace, mask)
    with pytest.raises(InputError, match="focus maps of shape \\(3, 16, 16\\) do not fit"):
        recon(kspace, mask, focus=torch.zeros(3, 16, 16))
    with pytest.raises(InputError, match="lfmri: takes no focus map"):
        build_method("lfmri", weights=tiny_weights["lfmri"])(kspace, mask, focus=torch.zeros(3, 32, 32))
    focus = torch.zeros(3, 32, 32)
    focus[1, 8:20, 10:16] = 1.0
    image = recon(kspace, mask, focus=focus)
    model = learned.load_model(tiny_weights["lfmri-oracle"])
    with torch.no_grad():
        expected = model(kspace, mask, model_sensitivities(kspace, mask), focus=focus).image
    rtol = _model_rtol(model, kspace)
    assert_close_in_norm(image, expected, rtol)
    # the focus changes the lesion slice only: slices 0 and 2 (no focus) equal a zero map's result
    none = recon(kspace, mask, focus=torch.zeros_like(focus))
    scale = float(none.abs().max())
    assert float((image[1] - none[1]).abs().max()) > 1e-3 * scale
    assert_close_in_norm(image[[0, 2]], none[[0, 2]], rtol)


def test_lfmri_and_oracle_methods_refuse_each_others_files(tiny_weights: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="holds an unrolled network with lesion focus \\(the oracle box focus\\); method "
                                         "'lfmri' needs .* \\(use method 'lfmri-oracle' for this file\\)"):
        build_method("lfmri", weights=tiny_weights["lfmri-oracle"])
    with pytest.raises(InputError, match="method 'lfmri-oracle' needs an LF-MRI network with the oracle box focus"):
        build_method("lfmri-oracle", weights=tiny_weights["lfmri"])


def test_volume_pipeline_gives_the_oracle_its_boxes(knee_file: Path, tiny_weights: dict[str, Path]) -> None:
    from lfmri_core.io.annotations import LesionBox
    from lfmri_core.models.focus import box_focus_maps

    spec = MaskSpec("random", 4.0, 0.08)
    boxes = (LesionBox(1, "test", 100, 140, 120, 170),)  # the oracle takes any box: one on slice 1
    with open_volume(knee_file) as vol:
        info = vol.info
        with pytest.raises(InputError, match="lfmri-oracle needs the lesion boxes of file_knee.h5"):
            reconstruct_volume(vol, method="lfmri-oracle", mask_spec=spec, device="cpu",
                               method_params={"weights": tiny_weights["lfmri-oracle"]})
        result = reconstruct_volume(vol, method="lfmri-oracle", mask_spec=spec, device="cpu", lesion_boxes=boxes,
                                    method_params={"weights": tiny_weights["lfmri-oracle"]})
        kspace = torch.stack([torch.from_numpy(vol.kspace(s)) for s in range(info.num_slices)])
    mask = result.mask.to_tensor(kspace.shape)
    masked = apply_mask(kspace, mask)
    focus = box_focus_maps([[b for b in boxes if b.slice == s] for s in range(info.num_slices)],
                           info.image_shape, info.recon_shape)
    assert float(focus.max()) == 1.0
    model = learned.load_model(tiny_weights["lfmri-oracle"])
    with torch.no_grad():
        expected = center_crop(model(masked, mask, model_sensitivities(masked, mask), focus=focus).image.abs(),
                               info.recon_shape)
    assert_close_in_norm(result.images, expected, _model_rtol(model, kspace))


@pytest.mark.parametrize("method", ["lfmri", "unet"])
def test_volume_pipeline_batches_learned_slices_like_single_ones(method: str, knee_file: Path,
                                                                 tiny_weights: dict[str, Path]) -> None:
    spec = MaskSpec("random", 8.0, 0.04)
    params = {"weights": tiny_weights[method]}
    with open_volume(knee_file) as vol:
        batched = reconstruct_volume(vol, method=method, mask_spec=spec, device="cpu", method_params=params)
        single = reconstruct_volume(vol, method=method, mask_spec=spec, device="cpu", method_params=params,
                                    slices_per_call=1)
        with pytest.raises(InputError, match="slices_per_call must be an integer >= 1, got 0"):
            reconstruct_volume(vol, method=method, mask_spec=spec, device="cpu", method_params=params, slices_per_call=0)
    assert batched.images.shape == single.images.shape == (2, *batched.images.shape[1:])
    # float32 convolutions and FFTs of a batch may sum in another order
    with open_volume(knee_file) as vol:
        kspace = torch.from_numpy(vol.kspace(0))[None]
    assert_close_in_norm(batched.images, single.images, _model_rtol(learned.load_model(tiny_weights[method]), kspace))
    assert batched.seconds.shape == (2,) and np.all(batched.seconds > 0)
