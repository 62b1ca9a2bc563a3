"""Signed distance functions (SDFs) of 2-D primitives in physical coordinates (mm).

Every function takes coordinate arrays ``u`` (anterior -> posterior, mm) and ``v``
(inferior -> superior, mm) that broadcast against each other, and returns the signed distance
in mm: negative inside, positive outside. Shapes are combined with ``min`` (union), ``max``
(intersection) and their smooth versions :func:`smin` / :func:`smax`; :func:`coverage` turns a
distance into a partial-volume fraction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Array = np.ndarray
Point = tuple[float, float]

#: SDF value used for "absent" shapes (a slice that misses a 3-D structure).
FAR = np.float32(1e4)


def rotate(u: Array, v: Array, center: Point, angle_deg: float) -> tuple[Array, Array]:
    """Coordinates of the points in a frame rotated by ``angle_deg`` about ``center``.

    A shape defined in the rotated frame and evaluated at the returned coordinates appears in
    the display frame rotated counter-clockwise (towards +u at the bottom) by ``angle_deg``.
    """
    if angle_deg == 0.0:
        return u, v
    a = np.deg2rad(angle_deg)
    c, s = np.float32(np.cos(a)), np.float32(np.sin(a))
    du, dv = u - center[0], v - center[1]
    return center[0] + c * du + s * dv, center[1] - s * du + c * dv


def rotate_point(p: Point, center: Point, angle_deg: float) -> Point:
    """Display position of a point ``p`` given in a frame rotated by ``angle_deg`` about ``center``."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    du, dv = p[0] - center[0], p[1] - center[1]
    return (center[0] + c * du - s * dv, center[1] + s * du + c * dv)


def circle(u: Array, v: Array, center: Point, radius: float) -> Array:
    if radius <= 0:
        return np.full(np.broadcast_shapes(np.shape(u), np.shape(v)), FAR, dtype=np.float32)
    return np.hypot(u - center[0], v - center[1]) - np.float32(radius)


def ellipse(u: Array, v: Array, center: Point, radii: Point, angle_deg: float = 0.0) -> Array:
    """Approximate SDF of an ellipse (exact on the boundary and close to it)."""
    au, av = radii
    if au <= 0 or av <= 0:
        return np.full(np.broadcast_shapes(np.shape(u), np.shape(v)), FAR, dtype=np.float32)
    if angle_deg:
        u, v = rotate(u, v, center, angle_deg)
    du, dv = u - center[0], v - center[1]
    k0 = np.hypot(du / np.float32(au), dv / np.float32(av))
    k1 = np.hypot(du / np.float32(au * au), dv / np.float32(av * av))
    return k0 * (k0 - 1.0) / np.maximum(k1, np.float32(1e-6))


def halfplane(u: Array, v: Array, point: Point, normal: Point) -> Array:
    """Signed distance to the line through ``point``; positive on the side ``normal`` points to."""
    n = np.hypot(*normal)
    return ((u - point[0]) * np.float32(normal[0] / n) + (v - point[1]) * np.float32(normal[1] / n)).astype(
        np.float32, copy=False
    )


def segment(u: Array, v: Array, a: Point, b: Point, radius: float) -> Array:
    """Capsule: distance to the segment ``a``-``b`` minus ``radius``."""
    pu, pv = u - a[0], v - a[1]
    bu, bv = b[0] - a[0], b[1] - a[1]
    h = np.clip((pu * bu + pv * bv) / np.float32(bu * bu + bv * bv), 0.0, 1.0)
    return np.hypot(pu - h * bu, pv - h * bv) - np.float32(radius)


def polyline(u: Array, v: Array, points: Sequence[Point], radius: float | Array) -> Array:
    """Distance to a polyline minus ``radius``."""
    d = None
    for a, b in zip(points[:-1], points[1:]):
        s = segment(u, v, a, b, 0.0)
        d = s if d is None else np.minimum(d, s)
    assert d is not None
    return d - radius


def bezier_points(p0: Point, p1: Point, p2: Point, n: int = 16) -> list[Point]:
    """Points along a quadratic Bezier curve (for :func:`polyline`)."""
    t = np.linspace(0.0, 1.0, n)
    pts = (1 - t)[:, None] ** 2 * np.array(p0) + 2 * ((1 - t) * t)[:, None] * np.array(p1) + t[:, None] ** 2 * np.array(p2)
    return [tuple(p) for p in pts]


def convex_polygon(u: Array, v: Array, vertices: Sequence[Point]) -> Array:
    """Signed distance bound of a convex polygon (counter-clockwise vertices): the largest
    half-plane distance, exact inside and on the edges, an underestimate near outer corners."""
    d = None
    n = len(vertices)
    for i in range(n):
        a, b = vertices[i], vertices[(i + 1) % n]
        h = halfplane(u, v, a, (b[1] - a[1], -(b[0] - a[0])))
        d = h if d is None else np.maximum(d, h)
    assert d is not None
    return d


