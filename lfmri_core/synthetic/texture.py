"""Seeded smooth fields: band-limited texture noise, random 3-D level-set fields, bias field and
background phase.

Everything takes an explicit :class:`numpy.random.Generator` or a frozen parameter object made
from one; nothing uses global random state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from lfmri_core.synthetic.raster import Grid, Window


def band_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    pixel_mm: float,
    band: tuple[float, float],
    stretch: tuple[float, float] = (1.0, 1.0),
    factor: int = 1,
) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian noise whose spectrum fills an annulus.

    Parameters
    ----------
    shape
        ``(h, w)`` pixels.
    pixel_mm
        Pixel size, mm.
    band
        ``(low, high)`` spatial frequencies in cycles/mm after ``stretch``.
    stretch
        ``(rows, cols)`` factors applied to the frequency axes before the band test; a larger
        row factor makes features longer along the rows axis (fibre-like texture).
    factor
        Synthesise on a grid ``factor`` times coarser (whose Nyquist frequency must exceed the
        band) and interpolate linearly: much cheaper on fine render grids.

    Returns
    -------
    numpy.ndarray
        float32, shape ``shape``.
    """
    h, w = shape
    ch, cw = -(-h // factor), -(-w // factor)
    fv = np.fft.fftfreq(ch, d=pixel_mm * factor)[:, None] * stretch[0]
    fu = np.fft.rfftfreq(cw, d=pixel_mm * factor)[None, :] * stretch[1]
    f = np.hypot(fv, fu)
    lo, hi = band
    # Soft-edged annulus: no ringing of the texture itself.
    weight = np.exp(-0.5 * ((f - 0.5 * (lo + hi)) / (0.5 * (hi - lo))) ** 2).astype(np.float32)
    white = rng.standard_normal((*weight.shape, 2), dtype=np.float32).view(np.complex64)[..., 0]
    field = scipy.fft.irfft2(white * weight, s=(ch, cw), workers=2).astype(np.float32)
    if factor > 1:
        coarse_v, coarse_u = np.arange(ch) * factor, np.arange(cw) * factor
        field = interp2(field, coarse_v, coarse_u, np.arange(h), np.arange(w))
    std = float(field.std())
    return (field / std if std > 0 else field).astype(np.float32)


@dataclass(frozen=True)
class LevelSetField:
    """A smooth random 3-D field ``n(u, v, x) = sum_k a_k cos(k . p + phi_k)``.

    Its zero level set is a family of smooth meandering sheets; intersected with a slice they
    are curves that change smoothly from slice to slice, used for fat septa between muscles.
    """

    wavevectors: np.ndarray  # (K, 3) rad/mm for (u, v, x)
    phases: np.ndarray  # (K,)
    amplitudes: np.ndarray  # (K,)

    @classmethod
    def random(
        cls, rng: np.random.Generator, modes: int, wavelength_mm: tuple[float, float], stretch: tuple[float, float, float]
    ) -> LevelSetField:
        """``modes`` plane waves with wavelengths in ``wavelength_mm``; ``stretch`` scales the
        wave numbers along (u, v, x) (a small v factor gives sheets elongated along v)."""
        directions = rng.standard_normal((modes, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        k = 2 * np.pi / rng.uniform(*wavelength_mm, size=(modes, 1)) * directions * np.asarray(stretch)
        return cls(k, rng.uniform(0, 2 * np.pi, modes), rng.uniform(0.5, 1.0, modes))

    def distance(self, window: Window, x_mm: float, step: int = 4) -> np.ndarray:
        """Approximate distance (mm) to the zero level set, ``n / |grad n|``, on ``window``.

        Evaluated on every ``step``-th pixel and interpolated linearly (the ratio is smooth near
        the level set), which keeps it cheap on fine grids.
        """
        u_f, v_f = window.u[0], window.v[:, 0]
        u_c, v_c = u_f[::step], v_f[::step]
        if u_c[-1] != u_f[-1]:
            u_c = np.append(u_c, u_f[-1])
        if v_c[-1] != v_f[-1]:
            v_c = np.append(v_c, v_f[-1])
        val = np.zeros((v_c.size, u_c.size))
        gu = np.zeros_like(val)
        gv = np.zeros_like(val)
        gx = np.zeros_like(val)
        for (ku, kv, kx), ph, a in zip(self.wavevectors, self.phases, self.amplitudes):
            arg = ku * u_c[None, :] + kv * v_c[:, None] + (kx * x_mm + ph)
            val += a * np.cos(arg)
            s = -a * np.sin(arg)
            gu += ku * s
            gv += kv * s
            gx += kx * s
        # The in-plane gradient alone would blow up where a sheet runs along the slice plane.
        dist = val / np.sqrt(gu**2 + gv**2 + 0.5 * gx**2 + 1e-6)
        return interp2(dist, v_c, u_c, v_f, u_f)


def _taps(src: np.ndarray, dst: np.ndarray, cubic: bool) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(taps, len(dst))`` into ``src`` and their weights for linear or Catmull-Rom
    cubic interpolation of evenly spaced samples (clamped at the ends)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.size
    if n == 1:
        return np.zeros((1, dst.size), dtype=np.intp), np.ones((1, dst.size), dtype=np.float32)
    pos = np.clip((dst - src[0]) / (src[1] - src[0]), 0.0, n - 1.0)
    i0 = np.minimum(np.floor(pos).astype(np.intp), n - 2)
    f = pos - i0
    if not cubic:
        return np.stack([i0, i0 + 1]), np.stack([1 - f, f]).astype(np.float32)
    weights = np.stack(
        [
            ((-f + 2) * f - 1) * f / 2,
            (((3 * f - 5) * f) * f + 2) / 2,
            ((-3 * f + 4) * f + 1) * f / 2,
            ((f - 1) * f * f) / 2,
        ]
    ).astype(np.float32)
    index = np.clip(i0[None, :] + np.arange(-1, 3)[:, None], 0, n - 1)
    return index, weights


def interp2(values: np.ndarray, v_src: np.ndarray, u_src: np.ndarray, v_dst: np.ndarray, u_dst: np.ndarray, cubic: bool = False) -> np.ndarray:
    """Separable interpolation of ``values[..., v, u]`` (real or complex, evenly spaced
    samples ``v_src``, ``u_src``) onto the points ``v_dst`` x ``u_dst``; linear or cubic."""
    dtype = np.complex64 if np.iscomplexobj(values) else np.float32
    values = values.astype(dtype, copy=False)
    index, weight = _taps(u_src, u_dst, cubic)
    along_u = sum(values[..., :, i] * w for i, w in zip(index, weight))
    index, weight = _taps(v_src, v_dst, cubic)
    return sum(along_u[..., i, :] * w[:, None] for i, w in zip(index, weight)).astype(dtype, copy=False)


def _legendre(x: np.ndarray, degree: int) -> np.ndarray:
    return [np.ones_like(x), x, 1.5 * x * x - 0.5][degree]


@dataclass(frozen=True)
class PolynomialField:
    """A smooth field ``sum c_ijk P_i(u / su) P_j(v / sv) P_k(x / sx)`` of total degree <= 2
    (Legendre polynomials), used for the bias field (exponentiated) and the background phase."""

    coefficients: np.ndarray  # (3, 3, 3), indices (i, j, k), i + j + k <= 2
    scales_mm: tuple[float, float, float]

    @classmethod
    def random(cls, rng: np.random.Generator, std: float, scales_mm: tuple[float, float, float], constant: float = 0.0) -> PolynomialField:
        c = rng.normal(0.0, std, size=(3, 3, 3))
        i, j, k = np.indices(c.shape)
        c[(i + j + k) > 2] = 0.0
        c[0, 0, 0] = constant
        return cls(c, scales_mm)

    def evaluate(self, grid: Grid, x_mm: float) -> np.ndarray:
        """The field on ``grid`` at mediolateral position ``x_mm``, float32 ``(H, W)``."""
        su, sv, sx = self.scales_mm
        pu = [_legendre(grid.u.astype(np.float64) / su, d) for d in range(3)]
        pv = [_legendre(grid.v.astype(np.float64) / sv, d) for d in range(3)]
        px = [_legendre(np.float64(x_mm / sx), d) for d in range(3)]
        out = np.zeros(grid.shape)
        for i in range(3):
            for j in range(3 - i):
                for k in range(3 - i - j):
                    c = self.coefficients[i, j, k]
                    if c:
                        out += c * px[k] * (pv[j] @ pu[i])
        return out.astype(np.float32)
