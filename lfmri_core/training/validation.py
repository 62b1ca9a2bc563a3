"""Validation rounds of a training run, on a fixed subset of the validation slices.

:func:`validate_classifier`: Net_c's accuracy and ROC AUC, and the pointing game of its CAM on
the slices whose boxes are known. :func:`validate_reconstruction`: PSNR, SSIM, NMSE and the
lesion-focused metrics of a reconstruction network at each training acceleration, with fastMRI's
per-file mask seed so that every round sees the same masks
(:func:`~lfmri_core.training.report.format_validation` makes either one line). Both take the bare model (not the DDP wrapper) in eval mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from lfmri_core.metrics.classification import roc_auc
from lfmri_core.physics import center_crop
from lfmri_core.training.batch import coil_images, recon_batch, rss_target
from lfmri_core.training.slices import SliceDataset

__all__ = ["FocusMaps", "validate_classifier", "validate_reconstruction"]

FocusMaps = Callable[[Sequence[tuple[int, int]]], torch.Tensor | None]
"""``focus(items)``: the oracle focus maps ``(n, H, W)`` of ``(volume, slice)`` items, or None."""


def _by_volume(dataset: SliceDataset) -> dict[int, list[int]]:
    positions: dict[int, list[int]] = {}
    for position, (v, _) in enumerate(dataset.items):
        positions.setdefault(v, []).append(position)
    return positions


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), max(1, size)):
        yield list(items[start : start + size])


def _finite_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def validate_classifier(model: nn.Module, dataset: SliceDataset, *, batch_size: int,
                        device: torch.device) -> dict[str, Any]:
    """Accuracy and AUC of the lesion score, and the pointing game of the CAM on the slices
    whose boxes are known (a classifier can score well from cues that merely go with
    lesions; the pointing game says whether it looks at the lesion)."""
    from lfmri_core.metrics.cam import pointing_game

    scores, labels, hits = [], [], []
    for v, positions in _by_volume(dataset).items():
        entry = dataset.volumes[v]
        for chunk in _chunks(positions, batch_size):
            kspace = torch.stack([dataset[p].kspace for p in chunk]).to(device)
            images = rss_target(coil_images(kspace), entry.recon_shape).float()
            out = model(images.unsqueeze(1))
            scores.append(out.logits[:, 0].cpu().numpy())
            labels.append(dataset.targets[chunk, 0])
            for row, position in enumerate(chunk):
                boxes = entry.annotations.boxes_on(dataset.items[position][1]) if entry.annotations else ()
                boxes = [b for b in boxes if not b.is_empty]
                if boxes:
                    hits.append(pointing_game(out.cam[row, 0].float().cpu().numpy(), boxes))
    score = np.concatenate(scores)
    label = np.concatenate(labels)
    return {"accuracy": float(np.mean((score > 0) == (label == 1))), "auc": _finite_or_none(roc_auc(label == 1, score)),
            "slices": int(label.size), "positives": int(np.sum(label == 1)),
            "pointing_game": float(np.mean(hits)) if hits else None, "boxed_slices": len(hits)}


def validate_reconstruction(model: nn.Module, dataset: SliceDataset, accelerations: Sequence[tuple[float, float]], *,
                            batch_size: int, device: torch.device, focus: FocusMaps, oracle: bool) -> dict[str, Any]:
    """Image and lesion-focused metrics per acceleration (``"4x"``...), means over the volumes.

    Parameters
    ----------
    accelerations
        ``(acceleration, centre fraction)`` of the random masks.
    focus
        The oracle focus maps of a chunk of items (see :data:`FocusMaps`).
    oracle
        Whether the model takes the focus maps (the oracle-focus LF-MRI).
    """
    from lfmri_core.evaluation import score_volume
    from lfmri_core.masks import MaskSpec, seed_from_filename

    results: dict[str, Any] = {}
    for acceleration, center_fraction in accelerations:
        per_volume = []
        for v, positions in _by_volume(dataset).items():
            entry = dataset.volumes[v]
            # fastMRI's per-file mask seed: every round sees the same masks.
            spec = MaskSpec("random", acceleration, center_fraction, seed=seed_from_filename(entry.name))
            recons, targets = [], []
            for chunk in _chunks(positions, batch_size):
                kspace = torch.stack([dataset[p].kspace for p in chunk]).to(device)
                maps = focus([dataset.items[p] for p in chunk])
                batch = recon_batch(kspace, entry.recon_shape, spec, padding=entry.padding, focus=maps)
                output = model(batch.kspace, batch.mask, batch.sensitivities, focus=batch.focus) if oracle \
                    else model(batch.kspace, batch.mask, batch.sensitivities)
                recons.append(center_crop(output.image.abs(), batch.crop_shape).float().cpu().numpy())
                targets.append(batch.target.cpu().numpy())
            target = np.concatenate(targets)
            slices = [dataset.items[p][1] for p in positions]
            boxes = entry.annotations.boxes if entry.annotations is not None else ()
            maxval = entry.maxval if entry.maxval is not None else float(target.max())
            per_volume.append(score_volume(target, np.concatenate(recons), boxes, slices, maxval=maxval))
        lf = [s.lf_psnr for s in per_volume if math.isfinite(s.lf_psnr)]
        lf_ssim = [s.lf_ssim for s in per_volume if math.isfinite(s.lf_ssim)]
        results[f"{acceleration:g}x"] = {
            "psnr": float(np.mean([s.psnr for s in per_volume])),
            "ssim": float(np.mean([s.ssim for s in per_volume])),
            "nmse": float(np.mean([s.nmse for s in per_volume])),
            "lf_psnr": _finite_or_none(float(np.mean(lf))) if lf else None,
            "lf_ssim": _finite_or_none(float(np.mean(lf_ssim))) if lf_ssim else None,
            "slices": sum(s.num_slices for s in per_volume),
            "lesion_slices": sum(s.num_lesion_slices for s in per_volume),
        }
    return results
