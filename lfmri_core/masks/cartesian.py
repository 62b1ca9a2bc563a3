"""fastMRI's 1-D Cartesian line masks, bit for bit.

The five masks of ``fastmri.data.subsample`` select phase-encode columns (the last axis
``W`` of k-space ``(..., H, W)``), always including a fully sampled center of
``round(W * center_fraction)`` lines:

- ``random``: every column kept with probability ``(W / R - N_low) / (W - N_low)``, so the
  expected count is ``W / R``;
- ``equispaced``: every ``R``-th column from ``offset`` (the center makes the real
  acceleration lower than ``R``);
- ``equispaced_fraction``: spacing stretched so that center plus lines give ``W / R``
  columns; lines at ``round(offset + k * spacing)``, so not strictly equispaced (this is
  how the public multicoil test data were undersampled);
- ``magic``, ``magic_fraction``: Defazio's offset sampling (arXiv:1912.01101), the
  equispaced lines of the negative half of k-space shifted against the positive half so
  that, through conjugate symmetry, each half fills the other's gaps; ``magic_fraction``
  adjusts center and spacing to hit ``W / R`` columns.

To reproduce fastMRI's masks exactly, the random numbers are drawn from a legacy
``np.random.RandomState`` in fastMRI's order: the choice of (center fraction, acceleration)
(a ``randint`` even when there is only one), then the line draws or the offset.
:class:`LineMaskSampler` keeps one generator across calls like a fastMRI ``MaskFunc``;
:func:`~lfmri_core.masks.base.make_mask` uses a fresh one per call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.masks._checks import (
    Seed,
    check_acceleration,
    check_acceleration_fits,
    check_center_fraction,
    check_integer_acceleration,
    check_offset,
    check_seed,
    check_shape,
)
from lfmri_core.masks.base import SamplingMask, register_mask

__all__ = [
    "LINE_MASKS",
    "LineMaskSampler",
    "equispaced_fraction_mask",
    "equispaced_mask",
    "magic_fraction_mask",
    "magic_mask",
    "random_mask",
]

_LineDraw = Callable[[int, float, float, int | None, np.random.RandomState], tuple[np.ndarray, int]]
"""``(num_cols, center_fraction, acceleration, offset, rng) -> (pattern (W,), num_low)``."""


def _num_low_frequencies(num_cols: int, center_fraction: float) -> int:
    # Python's round (half to even), as fastMRI does
    return round(num_cols * center_fraction)


def _center_lines(num_cols: int, num_low: int) -> np.ndarray:
    pattern = np.zeros(num_cols, dtype=bool)
    start = (num_cols - num_low + 1) // 2
    pattern[start : start + num_low] = True
    return pattern


def _equispaced_fraction_spacing(num_cols: int, num_low: int, acceleration: float) -> float:
    # Solves num_low + (num_cols - num_low) / spacing = num_cols / acceleration; the
    # expression keeps fastMRI's operation order so the float is the same to the last bit.
    return (acceleration * (num_low - num_cols)) / (num_low * acceleration - num_cols)


def _magic_fraction_counts(num_cols: int, center_fraction: float, acceleration: float) -> tuple[int, int]:
    """``(num_low, outer_lines)``: the center is capped by the target column count."""
    target = round(num_cols / acceleration)
    num_low = max(min(_num_low_frequencies(num_cols, center_fraction), target), 1)
    return num_low, target - num_low


def _magic_lines(num_cols: int, spacing: int, offset: int) -> np.ndarray:
    """Offset-sampled lines of Defazio's magic mask, shape ``(num_cols,)``."""
    # The two halves start at different phases (parity of the offset decides which), so
    # a line on one side mirrors a gap on the other.
    if offset % 2 == 0:
        first_positive, first_negative = offset + 1, offset + 2
    else:
        first_positive, first_negative = offset + 2, offset - 1
    num_positive = (num_cols + 1) // 2
    positive = np.zeros(num_positive, dtype=bool)
    negative = np.zeros(num_cols - num_positive, dtype=bool)
    positive[first_positive::spacing] = True
    negative[first_negative::spacing] = True
    # halves are laid out in FFT order (DC first, negative side mirrored), then centered
    return np.fft.fftshift(np.concatenate([positive, negative[::-1]]))


