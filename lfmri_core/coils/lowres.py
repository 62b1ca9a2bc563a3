"""Fast low-resolution coil sensitivities for interactive use.

The calibration block, tapered by a Hann window (which smooths the result), gives
low-resolution coil images ``x_c``; the maps are ``x_c / sqrt(sum_c |x_c|^2)``, computed on a
coarse grid and upsampled bilinearly, with the phase rotated like ESPIRiT's (relative to the
first principal component of the calibration data) so the two can be compared directly.
Where the low-resolution root-sum-of-squares image is below ``threshold`` times its maximum
(outside the object) the maps are 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lfmri_core.coils._grid import fourier_matrix, grid_coordinates, upsample
from lfmri_core.coils._threads import cpu_workers
from lfmri_core.coils.base import SENSITIVITY_METHODS, SensitivityEstimate, register_sensitivity_method
from lfmri_core.coils.calibration import (
    CalibrationRegion,
    MaskLike,
    check_size_pair,
    extract_calibration,
    find_calibration_region,
    principal_coil_vector,
    rotate_phase,
)
from lfmri_core.errors import InputError

__all__ = ["LowResConfig", "lowres_sensitivities"]


@dataclass(frozen=True)
class LowResConfig:
    """Parameters of the low-resolution estimate.

    Attributes
    ----------
    calib_size
        Largest calibration block ``(rows, columns)`` (an int means a square).
    threshold
        Maps are 0 where the low-resolution RSS image is below ``threshold`` times its
        maximum (per slice); 0 keeps everything.
    rotate_phase
        Phase relative to the first principal component of the calibration data (as ESPIRiT
        in BART); False: relative to coil 0.
    auto_calib
        Largest fully sampled centred block up to ``calib_size``; False: exactly that size.
    search_readout
        Slide the block along the readout to the position of largest energy (as BART).
    grid
        Points per axis of the coarse grid the maps are computed on before upsampling (>= 8).
    """

    calib_size: tuple[int, int] = (24, 24)
    threshold: float = 0.05
    rotate_phase: bool = True
    auto_calib: bool = True
    search_readout: bool = True
    grid: int = 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "calib_size", check_size_pair(self.calib_size, "calib_size", minimum=2))
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float) or not 0 <= self.threshold < 1:
            raise InputError(f"threshold must be in [0, 1), got {self.threshold!r}")
        for name in ("rotate_phase", "auto_calib", "search_readout"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not isinstance(self.grid, int) or isinstance(self.grid, bool) or self.grid < 8:
            raise InputError(f"grid must be an integer >= 8, got {self.grid!r}")
        object.__setattr__(self, "threshold", float(self.threshold))


def _hann(length: int, device: torch.device) -> torch.Tensor:
    """Symmetric Hann taper, non-zero at both ends."""
    n = torch.arange(length, dtype=torch.float32, device=device)
    return torch.sin(math.pi * (n + 1) / (length + 1)) ** 2


@register_sensitivity_method("lowres", LowResConfig)
def _lowres_batch(
    kspace: torch.Tensor, config: LowResConfig, mask: MaskLike | None
) -> tuple[torch.Tensor, None, CalibrationRegion]:
    with cpu_workers(kspace.device):
        return _lowres(kspace, config, mask)


def _lowres(kspace: torch.Tensor, config: LowResConfig, mask: MaskLike | None) -> tuple[torch.Tensor, None, CalibrationRegion]:
    num_slices, num_coils, height, width = kspace.shape
    device = kspace.device
    region = find_calibration_region(
        kspace, config.calib_size, mask=mask, auto=config.auto_calib, search_readout=config.search_readout
    )
    if min(region.size) < 2:
        raise InputError(f"the fully sampled calibration region is {region.size[0]} x {region.size[1]}, too small for coil maps")
    calibration = extract_calibration(kspace, region)
    reference = principal_coil_vector(calibration, config.rotate_phase)
    rows, cols = region.size
    tapered = calibration * (_hann(rows, device)[:, None] * _hann(cols, device)[None, :])
    points = (min(config.grid, height), min(config.grid, width))
    starts = np.asarray(region.starts)
    images = []
    for index in range(num_slices):
        freq_rows = torch.arange(rows, device=device) + int(starts[index, 0]) - height // 2
        freq_cols = torch.arange(cols, device=device) + int(starts[index, 1]) - width // 2
        synth_rows = fourier_matrix(grid_coordinates(points[0], height, device), freq_rows, height)
        synth_cols = fourier_matrix(grid_coordinates(points[1], width, device), freq_cols, width)
        images.append(synth_rows @ tapered[index] @ synth_cols.T)  # (C, n, m)
    coarse = torch.stack(images)  # (S, C, n, m)
    size = coarse.abs().square().sum(dim=1, keepdim=True).sqrt()
    scale = size.amax(dim=(-2, -1), keepdim=True)
    if not bool((scale > 0).all()):
        raise InputError("a slice has no signal in its calibration region")
    coarse = rotate_phase(coarse / size.clamp_min(1e-30 * float(scale.max())), reference[:, :, None, None], dim=1)
    # upsampled as real and imaginary parts, normalised and cut to the support in one pass
    real = upsample(coarse.real.contiguous(), (height, width))
    imag = upsample(coarse.imag.contiguous(), (height, width))
    norm = (real.square() + imag.square()).sum(dim=1, keepdim=True).sqrt().clamp_min(1e-12)
    factor = 1 / norm
    if config.threshold > 0:
        support = upsample(size / scale, (height, width)) > config.threshold
        factor = torch.where(support, factor, torch.zeros((), dtype=factor.dtype, device=device))
    vectors = torch.complex(real * factor, imag * factor)
    return vectors[:, None], None, region


def lowres_sensitivities(
    kspace: np.ndarray | torch.Tensor, config: LowResConfig | None = None, *, mask: MaskLike | None = None
) -> SensitivityEstimate:
    """Low-resolution coil sensitivities; see :func:`~lfmri_core.coils.estimate_sensitivities`.

    Parameters
    ----------
    kspace
        Complex ``(coils, H, W)`` or ``(slices, coils, H, W)`` (numpy or torch).
    config
        :class:`LowResConfig`; None for the defaults.
    mask
        Sampling pattern to find the calibration block from; None reads it from the data.

    Returns
    -------
    SensitivityEstimate
        Maps ``(slices, coils, H, W)`` (no ``slices`` axis for 3-D input); no eigenvalues.
    """
    return SENSITIVITY_METHODS["lowres"].estimate(kspace, config, mask=mask)
