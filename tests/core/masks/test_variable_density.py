"""2-D variable-density masks: acceleration, density profile, calibration, seeds.

Their speed is measured by ``benchmarks/bench_masks.py``, not here.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from lfmri_core.masks import SamplingMask, make_mask
from lfmri_core.masks.variable_density import _maximal_poisson_disc, _RoundFields

VD_MASKS = ["poisson", "gaussian"]


def _build(
    name: str, shape: tuple[int, int], acceleration: float, seed: int | tuple[int, ...] = 0, center_fraction: float = 0.08
) -> SamplingMask:
    return make_mask(name, shape, acceleration=acceleration, center_fraction=center_fraction, seed=seed)


def _radius(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    ky = (np.arange(h) - h // 2) / (h / 2)
    kx = (np.arange(w) - w // 2) / (w / 2)
    return np.hypot(ky[:, None], kx[None, :])


@pytest.mark.parametrize(
    ("shape", "acceleration"),
    [((320, 320), 2), ((320, 320), 4), ((320, 320), 8), ((320, 320), 12), ((640, 368), 6), ((256, 200), 5.5)],
)
@pytest.mark.parametrize("name", VD_MASKS)
def test_requested_acceleration_is_reached(name: str, shape: tuple[int, int], acceleration: float) -> None:
    mask = _build(name, shape, acceleration)
    assert mask.pattern.shape == shape and not mask.is_1d
    assert mask.nominal_acceleration == acceleration
    if name == "gaussian":  # draws exactly the target number of samples
        assert mask.num_sampled == round(mask.pattern.size / acceleration)
    else:  # a maximal Poisson disc: its radius is tuned to the target, not its count
        assert mask.achieved_acceleration == pytest.approx(acceleration, rel=0.05)
    assert mask.achieved_acceleration == mask.pattern.size / mask.pattern.sum()


@pytest.mark.parametrize("name", VD_MASKS)
def test_gaussian_and_poisson_are_denser_at_the_center(name: str) -> None:
    mask = _build(name, (320, 320), 8)
    rho = _radius((320, 320))
    calibration = np.zeros((320, 320), dtype=bool)
    calibration[mask.center] = True
    bands = [(0.1, 0.3), (0.3, 0.6), (0.6, 1.0), (1.0, 1.5)]
    rings = [mask.pattern[(rho >= lo) & (rho < hi) & ~calibration].mean() for lo, hi in bands]
    assert all(inner > outer for inner, outer in zip(rings, rings[1:], strict=False)), rings
    assert rings[-1] > 0  # the periphery is still sampled


@pytest.mark.parametrize("name", VD_MASKS)
def test_calibration_square_is_fully_sampled(name: str) -> None:
    mask = _build(name, (200, 120), 6, center_fraction=0.15)
    side = round(0.15 * 120)
    assert mask.num_low_frequencies == side
    assert mask.pattern[mask.center].shape == (side, side)
    assert mask.pattern[mask.center].all()
    assert mask.center == (slice((200 - side + 1) // 2, (200 - side + 1) // 2 + side), slice((120 - side + 1) // 2, (120 - side + 1) // 2 + side))


@pytest.mark.parametrize("name", VD_MASKS)
def test_the_seed_decides_the_mask(name: str) -> None:
    a = _build(name, (96, 80), 4, seed=11)
    assert a == _build(name, (96, 80), 4, seed=11)
    assert a != _build(name, (96, 80), 4, seed=12)
    per_file = (102, 105, 108, 101)
    assert _build(name, (96, 80), 4, seed=per_file) == _build(name, (96, 80), 4, seed=per_file)


@pytest.mark.parametrize("name", VD_MASKS)
def test_no_global_random_state_is_used(name: str) -> None:
    state = np.random.get_state()
    before = np.random.random()
    np.random.set_state(state)
    _build(name, (64, 64), 4, seed=1)
    _build(name, (64, 64), 4)
    assert np.random.random() == before


@pytest.mark.parametrize("name", VD_MASKS)
def test_a_calibration_that_meets_the_target_exactly_is_the_mask(name: str) -> None:
    # 10x10 calibration = 100 samples = 1600 / 16
    mask = make_mask(name, (40, 40), acceleration=16, center_fraction=0.25, seed=0)
    assert mask.num_sampled == 100 and mask.pattern[mask.center].all()


def test_poisson_disc_core_keeps_its_distance_and_leaves_no_gap() -> None:
    shape = (60, 50)
    rng = np.random.default_rng(5)
    for r in (1.5, 2.5, 4.0):
        available = np.ones(shape, dtype=bool)
        available[20:30, 20:30] = False  # a calibration square
        samples = _maximal_poisson_disc(np.full(shape, r), available, _RoundFields(rng, shape[0] * shape[1]))
        assert not samples[~available].any()
        points = np.argwhere(samples)
        # no two samples closer than the radius
        assert not cKDTree(points).query_pairs(r - 1e-9)
        # maximal: every available pixel lies within the radius of a sample
        distance, _ = cKDTree(points).query(np.argwhere(available))
        assert distance.max() < r


def test_poisson_radius_of_one_or_less_samples_everything() -> None:
    available = np.ones((12, 10), dtype=bool)
    samples = _maximal_poisson_disc(np.full((12, 10), 0.9), available, _RoundFields(np.random.default_rng(0), 120))
    assert samples.all()


def test_an_acceleration_of_one_samples_everything() -> None:
    for name in VD_MASKS:
        assert _build(name, (32, 24), 1).pattern.all()
