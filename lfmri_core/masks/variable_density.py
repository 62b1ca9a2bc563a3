"""2-D variable-density masks for teaching: ``poisson`` and ``gaussian``.

Both sample individual k-space locations of an ``(H, W)`` grid (as in 3-D acquisitions,
where the two phase-encode axes form the grid), more densely near the center, around a fully
sampled calibration square of side ``round(center_fraction * min(H, W))`` centered at DC
``(H // 2, W // 2)`` (placed like fastMRI's center lines, see
:attr:`~lfmri_core.masks.base.SamplingMask.center`).

Random numbers come only from ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.masks._checks import (
    Seed,
    check_acceleration,
    check_acceleration_fits,
    check_center_fraction,
    check_offset,
    check_positive,
    check_seed,
    check_shape,
)
from lfmri_core.masks.base import SamplingMask, register_mask

__all__ = ["gaussian_mask", "poisson_mask"]


def _calibration(height: int, width: int, center_fraction: float) -> tuple[int, np.ndarray]:
    """``(side, pattern (H, W))`` of the fully sampled calibration square."""
    side = round(center_fraction * min(height, width))
    pattern = np.zeros((height, width), dtype=bool)
    rows = (height - side + 1) // 2
    cols = (width - side + 1) // 2
    pattern[rows : rows + side, cols : cols + side] = True
    return side, pattern


def _normalized_radius(height: int, width: int) -> np.ndarray:
    """Distance from DC with each axis scaled to ``[-1, 1)``, shape ``(H, W)``.

    Scaling per axis makes the density contours ellipses matching the grid's aspect ratio.
    """
    ky = (np.arange(height) - height // 2) / (height / 2)
    kx = (np.arange(width) - width // 2) / (width / 2)
    return np.hypot(ky[:, None], kx[None, :])


def _prepare(
    name: str, shape: Sequence[int], acceleration: float, center_fraction: float, offset: int | None
) -> tuple[int, int, int, int, np.ndarray]:
    """Checked ``(H, W, target samples, calibration side, calibration pattern)``."""
    shape = check_shape(shape)
    acceleration = check_acceleration(acceleration)
    center_fraction = check_center_fraction(center_fraction)
    if check_offset(offset) is not None:
        raise InputError(f"offset applies to line masks only; the 2-D {name} mask takes none, got offset={offset!r}")
    height, width = shape[-2:]
    check_acceleration_fits(acceleration, height * width, "k-space samples", shape)
    target = max(1, round(height * width / acceleration))
    side, calibration = _calibration(height, width, center_fraction)
    if side * side > target:
        raise InputError(
            f"center_fraction {center_fraction:g} gives a {side}x{side} calibration square ({side * side} samples), "
            f"more than the {target} samples of acceleration {acceleration:g} on {height}x{width}"
        )
    return height, width, target, side, calibration


# -- Poisson disc --------------------------------------------------------------------------


class _RoundFields:
    """One uniform random field per dart-throwing round, drawn once and reused.

    Every trial radius of the bisection sees the same random numbers, so the sample count
    changes smoothly with the radius scale instead of jumping with a new realisation.
    """

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        self._rng = rng
        self._size = size
        self._fields: list[np.ndarray] = []

    def __call__(self, round_index: int) -> np.ndarray:
        while len(self._fields) <= round_index:
            self._fields.append(self._rng.random(self._size, dtype=np.float32))
        return self._fields[round_index]


class _DiscStencil:
    """Integer offsets sorted by length, so the disc ``|offset| < r`` is a prefix of them."""

    def __init__(self, reach: int, width: int) -> None:
        dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
        length = np.hypot(dy, dx).ravel()
        order = np.argsort(length, kind="stable")  # (0, 0) first
        self.length = length[order]
        self.dy = dy.ravel()[order]
        self.dx = dx.ravel()[order]
        self.width = width

    def size_within(self, radius: np.ndarray) -> np.ndarray:
        """Number of offsets strictly shorter than ``radius`` (the center included)."""
        return np.searchsorted(self.length, radius, side="left")

    def expand(self, centers: np.ndarray, sizes: np.ndarray, height: int, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixels of the discs around flat ``centers``, using offsets ``first .. sizes - 1``.

        Returns
        -------
        flat, valid, starts
            Flat pixel indices (clipped where ``valid`` is False, i.e. outside the grid),
            and where each center's run begins in them.
        """
        counts = np.maximum(sizes - first, 0)
        starts = np.cumsum(counts) - counts
        local = np.arange(int(counts.sum())) - np.repeat(starts, counts) + first
        cy, cx = np.divmod(centers, self.width)
        ty = np.repeat(cy, counts) + self.dy[local]
        tx = np.repeat(cx, counts) + self.dx[local]
        valid = (ty >= 0) & (ty < height) & (tx >= 0) & (tx < self.width)
        flat = np.clip(ty, 0, height - 1) * self.width + np.clip(tx, 0, self.width - 1)
        return flat, valid, starts


