"""Pointing game, pointing distance and CAM energy fraction against lesion boxes."""

from __future__ import annotations

import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.metrics.cam import energy_fraction, pointing_distance, pointing_game
from tests.tolerances import rounding_rtol


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
