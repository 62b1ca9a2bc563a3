"""Reconstruction methods by name.

A method turns undersampled multi-coil k-space into an image. Every front end (CLI, napari,
Jupyter, evaluation) lists and builds methods from :data:`METHOD_REGISTRY`, so a method added
here (or registered from a plugin) appears everywhere at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from lfmri_core.errors import InputError

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while a method works (iterations or stages)."""

CancelCallback = Callable[[], bool]
"""Returns True when the caller wants the work stopped; methods then raise :class:`Cancelled`."""


class Cancelled(RuntimeError):
    """Raised by a method (or pipeline) when its cancel callback returned True."""


class ReconMethod(Protocol):
    """What a reconstruction method looks like to its callers."""

    def __call__(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        *,
        sensitivities: torch.Tensor | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> torch.Tensor:
        """Reconstruct.

        Parameters
        ----------
        kspace
            Undersampled k-space, complex64 ``(slices, coils, H, W)``, unsampled entries +0.0.
        mask
            Boolean sampling mask broadcastable to ``kspace`` (``(1, W)`` or ``(H, W)``).
        sensitivities
            Coil maps ``(slices, coils, H, W)`` for methods that need them.

        Returns
        -------
        torch.Tensor
            Full-FOV image ``(slices, H, W)``, complex or magnitude; callers take ``abs`` and
            centre-crop to the recon size.
        """
        ...


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its name, a one-line description and how to build it."""

    name: str
    description: str
    factory: Callable[..., ReconMethod]
    needs_sensitivities: bool = False
    learned: bool = False
    needs_boxes: bool = False
    """The method takes the annotated lesion boxes as a ``focus`` map (an oracle experiment: it
    runs only on annotated data, never on a new scan)."""


METHOD_REGISTRY: dict[str, MethodInfo] = {}


def register_method(
    name: str, description: str, *, needs_sensitivities: bool = False, learned: bool = False, needs_boxes: bool = False
) -> Callable[[Callable[..., ReconMethod]], Callable[..., ReconMethod]]:
    """Decorator registering a method factory under ``name``."""

    def decorate(factory: Callable[..., ReconMethod]) -> Callable[..., ReconMethod]:
        if name in METHOD_REGISTRY:
            raise ValueError(f"reconstruction method {name!r} is registered twice")
        METHOD_REGISTRY[name] = MethodInfo(name, description, factory, needs_sensitivities, learned, needs_boxes)
        return factory

    return decorate


def available_methods() -> list[str]:
    """Names of all registered methods, in registration order."""
    return list(METHOD_REGISTRY)


def method_info(name: str) -> MethodInfo:
    try:
        return METHOD_REGISTRY[name]
    except KeyError:
        raise InputError(
            f"unknown reconstruction method {name!r}; available: {', '.join(available_methods())}"
        ) from None


def build_method(name: str, **params: object) -> ReconMethod:
    """Build the method registered as ``name`` with its parameters."""
    return method_info(name).factory(**params)