def _maximal_poisson_disc(radius: np.ndarray, available: np.ndarray, fields: _RoundFields) -> np.ndarray:
    """A maximal Poisson-disc sample of the available pixels, with a radius per pixel.

    Dart throwing done in parallel rounds (a Luby-style maximal independent set): in each
    round, every still uncovered pixel becomes a candidate with probability about
    ``beta / disc area``; a candidate is accepted unless another candidate within its own
    radius has a better random priority; accepted samples cover their disc. ``beta``
    doubles each round so the last small gaps fill quickly. The result holds no two samples
    closer than the smaller of their radii, and every available pixel lies within the
    radius of a sample. Pixels with radius <= 1 have no neighbour within it and are
    all sampled; just above 1 the four nearest neighbours are excluded, which caps the
    density near 36 % (random sequential adsorption on the square lattice).

    Parameters
    ----------
    radius
        Exclusion radius in pixels, shape ``(H, W)``, > 0.
    available
        Pixels that may be sampled, shape ``(H, W)``.
    fields
        Random fields, one per round.

    Returns
    -------
    numpy.ndarray
        Boolean samples, shape ``(H, W)``.
    """
    height, width = radius.shape
    # no two pixels are farther apart than the diagonal, so larger discs need no more offsets
    reach = int(min(np.ceil(radius.max()), np.ceil(np.hypot(height, width))))
    stencil = _DiscStencil(reach, width)
    # a pixel's disc always holds the pixel itself, however small the radius
    disc_size = np.maximum(stencil.size_within(radius.ravel()), 1)
    covered = ~available.ravel()
    accepted = np.zeros(height * width, dtype=bool)
    priority_grid = np.full(height * width, np.inf)
    beta = 1.0
    for round_index in count():
        free = np.flatnonzero(~covered)
        if free.size == 0:
            break
        u = fields(round_index)[free]
        prob = np.minimum(1.0, beta / disc_size[free])
        chosen = u < prob
        candidates = free[chosen]
        # u / prob is uniform on [0, 1) given u < prob, so priorities do not favour sparse regions
        priority = u[chosen] / prob[chosen]
        priority_grid[candidates] = priority
        flat, valid, starts = stencil.expand(candidates, disc_size[candidates], height, first=1)
        neighbours = np.where(valid, priority_grid[flat], np.inf)
        best_neighbour = np.full(candidates.size, np.inf)
        has_neighbours = disc_size[candidates] > 1
        if neighbours.size:
            best_neighbour[has_neighbours] = np.minimum.reduceat(neighbours, starts[has_neighbours])
        # ties lose on both sides; they are simply retried in a later round
        winners = candidates[priority < best_neighbour]
        priority_grid[candidates] = np.inf
        accepted[winners] = True
        flat, valid, _ = stencil.expand(winners, disc_size[winners], height, first=0)
        covered[flat[valid]] = True
        beta *= 2.0
    return accepted.reshape(height, width)