def polygon(u: Array, v: Array, vertices: Sequence[Point]) -> Array:
    """Exact SDF of a simple polygon (any orientation, convex or not)."""
    shape = np.broadcast_shapes(np.shape(u), np.shape(v))
    dist2 = np.full(shape, np.inf, dtype=np.float32)
    inside = np.zeros(shape, dtype=bool)
    n = len(vertices)
    for i in range(n):
        a, b = vertices[i], vertices[(i + 1) % n]
        pu, pv = u - np.float32(a[0]), v - np.float32(a[1])
        eu, ev = np.float32(b[0] - a[0]), np.float32(b[1] - a[1])
        h = np.clip((pu * eu + pv * ev) / (eu * eu + ev * ev), 0.0, 1.0)
        dist2 = np.minimum(dist2, (pu - h * eu) ** 2 + (pv - h * ev) ** 2)
        # Even-odd rule: count crossings of a ray towards +u.
        crosses = (v >= np.float32(a[1])) != (v >= np.float32(b[1]))
        u_at = np.float32(a[0]) + (v - np.float32(a[1])) * eu / (ev if ev != 0 else np.float32(1e-12))
        inside ^= crosses & (u < u_at)
    d = np.sqrt(dist2)
    return np.where(inside, -d, d)


def smin(a: Array, b: Array, k: float) -> Array:
    """Smooth union (polynomial smooth minimum) with blending radius ``k`` mm."""
    if k <= 0:
        return np.minimum(a, b)
    h = np.clip(0.5 + 0.5 * (b - a) / np.float32(k), 0.0, 1.0)
    return b + (a - b) * h - np.float32(k) * h * (1.0 - h)


def smax(a: Array, b: Array, k: float) -> Array:
    """Smooth intersection with blending radius ``k`` mm."""
    return -smin(-a, -b, k)


def coverage(sdf: Array, edge: float) -> Array:
    """Partial-volume fraction of a pixel of width ``edge`` mm: 1 inside, 0 outside, linear
    across the boundary."""
    return np.clip(0.5 - sdf / np.float32(edge), 0.0, 1.0)


def smoothstep(edge0: float, edge1: float, x: Array | float) -> Array:
    """Hermite step from 0 at ``edge0`` to 1 at ``edge1`` (either order)."""
    t = np.clip((np.asarray(x, dtype=np.float32) - edge0) / np.float32(edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def section(x: float, center: float, half_width: float, power: float = 2.0) -> float:
    """Size factor of the planar section of a 3-D (super-)ellipsoid at mediolateral offset ``x``.

    ``sqrt(1 - |(x - center) / half_width| ** power)`` inside, 0 outside; ``power = 2`` is an
    ellipsoid, larger powers give a flatter, wheel-like profile that shrinks only at its edges.
    """
    r = abs(x - center) / half_width
    return float(np.sqrt(1.0 - r**power)) if r < 1.0 else 0.0


class Loft:
    """A generalised cylinder along ``v``: every axial cross-section (the ``u``-``x`` plane) is
    a super-ellipse ``|du / a_u| ** p + |dx / a_x| ** p = 1`` whose centre and semi-axes are
    interpolated (monotone cubic) between knots in ``v``. Its section at ``x`` is a 2-D shape
    whose anterior-posterior width changes with height; used for the shafts and metaphyses.

    Parameters
    ----------
    v_knots
        Increasing heights (mm).
    center_u, center_x, half_u, half_x
        Centre and semi-axes at each knot (mm).
    power
        Super-ellipse exponent (2 = ellipse; larger = boxier cross-section).
    """

    def __init__(
        self,
        v_knots: Sequence[float],
        center_u: Sequence[float],
        center_x: Sequence[float],
        half_u: Sequence[float],
        half_x: Sequence[float],
        power: float = 2.0,
        step_mm: float = 0.25,
    ) -> None:
        from scipy.interpolate import PchipInterpolator

        knots = np.asarray(v_knots, dtype=np.float64)
        self._v = np.arange(knots[0], knots[-1] + step_mm, step_mm)
        self._cu = PchipInterpolator(knots, center_u)(self._v)
        self._cx = PchipInterpolator(knots, center_x)(self._v)
        self._au = PchipInterpolator(knots, half_u)(self._v)
        self._ax = PchipInterpolator(knots, half_x)(self._v)
        self.power = power

    def profile(self, x: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Tables ``(v, centre_u, half_width, d(half_width)/dv)`` of the section at ``x``;
        ``half_width < 0`` where the section misses the cross-section (distance-like)."""
        r = np.abs(x - self._cx) / self._ax
        inside = r < 1.0
        half = np.where(inside, self._au * np.power(np.clip(1.0 - r**self.power, 0.0, 1.0), 1.0 / self.power), -(r - 1.0) * self._ax)
        return self._v, self._cu, half, np.gradient(half, self._v)

    def sdf(self, u: Array, v: Array, x: float) -> Array:
        """Approximate SDF of the section at ``x`` (horizontal distance scaled by the slope)."""
        table_v, cu, half, dhalf = self.profile(x)
        dcu = np.gradient(cu, table_v)
        vv = np.asarray(v)
        c = np.interp(vv, table_v, cu).astype(np.float32)
        h = np.interp(vv, table_v, half).astype(np.float32)
        du = u - c
        slope = np.interp(vv, table_v, dhalf).astype(np.float32) + np.sign(du) * np.interp(vv, table_v, dcu).astype(np.float32)
        g = np.abs(du) - h
        return (g / np.sqrt(1.0 + np.minimum(slope * slope, 400.0))).astype(np.float32)
