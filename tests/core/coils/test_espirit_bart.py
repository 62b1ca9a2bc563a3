"""ESPIRiT against ``bart ecalib`` (BART 0.8.00): same calibration region, kernels, eigenvalues,
crop and phase convention.

Maps are compared per pixel up to a phase (``|<ours, bart>| / (|ours| |bart|)``) inside BART's
crop mask, and once without the phase freedom to check BART's phase convention. BART solves
each pixel with 30 orthogonal iterations, which have not converged where the two largest
eigenvalues are close (in the noise-free phantom); we solve exactly, so there a small fraction
of pixels differs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lfmri_core.coils import estimate_sensitivities, find_calibration_region, sampling_pattern
from lfmri_core.masks import make_mask
from tests.core.coils.conftest import CoilData, bart_ecalib, coil_correlation

pytestmark = pytest.mark.bart


def _compare(ours_maps: torch.Tensor, ours_values: torch.Tensor, bart_maps: np.ndarray, bart_values: np.ndarray, crop: float) -> dict[str, float]:
    keep = bart_values > crop
    corr = coil_correlation(ours_maps, bart_maps)
    return {
        "median_corr": float(np.median(corr[keep])),
        "frac_corr_099": float(np.mean(corr[keep] > 0.99)),
        "crop_agree": float(np.mean((ours_values.numpy() > crop) == keep)),
        "eig_median_diff": float(np.median(np.abs(ours_values.numpy() - bart_values)[keep])),
        # no phase freedom: BART's fixphase2 convention
        "median_diff": float(np.median(np.linalg.norm(ours_maps.numpy() - bart_maps, axis=0)[keep])),
    }


def test_phantom_matches_bart(bart_phantom: np.ndarray, tmp_path: Path) -> None:
    bart = bart_ecalib(bart_phantom, tmp_path, "-m1")
    est = estimate_sensitivities(bart_phantom)
    assert est.calibration.size == bart.calib_size
    assert est.calibration.starts == (bart.calib_start,)
    found = _compare(est.maps, est.eigenvalues, bart.maps[0], bart.eigenvalues[0], 0.8)
    assert found["median_corr"] > 0.9999, found
    assert found["frac_corr_099"] > 0.97, found
    assert found["crop_agree"] > 0.995, found
    assert found["eig_median_diff"] < 1e-4, found
    assert found["median_diff"] < 2e-3, found


@pytest.mark.parametrize(
    ("options", "params"),
    [
        (("-m1",), {}),
        (("-m1", "-k", "4", "-r", "16"), {"kernel_size": 4, "calib_size": 16}),
        (("-m1", "-t", "0.01"), {"threshold": 0.01}),
        (("-m1", "-c", "0.5"), {"crop": 0.5}),
        (("-m1", "-P"), {"rotate_phase": False}),
        (("-m2",), {"num_maps": 2}),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_options_match_bart(coil_data: CoilData, tmp_path: Path, options: tuple[str, ...], params: dict) -> None:
    bart = bart_ecalib(coil_data.kspace, tmp_path, *options)
    est = estimate_sensitivities(coil_data.kspace, **params)
    crop = params.get("crop", 0.8)
    maps = est.maps.reshape(-1, *coil_data.kspace.shape)
    values = est.eigenvalues.reshape(-1, *coil_data.kspace.shape[-2:])
    assert maps.shape[0] == bart.maps.shape[0]
    assert est.calibration.size == bart.calib_size and est.calibration.starts == (bart.calib_start,)
    found = _compare(maps[0], values[0], bart.maps[0], bart.eigenvalues[0], crop)
    assert found["median_corr"] > 0.9999, found
    assert found["crop_agree"] > 0.995, found
    assert found["eig_median_diff"] < 1e-4, found
    assert found["median_diff"] < 2e-3, found
    if maps.shape[0] > 1:
        # second eigenvalue maps agree; the second maps are cropped alike
        assert np.median(np.abs(values[1].numpy() - bart.eigenvalues[1])) < 1e-2
        assert np.mean((values[1].numpy() > crop) == (bart.eigenvalues[1] > crop)) > 0.995


@pytest.mark.parametrize("mask_name", ["equispaced", "poisson"])
def test_undersampled_calibration_region_matches_bart(coil_data: CoilData, tmp_path: Path, mask_name: str) -> None:
    mask = make_mask(mask_name, coil_data.kspace.shape, acceleration=3, center_fraction=0.2, seed=1)
    kspace = mask.apply(coil_data.kspace)
    bart = bart_ecalib(kspace, tmp_path, "-m1")
    batch = torch.from_numpy(kspace)[None]
    region = find_calibration_region(batch, (24, 24), pattern=sampling_pattern(batch))
    assert region.size == bart.calib_size and region.starts == (bart.calib_start,)
    est = estimate_sensitivities(kspace)
    found = _compare(est.maps, est.eigenvalues, bart.maps[0], bart.eigenvalues[0], 0.8)
    assert found["median_corr"] > 0.9999, found
    assert found["crop_agree"] > 0.995, found


def test_synthetic_knee_matches_bart_and_truth(tmp_path: Path) -> None:
    from lfmri_core.synthetic import SyntheticConfig, generate_volume

    volume = generate_volume(SyntheticConfig(num_slices=1, seed=5))
    kspace = volume.kspace[0]
    bart = bart_ecalib(kspace, tmp_path, "-m1")
    est = estimate_sensitivities(kspace)
    assert est.calibration.starts == (bart.calib_start,)
    found = _compare(est.maps, est.eigenvalues, bart.maps[0], bart.eigenvalues[0], 0.8)
    assert found["median_corr"] > 0.9999, found
    assert found["crop_agree"] > 0.995, found
    # the true maps, up to a phase, inside the object
    magnitude = np.abs(volume.image[0])
    inside = magnitude > 0.2 * magnitude.max()
    truth = coil_correlation(est.maps, volume.sensitivities[0])
    assert np.median(truth[inside]) > 0.99
