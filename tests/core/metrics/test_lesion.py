"""LF-PSNR / LF-SSIM on hand-computed cases, against scikit-image, and bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.metrics import structural_similarity

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.metrics import (
    lesion_mask,
    lf_metrics,
    lf_psnr_slice,
    lf_ssim_slice,
    mean_ssim_map,
    psnr,
    slice_metrics,
)
from tests.tolerances import rounding_rtol

R = 2.0  # volume maximum of every reference built here
RTOL = rounding_rtol(np.float64, terms=3 * 32 * 32)
"""float64 rounding of a metric pooled over at most a (3, 32, 32) volume (sums of squared
errors, SSIM's windowed sums), relative; the hand computations here round alike."""


def box(slice_index: int, rows: tuple[int, int], cols: tuple[int, int], label: str = "lesion") -> LesionBox:
    return LesionBox(slice=slice_index, label=label, row0=rows[0], row1=rows[1], col0=cols[0], col1=cols[1])


def reference(shape: tuple[int, int, int] = (3, 32, 32), seed: int = 0) -> np.ndarray:
    """Random magnitude volume in ``[0, 1)`` with its maximum ``R`` away from every test box."""
    gt = np.random.default_rng(seed).random(shape)
    gt[0, -1, -1] = R
    return gt


def db(mse: float) -> float:
    return 10 * math.log10(R**2 / mse)


def test_constant_error_in_one_box() -> None:
    gt = reference()
    pred = gt.copy()
    d = 0.05
    pred[1, 4:10, 5:9] += d
    result = lf_metrics(gt, pred, [box(1, (4, 10), (5, 9))])
    assert result.lf_psnr == pytest.approx(db(d**2), rel=RTOL)
    assert result.per_slice_lf_psnr[1] == pytest.approx(db(d**2), rel=RTOL)
    assert result.num_box_pixels == 24
    assert result.data_range == R


def test_error_outside_the_boxes_does_not_change_lf_psnr() -> None:
    gt = reference()
    boxes = [box(0, (3, 9), (3, 12)), box(2, (20, 25), (1, 6))]
    pred = gt + 0.03
    inside = np.zeros(gt.shape, dtype=bool)
    for b in boxes:
        inside[b.slice] |= b.to_mask(gt.shape[1:])
    noisy = pred + np.where(inside, 0.0, np.random.default_rng(1).standard_normal(gt.shape))
    clean, dirty = lf_metrics(gt, pred, boxes), lf_metrics(gt, noisy, boxes)
    assert clean.lf_psnr == pytest.approx(db(0.03**2), rel=RTOL)
    assert dirty.lf_psnr == pytest.approx(clean.lf_psnr, rel=RTOL)
    np.testing.assert_allclose(dirty.per_slice_lf_psnr, clean.per_slice_lf_psnr, rtol=RTOL)
    assert psnr(gt, noisy, R) < psnr(gt, pred, R)


def test_two_disjoint_boxes_pool_their_mse() -> None:
    gt = reference()
    pred = gt.copy()
    pred[0, 2:4, 2:5] += 0.1  # 6 pixels
    pred[0, 10:20, 10:12] -= 0.02  # 20 pixels
    result = lf_metrics(gt, pred, [box(0, (2, 4), (2, 5)), box(0, (10, 20), (10, 12))])
    expected = db((6 * 0.1**2 + 20 * 0.02**2) / 26)
    assert result.per_slice_lf_psnr[0] == pytest.approx(expected, rel=RTOL)
    assert result.lf_psnr == pytest.approx(expected, rel=RTOL)
    assert result.num_box_pixels == 26


def test_overlapping_boxes_count_each_pixel_once() -> None:
    gt = reference()
    pred = gt.copy()
    first, second = box(0, (2, 6), (2, 6)), box(0, (4, 8), (4, 8))
    pred[0, 2:6, 2:6] += 0.2
    pred[0, 4:8, 4:8] += 0.2
    pred[0, 4:6, 4:6] = gt[0, 4:6, 4:6] + 0.5  # the 4 shared pixels
    result = lf_metrics(gt, pred, [first, second])
    assert result.num_box_pixels == 16 + 16 - 4
    assert result.lf_psnr == pytest.approx(db((4 * 0.5**2 + 24 * 0.2**2) / 28), rel=RTOL)
    # The same box twice is the same as once.
    once = lf_metrics(gt, pred, [first])
    twice = lf_metrics(gt, pred, [first, first])
    assert (once.lf_psnr, once.lf_ssim, once.num_box_pixels) == (twice.lf_psnr, twice.lf_ssim, 16)


def test_empty_boxes_are_ignored() -> None:
    gt = reference()
    pred = gt + 0.01 * np.random.default_rng(2).standard_normal(gt.shape)
    real = box(0, (5, 9), (5, 9))
    empties = [box(0, (3, 3), (1, 20)), box(0, (1, 20), (7, 7)), box(1, (4, 4), (4, 4))]
    alone, with_empties = lf_metrics(gt, pred, [real]), lf_metrics(gt, pred, [real, *empties])
    assert (alone.lf_psnr, alone.lf_ssim, alone.num_box_pixels) == (
        with_empties.lf_psnr,
        with_empties.lf_ssim,
        with_empties.num_box_pixels,
    )
    assert np.isnan(with_empties.per_slice_lf_psnr[1]) and np.isnan(with_empties.per_slice_lf_ssim[1])
    assert with_empties.num_lesion_slices == 1


def test_boxes_are_clipped_to_the_image() -> None:
    gt = reference((1, 16, 16))
    pred = gt.copy()
    pred[0, 12:, 14:] += 0.1
    result = lf_metrics(gt, pred, [box(0, (12, 40), (14, 30))])
    assert result.num_box_pixels == 4 * 2
    assert result.lf_psnr == pytest.approx(db(0.1**2), rel=RTOL)


def test_slices_without_boxes_are_nan_and_left_out_of_the_volume_numbers() -> None:
    gt = reference((3, 24, 24))
    rng = np.random.default_rng(3)
    pred = gt + 0.05 * rng.standard_normal(gt.shape)
    pred[1] += 0.5 * rng.standard_normal(gt.shape[1:])  # a bad slice that has no lesion
    boxes = [box(0, (4, 12), (4, 12)), box(2, (10, 14), (3, 20))]
    result = lf_metrics(gt, pred, boxes)
    assert np.isnan(result.per_slice_lf_psnr[1]) and np.isnan(result.per_slice_lf_ssim[1])
    assert result.per_slice_num_box_pixels.tolist() == [64, 0, 68]
    assert result.num_lesion_slices == 2
    assert result.lf_ssim == pytest.approx(np.mean(result.per_slice_lf_ssim[[0, 2]]), rel=RTOL)
    without_middle = lf_metrics(gt[[0, 2]], pred[[0, 2]], [box(0, (4, 12), (4, 12)), box(1, (10, 14), (3, 20))])
    assert result.lf_psnr == pytest.approx(without_middle.lf_psnr, rel=RTOL)
    assert result.lf_ssim == pytest.approx(without_middle.lf_ssim, rel=RTOL)


def test_volume_without_boxes_is_nan() -> None:
    gt = reference()
    for boxes in ([], [box(2, (0, 0), (0, 5))]):
        result = lf_metrics(gt, gt + 0.1, boxes)
        assert np.isnan(result.lf_psnr) and np.isnan(result.lf_ssim)
        assert result.num_box_pixels == 0 and result.num_lesion_slices == 0
        assert np.isnan(result.per_slice_lf_psnr).all() and np.isnan(result.per_slice_lf_ssim).all()


def test_volume_lf_psnr_pools_pixels_across_slices() -> None:
    gt = reference((2, 20, 20))
    pred = gt.copy()
    pred[0, 1:3, 1:3] += 0.3  # 4 pixels
    pred[1, 5:11, 5:11] += 0.01  # 36 pixels
    result = lf_metrics(gt, pred, [box(0, (1, 3), (1, 3)), box(1, (5, 11), (5, 11))])
    np.testing.assert_allclose(result.per_slice_lf_psnr, [db(0.3**2), db(0.01**2)], rtol=RTOL)
    pooled = db((4 * 0.3**2 + 36 * 0.01**2) / 40)
    assert result.lf_psnr == pytest.approx(pooled, rel=RTOL)
    assert result.lf_psnr != pytest.approx(np.mean(result.per_slice_lf_psnr), rel=1e-3)


def test_perfect_reconstruction() -> None:
    gt = reference()
    result = lf_metrics(gt, gt.copy(), [box(0, (3, 6), (3, 6)), box(2, (0, 4), (28, 32))])
    assert result.lf_psnr == np.inf
    assert result.lf_ssim == 1.0
    assert result.per_slice_lf_ssim[[0, 2]].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "boxes",
    [
        [box(0, (10, 15), (8, 20))],
        [box(0, (0, 4), (0, 32))],  # on the border: reflected windows, kept in the mean
        [box(0, (16, 17), (16, 17))],  # one pixel still gets a 7 x 7 neighbourhood
        [box(0, (2, 8), (2, 8)), box(0, (5, 12), (6, 14)), box(0, (20, 30), (25, 32))],
    ],
)
def test_lf_ssim_is_the_mean_of_the_scikit_image_map_over_the_box_pixels(boxes: list[LesionBox]) -> None:
    gt = reference((2, 32, 32))
    pred = gt + 0.1 * np.random.default_rng(4).standard_normal(gt.shape)
    _, full = structural_similarity(gt[0], pred[0], data_range=R, full=True)
    union = np.zeros((32, 32), dtype=bool)
    for b in boxes:
        union[b.row0 : b.row1, b.col0 : b.col1] = True
    expected = full[union].mean()
    result = lf_metrics(gt, pred, boxes)
    assert result.per_slice_lf_ssim[0] == pytest.approx(expected, rel=RTOL)
    assert result.lf_ssim == pytest.approx(expected, rel=RTOL)
    assert lf_ssim_slice(gt[0], pred[0], boxes, R) == pytest.approx(expected, rel=RTOL)


