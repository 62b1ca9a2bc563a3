"""From fully sampled k-space slices to a training batch: readout crop, mask, maps, target.

For a batch of fully sampled coil k-space ``(B, C, H, W)`` (H readout, W phase encode):

1. *readout crop* (optional): the coil images ``ifft2c(k)`` are cut to a window of
   ``crop_rows`` rows and transformed back. The readout is fully sampled, so the phase-encode
   sampling pattern (and its fully sampled centre, the ACS lines) is the same as for the whole
   image; the cost of every learned model is proportional to H, so a 160-row window halves it.
   Only for data whose image size equals the recon size (the compact synthetic geometry).
   Data with an oversampled readout (fastMRI's 640 rows for a 320-row recon) and a line mask
   is cut instead to the fixed window inference runs the models on: the recon rows and
   :data:`~lfmri_core.models.inputs.READOUT_MARGIN` rows on each side
   (:func:`~lfmri_core.models.inputs.readout_window_rows`), so training, validation and use
   see the same input;
2. the mask (one per batch) zeroes the unsampled columns (:func:`~lfmri_core.physics.apply_mask`);
3. the coil maps every learned model uses, :func:`~lfmri_core.models.model_sensitivities`;
4. the target: root-sum-of-squares of the (cropped) fully sampled coil images, centre-cropped
   to the recon size, exactly as fastMRI's ``reconstruction_rss``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from lfmri_core.errors import InputError
from lfmri_core.masks import MaskSpec
from lfmri_core.models.inputs import model_sensitivities, readout_window_rows
from lfmri_core.physics import (
    SenseOperator,
    apply_mask,
    center_crop,
    fft2c,
    ifft2c,
    rss,
)


class ReconBatch(NamedTuple):
    """Inputs and target of a learned reconstruction model."""

    kspace: torch.Tensor
    """Undersampled coil k-space, complex64 ``(B, C, h, W)`` (``h`` = crop rows or H)."""
    mask: torch.Tensor
    """Boolean ``(1, W)`` line mask."""
    sensitivities: torch.Tensor
    """Coil maps, complex64 ``(B, C, h, W)``."""
    target: torch.Tensor
    """Reference magnitude, float32 ``(B, *crop_shape)``."""
    crop_shape: tuple[int, int]
    """Size of the region the loss and metrics compare: the recon size within ``(h, W)``."""
    focus: torch.Tensor | None = None
    """Oracle focus maps cut like the k-space, float32 ``(B, h, W)``, or None."""


def crops_readout(image_shape: tuple[int, int], recon_shape: tuple[int, int], crop_rows: int | None) -> bool:
    """Whether a readout window of ``crop_rows`` applies to data of these shapes."""
    return crop_rows is not None and tuple(image_shape) == tuple(recon_shape) and 0 < crop_rows < image_shape[0]


def crop_offsets(fractions: Sequence[float], height: int, rows: int) -> list[int]:
    """First row of each window: ``fraction`` in ``[0, 1)`` mapped onto ``0 .. height - rows``."""
    return [min(int(f * (height - rows + 1)), height - rows) for f in fractions]


def coil_images(
    kspace: torch.Tensor, offsets: Sequence[int] | None = None, rows: int | None = None
) -> torch.Tensor:
    """Fully sampled coil images ``(B, C, H, W)``, or rows ``offset .. offset + rows`` of each."""
    images = ifft2c(kspace)
    if offsets is None or rows is None:
        return images
    if len(offsets) != images.shape[0]:
        raise InputError(f"{len(offsets)} crop offsets for a batch of {images.shape[0]}")
    return torch.stack([images[i, :, o : o + rows] for i, o in enumerate(offsets)])


def target_crop_shape(image_shape: tuple[int, int], recon_shape: tuple[int, int]) -> tuple[int, int]:
    """The recon-size centre crop of an image of ``image_shape`` (clipped to it)."""
    return (min(image_shape[0], recon_shape[0]), min(image_shape[1], recon_shape[1]))


def rss_target(images: torch.Tensor, recon_shape: tuple[int, int]) -> torch.Tensor:
    """RSS over coils of ``(B, C, h, w)`` coil images, centre-cropped to the recon size."""
    return center_crop(rss(images), target_crop_shape(tuple(images.shape[-2:]), recon_shape))


def recon_batch(
    kspace: torch.Tensor,
    recon_shape: tuple[int, int],
    mask_spec: MaskSpec,
    *,
    padding: tuple[int, int] | None = None,
    crop_rows: int | None = None,
    crop_fractions: Sequence[float] | None = None,
    focus: torch.Tensor | None = None,
) -> ReconBatch:
    """Build a model's inputs and target from fully sampled k-space.

    Parameters
    ----------
    kspace
        Fully sampled coil k-space, complex64 ``(B, C, H, W)``, on the training device.
    recon_shape
        Recon size ``(rh, rw)`` of the data.
    mask_spec
        The batch's mask (with a seed: see :func:`~lfmri_core.training.masks.draw_mask_spec`).
    padding
        Acquired columns ``[left, right)``; the mask leaves the others unsampled (as
        :meth:`~lfmri_core.masks.SamplingMask.with_padding`, fastMRI's ``apply_mask``). None:
        every column was acquired.
    crop_rows
        Readout window; ignored unless :func:`crops_readout` holds. Otherwise, oversampled
        data with a line mask is cut to the inference window (see the module docstring).
    crop_fractions
        One number in ``[0, 1)`` per item placing its window (from the seeded generator).
    focus
        Oracle focus maps of the items on the full image, real ``(B, H, W)``
        (:func:`~lfmri_core.models.focus.box_focus_map`); cut to the same window.
    """
    height, width = kspace.shape[-2:]
    if focus is not None and tuple(focus.shape) != (kspace.shape[0], height, width):
        raise InputError(f"focus maps of shape {tuple(focus.shape)} do not fit k-space {tuple(kspace.shape)}")
    if crops_readout((height, width), recon_shape, crop_rows):
        assert crop_rows is not None
        if crop_fractions is None:
            raise InputError("a readout crop needs one crop fraction per item")
        offsets = crop_offsets(crop_fractions, height, crop_rows)
        images = coil_images(kspace, offsets, crop_rows)
        kspace = fft2c(images)
        if focus is not None:
            focus = torch.stack([focus[i, o : o + crop_rows] for i, o in enumerate(offsets)])
        pattern = mask_spec.build(tuple(kspace.shape))
    else:
        images = coil_images(kspace)
        pattern = mask_spec.build(tuple(kspace.shape))
        # (a recon size above the image's is clipped to it, as by the target's crop)
        rows = readout_window_rows(height, target_crop_shape((height, width), recon_shape)[0]) if pattern.is_1d else None
        if rows is not None:  # a line mask fits the window as it is
            images = images[..., rows, :]
            kspace = fft2c(images)
            if focus is not None:
                focus = focus[:, rows]
    target = rss_target(images, recon_shape)
    if padding is not None and tuple(padding) != (0, width):
        pattern = pattern.with_padding(*padding)
    mask = pattern.to_tensor(tuple(kspace.shape), device=kspace.device)
    undersampled = apply_mask(kspace, mask)
    maps = model_sensitivities(undersampled, mask)
    return ReconBatch(undersampled, mask, maps, target.float(), tuple(target.shape[-2:]),
                      None if focus is None else focus.float())


def zero_filled(batch: ReconBatch) -> torch.Tensor:
    """``|A^H y|`` with the batch's maps, centre-cropped like the target: float ``(B, *crop_shape)``."""
    image = SenseOperator(batch.sensitivities, batch.mask).adjoint(batch.kspace)
    return center_crop(image.abs(), batch.crop_shape).float()
