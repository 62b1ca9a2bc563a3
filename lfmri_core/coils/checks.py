"""Checks that coil maps can be trusted.

With few fully sampled phase-encode lines at the k-space centre ESPIRiT (ours and BART's
``ecalib`` alike) returns maps that are zero over much of the object (their eigenvalues stay
below the crop), and every SENSE-type reconstruction with them fails: a real 8-coil brain
slice, 230 x 180, 8x equispaced with 7 centre lines, gave CG-SENSE 11.1 dB against 20.4 dB
zero-filled; the synthetic knee cropped to 128 x 96 with 6 to 9 centre lines gives CG-SENSE
8 to 11 dB below zero-filled (tests/core/coils/test_checks.py). Two checks catch this:

- **Kernel positions** (before estimating): the calibration block must hold the kernel at
  least :data:`MIN_KERNEL_POSITIONS` times along each axis, ``lines - kernel + 1 >= 5``; for
  BART's 6 x 6 kernel, at least 10 lines.
- **Coverage** (after estimating): the share of the calibration data's energy the maps
  explain, ``sum_x |S(x)^H y(x)|^2 / sum_x ||y(x)||^2`` with ``y`` the low-resolution coil
  images of the (Hann-tapered) calibration block and ``S`` the unit-norm maps (summed over
  the maps when there are several). Maps that vanish on part of the object, or point the
  wrong way, lose that part's energy; below :data:`MIN_COVERAGE` they are rejected. Good maps
  explain nearly all of it (the true maps and ESPIRiT's with 10 or more lines: 0.97 and
  above in the tests); ESPIRiT's maps from 6 to 9 lines explain 0.66 or less.

:func:`~lfmri_core.coils.estimate_sensitivities` applies both to ESPIRiT
(:mod:`lfmri_core.coils.fallback`): maps that fail are replaced by NLINV's
(:mod:`lfmri_core.coils.nlinv`), which use every sampled line, not only the centre. The
estimate it returns names the method used and carries the findings, each also issued as a
:class:`CalibrationWarning`.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch

from lfmri_core.coils._grid import fourier_matrix, grid_coordinates
from lfmri_core.coils.calibration import CalibrationRegion, extract_calibration
from lfmri_core.errors import InputWarning

__all__ = [
    "MIN_COVERAGE",
    "MIN_KERNEL_POSITIONS",
    "CalibrationWarning",
    "finding_kind",
    "kernel_fits",
    "map_coverage",
]

MIN_KERNEL_POSITIONS = 5
"""Fewest positions of the ESPIRiT kernel along each axis of the calibration block."""

MIN_COVERAGE = 0.9
"""Smallest share of the calibration energy the maps must explain (see :func:`map_coverage`)."""

_COVERAGE_GRID = 64


class CalibrationWarning(InputWarning):
    """The coil maps asked for could not be trusted and NLINV's were used instead (or, with the
    fallback turned off, the maps were kept anyway). One line, naming the problem and the
    estimate used."""


def finding_kind(line: str) -> str:
    """A finding with its numbers blanked: the slices of one volume and mask fail alike but with
    other numbers (a coverage of 31 % here, 28 % there), and are reported once per kind."""
    return re.sub(r"\d+", "#", line)


def kernel_fits(region_size: tuple[int, int], kernel_size: tuple[int, int]) -> bool:
    """Whether the kernel fits :data:`MIN_KERNEL_POSITIONS` times along both axes of the block
    (``rows - kh + 1`` and ``columns - kw + 1``)."""
    return all(size - kernel + 1 >= MIN_KERNEL_POSITIONS for size, kernel in zip(region_size, kernel_size))


def map_coverage(kspace: torch.Tensor, maps: torch.Tensor, region: CalibrationRegion) -> torch.Tensor:
    """Share of the calibration data's energy that the maps explain, per slice.

    ``sum_x sum_m |S_m(x)^H y(x)|^2 / sum_x ||y(x)||^2`` over a coarse grid of pixels (at most
    64 per axis), ``y`` the low-resolution coil images of the Hann-tapered calibration block.
    1 when every coil vector of the calibration image lies along the maps; less where maps are
    missing (cropped) or point elsewhere.

    Parameters
    ----------
    kspace
        Complex ``(slices, coils, H, W)``, the k-space the maps were estimated from.
    maps
        Complex ``(slices, coils, H, W)`` or ``(slices, maps, coils, H, W)``, unit norm over
        coils (or 0).
    region
        The calibration block.

    Returns
    -------
    torch.Tensor
        float64 ``(slices,)``, in ``[0, 1]`` for unit-norm maps.
    """
    num_slices, _, height, width = kspace.shape
    device = kspace.device
    calibration = extract_calibration(kspace, region)
    rows, cols = region.size
    tapered = calibration * (_hann(rows, device)[:, None] * _hann(cols, device)[None, :])
    points = (min(_COVERAGE_GRID, height), min(_COVERAGE_GRID, width))
    coords = (grid_coordinates(points[0], height, device), grid_coordinates(points[1], width, device))
    # nearest pixels of the grid points, where the maps are read
    pixel_rows = torch.round(coords[0] + height // 2).long()
    pixel_cols = torch.round(coords[1] + width // 2).long()
    coords = (pixel_rows.to(torch.float64) - height // 2, pixel_cols.to(torch.float64) - width // 2)
    stack = maps if maps.ndim == 5 else maps[:, None]
    starts = np.asarray(region.starts)
    coverage = torch.empty(num_slices, dtype=torch.float64, device=device)
    for index in range(num_slices):
        freq_rows = torch.arange(rows, device=device) + int(starts[index, 0]) - height // 2
        freq_cols = torch.arange(cols, device=device) + int(starts[index, 1]) - width // 2
        synth_rows = fourier_matrix(coords[0], freq_rows, height)
        synth_cols = fourier_matrix(coords[1], freq_cols, width)
        images = synth_rows @ tapered[index] @ synth_cols.T  # (C, n, m)
        sampled = stack[index][:, :, pixel_rows][:, :, :, pixel_cols].to(images.dtype)  # (M, C, n, m)
        explained = torch.einsum("mcxy,cxy->mxy", sampled.conj(), images).abs().square().sum()
        total = images.abs().square().sum()
        coverage[index] = float(explained) / float(total) if float(total) > 0 else 0.0
    return coverage


def _hann(length: int, device: torch.device) -> torch.Tensor:
    """Symmetric Hann taper, non-zero at both ends (as the low-resolution estimate's)."""
    n = torch.arange(length, dtype=torch.float32, device=device)
    return torch.sin(math.pi * (n + 1) / (length + 1)) ** 2