def test_box_covering_everything_gives_the_global_psnr() -> None:
    gt = reference((2, 16, 16))
    pred = gt + 0.02 * np.random.default_rng(5).standard_normal(gt.shape)
    result = lf_metrics(gt, pred, [box(0, (0, 16), (0, 16)), box(1, (0, 16), (0, 16))])
    assert result.lf_psnr == pytest.approx(psnr(gt, pred), rel=RTOL)


def test_slice_functions_match_the_volume_function() -> None:
    gt = reference((3, 24, 24))
    pred = gt + 0.04 * np.random.default_rng(6).standard_normal(gt.shape)
    boxes = [box(0, (2, 9), (3, 10)), box(2, (5, 15), (5, 7)), box(2, (6, 10), (1, 20))]
    result = lf_metrics(gt, pred, boxes)
    for s in range(3):
        on_slice = [b for b in boxes if b.slice == s]
        got_psnr = lf_psnr_slice(gt[s], pred[s], on_slice, R)
        got_ssim = lf_ssim_slice(gt[s], pred[s], on_slice, R)
        np.testing.assert_equal(got_psnr, result.per_slice_lf_psnr[s])
        np.testing.assert_equal(got_ssim, result.per_slice_lf_ssim[s])
        # Passing every box of the volume with slice_index selects the same ones.
        np.testing.assert_equal(lf_psnr_slice(gt[s], pred[s], boxes, R, slice_index=s), got_psnr)
        np.testing.assert_equal(lf_ssim_slice(gt[s], pred[s], boxes, R, slice_index=s), got_ssim)


