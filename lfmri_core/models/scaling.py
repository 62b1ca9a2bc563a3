"""Per-image intensity scale, so one set of weights works on fastMRI's raw scale (~1e-4) and
on data near 1 alike."""

from __future__ import annotations

import torch


def robust_scale(magnitude: torch.Tensor, *, percentile: bool = True) -> torch.Tensor:
    """Scale of each image in ``(batch, ...)`` non-negative values, shape ``(batch,)``.

    The (lower) 99th percentile with ``percentile``, else the maximum; where that is zero the
    maximum, then 1. Differentiable in ``magnitude``; pass ``magnitude.detach()`` for a
    constant normalisation.
    """
    flat = magnitude.flatten(1)
    peak = flat.amax(dim=1)
    scale = peak
    if percentile:
        # kthvalue (unlike torch.quantile) has no input-size limit.
        k = max(1, int(0.99 * (flat.shape[1] - 1)) + 1)
        p99 = flat.kthvalue(k, dim=1).values
        scale = torch.where(p99 > 0, p99, peak)
    return torch.where(scale > 0, scale, torch.ones_like(scale))
