"""BART's 2-D discrete wavelet transform in torch, and its soft-thresholding proximal operator.

BART (``src/wavelet/wavelet.c``, used by ``pics -l1``) differs from a textbook periodic DWT,
and a fair comparison has to do as it does:

- **Symmetric extension.** Each 1-D step extends the signal by half-sample symmetry
  (``x[-1] = x[0]``, ``x[N] = x[N-1]``) and keeps ``(N + L - 1) // 2`` coefficients per band
  (``L`` filter taps), as PyWavelets' ``mode="symmetric"``; the transform is redundant at the
  borders and the inverse crops.
- **Levels per axis.** The low band is transformed again along an axis while its length is at
  least ``min(size, 16)``; an axis that has stopped is left alone while the other goes on
  (640 x 368 gets 6 levels along the readout, 5 along the phase encode).
- **Everything is thresholded**, the coarsest low band included.
- **Cycle spinning.** Before each thresholding the image is circularly shifted by a random
  ``0 <= s_d <= 2 ** levels_d`` per axis (``levels_d`` = transforms along ``d`` + 1) and shifted
  back after. BART draws the shifts with glibc's ``rand_r`` from the state 1 at the start of
  each run; :class:`BartShiftSequence` reproduces that sequence, so results match BART's
  bit-for-bit in the shifts (``pics -n`` turns them off, as ``cycle_spinning=False`` here).

Filters (BART's ``wavelet_haar`` / ``wavelet_dau2``): orthonormal Haar and Daubechies-2 (4 taps);
the decomposition low pass of ``dau2`` is PyWavelets' ``db2.dec_lo``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lfmri_core.errors import InputError
from lfmri_core.recon.proximal import soft_threshold

_SQRT_HALF = 0.7071067811865475

# (decomposition low, decomposition high, reconstruction low, reconstruction high): BART's
# filter[0][0], filter[0][1], filter[1][0], filter[1][1].
WAVELET_FILTERS: dict[str, tuple[tuple[float, ...], ...]] = {
    "haar": (
        (_SQRT_HALF, _SQRT_HALF),
        (-_SQRT_HALF, _SQRT_HALF),
        (_SQRT_HALF, _SQRT_HALF),
        (_SQRT_HALF, -_SQRT_HALF),
    ),
    "dau2": (
        (-0.1294095225512603, 0.2241438680420134, 0.8365163037378077, 0.4829629131445341),
        (-0.4829629131445341, 0.8365163037378077, -0.2241438680420134, -0.1294095225512603),
        (0.4829629131445341, 0.8365163037378077, 0.2241438680420134, -0.1294095225512603),
        (-0.1294095225512603, -0.2241438680420134, 0.8365163037378077, -0.4829629131445341),
    ),
}

#: BART's coarsest scale: an axis is transformed while its low band is at least this long.
MIN_SIZE = 16


def band_size(size: int, taps: int) -> int:
    """Coefficients per band of one symmetric-extension step: ``(size + taps - 1) // 2``."""
    return (size + taps - 1) // 2


def _check_wavelet(name: str) -> tuple[tuple[float, ...], ...]:
    try:
        return WAVELET_FILTERS[name]
    except KeyError:
        raise InputError(f"unknown wavelet {name!r}; choose one of {', '.join(WAVELET_FILTERS)}") from None


@functools.lru_cache(maxsize=64)
def _symmetric_index_list(size: int, taps: int) -> tuple[int, ...]:
    band = band_size(size, taps)
    index = []
    for n in range(2 - taps, 2 * band):
        if n < 0:
            n = -n - 1
        if n >= size:
            n = 2 * size - 1 - n
        if not 0 <= n < size:
            raise InputError(f"a signal of length {size} is too short for a {taps}-tap wavelet")
        index.append(n)
    return tuple(index)


@functools.lru_cache(maxsize=64)
def _symmetric_index(size: int, taps: int, device: torch.device) -> torch.Tensor:
    """Indices of the extended signal ``x[n]``, ``n = 2 - taps .. 2 * band - 1`` (BART's ``coord``)."""
    return torch.tensor(_symmetric_index_list(size, taps), dtype=torch.long, device=device)


def _strided(dim: int, ndim: int, start: int, count: int) -> tuple[slice, ...]:
    index = [slice(None)] * ndim
    index[dim] = slice(start, start + 2 * count - 1, 2)
    return tuple(index)


