"""Choosing the torch device: the GPU when there is one, else the CPU."""

from __future__ import annotations

import warnings

import torch

from lfmri_core.errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(request: str | torch.device = "auto", *, strict: bool = False) -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda[:N]"`` into a usable :class:`torch.device`.

    ``"auto"`` picks CUDA when available. A CUDA request on a machine without a GPU falls back
    to the CPU with a warning, or raises :class:`InputError` when ``strict`` is set.
    """
    text = str(request).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise InputError(f"unknown device {request!r}; choose one of {', '.join(DEVICE_CHOICES)}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        if strict:
            raise InputError(f"device {request!r} requested but no CUDA GPU is available")
        warnings.warn(f"device {request!r} requested but no CUDA GPU is available; using the CPU", RuntimeWarning, stacklevel=2)
        return torch.device("cpu")
    return device