def _draw_random(
    num_cols: int, center_fraction: float, acceleration: float, offset: int | None, rng: np.random.RandomState
) -> tuple[np.ndarray, int]:
    num_low = _num_low_frequencies(num_cols, center_fraction)
    # fastMRI divides by zero when the center takes every column; nothing is left to draw then
    prob = (num_cols / acceleration - num_low) / (num_cols - num_low) if num_low < num_cols else 0.0
    # one uniform per column, center included, so the stream stays in step with fastMRI's
    outer = rng.uniform(size=num_cols) < prob
    return _center_lines(num_cols, num_low) | outer, num_low


def _draw_equispaced(
    num_cols: int, center_fraction: float, acceleration: float, offset: int | None, rng: np.random.RandomState
) -> tuple[np.ndarray, int]:
    num_low = _num_low_frequencies(num_cols, center_fraction)
    spacing = int(acceleration)
    if offset is None:
        offset = int(rng.randint(0, spacing))
    pattern = _center_lines(num_cols, num_low)
    pattern[offset::spacing] = True
    return pattern, num_low


def _draw_equispaced_fraction(
    num_cols: int, center_fraction: float, acceleration: float, offset: int | None, rng: np.random.RandomState
) -> tuple[np.ndarray, int]:
    num_low = _num_low_frequencies(num_cols, center_fraction)
    center = _center_lines(num_cols, num_low)
    if num_low * acceleration >= num_cols:
        # The center alone reaches W / acceleration columns: no spacing solves for the rest
        # (fastMRI divides by zero or draws from an empty range here).
        return center, num_low
    spacing = _equispaced_fraction_spacing(num_cols, num_low, acceleration)
    if offset is None:
        offset = int(rng.randint(0, round(spacing)))
    # the last column is never a line (fastMRI's arange stops before num_cols - 1)
    lines = np.round(np.arange(offset, num_cols - 1, spacing)).astype(np.intp)
    center[lines] = True
    return center, num_low


def _draw_magic(
    num_cols: int, center_fraction: float, acceleration: float, offset: int | None, rng: np.random.RandomState
) -> tuple[np.ndarray, int]:
    num_low = _num_low_frequencies(num_cols, center_fraction)
    spacing = int(acceleration)
    if offset is None:
        offset = int(rng.randint(0, spacing))
    return _center_lines(num_cols, num_low) | _magic_lines(num_cols, spacing, offset), num_low


def _draw_magic_fraction(
    num_cols: int, center_fraction: float, acceleration: float, offset: int | None, rng: np.random.RandomState
) -> tuple[np.ndarray, int]:
    num_low, outer = _magic_fraction_counts(num_cols, center_fraction, acceleration)
    center = _center_lines(num_cols, num_low)
    if outer <= 0:
        # The center alone reaches the target column count. fastMRI raises here (zero
        # spacing); the center-only mask is what the request asks for.
        return center, num_low
    spacing = round(num_cols / outer)
    if offset is None:
        offset = int(rng.randint(0, spacing))
    return center | _magic_lines(num_cols, spacing, offset), num_low


_DRAWS: dict[str, _LineDraw] = {
    "random": _draw_random,
    "equispaced": _draw_equispaced,
    "equispaced_fraction": _draw_equispaced_fraction,
    "magic": _draw_magic,
    "magic_fraction": _draw_magic_fraction,
}

LINE_MASKS: tuple[str, ...] = tuple(_DRAWS)
"""Names of fastMRI's line masks, as in ``fastmri.data.subsample.create_mask_for_mask_type``."""

_INTEGER_SPACING = frozenset({"equispaced", "magic"})