def analysis_1d(x: torch.Tensor, dim: int, wavelet: str = "dau2") -> tuple[torch.Tensor, torch.Tensor]:
    """One decomposition step along ``dim``: ``(low, high)``, each ``band_size(N, L)`` long.

    ``out[j] = sum_m x_ext[2 j + L - 1 - m] * f[m]``: the filter ``f`` convolved with the
    symmetrically extended signal, kept at odd positions (BART's ``wavelet_down3``).
    """
    dec_lo, dec_hi = _check_wavelet(wavelet)[:2]
    taps = len(dec_lo)
    dim = dim % x.ndim
    size = x.shape[dim]
    band = band_size(size, taps)
    extended = x.index_select(dim, _symmetric_index(size, taps, x.device))
    low = high = None
    for m in range(taps):
        tap = extended[_strided(dim, x.ndim, taps - 1 - m, band)]
        if low is None or high is None:
            low, high = tap * dec_lo[m], tap * dec_hi[m]
        else:
            low.add_(tap, alpha=dec_lo[m])
            high.add_(tap, alpha=dec_hi[m])
    assert low is not None and high is not None
    return low, high


def synthesis_1d(low: torch.Tensor, high: torch.Tensor, dim: int, size: int, wavelet: str = "dau2") -> torch.Tensor:
    """Inverse of :func:`analysis_1d`: the signal of length ``size`` along ``dim``.

    ``x[n] = sum_{2 j + m = n + L - 2} (low[j] g_lo[m] + high[j] g_hi[m])`` (BART's
    ``wavelet_up3``), then cropped to ``size``.
    """
    rec_lo, rec_hi = _check_wavelet(wavelet)[2:]
    taps = len(rec_lo)
    dim = dim % low.ndim
    band = low.shape[dim]
    shape = list(low.shape)
    shape[dim] = 2 * band + taps - 2
    buffer = torch.zeros(shape, dtype=low.dtype, device=low.device)
    for m in range(taps):
        view = buffer[_strided(dim, low.ndim, m, band)]
        view.add_(low, alpha=rec_lo[m])
        view.add_(high, alpha=rec_hi[m])
    return buffer.narrow(dim, taps - 2, size)


@dataclass(frozen=True)
class WaveletLevel:
    """The detail bands of one level and the sizes they came from.

    Attributes
    ----------
    dims
        Axes transformed at this level (``-2`` readout, ``-1`` phase encode), in order.
    sizes
        Length of each of those axes before the step.
    bands
        Detail bands keyed by ``"l"``/``"h"`` per axis of ``dims`` (e.g. ``"lh"``, ``"hl"``,
        ``"hh"``; ``"h"`` when one axis is left); the all-low band goes to the next level.
    """

    dims: tuple[int, ...]
    sizes: tuple[int, ...]
    bands: dict[str, torch.Tensor]


@dataclass(frozen=True)
class WaveletCoefficients:
    """Multi-level coefficients: details from fine to coarse and the coarsest low band."""

    levels: list[WaveletLevel]
    approximation: torch.Tensor

    def map(self, function: Callable[[torch.Tensor], torch.Tensor]) -> WaveletCoefficients:
        """The same structure with ``function`` applied to every band (approximation included)."""
        levels = [WaveletLevel(lv.dims, lv.sizes, {k: function(v) for k, v in lv.bands.items()}) for lv in self.levels]
        return WaveletCoefficients(levels, function(self.approximation))


def _min_sizes(shape: tuple[int, int]) -> dict[int, int]:
    return {-2: min(shape[0], MIN_SIZE), -1: min(shape[1], MIN_SIZE)}


def transform_counts(shape: tuple[int, int], wavelet: str = "dau2") -> tuple[int, int]:
    """How many decomposition steps BART makes along the readout and the phase-encode axis."""
    taps = len(_check_wavelet(wavelet)[0])
    counts = []
    for size in shape:
        minimum = min(size, MIN_SIZE)
        count = 0
        if size > 1:
            while size >= minimum:
                size = band_size(size, taps)
                count += 1
        counts.append(count)
    return counts[0], counts[1]


def wavedec2(image: torch.Tensor, wavelet: str = "dau2") -> WaveletCoefficients:
    """BART's multi-level 2-D decomposition of ``image`` ``(..., H, W)`` (real or complex)."""
    _check_wavelet(wavelet)
    minimum = _min_sizes((image.shape[-2], image.shape[-1]))
    dims = tuple(d for d in (-2, -1) if image.shape[d] > 1)
    levels: list[WaveletLevel] = []
    current = image
    while dims:
        sizes = tuple(current.shape[d] for d in dims)
        bands = {"": current}
        for d in dims:
            split: dict[str, torch.Tensor] = {}
            for key, band in bands.items():
                split[key + "l"], split[key + "h"] = analysis_1d(band, d, wavelet)
            bands = split
        current = bands.pop("l" * len(dims))
        levels.append(WaveletLevel(dims, sizes, bands))
        dims = tuple(d for d in dims if current.shape[d] >= minimum[d])
    return WaveletCoefficients(levels, current)