def test_mean_ssim_map_is_the_slice_ssim_and_its_map() -> None:
    gt = reference((1, 20, 24))
    pred = gt + 0.05 * np.random.default_rng(7).standard_normal(gt.shape)
    mean, full = mean_ssim_map(gt[0], pred[0], R)
    expected_mean, expected_map = structural_similarity(gt[0], pred[0], data_range=R, full=True)
    assert mean == slice_metrics(gt[0], pred[0], R)["ssim"] == pytest.approx(expected_mean, rel=RTOL)
    assert full.shape == (20, 24) and full.dtype == np.float64
    np.testing.assert_allclose(full, expected_map, rtol=RTOL)


def test_data_range_is_the_volume_max_unless_given() -> None:
    gt = reference()
    pred = gt.copy()
    pred[1, 4:8, 4:8] += 0.1
    boxes = [box(1, (4, 8), (4, 8))]
    assert lf_metrics(gt, pred, boxes).lf_psnr == pytest.approx(db(0.1**2), rel=RTOL)
    explicit = lf_metrics(gt, pred, boxes, maxval=4.0)
    assert explicit.data_range == 4.0
    assert explicit.lf_psnr == pytest.approx(10 * math.log10(16 / 0.1**2), rel=RTOL)


def test_torch_input_and_frozen_result() -> None:
    gt = reference()
    pred = gt + 0.1
    boxes = [box(0, (1, 5), (1, 5))]
    from_numpy = lf_metrics(gt, pred, boxes)
    from_torch = lf_metrics(torch.from_numpy(gt), torch.from_numpy(pred), iter(boxes))
    np.testing.assert_equal(from_torch.as_dict(), from_numpy.as_dict())
    with pytest.raises(dataclasses.FrozenInstanceError):
        from_numpy.lf_psnr = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        from_numpy.per_slice_lf_psnr[0] = 0.0