class LineMaskSampler:
    """A stateful line-mask generator with fastMRI ``MaskFunc`` semantics.

    One ``np.random.RandomState`` lives across calls, so successive calls give different
    masks (e.g. a training pipeline drawing a 4x or an 8x mask per batch). A call with a
    ``seed`` reseeds the generator only for that call and then restores its state, exactly
    like ``MaskFunc.__call__``; the same sampler and fastMRI's ``MaskFunc`` built with the
    same arguments produce the same sequence of masks.

    Parameters
    ----------
    name
        One of :data:`LINE_MASKS`.
    center_fractions
        Fully sampled center fractions in ``(0, 1)``; one is chosen per call.
    accelerations
        Accelerations >= 1 (whole numbers for ``equispaced`` and ``magic``); without
        ``allow_any_combination`` the ``i``-th goes with the ``i``-th center fraction.
    allow_any_combination
        Choose the center fraction and the acceleration independently.
    seed
        Seed of the persistent generator; None draws entropy from the OS.

    Examples
    --------
    >>> sampler = LineMaskSampler("random", [0.08, 0.04], [4, 8], seed=0)
    >>> mask = sampler((640, 368))                     # 4x or 8x, at random
    >>> same = sampler((640, 368), seed=(102, 105))    # reproducible, state unchanged
    """

    def __init__(
        self,
        name: str,
        center_fractions: Sequence[float],
        accelerations: Sequence[float],
        allow_any_combination: bool = False,
        seed: Seed | None = None,
    ) -> None:
        if name not in _DRAWS:
            raise InputError(f"unknown line mask {name!r}; known line masks: {', '.join(LINE_MASKS)}")
        center_fractions = tuple(check_center_fraction(cf) for cf in center_fractions)
        accelerations = tuple(check_acceleration(acc) for acc in accelerations)
        if not center_fractions or not accelerations:
            raise InputError("center_fractions and accelerations must each hold at least one value")
        if not allow_any_combination and len(center_fractions) != len(accelerations):
            raise InputError(
                f"center_fractions ({len(center_fractions)} values) and accelerations ({len(accelerations)} values) "
                "must have the same length unless allow_any_combination is True"
            )
        if name in _INTEGER_SPACING:
            for acc in accelerations:
                check_integer_acceleration(acc, name)
        self.name = name
        self.center_fractions = center_fractions
        self.accelerations = accelerations
        self.allow_any_combination = bool(allow_any_combination)
        self._rng = np.random.RandomState(check_seed(seed))

    def __repr__(self) -> str:
        return (
            f"LineMaskSampler({self.name!r}, center_fractions={list(self.center_fractions)}, "
            f"accelerations={list(self.accelerations)}, allow_any_combination={self.allow_any_combination})"
        )

    def __call__(self, shape: Sequence[int], offset: int | None = None, seed: Seed | None = None) -> SamplingMask:
        """Draw a mask for k-space of ``shape``.

        Parameters
        ----------
        shape
            k-space shape ``(..., H, W)``; the mask covers the ``W`` columns.
        offset
            First line of equispaced/magic patterns; None draws it. ``random`` ignores it,
            as fastMRI does.
        seed
            If given, the generator is reseeded for this call only.

        Returns
        -------
        SamplingMask
            Pattern of shape ``(W,)``, with the chosen acceleration as nominal.
        """
        shape = check_shape(shape)
        offset = check_offset(offset)
        seed = check_seed(seed)
        # every acceleration that might be chosen is checked before any number is drawn,
        # so a refused call leaves the generator where it was
        for acceleration in self.accelerations:
            check_acceleration_fits(acceleration, shape[-1], "phase-encode columns (last axis)", shape)
        with self._reseeded(seed):
            center_fraction, acceleration = self._choose()
            pattern, num_low = _DRAWS[self.name](shape[-1], center_fraction, acceleration, offset, self._rng)
        return SamplingMask(pattern, self.name, acceleration, num_low)

    def _choose(self) -> tuple[float, float]:
        rng = self._rng
        if self.allow_any_combination:
            # RandomState.choice over n items draws randint(0, n): picking by index is the
            # same draw and keeps the values as given
            cf_index = rng.choice(len(self.center_fractions))
            acc_index = rng.choice(len(self.accelerations))
            return self.center_fractions[cf_index], self.accelerations[acc_index]
        # drawn even for a single choice: fastMRI does, and the stream must stay in step
        index = rng.randint(0, len(self.center_fractions))
        return self.center_fractions[index], self.accelerations[index]

    @contextmanager
    def _reseeded(self, seed: Seed | None) -> Iterator[None]:
        if seed is None:
            yield
            return
        state = self._rng.get_state()
        self._rng.seed(seed)
        try:
            yield
        finally:
            self._rng.set_state(state)


