"""Paired bootstrap differences: coverage, degenerate input, seeds, and agreement with numpy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtr, ndtri

import lfmri_core.study.statistics as statistics
from lfmri_core.errors import InputError
from lfmri_core.study.statistics import MIN_PAIRS, PairedDifference, pair_by_key, paired_difference


def shifted_pair(shift: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``b`` spread like per-slice PSNRs (between-slice sd 3 dB), ``a = b + shift + noise``
    (within-pair sd 0.8 dB)."""
    rng = np.random.default_rng(seed)
    b = rng.normal(25.0, 3.0, n)
    return b + shift + rng.normal(0.0, 0.8, n), b


def test_interval_of_a_shifted_sample_covers_the_shift() -> None:
    a, b = shifted_pair(0.4, 80, seed=12345)
    result = paired_difference(a, b)
    assert result.method == "BCa" and result.n == 80 and result.resamples == 10_000 and result.seed == 0
    assert result.mean == pytest.approx(float(np.mean(a - b)), abs=1e-12)
    assert result.low < 0.4 < result.high
    assert result.low < result.mean < result.high
    # 0.4 dB over a paired sd of 0.8 dB and 80 pairs (standard error 0.09 dB) is resolved
    assert result.excludes_zero and result.low > 0
    # the between-slice spread (3 dB) is removed by the pairing: the interval is far narrower
    # than an unpaired one would be
    assert result.high - result.low < 0.5


def test_coverage_over_many_samples_is_near_nominal() -> None:
    # Bootstrap intervals of a mean run a little narrow at n = 40 (about 0.93 instead of 0.95
    # over many trials); Student's t interval on the same samples is the yardstick.
    trials, n, shift = 150, 40, 0.3
    covered = covered_t = 0
    for trial in range(trials):
        a, b = shifted_pair(shift, n, seed=1000 + trial)
        result = paired_difference(a, b, seed=trial, resamples=2000)
        covered += result.low <= shift <= result.high
        d = a - b
        half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)
        covered_t += abs(d.mean() - shift) <= half
    # an interval half as wide as it should be would cover about 0.68
    assert covered / trials >= 0.85
    assert abs(covered - covered_t) / trials <= 0.05


def test_identical_inputs_give_a_zero_width_interval_at_zero() -> None:
    values = np.linspace(20.0, 30.0, 25)
    result = paired_difference(values, values.copy())
    assert (result.mean, result.low, result.high) == (0.0, 0.0, 0.0)
    assert result.method == "exact" and result.n == 25
    assert not result.excludes_zero
    constant = paired_difference(values + 0.25, values)
    assert constant.low == constant.high == pytest.approx(0.25) and constant.excludes_zero


def test_reproducible_with_the_seed() -> None:
    a, b = shifted_pair(0.2, 30, seed=7)
    first = paired_difference(a, b, seed=3)
    assert paired_difference(a, b, seed=3) == first
    other = paired_difference(a, b, seed=4)
    assert other.mean == first.mean and (other.low, other.high) != (first.low, first.high)


