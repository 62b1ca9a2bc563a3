"""The loss of one training batch, per item, for each phase.

:func:`reconstruction_losses`: the reconstruction network on a masked, readout-cropped batch
against its fully sampled target (with the oracle focus maps when the model takes them).
:func:`classifier_losses`: Net_c on fully sampled images, some replaced by zero-filled ones or by
a frozen reconstruction network's estimate after a few stages (:func:`staged_estimate`), some
flipped, twin pairs on one scale (:func:`pair_scales`). :func:`oracle_focus_maps`: the smoothed
boxes that replace Net_c's CAM in the oracle-focus LF-MRI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lfmri_core.models import LFMRINet
from lfmri_core.models.classifier import Normalisation, input_scales
from lfmri_core.physics import center_crop
from lfmri_core.training.batch import coil_images, recon_batch, rss_target, zero_filled
from lfmri_core.training.losses import ReconstructionLoss
from lfmri_core.training.slices import SliceDataset

__all__ = ["classifier_losses", "oracle_focus_maps", "pair_scales", "reconstruction_losses", "staged_estimate"]

Reconstruct = Callable[[torch.Tensor, tuple[int, int], tuple[int, int], Any, int], torch.Tensor]
"""``reconstruct(kspace, recon_shape, padding, spec, stages)``: see :func:`staged_estimate`."""


def reconstruction_losses(net: nn.Module, loss: ReconstructionLoss, kspace: torch.Tensor, recon_shape: tuple[int, int],
                          padding: tuple[int, int], spec: Any, crop_fractions: Sequence[float], *,
                          crop_rows: int | None, focus: torch.Tensor | None = None, oracle: bool = False) -> torch.Tensor:
    """Loss per item ``(n,)`` of a reconstruction network on fully sampled ``kspace``
    ``(n, coils, H, W)`` undersampled by ``spec``, each item cropped to its readout window."""
    batch = recon_batch(kspace, recon_shape, spec, padding=padding, crop_rows=crop_rows,
                        crop_fractions=crop_fractions, focus=focus)
    output = net(batch.kspace, batch.mask, batch.sensitivities, focus=batch.focus) if oracle \
        else net(batch.kspace, batch.mask, batch.sensitivities)
    weights = None if batch.focus is None else center_crop(batch.focus, batch.crop_shape)
    return loss(center_crop(output.image.abs(), batch.crop_shape), batch.target, weights).total


def classifier_losses(net: nn.Module, kspace: torch.Tensor, recon_shape: tuple[int, int], padding: tuple[int, int],
                      targets: torch.Tensor, spec: Any, augment: Sequence[bool], flips: Sequence[bool],
                      recon_stages: Sequence[int] = (), *, reconstruct: Reconstruct, pos_weight: torch.Tensor | None,
                      normalisation: Normalisation, twin_pairs: bool) -> torch.Tensor:
    """Binary cross-entropy per item ``(n,)`` of Net_c against ``targets`` ``(n, classes)``.

    Item ``i`` is the fully sampled RSS image, or the zero-filled one when ``augment[i]``, or
    ``reconstruct(...)`` after ``recon_stages[i]`` stages when that is above 0; flipped
    left-right when ``flips[i]``; with ``twin_pairs`` each pair on its lesion image's scale.
    """
    with torch.no_grad():
        images = rss_target(coil_images(kspace), recon_shape).float()
        stages = list(recon_stages) or [0] * len(augment)
        chosen = [i for i, flag in enumerate(augment) if flag and not stages[i]]
        if chosen:
            images[chosen] = zero_filled(recon_batch(kspace[chosen], recon_shape, spec, padding=padding))
        for count in sorted({c for c in stages if c}):
            members = [i for i, c in enumerate(stages) if c == count]
            images[members] = reconstruct(kspace[members], recon_shape, padding, spec, count)
        flipped = [i for i, flag in enumerate(flips) if flag]
        if flipped:
            images[flipped] = images[flipped].flip(-1)
        scale = pair_scales(images, normalisation) if twin_pairs else None
    logits = net(images.unsqueeze(1), scale).logits
    losses = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight, reduction="none")
    return losses.mean(dim=1)


def staged_estimate(model: nn.Module, kspace: torch.Tensor, recon_shape: tuple[int, int], padding: tuple[int, int],
                    spec: Any, stages: int) -> torch.Tensor:
    """``|X_stages|`` of a frozen reconstruction network from masked k-space, cropped like the
    target (a U-Net has one stage)."""
    batch = recon_batch(kspace, recon_shape, spec, padding=padding)
    if isinstance(model, LFMRINet):
        output = model(batch.kspace, batch.mask, batch.sensitivities, stages=stages).image
    else:
        output = model(batch.kspace, batch.mask, batch.sensitivities).image
    return center_crop(output.abs(), batch.crop_shape).float()


def pair_scales(images: torch.Tensor, normalisation: Normalisation) -> torch.Tensor | None:
    """Net_c's input divisor for twin pairs: each lesion image's own (as in use), and the same
    for its twin (odd positions), instead of the twin's own.

    Net_c divides every image by its own 99th percentile (or maximum). A large bright lesion
    (an effusion on PDFS) raises that statistic, by up to 2x, so a lesion image normalised on
    its own would be darker *everywhere* than its normalised twin: a global cue that says
    nothing about where the lesion is. On one scale the two inputs are equal outside the lesion.
    None for ``normalisation == "none"`` (nothing to equalise).
    """
    scales = input_scales(images[0::2].unsqueeze(1), normalisation)
    return None if scales is None else scales.repeat_interleave(2)


def oracle_focus_maps(dataset: SliceDataset, items: Sequence[tuple[int, int]],
                      cache: dict[tuple[int, int, int], torch.Tensor], device: torch.device) -> torch.Tensor:
    """Oracle focus maps ``(n, H, W)`` of ``(volume, slice)`` items on ``device``, each made
    once and kept in ``cache``."""
    from lfmri_core.models.focus import box_focus_map

    maps = []
    for v, s in items:
        key = (id(dataset.volumes), v, s)
        focus = cache.get(key)
        if focus is None:
            entry = dataset.volumes[v]
            boxes = entry.annotations.boxes_on(s) if entry.annotations is not None else ()
            focus = box_focus_map(boxes, entry.image_shape, entry.recon_shape, device=device)
            cache[key] = focus
        maps.append(focus)
    return torch.stack(maps)
