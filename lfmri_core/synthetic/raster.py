"""Pixel grids in physical coordinates, windowed painting and band-limited down-sampling.

Display frame: rows go from superior (row 0) to inferior, columns from anterior (col 0) to
posterior. Pixel ``(r, c)`` of an ``(H, W)`` grid with pixel size ``d`` mm sits at

    u = (c - W // 2) * d      (anterior -> posterior)
    v = (H // 2 - r) * d      (inferior -> superior)

so the grid origin is the pixel the centred FFT treats as the origin, ``(H // 2, W // 2)``. A
grid with ``factor`` times more pixels over the same field of view keeps the same origin, and
every ``factor``-th of its pixels coincides with a pixel of the coarse grid; this is what makes
:func:`band_limit` (k-space truncation) consistent with the coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import os

import numpy as np
import scipy.fft

_WORKERS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Grid:
    """A display-frame pixel grid.

    Attributes
    ----------
    shape
        ``(H, W)`` pixels.
    pixel_mm
        Pixel size in mm (isotropic).
    """

    shape: tuple[int, int]
    pixel_mm: float

    def refined(self, factor: int) -> Grid:
        """The same field of view with ``factor`` times more pixels along each axis."""
        return Grid((self.shape[0] * factor, self.shape[1] * factor), self.pixel_mm / factor)

    @property
    def u(self) -> np.ndarray:
        """Column coordinates in mm, shape ``(1, W)``."""
        return ((np.arange(self.shape[1]) - self.shape[1] // 2) * self.pixel_mm).astype(np.float32)[None, :]

    @property
    def v(self) -> np.ndarray:
        """Row coordinates in mm, shape ``(H, 1)``."""
        return ((self.shape[0] // 2 - np.arange(self.shape[0])) * self.pixel_mm).astype(np.float32)[:, None]

    def window(self, u_range: tuple[float, float], v_range: tuple[float, float]) -> Window:
        """The sub-grid covering ``u_range`` x ``v_range`` mm (clipped to the grid)."""
        h, w = self.shape
        d = self.pixel_mm
        c0 = int(np.clip(np.floor(u_range[0] / d + w // 2), 0, w))
        c1 = int(np.clip(np.ceil(u_range[1] / d + w // 2) + 1, 0, w))
        r0 = int(np.clip(np.floor(h // 2 - v_range[1] / d), 0, h))
        r1 = int(np.clip(np.ceil(h // 2 - v_range[0] / d) + 1, 0, h))
        return Window(self, slice(r0, max(r0, r1)), slice(c0, max(c0, c1)))

    @property
    def full(self) -> Window:
        return Window(self, slice(0, self.shape[0]), slice(0, self.shape[1]))


@dataclass(frozen=True)
class Window:
    """A rectangular part of a :class:`Grid`: ``grid_array[rows, cols]``."""

    grid: Grid
    rows: slice
    cols: slice

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows.stop - self.rows.start, self.cols.stop - self.cols.start)

    @property
    def empty(self) -> bool:
        return self.shape[0] == 0 or self.shape[1] == 0

    @property
    def u(self) -> np.ndarray:
        """Column coordinates, shape ``(1, w)``."""
        return self.grid.u[:, self.cols]

    @property
    def v(self) -> np.ndarray:
        """Row coordinates, shape ``(h, 1)``."""
        return self.grid.v[self.rows, :]

    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        """Full 2-D coordinate arrays ``(u, v)``, each of shape ``(h, w)``."""
        u, v = np.broadcast_arrays(self.u, self.v)
        return np.ascontiguousarray(u), np.ascontiguousarray(v)


def band_limit(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Down-sample a finely rendered image to ``shape`` by k-space truncation.

    Only the spatial frequencies the coarse grid can represent are kept (the central ``shape``
    block of the centred spectrum) and the result is scaled so that a constant keeps its value.
    This is what an MRI acquisition does to a continuous object: the image is band limited and
    sharp edges show partial volume and Gibbs ringing. Both grids share their first pixel's
    position (see the module docstring), so the plain (uncentred) real FFT does the job; the
    Nyquist row and column are kept real.

    Parameters
    ----------
    image
        Real array ``(..., h, w)`` on a grid refined by an integer factor from ``shape``.
    shape
        Target ``(H, W)``, even sizes.

    Returns
    -------
    numpy.ndarray
        float32 ``(..., H, W)``.
    """
    h, w = image.shape[-2:]
    out_h, out_w = shape
    spec = scipy.fft.rfft2(image, workers=_WORKERS)
    rows = np.r_[0 : out_h // 2, h - out_h // 2 : h]
    spec = spec[..., rows, : out_w // 2 + 1]
    out = scipy.fft.irfft2(spec, s=(out_h, out_w), workers=_WORKERS)
    return (out * (out_h * out_w / (h * w))).astype(np.float32)


def _checkerboard(shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    h, w = shape
    chk = np.where((np.arange(h)[:, None] + np.arange(w)[None, :]) % 2 == 0, 1.0, -1.0).astype(np.float32)
    return chk, float((-1) ** (h // 2 + w // 2))


def fft2c_numpy(image: np.ndarray) -> np.ndarray:
    """Centred orthonormal 2-D FFT over the last two axes, numerically equal to
    :func:`lfmri_core.physics.fft.fft2c` but faster on the CPU.

    For even sizes the shifts are a modulation: ``fftshift(fft2(ifftshift(x))) =
    s * c * fft2(c * x)`` with the checkerboard ``c[n, m] = (-1) ** (n + m)`` and the sign
    ``s = (-1) ** (H / 2 + W / 2)``; odd sizes fall back to explicit shifts.
    """
    h, w = image.shape[-2:]
    if h % 2 or w % 2:
        shifted = np.fft.ifftshift(image, axes=(-2, -1))
        return np.fft.fftshift(scipy.fft.fft2(shifted, norm="ortho", workers=_WORKERS), axes=(-2, -1))
    chk, sign = _checkerboard((h, w))
    out = scipy.fft.fft2(image * chk, norm="ortho", workers=_WORKERS)
    out *= chk * np.float32(sign)
    return out


def ifft2c_numpy(kspace: np.ndarray) -> np.ndarray:
    """Centred orthonormal 2-D inverse FFT (see :func:`fft2c_numpy`), equal to
    :func:`lfmri_core.physics.fft.ifft2c`."""
    h, w = kspace.shape[-2:]
    if h % 2 or w % 2:
        shifted = np.fft.ifftshift(kspace, axes=(-2, -1))
        return np.fft.fftshift(scipy.fft.ifft2(shifted, norm="ortho", workers=_WORKERS), axes=(-2, -1))
    chk, sign = _checkerboard((h, w))
    out = scipy.fft.ifft2(kspace * chk, norm="ortho", workers=_WORKERS)
    out *= chk * np.float32(sign)
    return out