def test_percentile_interval_equals_a_direct_numpy_bootstrap() -> None:
    a, b = shifted_pair(0.5, 60, seed=11)
    result = paired_difference(a, b, seed=5, method="percentile")
    # the same resampling as scipy's paired bootstrap: n indices drawn with replacement per resample
    rng = np.random.default_rng(5)
    d = a - b
    means = d[rng.integers(0, d.size, (10_000, d.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    assert result.method == "percentile"
    assert (result.low, result.high) == pytest.approx((low, high), abs=1e-12)


def test_bca_interval_equals_a_direct_numpy_bca() -> None:
    a, b = shifted_pair(0.5, 60, seed=11)
    # a skewed difference, where BCa moves the interval away from the percentile one
    a = a + np.random.default_rng(2).exponential(1.0, a.size)
    result = paired_difference(a, b, seed=5)
    d = a - b
    means = d[np.random.default_rng(5).integers(0, d.size, (10_000, d.size))].mean(axis=1)
    theta = d.mean()
    z0 = ndtri((np.count_nonzero(means < theta) + np.count_nonzero(means <= theta)) / (2 * means.size))
    jack = (d.sum() - d) / (d.size - 1)
    u = (d.size - 1) * (jack.mean() - jack)
    accel = np.sum(u**3) / d.size**3 / 6 / (np.sum(u**2) / d.size**2) ** 1.5
    z = ndtri(0.025)
    levels = [ndtr(z0 + (z0 + s * z) / (1 - accel * (z0 + s * z))) for s in (1.0, -1.0)]
    low, high = np.quantile(means, levels)
    assert result.method == "BCa"
    assert (result.low, result.high) == pytest.approx((low, high), abs=1e-12)
    percentile = paired_difference(a, b, seed=5, method="percentile")
    assert (result.low, result.high) != pytest.approx((percentile.low, percentile.high), abs=1e-6)


def test_degenerate_bca_falls_back_to_the_percentile_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    real = stats.bootstrap

    def degenerate_bca(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        if kwargs.get("method") == "bca":
            warnings.warn(stats.DegenerateDataWarning("The BCa confidence interval cannot be calculated."),
                          stacklevel=2)
        return result

    a, b = shifted_pair(0.5, 20, seed=3)
    monkeypatch.setattr(statistics.stats, "bootstrap", degenerate_bca)
    result = paired_difference(a, b, seed=9)
    monkeypatch.undo()
    expected = paired_difference(a, b, seed=9, method="percentile")
    assert result.method == "percentile"
    assert (result.low, result.high) == (expected.low, expected.high)


def test_too_few_pairs() -> None:
    empty = paired_difference([], [])
    assert empty.n == 0 and math.isnan(empty.mean) and not empty.excludes_zero and empty.method == "none"
    one = paired_difference([31.0], [30.0])
    assert one.n == 1 and one.mean == 1.0 and math.isnan(one.low) and not one.excludes_zero


@pytest.mark.parametrize(
    ("a", "b", "options", "message"),
    [
        ([1.0, 2.0], [1.0], {}, "same length"),
        ([1.0, float("nan")], [1.0, 2.0], {}, "must be finite"),
        ([1.0, 2.0], [1.0, 2.0], {"confidence": 1.5}, "strictly between 0 and 1"),
        ([1.0, 2.0], [1.0, 2.0], {"resamples": 10}, "resamples must be an integer >= 100"),
        ([1.0, 2.0], [1.0, 2.0], {"seed": -1}, "seed must be an integer >= 0"),
        ([1.0, 2.0], [1.0, 2.0], {"method": "basic"}, "BCa, percentile"),
    ],
)
def test_bad_input_is_one_line(a: list[float], b: list[float], options: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        paired_difference(a, b, **options)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_pair_by_key_keeps_common_finite_units_in_order() -> None:
    a = {("v0", 3): 20.0, ("v0", 4): float("nan"), ("v1", 2): 22.0, ("v2", 0): 25.0}
    b = {("v1", 2): 21.0, ("v0", 3): 19.5, ("v0", 4): 18.0, ("v3", 1): 30.0}
    keys, x, y = pair_by_key(a, b)
    assert keys == [("v0", 3), ("v1", 2)]
    assert x.tolist() == [20.0, 22.0] and y.tolist() == [19.5, 21.0]


def test_as_dict_states_whether_zero_is_excluded() -> None:
    below = PairedDifference(-0.4, -0.7, -0.1, 30, 0.95, "BCa", 10_000, 0)
    assert below.excludes_zero and below.as_dict()["excludes_zero"] is True
    straddles = PairedDifference(0.1, -0.2, 0.4, 30, 0.95, "BCa", 10_000, 0)
    assert not straddles.excludes_zero


def test_intervals_from_few_units_are_flagged_unreliable() -> None:
    a, b = shifted_pair(0.5, MIN_PAIRS, seed=21)
    assert paired_difference(a, b).reliable
    few = paired_difference(a[:-1], b[:-1])
    assert not few.reliable and few.as_dict()["reliable"] is False
    # with two units the interval is no wider than the range of the two differences
    two = paired_difference(a[:2], b[:2])
    assert min(a[:2] - b[:2]) <= two.low <= two.high <= max(a[:2] - b[:2])