def _line_mask(
    name: str, shape: Sequence[int], acceleration: float, center_fraction: float, offset: int | None, seed: Seed | None
) -> SamplingMask:
    # A fresh generator seeded with `seed` is in the same state as a MaskFunc temporarily
    # reseeded with it, so this equals MaskFunc([cf], [acc])(shape, offset, seed).
    sampler = LineMaskSampler(name, [center_fraction], [acceleration], seed=seed)
    return sampler(shape, offset=offset)


@register_mask("random")
def random_mask(
    shape: Sequence[int], *, acceleration: float, center_fraction: float, offset: int | None = None, seed: Seed | None = None
) -> SamplingMask:
    """fastMRI's ``RandomMaskFunc``: center plus columns kept at random.

    Parameters
    ----------
    shape
        k-space shape ``(..., H, W)``.
    acceleration
        Expected acceleration ``W / E[sampled columns]``, >= 1.
    center_fraction
        Fraction of the ``W`` columns fully sampled at the center, in ``(0, 1)``.
    offset
        Ignored (accepted for a uniform interface, as in fastMRI).
    seed
        Integer or tuple of integers (e.g. :func:`~lfmri_core.masks.seed_from_filename`).

    Returns
    -------
    SamplingMask
        Pattern of shape ``(W,)``.
    """
    return _line_mask("random", shape, acceleration, center_fraction, offset, seed)


@register_mask("equispaced")
def equispaced_mask(
    shape: Sequence[int], *, acceleration: float, center_fraction: float, offset: int | None = None, seed: Seed | None = None
) -> SamplingMask:
    """fastMRI's ``EquiSpacedMaskFunc``: center plus every ``acceleration``-th column.

    The achieved acceleration is below the nominal one because of the center lines.
    ``acceleration`` must be a whole number; ``offset`` (first line) is drawn from
    ``[0, acceleration)`` when None. Returns a pattern of shape ``(W,)``; see
    :func:`random_mask` for the other parameters.
    """
    return _line_mask("equispaced", shape, acceleration, center_fraction, offset, seed)


@register_mask("equispaced_fraction")
def equispaced_fraction_mask(
    shape: Sequence[int], *, acceleration: float, center_fraction: float, offset: int | None = None, seed: Seed | None = None
) -> SamplingMask:
    """fastMRI's ``EquispacedMaskFractionFunc``: spacing adjusted to reach ``W / acceleration`` columns.

    Lines sit at ``round(offset + k * spacing)`` with a fractional spacing, so they are not
    strictly equispaced (as in the public multicoil data). ``offset`` is drawn from
    ``[0, round(spacing))`` when None. When the center alone has ``W / acceleration``
    lines or more, the mask is the center only (fastMRI raises there). Returns a pattern of
    shape ``(W,)``.
    """
    return _line_mask("equispaced_fraction", shape, acceleration, center_fraction, offset, seed)


@register_mask("magic")
def magic_mask(
    shape: Sequence[int], *, acceleration: float, center_fraction: float, offset: int | None = None, seed: Seed | None = None
) -> SamplingMask:
    """fastMRI's ``MagicMaskFunc``: Defazio's offset sampling with spacing ``acceleration``.

    ``acceleration`` must be a whole number; ``offset`` is drawn from
    ``[0, acceleration)`` when None. Returns a pattern of shape ``(W,)``.
    """
    return _line_mask("magic", shape, acceleration, center_fraction, offset, seed)


@register_mask("magic_fraction")
def magic_fraction_mask(
    shape: Sequence[int], *, acceleration: float, center_fraction: float, offset: int | None = None, seed: Seed | None = None
) -> SamplingMask:
    """fastMRI's ``MagicMaskFractionFunc``: offset sampling adjusted to ``round(W / acceleration)`` columns.

    The center is capped at the target count (at least one line), and the spacing is
    ``round(W / (target - center))``. When the center alone reaches the target, the mask is
    the center only (fastMRI raises there). Returns a pattern of shape ``(W,)``.
    """
    return _line_mask("magic_fraction", shape, acceleration, center_fraction, offset, seed)