@register_mask("poisson")
def poisson_mask(
    shape: Sequence[int],
    *,
    acceleration: float,
    center_fraction: float,
    offset: int | None = None,
    seed: Seed | None = None,
    falloff: float = 4.0,
    tolerance: float = 0.01,
    max_iterations: int = 40,
) -> SamplingMask:
    """Variable-density Poisson-disc mask with a fully sampled calibration square.

    Samples keep a minimum distance ``r = s * (1 + falloff * rho)`` pixels from each other,
    where ``rho`` is the distance from DC with each axis scaled to ``[-1, 1)``: dense at the
    center (every pixel where ``r <= 1``), sparser outwards, without the clusters and holes
    of independent draws. The scale ``s`` is found by bisection so that the achieved
    acceleration is within ``tolerance`` of the requested one; if no scale gets there within
    ``max_iterations`` trials (tiny grids), the closest mask is returned and
    :attr:`~lfmri_core.masks.base.SamplingMask.achieved_acceleration` reports it.

    Parameters
    ----------
    shape
        k-space shape ``(..., H, W)``; the mask covers the last two axes.
    acceleration
        Requested acceleration ``H * W / samples``, >= 1.
    center_fraction
        Calibration square side as a fraction of ``min(H, W)``, in ``(0, 1)``.
    offset
        Must be None (line masks only).
    seed
        Integer or tuple of integers for ``np.random.default_rng``; None for fresh entropy.
    falloff
        How fast the spacing grows: ``1 + falloff`` times wider at ``rho = 1`` than at DC.
    tolerance
        Relative tolerance on the number of samples.
    max_iterations
        Most trial masks the bisection may build.

    Returns
    -------
    SamplingMask
        Pattern of shape ``(H, W)``; ``num_low_frequencies`` is the calibration side.
    """
    height, width, target, side, calibration = _prepare("poisson", shape, acceleration, center_fraction, offset)
    falloff = check_positive(falloff, "falloff")
    tolerance = check_positive(tolerance, "tolerance")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int | np.integer) or max_iterations < 1:
        raise InputError(f"max_iterations must be an integer >= 1, got {max_iterations!r}")
    rng = np.random.default_rng(check_seed(seed))
    nominal = check_acceleration(acceleration)
    if int(calibration.sum()) >= target:
        return SamplingMask(calibration, "poisson", nominal, side)

    profile = 1.0 + falloff * _normalized_radius(height, width)
    available = ~calibration
    fields = _RoundFields(rng, height * width)
    best: tuple[float, np.ndarray] = (np.inf, calibration)

    def trial(scale: float) -> int:
        nonlocal best
        pattern = _maximal_poisson_disc(scale * profile, available, fields) | calibration
        num = int(pattern.sum())
        error = abs(num / target - 1.0)
        if error < best[0]:
            best = (error, pattern)
        return num

    # Bracket: scale -> 0 samples everything (too many); double until too few.
    low, high = 0.0, 1.0
    iterations = 0
    while iterations < max_iterations and best[0] > tolerance:
        iterations += 1
        if trial(high) <= target:
            break
        low, high = high, 2.0 * high
    # Bisection in log scale once both ends are positive: the count falls off like 1 / s**2.
    while iterations < max_iterations and best[0] > tolerance:
        iterations += 1
        middle = np.sqrt(low * high) if low > 0 else high / 2.0
        if trial(middle) > target:
            low = middle
        else:
            high = middle
    return SamplingMask(best[1], "poisson", nominal, side)


# -- Gaussian density ----------------------------------------------------------------------


@register_mask("gaussian")
def gaussian_mask(
    shape: Sequence[int],
    *,
    acceleration: float,
    center_fraction: float,
    offset: int | None = None,
    seed: Seed | None = None,
    sigma: float = 0.4,
) -> SamplingMask:
    """Variable-density mask drawn from a 2-D Gaussian density, with a calibration square.

    Each location outside the calibration square is kept independently with probability
    ``min(1, d / t)``, where ``d = exp(-rho**2 / (2 sigma**2))`` and ``rho`` is the distance
    from DC with each axis scaled to ``[-1, 1)``. The scale ``t`` is set from the same random
    draws so that exactly ``round(H * W / acceleration)`` locations are sampled, so the
    achieved acceleration equals the requested one up to that rounding.

    Parameters
    ----------
    shape
        k-space shape ``(..., H, W)``; the mask covers the last two axes.
    acceleration
        Requested acceleration ``H * W / samples``, >= 1.
    center_fraction
        Calibration square side as a fraction of ``min(H, W)``, in ``(0, 1)``.
    offset
        Must be None (line masks only).
    seed
        Integer or tuple of integers for ``np.random.default_rng``; None for fresh entropy.
    sigma
        Width of the density in units of the half-axis, > 0.

    Returns
    -------
    SamplingMask
        Pattern of shape ``(H, W)``; ``num_low_frequencies`` is the calibration side.
    """
    height, width, target, side, calibration = _prepare("gaussian", shape, acceleration, center_fraction, offset)
    sigma = check_positive(sigma, "sigma")
    rng = np.random.default_rng(check_seed(seed))
    log_density = -0.5 * (_normalized_radius(height, width) / sigma) ** 2
    # Kept iff u < d / t, i.e. log(u) - log(d) < -log(t): the `needed` smallest keys are the
    # draws that any t giving that count would keep. log1p(-u) is log of a uniform on
    # (0, 1], which never takes log(0).
    key = np.log1p(-rng.random((height, width))) - log_density
    key[calibration] = np.inf
    pattern = calibration.copy()
    needed = target - int(calibration.sum())
    if needed > 0:
        pattern.ravel()[np.argpartition(key.ravel(), needed - 1)[:needed]] = True
    return SamplingMask(pattern, "gaussian", check_acceleration(acceleration), side)
