"""Receive coil arrays around the knee: Biot-Savart sensitivities and noise correlation.

The coils are circular loops on a cylinder around the leg (the leg axis is ``v``, parallel to
the main field B0), arranged in one or two rings. A loop's receive sensitivity is the
transverse part of the field it would produce with unit current (reciprocity),
``S = B_u - i B_x``, which gives the familiar magnitude fall-off with distance and a spatially
varying phase; each coil also gets a constant (cable) phase. The Biot-Savart kernel is softened
over a few millimetres (finite wire width), so the maps stay smooth even near a conductor.

Maps are evaluated on a coarse grid (they are smooth on the scale of centimetres) and
interpolated with Catmull-Rom cubics; they are then divided by ``rss ** flatten`` and scaled by
one constant per volume, so that the root-sum-of-squares of the maps is close to 1 over the
knee while keeping a mild shading, as vendor-combined knee images do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lfmri_core.synthetic.raster import Grid
from lfmri_core.synthetic.texture import interp2

#: Softening length of the Biot-Savart kernel, mm.
_WIRE_MM = 6.0
#: Segments per loop.
_SEGMENTS = 24


@dataclass(frozen=True)
class CoilArray:
    """Loop coils around the knee.

    Attributes
    ----------
    centers
        Loop centres, shape ``(C, 3)`` as ``(u, v, x)`` in mm.
    normals
        Unit loop axes (pointing at the leg axis), shape ``(C, 3)``.
    radius_mm
        Loop radius.
    phases
        Constant phase of each channel, radians, shape ``(C,)``.
    """

    centers: np.ndarray
    normals: np.ndarray
    radius_mm: float
    phases: np.ndarray

    @property
    def num_coils(self) -> int:
        return int(self.centers.shape[0])

    @classmethod
    def ring(
        cls,
        num_coils: int,
        rng: np.random.Generator,
        axis_u: float,
        center_v: float,
        cylinder_radius_mm: float = 88.0,
    ) -> CoilArray:
        """``num_coils`` loops on a cylinder of radius ``cylinder_radius_mm`` around the line
        ``u = axis_u, x = 0``: one ring up to 8 coils, two staggered rings (50 mm apart) above."""
        rings = 1 if num_coils <= 8 else 2
        per_ring = [num_coils // rings + (1 if r < num_coils % rings else 0) for r in range(rings)]
        offset = rng.uniform(0, 2 * np.pi)
        centers, normals = [], []
        for r, n in enumerate(per_ring):
            v = center_v + (0.0 if rings == 1 else (25.0 if r == 0 else -25.0))
            for k in range(n):
                phi = offset + 2 * np.pi * (k + 0.5 * r) / n + rng.normal(0, 0.05)
                direction = np.array([np.cos(phi), 0.0, np.sin(phi)])
                centers.append(np.array([axis_u, v + rng.normal(0, 2.0), 0.0]) + cylinder_radius_mm * direction)
                normals.append(-direction)
        spacing = 2 * np.pi * cylinder_radius_mm / max(per_ring)
        radius = float(min(0.6 * spacing, 48.0 if rings == 1 else 32.0))
        return cls(np.array(centers), np.array(normals), radius, rng.uniform(-np.pi, np.pi, num_coils))

    def fields(self, u: np.ndarray, v: np.ndarray, x: float) -> np.ndarray:
        """Complex sensitivities at points ``(u, v)`` of the plane ``x``.

        Parameters
        ----------
        u, v
            1-D coordinates (mm) of a grid's columns and rows.

        Returns
        -------
        numpy.ndarray
            complex128, shape ``(C, len(v), len(u))``.
        """
        uu, vv = np.meshgrid(u, v)
        points = np.stack([uu.ravel(), vv.ravel(), np.full(uu.size, x)], axis=-1)  # (P, 3)
        alpha = np.linspace(0, 2 * np.pi, _SEGMENTS, endpoint=False)
        out = np.empty((self.num_coils, points.shape[0]), dtype=np.complex128)
        for c in range(self.num_coils):
            n = self.normals[c]
            e1 = np.array([0.0, 1.0, 0.0])
            e2 = np.cross(n, e1)
            ring = self.centers[c] + self.radius_mm * (np.cos(alpha)[:, None] * e1 + np.sin(alpha)[:, None] * e2)
            dl = np.roll(ring, -1, axis=0) - ring  # (N, 3)
            mid = ring + 0.5 * dl
            r = points[None, :, :] - mid[:, None, :]  # (N, P, 3)
            dist2 = np.sum(r * r, axis=-1) + _WIRE_MM**2
            b = np.sum(np.cross(dl[:, None, :], r) / (dist2**1.5)[..., None], axis=0)  # (P, 3)
            out[c] = (b[:, 0] - 1j * b[:, 2]) * np.exp(1j * self.phases[c])
        return out.reshape(self.num_coils, v.size, u.size)

    def noise_covariance(self, correlation: float = 0.12, length_mm: float = 70.0) -> np.ndarray:
        """Noise correlation matrix ``(1 - c) I + c exp(-|r_i - r_j| / L)`` (unit diagonal),
        mild coupling between neighbouring coils; positive definite for ``0 <= c < 1``."""
        d = np.linalg.norm(self.centers[:, None, :] - self.centers[None, :, :], axis=-1)
        return (1.0 - correlation) * np.eye(self.num_coils) + correlation * np.exp(-d / length_mm)


def coil_maps(array: CoilArray, grid: Grid, x: float, coarse_mm: float = 4.0) -> np.ndarray:
    """Raw (unnormalised) sensitivities of ``array`` on ``grid`` (display frame) at ``x``.

    Returns
    -------
    numpy.ndarray
        complex64, shape ``(C, H, W)``.
    """
    u_f, v_f = grid.u[0].astype(np.float64), grid.v[:, 0].astype(np.float64)
    step = max(1, int(round(coarse_mm / grid.pixel_mm)))
    u_c = np.arange(u_f.min() - step * grid.pixel_mm, u_f.max() + 2 * step * grid.pixel_mm, step * grid.pixel_mm)
    v_c = np.arange(v_f.max() + step * grid.pixel_mm, v_f.min() - 2 * step * grid.pixel_mm, -step * grid.pixel_mm)
    coarse = array.fields(u_c, v_c, x)
    return interp2(coarse, v_c, u_c, v_f, u_f, cubic=True).astype(np.complex64)


def flatten_maps(maps: np.ndarray, flatten: float = 0.8, floor: float = 0.0) -> np.ndarray:
    """Divide the maps by ``max(rss, floor) ** flatten`` (RSS over the coil axis ``-3``).

    Where the RSS exceeds ``floor`` the RSS of the result is ``rss ** (1 - flatten)``, a much
    flatter, still smooth profile; below it (far from the coils, beyond the knee) the natural
    fall-off of the receive field is kept.
    """
    rss = np.sqrt(np.sum(maps.real**2 + maps.imag**2, axis=-3, keepdims=True))
    return (maps / np.maximum(rss, max(floor, 1e-12)) ** flatten).astype(np.complex64)


def reference_rss(array: CoilArray, point: tuple[float, float, float]) -> float:
    """RSS of the raw sensitivities at one point ``(u, v, x)``."""
    field = array.fields(np.array([point[0]]), np.array([point[1]]), point[2])
    return float(np.sqrt(np.sum(np.abs(field) ** 2)))
