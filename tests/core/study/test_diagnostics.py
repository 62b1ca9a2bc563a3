"""ROC AUC, accuracy and Net_c on image stacks (the CAM metrics: tests/core/metrics/test_cam.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.models import ClassifierConfig, build_classifier
from lfmri_core.study.diagnostics import accuracy, classify, roc_auc
from tests.tolerances import assert_close_in_norm, rounding_rtol


def brute_force_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Fraction of (positive, negative) pairs ordered correctly, ties counted one half."""
    pos = scores[labels]
    neg = scores[~labels]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(6))
def test_auc_equals_the_pair_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    labels = rng.random(n) < 0.4
    labels[0], labels[1] = True, False
    # few distinct values: many ties between positives and negatives
    scores = rng.integers(0, 5, n).astype(float)
    # a fraction of the n^2 pairs, counted two ways in float64
    assert roc_auc(labels, scores) == pytest.approx(brute_force_auc(labels, scores), rel=0, abs=rounding_rtol(np.float64, terms=n * n))


def test_auc_hand_cases() -> None:
    assert roc_auc([True, True, False, False], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert roc_auc([True, True, False, False], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert roc_auc([True, False, True, False], [0.5, 0.5, 0.5, 0.5]) == 0.5
    # pairs (0.8, 0.8) tie = 1/2, (0.8, 0.1) = 1, (0.3, 0.8) = 0, (0.3, 0.1) = 1 -> 2.5 / 4
    assert roc_auc([True, False, True, False], [0.8, 0.8, 0.3, 0.1]) == 0.625
    # a monotone transform (probability vs logit) does not change it
    logits = np.array([2.0, -1.0, 0.5, 0.5, -3.0])
    labels = np.array([True, False, True, False, False])
    assert roc_auc(labels, logits) == roc_auc(labels, 1 / (1 + np.exp(-logits)))


def test_auc_needs_both_classes() -> None:
    assert np.isnan(roc_auc([True, True], [0.1, 0.9]))
    assert np.isnan(roc_auc([], []))
    with pytest.raises(InputError, match="differ in length"):
        roc_auc([True, False], [0.1])


def test_accuracy_thresholds_at_one_half() -> None:
    assert accuracy([True, False, True, False], [0.5, 0.49, 0.2, 0.9]) == 0.5
    assert np.isnan(accuracy([], []))


def test_classify_matches_the_classifier() -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_classifier(ClassifierConfig(width=4)).eval()
    images = np.random.default_rng(0).random((3, 40, 48)).astype(np.float32)
    scored = classify(model, images, batch_size=2)
    with torch.no_grad():
        out = model(torch.from_numpy(images)[:, None])
    # batches of 2 against one of 3: the network's float32 rounding (convolutions of 9 x channels
    # terms, their errors adding up), relative in norm; the sigmoid only shrinks differences
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    fan_in = max(m.in_channels * m.kernel_size[0] * m.kernel_size[1] for m in convs)
    rtol = rounding_rtol(torch.float32, terms=fan_in, steps=len(convs))
    assert_close_in_norm(scored.logits, out.logits[:, 0], rtol)
    assert_close_in_norm(scored.probabilities, torch.sigmoid(out.logits[:, 0]), rtol)
    assert scored.cams.shape == (3, 40, 48)
    assert scored.cams.min() >= 0 and scored.cams.max() <= 1
