"""Diagnostics of reconstructions through Net_c: classification scores and CAM localisation.

- :func:`roc_auc`: area under the ROC curve by the rank (Mann-Whitney U) formula, ties
  averaged, so a tie between a positive and a negative counts one half.
- :func:`accuracy`: fraction of images whose predicted label (probability >= threshold)
  matches the image-level label.
- :func:`pointing_game`: whether the maximum of a class activation map lies inside (or within
  a tolerance of) one of the slice's lesion boxes (Zhang et al., ECCV 2016).
- :func:`energy_fraction`: the share of the CAM's total inside the union of the boxes.
- :func:`classify`: Net_c's lesion probability and CAM (class 0, "any lesion") for a stack of
  magnitude images.

Boxes and CAMs are both in the stored frame of the recon crop (``LesionBox`` rows and columns
index the ``(rh, rw)`` image that the CAM is computed on).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import torch
from scipy.special import expit

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.metrics import lesion_mask
from lfmri_core.metrics.classification import accuracy, roc_auc
from lfmri_core.models.classifier import LesionClassifier

__all__ = [
    "ClassifierScores",
    "accuracy",
    "check_pointing_tolerance",
    "classify",
    "energy_fraction",
    "pointing_distance",
    "pointing_game",
    "STANDARD_POINTING_TOLERANCE",
    "roc_auc",
]


def _nonempty(boxes: Iterable[LesionBox]) -> list[LesionBox]:
    return [b for b in boxes if not b.is_empty]


STANDARD_POINTING_TOLERANCE = 15.0
"""Pixels of slack of the pointing game as Zhang et al. (ECCV 2016) defined it."""


def pointing_distance(cam: np.ndarray, boxes: Iterable[LesionBox]) -> float:
    """Euclidean distance in pixels from the CAM's maximum to the nearest box pixel.

    Parameters
    ----------
    cam
        Class activation map of one slice, real ``(rh, rw)``.
    boxes
        The slice's lesion boxes (half-open ranges in the same frame; their ``slice`` is not
        looked at). Empty boxes are ignored.

    Returns
    -------
    float
        0 when the maximum lies inside a box; ``inf`` when there is no (non-empty) box or the
        CAM points nowhere (constant, e.g. all zero, or not finite). The maximum is the first in
        row-major order when several pixels tie.
    """
    cam = np.asarray(cam)
    if cam.ndim != 2:
        raise InputError(f"a CAM must have shape (H, W), got {cam.shape}")
    if cam.size == 0 or not np.isfinite(cam).all() or float(cam.max()) == float(cam.min()):
        return math.inf
    row, col = np.unravel_index(int(np.argmax(cam)), cam.shape)
    best = math.inf
    for box in _nonempty(boxes):
        d_row = max(box.row0 - row, 0, row - (box.row1 - 1))
        d_col = max(box.col0 - col, 0, col - (box.col1 - 1))
        best = min(best, math.hypot(d_row, d_col))
    return best


def pointing_game(cam: np.ndarray, boxes: Iterable[LesionBox], tolerance: float = 0.0) -> bool:
    """Whether the CAM's maximum points at a lesion: :func:`pointing_distance` <= ``tolerance``.

    Parameters
    ----------
    cam
        Class activation map of one slice, real ``(rh, rw)``.
    boxes
        The slice's lesion boxes. Empty boxes are ignored.
    tolerance
        Pixels: a hit when the Euclidean distance from the maximum to the nearest box pixel is
        at most this (0: the maximum must lie inside a box; Zhang et al. use
        :data:`STANDARD_POINTING_TOLERANCE`).

    Returns
    -------
    bool
        True for a hit; a CAM that is constant (all zero, say) points nowhere and is a miss.
    """
    check_pointing_tolerance(tolerance)
    return pointing_distance(cam, boxes) <= tolerance


def check_pointing_tolerance(tolerance: object) -> None:
    """One-line :class:`InputError` unless ``tolerance`` is a finite number >= 0 (pixels)."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < math.inf:
        raise InputError(f"pointing-game tolerance must be a finite number >= 0, got {tolerance!r}")


def energy_fraction(cam: np.ndarray, boxes: Iterable[LesionBox]) -> float:
    """``sum(cam over the union of the boxes) / sum(cam)`` for one slice.

    Parameters
    ----------
    cam
        Non-negative class activation map, ``(rh, rw)``.
    boxes
        The slice's boxes (their ``slice`` is not looked at); overlapping pixels count once.

    Returns
    -------
    float
        In ``[0, 1]``; NaN when the CAM sums to zero.
    """
    cam = np.asarray(cam, dtype=np.float64)
    if cam.ndim != 2:
        raise InputError(f"a CAM must have shape (H, W), got {cam.shape}")
    total = float(cam.sum())
    if not total > 0:
        return float("nan")
    relabelled = [
        LesionBox(slice=0, label=b.label, row0=b.row0, row1=b.row1, col0=b.col0, col1=b.col1) for b in boxes
    ]
    inside = lesion_mask(relabelled, 0, cam.shape)
    return float(cam[inside].sum()) / total


class ClassifierScores(NamedTuple):
    """Net_c on a stack of images (class 0, "any lesion")."""

    logits: np.ndarray
    """Shape ``(n,)``, float64."""
    probabilities: np.ndarray
    """``sigmoid(logits)``, shape ``(n,)``."""
    cams: np.ndarray
    """Class activation maps in ``[0, 1]``, float32 ``(n, rh, rw)``."""


def classify(
    classifier: LesionClassifier,
    images: np.ndarray,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
) -> ClassifierScores:
    """Run Net_c on magnitude images.

    Parameters
    ----------
    classifier
        Net_c, in eval mode on ``device``.
    images
        Magnitude images ``(n, rh, rw)`` (any intensity scale: Net_c normalises each image).
    device
        Where the images go.
    batch_size
        Images per forward pass.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise InputError(f"images for the classifier must have shape (n, H, W), got {images.shape}")
    logits = np.empty(len(images))
    cams = np.empty(images.shape, dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[start:start + batch_size]).to(device)[:, None]
            out = classifier(batch)
            logits[start:start + len(batch)] = out.logits[:, 0].double().cpu().numpy()
            cams[start:start + len(batch)] = out.cam[:, 0].float().cpu().numpy()
    probabilities = expit(logits)
    return ClassifierScores(logits, probabilities, cams)
