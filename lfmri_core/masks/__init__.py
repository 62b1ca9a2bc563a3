"""Sampling masks for k-space ``(..., H, W)`` (``W``, the last axis, is phase encode).

- :class:`SamplingMask`: a pattern (``(W,)`` line mask or ``(H, W)`` 2-D mask) with its
  name, nominal and achieved acceleration and fully sampled center; applies itself to
  numpy or torch k-space with exact ``+0.0`` zeros.
- A registry of builders by name (:func:`make_mask`, :func:`available_masks`,
  :func:`register_mask`) and :class:`MaskSpec`, a mask choice without a shape that
  round-trips through JSON.
- fastMRI's five line masks, bit for bit (``random``, ``equispaced``,
  ``equispaced_fraction``, ``magic``, ``magic_fraction``), and :class:`LineMaskSampler`,
  the stateful equivalent of fastMRI's ``MaskFunc``.
- 2-D variable-density ``poisson`` and ``gaussian`` masks.
- :class:`DrawnMaskSpec`: a mask drawn by hand (lines or 2-D points), a :class:`MaskSpec`
  kind that holds its pattern.
"""

from lfmri_core.masks._checks import Seed
from lfmri_core.masks.base import (
    MASK_REGISTRY,
    MaskBuilder,
    MaskSpec,
    SamplingMask,
    available_masks,
    make_mask,
    register_mask,
    seed_from_filename,
)

# imported for their registrations, fastMRI's masks first so they lead available_masks()
from lfmri_core.masks.cartesian import (  # isort: skip
    LINE_MASKS,
    LineMaskSampler,
    equispaced_fraction_mask,
    equispaced_mask,
    magic_fraction_mask,
    magic_mask,
    random_mask,
)
from lfmri_core.masks.variable_density import gaussian_mask, poisson_mask  # isort: skip
from lfmri_core.masks.drawn import DRAWN, DrawnMaskSpec  # isort: skip

__all__ = [
    "DRAWN",
    "LINE_MASKS",
    "MASK_REGISTRY",
    "DrawnMaskSpec",
    "LineMaskSampler",
    "MaskBuilder",
    "MaskSpec",
    "SamplingMask",
    "Seed",
    "available_masks",
    "equispaced_fraction_mask",
    "equispaced_mask",
    "gaussian_mask",
    "magic_fraction_mask",
    "magic_mask",
    "make_mask",
    "poisson_mask",
    "random_mask",
    "register_mask",
    "seed_from_filename",
]
