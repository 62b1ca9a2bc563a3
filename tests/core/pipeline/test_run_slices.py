"""The slice pipeline: one result per slice, the loops over it, and the single homes of its
rules (coil maps, device, offered methods)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lfmri_core.device import (
    DEVICE_CHOICES,
    check_device,
    cuda_fallback,
    resolve_device,
)
from lfmri_core.errors import InputError
from lfmri_core.inference import infer_slices
from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.fastmri_h5 import FastMRIVolume, write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from lfmri_core.masks import MaskSpec
from lfmri_core.metrics import lf_psnr_slice, slice_metrics
from lfmri_core.models import ClassifierConfig, LFMRIConfig, LFMRINet, save_weights
from lfmri_core.physics import center_crop, ifft2c, rss
from lfmri_core.pipeline import coil_maps_for, run_slices, volume_mask
from lfmri_core.recon import available_methods, method_info
from lfmri_core.recon.pipeline import reconstruct_volume
from lfmri_core.recon.registry import Cancelled
from lfmri_core.synthetic import SyntheticConfig, generate_volume
from tests.conftest import write_small_knee
from tests.tolerances import rounding_rtol

SPEC = MaskSpec("random", 4.0, 0.08)


@pytest.fixture(scope="module")
def knee(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_knee(tmp_path_factory.mktemp("pipeline") / "knee.h5", slices=3, coils=4)


def test_one_result_per_slice_in_order_and_the_loop_over_it_agrees(knee: Path) -> None:
    box = LesionBox(1, "lesion", 40, 60, 30, 50)
    with FastMRIVolume(knee) as vol:
        reference = vol.target_volume()
        assert reference is not None
        results = list(run_slices(vol, [2, 0, 1], SPEC, "zero-filled", device="cpu", reference=reference, boxes=[box]))
        volume = reconstruct_volume(vol, method="zero-filled", mask_spec=SPEC, slices=[2, 0, 1], device="cpu")
        mask = volume_mask(vol.info, SPEC)
    assert [r.slice for r in results] == [2, 0, 1] and all(r.method == "zero-filled" for r in results)
    np.testing.assert_array_equal(np.stack([r.image for r in results]), volume.images)  # same code, same bits
    maxval = float(reference.max())
    for r in results:
        assert r.image.shape == reference.shape[1:] and r.image.dtype == np.float32
        np.testing.assert_array_equal(r.mask.pattern, mask.pattern)
        assert r.cam is None and r.lesion_probability is None and r.coil_maps is None
        whole = slice_metrics(reference[r.slice], r.image, maxval)
        assert r.psnr == pytest.approx(whole["psnr"], rel=rounding_rtol(np.float64, terms=r.image.size))
        assert r.ssim == pytest.approx(whole["ssim"], abs=1e-12)
        assert set(r.timings) >= {"maps", "reconstruction", "metrics", "total"}
    lesion = {r.slice: r for r in results}
    assert lesion[1].lf_psnr == lf_psnr_slice(reference[1], lesion[1].image, [box], maxval)
    assert math.isnan(lesion[0].lf_psnr) and math.isnan(lesion[2].lf_ssim)  # no box there


def test_methods_that_need_maps_get_them_and_cancel_stops(knee: Path) -> None:
    with FastMRIVolume(knee) as vol:
        (result,) = run_slices(vol, [0], SPEC, "zero-filled-sense", device="cpu",
                               sensitivity_method="lowres")
        assert result.coil_maps == "lowres" and result.timings["maps"] > 0
        with pytest.raises(Cancelled):
            list(run_slices(vol, [0, 1], SPEC, "zero-filled", device="cpu", cancel=lambda: True))
        with pytest.raises(InputError, match="slice 7 does not exist"):
            list(run_slices(vol, [7], SPEC, "zero-filled", device="cpu"))
        with pytest.raises(InputError, match="needs the lesion boxes"):
            list(run_slices(vol, [0], SPEC, "lfmri-oracle", device="cpu"))


def test_learned_methods_run_on_a_readout_window_of_oversampled_data(tmp_path: Path) -> None:
    """A file whose readout is oversampled (320 rows, a 160-row recon crop): run_slices gives
    what infer_slices gives on the same k-space, with the window (rows 16..304) and without."""
    volume = generate_volume(SyntheticConfig(num_slices=2, num_coils=4, seed=5))
    kspace = np.ascontiguousarray(volume.kspace[..., 112:208])  # 320 x 96
    recon_shape = (160, 96)
    target = center_crop(rss(ifft2c(torch.from_numpy(kspace)), dim=1), recon_shape).numpy().astype(np.float32)
    path = write_volume(tmp_path / "oversampled.h5", kspace, reconstruction_rss=target,
                        encoding=EncodingInfo(encoded_shape=(320, 96), recon_shape=recon_shape))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        net = LFMRINet(LFMRIConfig(num_stages=2, width=4, depth=2, cg_iterations=1, classifier=ClassifierConfig(width=4)))
    params = {"weights": save_weights(tmp_path / "lfmri.safetensors", net.eval())}
    images = {}
    with FastMRIVolume(path) as vol:
        mask = volume_mask(vol.info, SPEC)
        for margin in (64, None):
            results = list(run_slices(vol, [0, 1], mask, "lfmri", method_params=params, device="cpu",
                                      readout_margin=margin))
            direct = infer_slices(kspace, mask, "lfmri", device="cpu", recon_shape=recon_shape, classifier=None,
                                  method_params=params, readout_margin=margin)
            images[margin] = np.stack([r.image for r in results])
            np.testing.assert_array_equal(images[margin], direct.image)
        with pytest.raises(InputError, match="readout margin must be a whole number of rows"):
            list(run_slices(vol, [0], mask, "lfmri", method_params=params, device="cpu", readout_margin=-1))
    assert not np.array_equal(images[64], images[None])


def test_the_coil_map_rule_has_one_answer_per_method() -> None:
    for name in available_methods():
        info = method_info(name)
        expected = "model" if info.learned else ("estimated" if info.needs_sensitivities else None)
        assert coil_maps_for(info) == expected, name
    assert coil_maps_for(method_info("lfmri")) == "model"
    assert coil_maps_for(method_info("cg-sense")) == "estimated"
    assert coil_maps_for(method_info("zero-filled")) is None


def test_the_device_policy() -> None:
    assert DEVICE_CHOICES == ("auto", "cpu", "cuda")
    assert check_device(" CUDA:1 ") == "cuda:1" and check_device("cpu") == "cpu"
    with pytest.raises(InputError, match="unknown device 'gpu'"):
        check_device("gpu")
    assert cuda_fallback("cpu") is None and resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert "no CUDA GPU" in (cuda_fallback("cuda") or "")
        assert resolve_device("cuda", warn=False) == torch.device("cpu")
        with pytest.warns(RuntimeWarning, match="no CUDA GPU"):
            resolve_device("cuda")
        with pytest.raises(InputError):
            resolve_device("cuda", strict=True)
