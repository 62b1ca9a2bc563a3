"""ROC AUC, accuracy, pointing game, CAM energy and Net_c on image stacks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.models import ClassifierConfig, build_classifier
from lfmri_core.study.diagnostics import (
    accuracy,
    classify,
    energy_fraction,
    pointing_distance,
    pointing_game,
    roc_auc,
)
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


BOX = LesionBox(slice=3, label="Meniscus Tear", row0=10, row1=14, col0=20, col1=25)


def peak_at(row: int, col: int, shape: tuple[int, int] = (32, 40)) -> np.ndarray:
    cam = np.zeros(shape, dtype=np.float32)
    cam[row, col] = 1.0
    return cam


def test_pointing_game_inside_outside_and_half_open_edges() -> None:
    assert pointing_game(peak_at(10, 20), [BOX])
    assert pointing_game(peak_at(13, 24), [BOX])
    assert not pointing_game(peak_at(14, 24), [BOX])  # row1 is excluded
    assert not pointing_game(peak_at(13, 25), [BOX])  # col1 is excluded
    assert not pointing_game(peak_at(0, 0), [BOX])
    assert not pointing_game(peak_at(12, 22), [])
    # a second box anywhere counts
    other = LesionBox(slice=3, label="Bone- Subchondral edema", row0=0, row1=2, col0=0, col1=2)
    assert pointing_game(peak_at(0, 0), [BOX, other])


def test_pointing_game_tolerance_is_euclidean() -> None:
    cam = peak_at(16, 27)  # 3 rows below row 13 and 3 columns right of column 24: distance 4.24
    assert not pointing_game(cam, [BOX], tolerance=4.0)
    assert pointing_game(cam, [BOX], tolerance=4.25)
    assert pointing_game(peak_at(10, 28), [BOX], tolerance=4.0)
    with pytest.raises(InputError, match="tolerance"):
        pointing_game(cam, [BOX], tolerance=-1)


def test_pointing_distance_is_to_the_nearest_box_pixel() -> None:
    assert pointing_distance(peak_at(12, 22), [BOX]) == 0.0
    rtol = rounding_rtol(np.float64)  # a square root of a sum of two squares
    assert pointing_distance(peak_at(16, 27), [BOX]) == pytest.approx(np.hypot(3, 3), rel=rtol)
    other = LesionBox(slice=3, label="Meniscus Tear", row0=16, row1=18, col0=30, col1=31)
    assert pointing_distance(peak_at(16, 27), [BOX, other]) == pytest.approx(3.0, rel=rtol)  # the nearer box
    assert pointing_distance(np.zeros((32, 40)), [BOX]) == np.inf
    assert pointing_distance(peak_at(12, 22), []) == np.inf
    for tolerance in (0.0, 4.0, 4.25, 15.0):  # the pointing game is the distance within the tolerance
        assert pointing_game(peak_at(16, 27), [BOX], tolerance) == (np.hypot(3, 3) <= tolerance)


def test_pointing_game_constant_cam_and_empty_boxes_miss() -> None:
    assert not pointing_game(np.zeros((32, 40)), [BOX])
    empty = LesionBox(slice=3, label="Meniscus Tear", row0=5, row1=5, col0=0, col1=40)
    assert not pointing_game(peak_at(5, 3), [empty])


def test_energy_fraction() -> None:
    cam = np.ones((10, 10))
    box = LesionBox(slice=0, label="x", row0=0, row1=2, col0=0, col1=5)
    rtol = rounding_rtol(np.float64, terms=cam.size)  # a ratio of two sums of pixels
    assert energy_fraction(cam, [box]) == pytest.approx(0.1, rel=rtol)
    # overlapping boxes count their pixels once
    assert energy_fraction(cam, [box, box]) == pytest.approx(0.1, rel=rtol)
    cam[0, 0] = 91.0  # total 190, inside 9 + 91 = 100
    assert energy_fraction(cam, [box]) == pytest.approx(100 / 190, rel=rtol)
    assert np.isnan(energy_fraction(np.zeros((10, 10)), [box]))
    assert energy_fraction(cam, []) == 0.0


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
