"""Diagnostics of reconstructions through Net_c: classification scores and CAM localisation.

- :func:`roc_auc`: area under the ROC curve by the rank (Mann-Whitney U) formula, ties
  averaged, so a tie between a positive and a negative counts one half.
- :func:`accuracy`: fraction of images whose predicted label (probability >= threshold)
  matches the image-level label.
- :func:`pointing_game`, :func:`pointing_distance`, :func:`energy_fraction`: CAM localisation
  against the lesion boxes, defined in :mod:`lfmri_core.metrics.cam` and re-exported here.
- :func:`classify`: Net_c's lesion probability and CAM (class 0, "any lesion") for a stack of
  magnitude images.

Boxes and CAMs are both in the stored frame of the recon crop (``LesionBox`` rows and columns
index the ``(rh, rw)`` image that the CAM is computed on).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy.special import expit

from lfmri_core.errors import InputError
from lfmri_core.metrics.cam import (
    STANDARD_POINTING_TOLERANCE,
    check_pointing_tolerance,
    energy_fraction,
    pointing_distance,
    pointing_game,
)
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