def waverec2(coefficients: WaveletCoefficients, wavelet: str = "dau2") -> torch.Tensor:
    """Inverse of :func:`wavedec2`."""
    current = coefficients.approximation
    for level in reversed(coefficients.levels):
        bands = dict(level.bands)
        bands["l" * len(level.dims)] = current
        for position in reversed(range(len(level.dims))):
            d, size = level.dims[position], level.sizes[position]
            merged = {}
            for key in {k[:position] for k in bands}:
                merged[key] = synthesis_1d(bands[key + "l"], bands[key + "h"], d, size, wavelet)
            bands = merged
        current = bands[""]
    return current


def glibc_rand_r(state: int) -> tuple[int, int]:
    """One call of glibc's ``rand_r``: ``(value in [0, 2**31), new state)``."""
    value = 0
    for bits, modulus in ((0, 2048), (10, 1024), (10, 1024)):
        state = (state * 1103515245 + 12345) & 0xFFFFFFFF
        value = (value << bits) ^ ((state >> 16) % modulus)
    return value, state


class BartShiftSequence:
    """The cycle-spinning shifts BART draws (``rand_lim`` over glibc ``rand_r``), from ``seed``.

    BART seeds each ``pics`` run's wavelet operator with state 1, so the default reproduces
    its shifts. Deterministic and local: no global random state is touched.
    """

    RAND_MAX = 2**31 - 1

    def __init__(self, seed: int = 1) -> None:
        self.state = int(seed) & 0xFFFFFFFF

    def draw(self, limit: int) -> int:
        """A value in ``[0, limit]`` (inclusive), as BART's ``rand_lim``."""
        divisor = self.RAND_MAX // (limit + 1)
        while True:
            value, self.state = glibc_rand_r(self.state)
            value //= divisor
            if value <= limit:
                return value

    def shifts(self, shape: tuple[int, int], wavelet: str = "dau2") -> tuple[int, int]:
        """Shifts ``(readout, phase encode)`` for one thresholding of an image of ``shape``."""
        out = []
        for count, size in zip(transform_counts(shape, wavelet), shape, strict=True):
            out.append(self.draw(1 << (count + 1)) if size > 1 else 0)
        return out[0], out[1]


class WaveletSoftThreshold:
    """Prox of ``lam * ||W x||_1`` as BART applies it: shift, transform, threshold, invert, unshift.

    Parameters
    ----------
    lam
        Regularisation weight ``lambda >= 0``; ``prox(v, alpha)`` thresholds at ``lam * alpha``.
    wavelet
        ``"dau2"`` (BART's default) or ``"haar"``.
    cycle_spinning
        Random circular shifts before each thresholding (BART's default; ``pics -n`` is False).
    seed
        Start of the shift sequence (BART: 1).
    base_shift
        A fixed circular shift ``(readout, phase)`` of the stored image relative to the
        image the wavelet should see: the SENSE solvers keep ``ifftshift(x)`` and pass
        ``(H // 2, W // 2)``, so thresholding acts on ``x`` itself.

    Notes
    -----
    The wavelet transform is not orthogonal at the borders (symmetric extension), so this is
    BART's approximation of the prox, not the exact prox of the analysis l1 norm.
    """

    def __init__(
        self,
        lam: float,
        wavelet: str = "dau2",
        *,
        cycle_spinning: bool = True,
        seed: int = 1,
        base_shift: tuple[int, int] = (0, 0),
    ) -> None:
        _check_wavelet(wavelet)
        self.lam = float(lam)
        self.wavelet = wavelet
        self.sequence = BartShiftSequence(seed) if cycle_spinning else None
        self.base_shift = base_shift

    def __call__(self, image: torch.Tensor, alpha: float) -> torch.Tensor:
        shape = (image.shape[-2], image.shape[-1])
        shift = self.sequence.shifts(shape, self.wavelet) if self.sequence is not None else (0, 0)
        total = ((shift[0] + self.base_shift[0]) % shape[0], (shift[1] + self.base_shift[1]) % shape[1])
        threshold = self.lam * alpha
        shifted = torch.roll(image, total, dims=(-2, -1)) if any(total) else image
        coefficients = wavedec2(shifted, self.wavelet)
        thresholded = coefficients.map(lambda band: soft_threshold(band, threshold, out=band))
        out = waverec2(thresholded, self.wavelet)
        back = (-total[0], -total[1])
        return torch.roll(out, back, dims=(-2, -1)) if any(total) else out
