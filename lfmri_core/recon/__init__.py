"""Reconstruction methods (by name) and the per-volume reconstruction pipeline."""

from lfmri_core.recon import zero_filled as _zero_filled  # noqa: F401  (registers the method)
from lfmri_core.recon.registry import (
    METHOD_REGISTRY,
    Cancelled,
    MethodInfo,
    ReconMethod,
    available_methods,
    build_method,
    method_info,
    register_method,
)

__all__ = [
    "METHOD_REGISTRY",
    "Cancelled",
    "MethodInfo",
    "ReconMethod",
    "available_methods",
    "build_method",
    "method_info",
    "register_method",
]
