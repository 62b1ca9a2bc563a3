"""fastMRI metrics: conformance with ``fastmri.evaluate`` and scikit-image, and bad input."""

from __future__ import annotations

from collections.abc import Callable

import fastmri.evaluate as reference
import numpy as np
import pytest
import torch
from fastmri.data.transforms import center_crop as reference_center_crop
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from lfmri_core.errors import InputError
from lfmri_core.metrics import center_crop, mse, nmse, psnr, slice_metrics, ssim, volume_metrics
from tests.tolerances import rounding_rtol

Pair = tuple[np.ndarray, np.ndarray]


def _random(shape: tuple[int, int, int], seed: int) -> Pair:
    rng = np.random.default_rng(seed)
    gt = rng.random(shape)
    return gt, np.abs(gt + 0.1 * rng.standard_normal(shape))


def _structured(shape: tuple[int, int, int], seed: int) -> Pair:
    """Disc on a ramp per slice; the prediction is a smoothed, noisier copy."""
    rng = np.random.default_rng(seed)
    n, h, w = shape
    rows, cols = np.mgrid[0:h, 0:w]
    gt = np.empty(shape)
    for s in range(n):
        disc = (rows - h / 2) ** 2 + (cols - w / 2) ** 2 < (0.3 * min(h, w) * (1 + 0.1 * s)) ** 2
        gt[s] = 0.2 + 0.5 * cols / w + 1.5 * disc
    blurred = (gt + np.roll(gt, 1, axis=-1) + np.roll(gt, 1, axis=-2)) / 3
    return gt, np.abs(blurred + 0.02 * rng.standard_normal(shape))


def _scaled_slices(shape: tuple[int, int, int], seed: int) -> Pair:
    """Slices that differ in scale by orders of magnitude (the volume max dominates)."""
    gt, pred = _random(shape, seed)
    scale = 10.0 ** (np.arange(shape[0]) - shape[0] // 2)[:, None, None]
    return gt * scale, pred * scale


CASES: list[tuple[Callable[[tuple[int, int, int], int], Pair], tuple[int, int, int]]] = [
    (_random, (1, 7, 7)),
    (_random, (3, 32, 32)),
    (_random, (2, 40, 27)),
    (_structured, (4, 64, 48)),
    (_structured, (2, 33, 65)),
    (_scaled_slices, (5, 24, 31)),
]


@pytest.fixture(params=CASES, ids=lambda c: f"{c[0].__name__.strip('_')}-{'x'.join(map(str, c[1]))}")
def volumes(request: pytest.FixtureRequest) -> Pair:
    make, shape = request.param
    return make(shape, 7)


RTOL = rounding_rtol(np.float64, terms=max(np.prod(shape) for _, shape in CASES))
"""float64 rounding of a metric pooled over the largest volume here (sums of squares, SSIM's
windowed sums), relative; the references round alike."""


def _close(ours: float, ref: float | np.ndarray) -> bool:
    return ours == pytest.approx(float(np.asarray(ref).item()), rel=RTOL)


def test_matches_fastmri_evaluate(volumes: Pair) -> None:
    gt, pred = volumes
    assert _close(psnr(gt, pred), reference.psnr(gt, pred))
    assert _close(ssim(gt, pred), reference.ssim(gt, pred))
    assert _close(nmse(gt, pred), reference.nmse(gt, pred))
    assert _close(mse(gt, pred), reference.mse(gt, pred))
    maxval = 1.7 * gt.max()
    assert _close(psnr(gt, pred, maxval), reference.psnr(gt, pred, maxval))
    assert _close(ssim(gt, pred, maxval), reference.ssim(gt, pred, maxval))


def test_matches_scikit_image(volumes: Pair) -> None:
    gt, pred = volumes
    maxval = gt.max()
    assert _close(psnr(gt, pred), peak_signal_noise_ratio(gt, pred, data_range=maxval))
    per_slice = [structural_similarity(g, p, data_range=maxval) for g, p in zip(gt, pred)]
    assert _close(ssim(gt, pred), np.mean(per_slice))


def test_volume_metrics_and_slice_metrics_agree(volumes: Pair) -> None:
    gt, pred = volumes
    metrics = volume_metrics(gt, pred)
    assert set(metrics) == {"psnr", "ssim", "nmse"}
    assert metrics == {"psnr": psnr(gt, pred), "ssim": ssim(gt, pred), "nmse": nmse(gt, pred)}
    maxval = float(gt.max())
    slices = [slice_metrics(g, p, maxval) for g, p in zip(gt, pred)]
    # Per-slice SSIM is on the volume's data range, so the volume SSIM is their mean.
    assert _close(metrics["ssim"], np.mean([m["ssim"] for m in slices]))
    for g, p, m in zip(gt, pred, slices):
        assert _close(m["psnr"], peak_signal_noise_ratio(g, p, data_range=maxval))
        assert _close(m["ssim"], structural_similarity(g, p, data_range=maxval))
        assert _close(m["nmse"], reference.nmse(g, p))


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 3),
    h=st.integers(7, 24),
    w=st.integers(7, 24),
    scale=st.floats(1e-3, 1e4),
    seed=st.integers(0, 2**16),
)
def test_matches_fastmri_on_random_shapes(n: int, h: int, w: int, scale: float, seed: int) -> None:
    gt, pred = _random((n, h, w), seed)
    gt, pred = gt * scale, pred * scale
    assert _close(psnr(gt, pred), reference.psnr(gt, pred))
    assert _close(ssim(gt, pred), reference.ssim(gt, pred))
    assert _close(nmse(gt, pred), reference.nmse(gt, pred))


