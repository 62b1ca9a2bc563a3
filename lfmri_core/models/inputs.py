"""The coil maps every learned model is trained and run with.

Learned models see ``A^H Y`` through coil maps estimated from the undersampled k-space's fully
sampled centre. Training and inference must use the same estimate, so both call
:func:`model_sensitivities`: the fast low-resolution maps (:mod:`lfmri_core.coils.lowres`) over
the whole field of view (threshold 0), whose root-sum-of-squares is 1 everywhere, so ``|A^H Y|``
of fully sampled data is close to the RSS reference the models are scored against.
"""

from __future__ import annotations

import torch

from lfmri_core.coils import estimate_sensitivities
from lfmri_core.coils.calibration import MaskLike

MODEL_MAPS = "lowres"
"""Sensitivity method of the learned models."""

MODEL_MAP_OPTIONS: dict[str, object] = {"threshold": 0.0}
"""Its options."""


def model_sensitivities(kspace: torch.Tensor, mask: MaskLike | None) -> torch.Tensor:
    """Coil maps for a learned model.

    Parameters
    ----------
    kspace
        Undersampled k-space, complex ``(batch, coils, H, W)``, unsampled entries 0.
    mask
        The sampling mask (boolean ``(W,)``/``(1, W)``/``(H, W)`` tensor or a
        :class:`~lfmri_core.masks.SamplingMask`); it locates the calibration block.

    Returns
    -------
    torch.Tensor
        Complex64 maps ``(batch, coils, H, W)`` on the k-space's device.
    """
    if isinstance(mask, torch.Tensor) and mask.ndim == 2 and mask.shape[0] == 1:
        mask = mask[0]
    return estimate_sensitivities(kspace, MODEL_MAPS, mask=mask, **MODEL_MAP_OPTIONS).maps
