"""BART's data scaling, reproduced: the estimate ``bart pics`` prints for the same data."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.io.bart_cfl import write_cfl
from lfmri_core.masks import make_mask
from lfmri_core.recon import bart_scaling
from lfmri_core.recon.scaling import CALIBRATION_SIZE
from tests.conftest import require_bart
from tests.tolerances import rounding_rtol

SCALE_RTOL = rounding_rtol(torch.complex64, fft_points=CALIBRATION_SIZE**2, fft_passes=2)
"""Two computations of the scale: each an inverse FFT of the (at most 32 x 32) calibration block
in float32, then a value of its magnitude (one pixel near the bulk of the image, not a tiny one)."""


def test_scaling_is_homogeneous_and_per_slice() -> None:
    gen = torch.Generator().manual_seed(0)
    k = torch.randn((2, 4, 40, 36), dtype=torch.complex64, generator=gen)
    k[:, :, :, ::3] = 0
    scales = bart_scaling(k)
    assert scales.shape == (2,) and scales.dtype == torch.float32
    torch.testing.assert_close(bart_scaling(k * 7), scales * 7, rtol=SCALE_RTOL, atol=0)
    assert torch.equal(bart_scaling(k[1:]), scales[1:])  # each slice on its own
    assert float(bart_scaling(torch.zeros((1, 2, 8, 8), dtype=torch.complex64))[0]) == 1.0  # BART: zero -> 1


def test_scaling_needs_multicoil_complex_kspace() -> None:
    with pytest.raises(InputError, match=r"\(slices, coils, H, W\)"):
        bart_scaling(torch.zeros((4, 8, 8), dtype=torch.complex64))


@pytest.mark.bart
@pytest.mark.parametrize("mask_name", ["random", "equispaced_fraction", "poisson", "gaussian"])
def test_matches_the_scaling_bart_pics_reports(mask_name: str, bart_phantom: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    """``bart pics -d5`` prints ``Inverse scaling of the data: s``; ours gives the same ``s``.

    The gaussian mask leaves an odd-sized calibration block, where BART's ``fftmod`` matters.
    """
    exe = require_bart()
    full, maps = bart_phantom
    mask = make_mask(mask_name, full.shape, acceleration=4, center_fraction=0.08, seed=3)
    kspace = mask.apply(full)
    write_cfl(tmp_path / "k", np.transpose(kspace, (1, 2, 0))[:, :, None, :])
    write_cfl(tmp_path / "s", np.transpose(maps, (1, 2, 0))[:, :, None, :])
    command = [exe, "pics", "-d5", "-i", "1", "-l2", "-r", "0.01", "k", "s", "x"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=True)
    found = re.search(r"Inverse scaling of the data: ([0-9.eE+-]+)", done.stdout + done.stderr)
    assert found is not None, "bart pics -d5 no longer prints its scaling"
    ours = float(bart_scaling(torch.from_numpy(kspace)[None])[0])
    printed = float(found.group(1))  # with 6 decimals
    assert ours == pytest.approx(printed, rel=SCALE_RTOL, abs=5e-7)