def test_torch_tensors_give_the_numpy_result() -> None:
    gt, pred = _structured((2, 32, 32), 3)
    expected = volume_metrics(gt, pred)
    assert volume_metrics(torch.from_numpy(gt), torch.from_numpy(pred)) == expected
    # float32 input is converted to float64 before scoring.
    gt32, pred32 = gt.astype(np.float32), pred.astype(np.float32)
    assert volume_metrics(torch.from_numpy(gt32), pred32) == volume_metrics(
        gt32.astype(np.float64), pred32.astype(np.float64)
    )


def test_perfect_reconstruction_is_infinite_psnr_without_warning() -> None:
    gt, _ = _random((2, 16, 16), 0)
    assert volume_metrics(gt, gt.copy()) == {"psnr": np.inf, "ssim": 1.0, "nmse": 0.0}
    assert slice_metrics(gt[0], gt[0], gt.max())["psnr"] == np.inf


@pytest.mark.parametrize("shape", [(4, 8), (5, 9), (4, 9), (3, 3), (10, 7)])
@pytest.mark.parametrize("source", [(10, 10), (11, 9), (13, 16)])
def test_center_crop_matches_fastmri(source: tuple[int, int], shape: tuple[int, int]) -> None:
    data = torch.arange(2 * source[0] * source[1], dtype=torch.float64).reshape(2, *source)
    ours = center_crop(data.numpy(), shape)
    assert ours.shape == (2, *shape)
    np.testing.assert_array_equal(ours, reference_center_crop(data, shape).numpy())


def test_center_crop_rejects_a_larger_target() -> None:
    with pytest.raises(InputError):
        center_crop(np.zeros((2, 8, 8)), (9, 8))


def _one_line_error(func: Callable[..., object], *args: object) -> str:
    with pytest.raises(InputError) as info:
        func(*args)
    message = str(info.value)
    assert "\n" not in message and message
    return message


GOOD = np.ones((2, 8, 8))


@pytest.mark.parametrize("func", [psnr, ssim, nmse, mse, volume_metrics])
def test_bad_volumes_raise_input_error(func: Callable[..., object]) -> None:
    assert "shape" in _one_line_error(func, GOOD, np.ones((2, 8, 9)))
    assert "3-D" in _one_line_error(func, GOOD[0], GOOD[0])
    assert "3-D" in _one_line_error(func, GOOD[None], GOOD[None])
    with_nan = GOOD.copy()
    with_nan[1, 2, 3] = np.nan
    assert "NaN" in _one_line_error(func, GOOD, with_nan)
    with_inf = GOOD.copy()
    with_inf[0, 0, 0] = np.inf
    assert "Inf" in _one_line_error(func, with_inf, GOOD)
    assert "complex" in _one_line_error(func, GOOD, GOOD.astype(np.complex128))
    assert "complex" in _one_line_error(func, torch.ones(2, 8, 8, dtype=torch.complex64), GOOD)
    assert "empty" in _one_line_error(func, np.ones((0, 8, 8)), np.ones((0, 8, 8)))


@pytest.mark.parametrize("func", [psnr, ssim, volume_metrics])
def test_bad_data_range_raises_input_error(func: Callable[..., object]) -> None:
    _one_line_error(func, np.zeros((1, 8, 8)), GOOD[:1])
    _one_line_error(func, GOOD, GOOD, 0.0)
    _one_line_error(func, GOOD, GOOD, -1.0)
    _one_line_error(func, GOOD, GOOD, float("nan"))
    _one_line_error(func, GOOD, GOOD, "big")


def test_slices_smaller_than_the_ssim_window_raise_input_error() -> None:
    small = np.ones((2, 6, 8))
    assert "7 x 7" in _one_line_error(ssim, small, small)
    assert "7 x 7" in _one_line_error(volume_metrics, small, small)
    assert "7 x 7" in _one_line_error(slice_metrics, small[0], small[0], 1.0)


def test_slice_metrics_rejects_bad_input() -> None:
    assert "2-D" in _one_line_error(slice_metrics, GOOD, GOOD, 1.0)
    assert "shape" in _one_line_error(slice_metrics, GOOD[0], np.ones((8, 9)), 1.0)
    assert "maxval" in _one_line_error(slice_metrics, GOOD[0], GOOD[0], None)
