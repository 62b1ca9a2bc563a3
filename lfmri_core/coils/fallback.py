"""ESPIRiT with its checks and fallback: what :func:`~lfmri_core.coils.estimate_sensitivities`
runs for ``"espirit"``.

1. The calibration region is found as ESPIRiT finds it. When the kernel fits it fewer than
   :data:`~lfmri_core.coils.checks.MIN_KERNEL_POSITIONS` times along an axis, ESPIRiT is not
   run: step 3.
2. ESPIRiT runs, and its maps' :func:`~lfmri_core.coils.checks.map_coverage` is measured on
   every slice; below :data:`~lfmri_core.coils.checks.MIN_COVERAGE` on any slice, step 3.
3. NLINV (:mod:`lfmri_core.coils.nlinv`, same calibration limit and phase convention) makes the
   maps of every slice; with several ESPIRiT maps asked for, NLINV's is the first and the
   others are 0. It has no eigenvalues.

Each check that fails adds a line to the estimate's ``warnings``. With ``fallback=False`` the
checks only warn: ESPIRiT's own maps are returned (and a region smaller than the kernel is the
error it always was).
"""

from __future__ import annotations

from typing import Any

import torch

from lfmri_core.coils.base import (
    SENSITIVITY_METHODS,
    SensitivityEstimate,
    SensitivityMethod,
    register_checked_estimate,
)
from lfmri_core.coils.calibration import (
    MaskLike,
    as_kspace_batch,
    find_calibration_region,
)
from lfmri_core.coils.checks import (
    MIN_COVERAGE,
    MIN_KERNEL_POSITIONS,
    kernel_fits,
    map_coverage,
)
from lfmri_core.coils.espirit import EspiritConfig
from lfmri_core.coils.nlinv import NlinvConfig

__all__ = ["FALLBACK", "checked_espirit"]

FALLBACK = "nlinv"
"""The method whose maps replace ESPIRiT's when they fail a check."""


def checked_espirit(
    entry: SensitivityMethod, kspace: Any, config: EspiritConfig, mask: MaskLike | None, *, fallback: bool = True
) -> SensitivityEstimate:
    """ESPIRiT maps that passed the checks, or NLINV's (see the module docstring).

    Parameters
    ----------
    entry
        The registered ESPIRiT method.
    kspace
        Complex ``(coils, H, W)`` or ``(slices, coils, H, W)``, numpy or torch.
    config
        ESPIRiT's configuration as asked for.
    mask
        Sampling pattern to find the calibration block from (None: from the data).
    fallback
        False: warn only, keep ESPIRiT's maps.
    """
    config = entry.checked_config(config)
    batch, has_slices = as_kspace_batch(kspace)
    region = find_calibration_region(
        batch, config.calib_size, mask=mask, auto=config.auto_calib, search_readout=config.search_readout
    )
    notes: list[str] = []
    if not kernel_fits(region.size, config.kernel_size):
        problem = _kernel_problem(region.size, config.kernel_size)
        if fallback:
            return _fallback(batch, config, mask, has_slices, [f"{problem}; using {FALLBACK} maps instead"])
        notes.append(f"{problem}; its maps are kept (fallback off) and may miss part of the object")
    maps, eigenvalues, found = entry.function(batch, config, mask)
    coverage = map_coverage(batch, maps, found)
    short = coverage < MIN_COVERAGE
    if bool(short.any()):
        where = "" if batch.shape[0] == 1 else f" on {int(short.sum())} of {batch.shape[0]} slices"
        problem = (f"ESPIRiT's coil maps explain only {float(coverage.min()):.0%} of the calibration data's "
                   f"energy{where} (at least {MIN_COVERAGE:.0%} expected): they miss part of the object")
        if fallback:
            return _fallback(batch, config, mask, has_slices, [*notes, f"{problem}; using {FALLBACK} maps instead"])
        notes.append(f"{problem}; they are kept (fallback off)")
    return entry.package(maps, eigenvalues, found, config, has_slices, warnings=tuple(notes), coverage=coverage)


def _kernel_problem(region: tuple[int, int], kernel: tuple[int, int]) -> str:
    rows, cols = region
    need = (kernel[0] + MIN_KERNEL_POSITIONS - 1, kernel[1] + MIN_KERNEL_POSITIONS - 1)
    return (f"the fully sampled calibration region is {rows} x {cols} ({cols} phase-encode lines), too small for "
            f"ESPIRiT's {kernel[0]} x {kernel[1]} kernel (it needs at least {need[0]} x {need[1]})")


def _fallback(
    batch: torch.Tensor, config: EspiritConfig, mask: MaskLike | None, has_slices: bool, notes: list[str]
) -> SensitivityEstimate:
    entry = SENSITIVITY_METHODS[FALLBACK]
    fallback_config = NlinvConfig(calib_size=config.calib_size, rotate_phase=config.rotate_phase)
    maps, _, region = entry.function(batch, fallback_config, mask)
    coverage = map_coverage(batch, maps, region)
    if config.num_maps > 1:
        rest = torch.zeros((maps.shape[0], config.num_maps - 1, *maps.shape[2:]), dtype=maps.dtype, device=maps.device)
        maps = torch.cat([maps, rest], dim=1)
    return entry.package(maps, None, region, fallback_config, has_slices, requested="espirit", warnings=tuple(notes),
                         coverage=coverage)


register_checked_estimate("espirit", checked_espirit)
