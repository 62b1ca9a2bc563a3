"""Paired comparisons of two methods: the mean difference with a bootstrap confidence interval.

Two reconstructions of the same test set are scored on the same units (a volume, or a lesion
slice), so the natural question is whether the *per-unit* difference ``a - b`` is above zero,
not whether two means ± standard deviations overlap (they share the between-unit spread, which
the pairing removes).

:func:`paired_difference` resamples the units with replacement (the pairs stay together:
``scipy.stats.bootstrap`` with ``paired=True``), from a fixed seed, and reports the mean
difference with a bias-corrected and accelerated (BCa, Efron & Tibshirani 1993, ch. 14) interval.
BCa is chosen over the plain percentile interval because per-slice differences of LF-PSNR are
skewed (a few slices where one method loses the lesion dominate), where BCa's coverage is
closer to nominal. BCa needs a jackknife estimate of the skewness; when that is degenerate
(too few distinct differences), the percentile interval of the same resamples is reported
instead, and :attr:`PairedDifference.method` says which one it is.

With few units the bootstrap interval of a mean is too narrow (with 2 units it is the range of
the two differences): :data:`MIN_PAIRS` is the fewest units whose interval
:attr:`PairedDifference.reliable` calls trustworthy.

:func:`pair_by_key` lines up two ``{unit: value}`` mappings (the same volume, or the same
``(volume, slice)``), keeping the units where both values are finite.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from scipy import stats

from lfmri_core.errors import InputError

__all__ = [
    "BOOTSTRAP_METHODS",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_RESAMPLES",
    "MIN_PAIRS",
    "PairedDifference",
    "pair_by_key",
    "paired_difference",
]

DEFAULT_RESAMPLES = 10_000
"""Bootstrap resamples of :func:`paired_difference`."""

DEFAULT_CONFIDENCE = 0.95
"""Two-sided confidence level of :func:`paired_difference`."""

BOOTSTRAP_METHODS: tuple[str, ...] = ("BCa", "percentile")
"""Interval methods :func:`paired_difference` accepts."""

MIN_PAIRS = 10
"""Fewest paired units whose bootstrap interval is trusted. Measured coverage of the nominal 95 %
BCa interval of a mean (normal differences, 2000 resamples, 400 trials each): 0.47 with 2
units, 0.86 with 5, 0.92 with 10 and 0.94 with 20."""

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class PairedDifference:
    """Mean of the paired differences ``a - b`` and its bootstrap confidence interval.

    Attributes
    ----------
    mean
        Mean of ``a - b`` over the pairs (NaN without pairs), in the unit of the values
        (dB for PSNR).
    low, high
        The two-sided confidence interval of the mean; NaN when it cannot be estimated
        (fewer than 2 pairs). Equal to ``mean`` when every difference is the same.
    n
        Pairs used.
    confidence
        Confidence level of the interval (0.95: a 95 % interval).
    method
        How the interval was obtained: ``"BCa"``, ``"percentile"`` (asked for, or BCa fell
        back to it because its acceleration was degenerate), ``"exact"`` (every difference
        is the same, so every resample has the same mean) or ``"none"`` (fewer than 2 pairs).
    resamples, seed
        Bootstrap resamples and the seed of their generator.
    """

    mean: float
    low: float
    high: float
    n: int
    confidence: float
    method: str
    resamples: int
    seed: int

    @property
    def reliable(self) -> bool:
        """True when the interval rests on at least :data:`MIN_PAIRS` units."""
        return self.n >= MIN_PAIRS

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of 0 (``low > 0`` or ``high < 0``);
        False when it contains 0 or could not be estimated."""
        return self.low > 0.0 or self.high < 0.0  # False for NaN bounds

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields (NaN stays a float; the report turns it into ``null``)."""
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n,
                "confidence": self.confidence, "method": self.method, "resamples": self.resamples,
                "seed": self.seed, "excludes_zero": self.excludes_zero, "reliable": self.reliable}


def _check_options(seed: object, resamples: object, confidence: object, method: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"bootstrap seed must be an integer >= 0, got {seed!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 100:
        raise InputError(f"bootstrap resamples must be an integer >= 100, got {resamples!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.0 < confidence < 1.0:
        raise InputError(f"confidence level must be a number strictly between 0 and 1, got {confidence!r}")
    if method not in BOOTSTRAP_METHODS:
        raise InputError(f"bootstrap method must be one of {', '.join(BOOTSTRAP_METHODS)}, got {method!r}")


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a - b, axis=axis)


def paired_difference(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    method: str = "BCa",
) -> PairedDifference:
    """Mean of ``a - b`` with a paired bootstrap confidence interval.

    Parameters
    ----------
    a, b
        Values of the two methods on the same units, ``(n,)`` each: ``a[i]`` and ``b[i]``
        belong to the same unit (see :func:`pair_by_key`). They must be finite.
    seed
        Seed of the resampling generator (``numpy.random.default_rng(seed)``): the same seed
        gives the same interval.
    resamples
        Bootstrap resamples (at least 100).
    confidence
        Two-sided confidence level in ``(0, 1)``.
    method
        ``"BCa"`` (default) or ``"percentile"``. BCa falls back to the percentile interval
        of the same resamples when its acceleration is degenerate (see the module docstring).

    Returns
    -------
    PairedDifference
        With ``n = 0`` and NaN everywhere for empty input; with ``n = 1`` the mean and a NaN
        interval.

    Raises
    ------
    InputError
        ``a`` and ``b`` of different shapes or not 1-D, a value that is not finite, or a bad
        option.
    """
    _check_options(seed, resamples, confidence, method)
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise InputError(f"paired values must be two 1-D arrays of the same length, got shapes {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError("paired values must be finite (leave out units without a value first)")
    n = int(x.size)
    nan = float("nan")
    level = float(confidence)
    if n == 0:
        return PairedDifference(nan, nan, nan, 0, level, "none", int(resamples), int(seed))
    differences = x - y
    mean = float(differences.mean())
    if n == 1:
        return PairedDifference(mean, nan, nan, 1, level, "none", int(resamples), int(seed))
    if float(differences.max()) == float(differences.min()):
        # Every resample has the same mean: the interval is that point.
        return PairedDifference(mean, mean, mean, n, level, "exact", int(resamples), int(seed))
    rng = np.random.default_rng(seed)
    common = {"statistic": _mean_difference, "paired": True, "vectorized": True, "confidence_level": level}
    used = method
    with warnings.catch_warnings(record=True) as caught, np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("always")
        result = stats.bootstrap((x, y), n_resamples=int(resamples), method=method.lower(), rng=rng, **common)
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if method == "BCa" and (caught or not (math.isfinite(low) and math.isfinite(high))):
        # Degenerate acceleration: the percentile interval of the same resamples.
        used = "percentile"
        fallback = stats.bootstrap((x, y), n_resamples=0, method="percentile", bootstrap_result=result,
                                   rng=np.random.default_rng(seed), **common)
        low, high = float(fallback.confidence_interval.low), float(fallback.confidence_interval.high)
    return PairedDifference(mean, low, high, n, level, used, int(resamples), int(seed))


def pair_by_key(a: Mapping[K, float], b: Mapping[K, float]) -> tuple[list[K], np.ndarray, np.ndarray]:
    """Line up two ``{unit: value}`` mappings on the units both have with finite values.

    Parameters
    ----------
    a, b
        Values of two methods keyed by unit (a volume name, a ``(volume, slice)`` pair...).

    Returns
    -------
    keys, values_a, values_b
        The common units with a finite value in both, in the order of ``a``, and their values
        ``(n,)`` (float64).
    """
    keys = [k for k, v in a.items() if k in b and math.isfinite(v) and math.isfinite(b[k])]
    return (keys, np.array([a[k] for k in keys], dtype=np.float64), np.array([b[k] for k in keys], dtype=np.float64))
