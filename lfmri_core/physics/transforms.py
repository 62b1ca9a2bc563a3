"""Array helpers shared by the physics, metrics and reconstruction code."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from lfmri_core.errors import InputError

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def center_crop(x: ArrayT, shape: tuple[int, int]) -> ArrayT:
    """Centre crop of the last two axes to ``shape = (h, w)`` (fastMRI's convention).

    The crop starts at ``(H - h) // 2``, ``(W - w) // 2``, as in ``fastmri.data.transforms
    .center_crop``. Works on numpy arrays and torch tensors of shape ``(..., H, W)``.
    """
    height, width = x.shape[-2], x.shape[-1]
    h, w = shape
    if not (0 < h <= height and 0 < w <= width):
        raise InputError(f"cannot crop an image of {height} x {width} to {h} x {w}")
    top = (height - h) // 2
    left = (width - w) // 2
    return x[..., top : top + h, left : left + w]


def as_complex_tensor(x: np.ndarray | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """complex64 tensor on ``device`` from a numpy array or tensor (no copy when possible)."""
    t = torch.as_tensor(x) if isinstance(x, np.ndarray) else x
    if not t.is_complex():
        t = t.to(torch.complex64)
    return t.to(device=device, dtype=torch.complex64)
