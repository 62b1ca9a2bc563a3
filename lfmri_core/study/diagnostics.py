"""Diagnostics of reconstructions through Net_c: classification scores and CAM localisation.

- :func:`roc_auc`: area under the ROC curve by the rank (Mann-Whitney U) formula, ties
  averaged, so a tie between a positive and a negative counts one half.
- :func:`accuracy`: fraction of images whose predicted label (probability >= threshold)
  matches the image-level label.
- :func:`pointing_game`, :func:`pointing_distance`, :func:`energy_fraction`: CAM localisation
  against the lesion boxes, defined in :mod:`lfmri_core.metrics.cam` and re-exported here.
- :func:`classify`: Net_c's lesion probability and CAM (class 0, "any lesion") for a stack of
  magnitude images (:func:`lfmri_core.pipeline.classify`, the one place Net_c runs).

Boxes and CAMs are both in the stored frame of the recon crop (``LesionBox`` rows and columns
index the ``(rh, rw)`` image that the CAM is computed on).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from lfmri_core.metrics.cam import (
    STANDARD_POINTING_TOLERANCE,
    check_pointing_tolerance,
    energy_fraction,
    pointing_distance,
    pointing_game,
)
from lfmri_core.metrics.classification import accuracy, roc_auc
from lfmri_core.models.classifier import LesionClassifier
from lfmri_core.pipeline.classifier import classify as classify_images
from lfmri_core.pipeline.classifier import lesion_probability

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
    found = classify_images(classifier, np.asarray(images, dtype=np.float32), device=device, batch_size=batch_size)
    logits = found.logits[:, 0].astype(np.float64)
    return ClassifierScores(logits, np.array([lesion_probability(v) for v in logits]), found.cams)
