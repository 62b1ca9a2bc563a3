"""Which sampling mask a slice gets: a volume's mask from a spec, or a mask the caller gives."""

from __future__ import annotations

import numpy as np
import torch

from lfmri_core.errors import InputError
from lfmri_core.io.fastmri_h5 import VolumeInfo
from lfmri_core.masks import MaskSpec, SamplingMask, seed_from_filename

MaskArg = SamplingMask | np.ndarray | torch.Tensor
"""A mask as :func:`lfmri_core.inference.infer_slices` takes it: a :class:`SamplingMask` or a
boolean ``(W,)``, ``(1, W)`` or ``(H, W)`` array or tensor."""


def volume_mask(info: VolumeInfo, spec: MaskSpec | None) -> SamplingMask:
    """The sampling mask for a volume.

    Fully sampled files get ``spec`` (default seed: fastMRI's per-file seed from the file
    name), with columns outside the header's acquired range removed. Test files that are
    already undersampled use their stored mask; asking for another one is an error.
    """
    left, right = info.encoding.padding
    if info.mask is not None:
        if spec is not None:
            raise InputError(
                f"{info.name} is already undersampled (stored mask, acceleration "
                f"{info.attrs.get('acceleration', '?')}); reconstruct it without a mask choice"
            )
        return SamplingMask(
            pattern=info.mask.copy(),
            name="stored",
            nominal_acceleration=float(info.attrs.get("acceleration", info.mask.size / max(info.mask.sum(), 1))),
            num_low_frequencies=int(info.attrs.get("num_low_frequency", 0)),
        )
    if spec is None:
        raise InputError(f"{info.name} is fully sampled: choose a mask (name, acceleration, center fraction)")
    if spec.seed is None:
        spec = spec.with_seed(seed_from_filename(info.name))
    mask = spec.build(info.image_shape)
    return mask.with_padding(left, right) if mask.is_1d and (left, right) != (0, info.image_shape[1]) else mask


def as_sampling_mask(mask: MaskArg) -> SamplingMask:
    """``mask`` as a :class:`SamplingMask` (a boolean array becomes one named ``"given"``)."""
    if isinstance(mask, SamplingMask):
        return mask
    if isinstance(mask, torch.Tensor):
        pattern = mask.detach().cpu().numpy()
    elif isinstance(mask, np.ndarray):
        pattern = mask
    else:
        raise InputError(f"mask must be a SamplingMask or a boolean array/tensor, got {type(mask).__name__}")
    if pattern.ndim == 2 and pattern.shape[0] == 1:
        pattern = pattern[0]
    if pattern.ndim in (1, 2) and pattern.size and pattern.dtype == np.bool_:
        sampled = int(np.count_nonzero(pattern))
        return SamplingMask(pattern, name="given", nominal_acceleration=pattern.size / max(sampled, 1),
                            num_low_frequencies=0)
    raise InputError(
        f"mask must be a boolean (W,), (1, W) or (H, W) array, got {pattern.dtype} of shape {tuple(np.shape(mask))}"
    )


__all__ = ["MaskArg", "as_sampling_mask", "volume_mask"]