def test_lesion_mask_is_the_union_of_the_slice_boxes() -> None:
    boxes = [box(1, (0, 2), (0, 3)), box(1, (1, 3), (2, 4)), box(0, (0, 4), (0, 4)), box(1, (2, 2), (0, 4))]
    mask = lesion_mask(boxes, 1, (4, 5))
    expected = np.array(
        [
            [1, 1, 1, 0, 0],
            [1, 1, 1, 1, 0],
            [0, 0, 1, 1, 0],
            [0, 0, 0, 0, 0],
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(mask, expected)
    assert not lesion_mask(boxes, 2, (4, 5)).any()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 14), st.integers(0, 8), st.integers(0, 14), st.integers(0, 8)),
        max_size=5,
    )
)
def test_lesion_mask_matches_a_pixel_set(raw: list[tuple[int, int, int, int]]) -> None:
    shape = (12, 10)
    boxes = [box(0, (r, r + h), (c, c + w)) for r, h, c, w in raw]
    pixels = {
        (r, c)
        for b in boxes
        for r in range(b.row0, min(b.row1, shape[0]))
        for c in range(b.col0, min(b.col1, shape[1]))
    }
    mask = lesion_mask(boxes, 0, shape)
    assert set(zip(*np.nonzero(mask))) == pixels


def test_box_on_a_missing_slice_raises_input_error() -> None:
    gt = reference()
    for bad in (3, -1):
        with pytest.raises(InputError, match="slice") as info:
            lf_metrics(gt, gt, [box(0, (1, 2), (1, 2)), box(bad, (1, 2), (1, 2))])
        assert "\n" not in str(info.value)


def test_bad_input_raises_input_error() -> None:
    gt = reference()
    with pytest.raises(InputError, match="shape"):
        lf_metrics(gt, gt[:, :-1], [])
    with pytest.raises(InputError, match="3-D"):
        lf_metrics(gt[0], gt[0], [])
    bad = gt.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        lf_metrics(gt, bad, [])
    with pytest.raises(InputError, match="maxval"):
        lf_metrics(gt, gt, [], maxval=0.0)
    with pytest.raises(InputError, match="maxval"):
        lf_psnr_slice(gt[0], gt[0], [], None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="2-D"):
        lf_ssim_slice(gt, gt, [], R)
    with pytest.raises(InputError, match="7 x 7"):
        lf_metrics(gt[:, :5], gt[:, :5], [box(0, (1, 2), (1, 2))])
    with pytest.raises(InputError, match="maxval"):
        mean_ssim_map(gt[0], gt[0], None)  # type: ignore[arg-type]
