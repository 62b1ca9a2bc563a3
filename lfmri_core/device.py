"""Choosing the torch device: the GPU when there is one, else the CPU.

The one home of the device policy: the choices every front end offers (:data:`DEVICE_CHOICES`,
with the words a GUI shows for them in :data:`DEVICE_LABELS`), the check of a user's choice
(:func:`check_device`) and the decision what it means on this machine (:func:`resolve_device`,
with :func:`cuda_fallback` saying when a CUDA choice falls back to the CPU). The CLI, the
pipeline, the session controller and both viewers use these.
"""

from __future__ import annotations

import re
import warnings

import torch

from lfmri_core.errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
"""Device choices the command line and the front ends offer (``"cuda:N"`` is accepted too)."""

DEVICE_LABELS = {"auto": "auto", "cpu": "CPU", "cuda": "GPU"}
"""How a GUI names each of :data:`DEVICE_CHOICES`."""

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device(request: str | torch.device) -> str:
    """A device choice, normalised (``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``), else a
    one-line :class:`InputError` naming the choices."""
    text = str(request).strip().lower()
    if not _DEVICE.match(text):
        raise InputError(f"unknown device {request!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    return text


def cuda_fallback(request: str | torch.device) -> str | None:
    """The one-line message when ``request`` asks for CUDA on a machine without a GPU (the
    work then runs on the CPU); None when the request can be honoured."""
    text = str(request).strip().lower()
    if text.startswith("cuda") and not torch.cuda.is_available():
        return f"device {str(request)!r} requested but no CUDA GPU is available; using the CPU"
    return None


def resolve_device(request: str | torch.device = "auto", *, strict: bool = False, warn: bool = True) -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda[:N]"`` into a usable :class:`torch.device`.

    ``"auto"`` picks CUDA when available. A CUDA request on a machine without a GPU falls back
    to the CPU with a :class:`RuntimeWarning` (none with ``warn=False``, for a caller that
    reports :func:`cuda_fallback` its own way), or raises :class:`InputError` when ``strict``.
    """
    text = str(request).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise InputError(f"unknown device {request!r}; choose one of {', '.join(DEVICE_CHOICES)}") from None
    fallback = cuda_fallback(request) if device.type == "cuda" else None
    if fallback is not None:
        if strict:
            raise InputError(f"device {request!r} requested but no CUDA GPU is available")
        if warn:
            warnings.warn(fallback, RuntimeWarning, stacklevel=2)
        return torch.device("cpu")
    return device


__all__ = ["DEVICE_CHOICES", "DEVICE_LABELS", "check_device", "cuda_fallback", "resolve_device"]
