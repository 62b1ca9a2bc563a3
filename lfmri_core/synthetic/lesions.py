"""Lesions with fastMRI+ labels, as 3-D objects placed on anatomically plausible sites.

Each lesion spans the slices ``|t - t_center| < t_half`` and shrinks towards its ends. On a
slice it is a weight map ``w in [0, 1]`` on the reconstruction grid and a tissue it turns the
image into: ``image <- image + w * (signal(tissue) - image)``, applied after band limiting so
that it changes exactly the pixels it covers. Its *support* on a slice is the set of pixels
where ``w >= MIN_WEIGHT`` and the change is at least :data:`MIN_CHANGE`; the weight is set to
zero everywhere else, so the support is exactly the set of pixels the lesion changes, and its
bounding box is the annotation box.

Sizes follow the median fastMRI+ knee boxes (width x height at 0.5 mm pixels): meniscus tear
25 x 15, partial-thickness cartilage defect 29 x 11, subchondral edema 25 x 25, joint effusion
53 x 135, periarticular cyst 46 x 70.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lfmri_core.synthetic import shapes as sh
from lfmri_core.synthetic.anatomy import KneeSubject, SliceAnatomy
from lfmri_core.synthetic.contrast import Tissue
from lfmri_core.synthetic.raster import Grid, Window

MENISCUS_TEAR = "Meniscus Tear"
CARTILAGE_PARTIAL = "Cartilage - Partial Thickness loss/defect"
SUBCHONDRAL_EDEMA = "Bone- Subchondral edema"
JOINT_EFFUSION = "Joint Effusion"
PERIARTICULAR_CYST = "Periarticular cysts"

#: The labels this generator produces, spelled as in the fastMRI+ knee CSV.
LESION_LABELS: tuple[str, ...] = (MENISCUS_TEAR, CARTILAGE_PARTIAL, SUBCHONDRAL_EDEMA, JOINT_EFFUSION, PERIARTICULAR_CYST)

#: Box counts of these labels in the fastMRI+ knee annotations (relative frequencies).
_FREQUENCY = {MENISCUS_TEAR: 5658, CARTILAGE_PARTIAL: 2985, JOINT_EFFUSION: 1311, SUBCHONDRAL_EDEMA: 986, PERIARTICULAR_CYST: 864}

#: Smallest weight that counts as part of a lesion.
MIN_WEIGHT = 0.05
#: Smallest change of the (bias-free) magnitude a lesion pixel must make, in units of the PD
#: fat signal; smaller changes are dropped so that every support pixel is visibly changed.
MIN_CHANGE = 0.01
#: Lesions stay within ``|t| <= T_LIMIT`` so the outermost slices of a volume are lesion free.
T_LIMIT = 0.8


@dataclass(frozen=True)
class Lesion:
    """Base class: a lesion spanning ``t_center +- t_half`` (slice positions)."""

    t_center: float
    t_half: float

    label = ""
    tissue = Tissue.FLUID

    def factor(self, t: float) -> float:
        """Size factor on the slice at ``t``: 0 outside, 0.55 at the ends .. 1 in the middle."""
        r = abs(t - self.t_center) / self.t_half
        return 0.0 if r >= 1.0 else float(0.55 + 0.45 * np.sqrt(1.0 - r * r))

    def bounds(self, anatomy: SliceAnatomy) -> tuple[tuple[float, float], tuple[float, float]]:
        """``(u_range, v_range)`` in mm that contains the lesion on this slice."""
        raise NotImplementedError

    def weight(self, anatomy: SliceAnatomy, u: np.ndarray, v: np.ndarray, f: float, edge: float) -> np.ndarray:
        """Weight map (0..1) at display coordinates ``u, v`` (2-D), size factor ``f``."""
        raise NotImplementedError


def _clip_t(center: float, half: float) -> tuple[float, float]:
    half = min(half, T_LIMIT)
    return float(np.clip(center, -T_LIMIT + half, T_LIMIT - half)), float(half)


def _side_t(rng: np.random.Generator, side: float, lo: float, hi: float) -> float:
    return float(side * rng.uniform(lo, hi))


@dataclass(frozen=True)
class MeniscusTear(Lesion):
    """A bright (fluid signal) oblique or horizontal line through a meniscal horn reaching its
    surface, with mild intrasubstance signal around it; mostly the medial posterior horn."""

    horn: str = "posterior"
    position: float = 0.5  # along the horn, 0 = apex (free edge) .. 1 = rim
    height: float = 0.35  # fraction of the horn height
    angle_deg: float = 20.0

    label = MENISCUS_TEAR
    tissue = Tissue.FLUID

    @classmethod
    def sample(cls, rng: np.random.Generator, subject: KneeSubject) -> MeniscusTear:
        side = 1.0 if rng.random() < 0.7 else -1.0
        horn = "posterior" if rng.random() < 0.8 else "anterior"
        center, half = _clip_t(_side_t(rng, side, 0.45, 0.62), rng.uniform(0.13, 0.2))
        return cls(center, half, horn, rng.uniform(0.35, 0.65), rng.uniform(0.25, 0.5), rng.choice([-1, 1]) * rng.uniform(8.0, 35.0))

    def bounds(self, anatomy: SliceAnatomy) -> tuple[tuple[float, float], tuple[float, float]]:
        ut, vj = anatomy.ut, anatomy.vj
        return (ut - 45.0, ut + 45.0), (vj - 20.0, vj + 25.0)

    def weight(self, anatomy: SliceAnatomy, u: np.ndarray, v: np.ndarray, f: float, edge: float) -> np.ndarray:
        geometry = anatomy.horn_geometry(self.horn)
        if geometry is None:
            return np.zeros(np.shape(u), dtype=np.float32)
        rim, apex, base, height = geometry
        jf = anatomy.joint_fields(u, v)
        horn = anatomy.menisci(jf.tu, jf.tv, jf.femoral_surface, anatomy.subject.joint_gap_mm, horn=self.horn)
        inside = sh.coverage(horn - 0.4, edge)
        flat_v = anatomy.plateau_frame(jf.tu, jf.tv)
        pu = apex + self.position * (rim - apex)
        pv = base + self.height * height
        a = np.deg2rad(self.angle_deg)
        du, dv = jf.tu - np.float32(pu), flat_v - np.float32(pv)
        across = du * np.float32(np.sin(a)) - dv * np.float32(np.cos(a))
        along = du * np.float32(np.cos(a)) + dv * np.float32(np.sin(a))
        line = np.exp(-((across / 0.55) ** 2)) * (1.0 - sh.smoothstep(5.0 * f, 7.5 * f, np.abs(along)))
        degeneration = 0.35 * np.exp(-(du**2 + dv**2) / (2.0 * (4.5 * f) ** 2))
        return (inside * np.maximum(line, degeneration)).astype(np.float32)


@dataclass(frozen=True)
class CartilageDefect(Lesion):
    """Partial-thickness loss of femoral condyle cartilage: a notch from the articular
    surface, filled with fluid-like signal, on the weight-bearing surface."""

    angle_deg: float = -90.0  # about the condyle centre; -90 = inferior, 0 = posterior
    arc_mm: float = 14.0
    depth: float = 0.7  # fraction of the cartilage thickness lost

    label = CARTILAGE_PARTIAL
    tissue = Tissue.FLUID

    @classmethod
    def sample(cls, rng: np.random.Generator, subject: KneeSubject) -> CartilageDefect:
        side = 1.0 if rng.random() < 0.6 else -1.0
        center, half = _clip_t(_side_t(rng, side, 0.38, 0.62), rng.uniform(0.13, 0.2))
        return cls(center, half, rng.uniform(-125.0, -55.0), rng.uniform(12.0, 17.0), rng.uniform(0.55, 0.85))

    def bounds(self, anatomy: SliceAnatomy) -> tuple[tuple[float, float], tuple[float, float]]:
        (uf, vf), r = anatomy.cf, anatomy.rc
        return (uf - r - 12.0, uf + r + 12.0), (vf - r - 12.0, vf + 10.0)

    def weight(self, anatomy: SliceAnatomy, u: np.ndarray, v: np.ndarray, f: float, edge: float) -> np.ndarray:
        circle = anatomy.condyle_circle()
        if circle is None:
            return np.zeros(np.shape(u), dtype=np.float32)
        (cu, cv), radius = circle
        jf = anatomy.joint_fields(u, v)
        theta = np.arctan2(v - np.float32(cv), u - np.float32(cu))
        dtheta = np.angle(np.exp(1j * (theta - np.deg2rad(self.angle_deg)))).astype(np.float32)
        arc = dtheta * np.float32(radius)
        half = 0.5 * self.arc_mm * f
        window = 1.0 - sh.smoothstep(half - 1.5, half, np.abs(arc))
        thickness = jf.femoral_cartilage
        depth = np.float32(self.depth) * (0.75 + 0.25 * np.cos(np.pi * np.clip(arc / half, -1.0, 1.0)))
        outer = sh.coverage(jf.femur - thickness, edge)  # inside the articular surface
        lost = sh.coverage(thickness * (1.0 - depth) - jf.femur, edge)  # above the remaining layer
        present = sh.smoothstep(0.3, 0.8, thickness)
        return (window * outer * lost * present).astype(np.float32)


@dataclass(frozen=True)
class SubchondralEdema(Lesion):
    """Ill-defined marrow edema under the subchondral plate of a femoral condyle or the tibial
    plateau: bright in PDFS, mildly darker than fatty marrow in PD."""

    bone: str = "femur"
    angle_deg: float = -90.0  # femur: direction from the condyle centre
    offset_mm: float = 0.0  # tibia: anterior-posterior offset from the plateau centre
    depth_mm: float = 6.0  # centre below the bone surface
    radii_mm: tuple[float, float] = (7.0, 6.0)  # along / across the surface
    mottle: tuple[float, float, float] = (0.0, 0.0, 0.0)

    label = SUBCHONDRAL_EDEMA
    tissue = Tissue.EDEMA

    @classmethod
    def sample(cls, rng: np.random.Generator, subject: KneeSubject) -> SubchondralEdema:
        side = 1.0 if rng.random() < 0.6 else -1.0
        center, half = _clip_t(_side_t(rng, side, 0.38, 0.62), rng.uniform(0.13, 0.2))
        bone = "femur" if rng.random() < 0.55 else "tibia"
        return cls(
            center,
            half,
            bone,
            rng.uniform(-120.0, -60.0),
            rng.uniform(-9.0, 9.0),
            rng.uniform(5.0, 7.0),
            (rng.uniform(6.0, 8.0), rng.uniform(5.5, 7.5)),
            tuple(rng.uniform(0, 2 * np.pi, 3)),
        )

    def _center(self, anatomy: SliceAnatomy) -> tuple[tuple[float, float], float] | None:
        """Centre (display) and orientation (deg) of the edema, or None without a host bone."""
        if self.bone == "femur":
            circle = anatomy.condyle_circle()
            if circle is None:
                return None
            (cu, cv), radius = circle
            a = np.deg2rad(self.angle_deg)
            r = max(radius - self.depth_mm, 0.3 * radius)
            return (cu + r * np.cos(a), cv + r * np.sin(a)), self.angle_deg + 90.0
        if anatomy.half_ap <= 0:
            return None
        p = (anatomy.ut + self.offset_mm * anatomy.f_tibia, anatomy.vj - self.depth_mm)
        return anatomy.tibia_point(p), anatomy.flexion

    def bounds(self, anatomy: SliceAnatomy) -> tuple[tuple[float, float], tuple[float, float]]:
        found = self._center(anatomy)
        if found is None:
            return (0.0, 0.0), (0.0, 0.0)
        (cu, cv), _ = found
        r = max(self.radii_mm) + 3.0
        return (cu - r, cu + r), (cv - r, cv + r)

    def weight(self, anatomy: SliceAnatomy, u: np.ndarray, v: np.ndarray, f: float, edge: float) -> np.ndarray:
        found = self._center(anatomy)
        if found is None:
            return np.zeros(np.shape(u), dtype=np.float32)
        center, angle = found
        jf = anatomy.joint_fields(u, v)
        host = jf.femur if self.bone == "femur" else jf.tibia
        marrow = sh.coverage(host + 1.3, edge)
        ru, rv = self.radii_mm[0] * f, self.radii_mm[1] * f
        ellipse = sh.ellipse(u, v, center, (ru, rv), angle_deg=angle)
        r = np.clip(1.0 + ellipse / np.float32(min(ru, rv)), 0.0, None)  # ~ normalised radius
        m0, m1, m2 = self.mottle
        mottle = 0.85 + 0.15 * np.cos(0.9 * u + m0) * np.cos(0.8 * v + m1) + 0.1 * np.cos(0.35 * (u + v) + m2)
        bump = np.clip(1.0 - r * r, 0.0, 1.0) ** 1.5
        return np.clip(marrow * bump * mottle, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class JointEffusion(Lesion):
    """Fluid distending the suprapatellar recess between the quadriceps tendon and the
    prefemoral fat, from the patellofemoral joint upwards."""

    thickness_mm: float = 10.0  # half width (anterior-posterior) at its widest
    height_mm: float = 60.0

    label = JOINT_EFFUSION
    tissue = Tissue.FLUID

    @classmethod
    def sample(cls, rng: np.random.Generator, subject: KneeSubject) -> JointEffusion:
        center, half = _clip_t(rng.uniform(-0.15, 0.05), rng.uniform(0.35, 0.5))
        return cls(center, half, rng.uniform(10.0, 14.0), rng.uniform(70.0, 90.0))

    def _pouch(self, anatomy: SliceAnatomy, f: float) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """Ellipses (centre, radii) along the recess that make up the pouch."""
        (u0, v0), *_, (u1, v1) = anatomy.recess_points()
        # From behind the patella (the fluid fills the patellofemoral joint there) upwards.
        v_lo = v0 - 24.0 * anatomy.s
        height = self.height_mm * (0.7 + 0.3 * f)
        out = []
        for frac, width, tall in ((0.1, 0.5, 0.14), (0.3, 0.6, 0.14), (0.5, 0.9, 0.2), (0.72, 1.0, 0.2), (0.88, 0.7, 0.12)):
            v = v_lo + frac * height
            u = u0 + (v - v0) * (u1 - u0) / (v1 - v0)
            out.append(((u, v), (self.thickness_mm * width * f, height * tall)))
        return out

    def bounds(self, anatomy: SliceAnatomy) -> tuple[tuple[float, float], tuple[float, float]]:
        pouch = self._pouch(anatomy, 1.0)
        u_lo = min(c[0] - r[0] for c, r in pouch) - 6.0
        u_hi = max(c[0] + r[0] for c, r in pouch) + 6.0
        v_lo = min(c[1] - r[1] for c, r in pouch) - 6.0
        v_hi = max(c[1] + r[1] for c, r in pouch) + 6.0
        return (u_lo, u_hi), (v_lo, v_hi)

    def weight(self, anatomy: SliceAnatomy, u: np.ndarray, v: np.ndarray, f: float, edge: float) -> np.ndarray:
        sdf = None
        for center, radii in self._pouch(anatomy, f):
            e = sh.ellipse(u, v, center, radii)
            sdf = e if sdf is None else sh.smin(sdf, e, 6.0)
        assert sdf is not None
        jf = anatomy.joint_fields(u, v)
        free = (1.0 - sh.coverage(jf.bones - 0.3, edge)) * (1.0 - sh.coverage(jf.patellar_surface, edge))
        free = free * (1.0 - sh.coverage(jf.femoral_surface, edge)) * (1.0 - sh.coverage(anatomy.quadriceps_tendon(u, v), edge))
        return (sh.coverage(sdf, edge) * free).astype(np.float32)


@dataclass(frozen=True)
class PeriarticularCyst(Lesion):
    """A fluid-filled, slightly lobulated oval in the posteromedial popliteal fossa (Baker's
    cyst)."""

    offset: tuple[float, float] = (0.0, 0.0)
    radii_mm: tuple[float, float] = (11.0, 17.0)
    lobe: tuple[float, float] = (0.0, 0.0)

    label = PERIARTICULAR_CYST
    tissue = Tissue.FLUID

    @classmethod
    def sample(cls, rng: np.random.Generator, subject: KneeSubject) -> PeriarticularCyst:
        center, half = _clip_t(rng.uniform(0.3, 0.55), rng.uniform(0.14, 0.22))
        return cls(
            center,
            half,
            (rng.uniform(-3.0, 3.0), rng.uniform(2.0, 18.0)),
            (rng.uniform(9.5, 12.5), rng.uniform(14.0, 19.0)),
            (rng.uniform(-5.0, 5.0), rng.uniform(-9.0, 9.0)),
        )

    def _center(self, anatomy: SliceAnatomy) -> tuple[float, float]:
        return (anatomy.cf[0] + 36.0 * anatomy.s + self.offset[0], anatomy.vj + self.offset[1])

    def bounds(self, anatomy: SliceAnatomy) -> tuple[tuple[float, float], tuple[float, float]]:
        cu, cv = self._center(anatomy)
        ru, rv = self.radii_mm
        return (cu - ru - 12.0, cu + ru + 12.0), (cv - rv - 16.0, cv + rv + 16.0)

    def weight(self, anatomy: SliceAnatomy, u: np.ndarray, v: np.ndarray, f: float, edge: float) -> np.ndarray:
        cu, cv = self._center(anatomy)
        ru, rv = self.radii_mm[0] * f, self.radii_mm[1] * f
        body = sh.ellipse(u, v, (cu, cv), (ru, rv), angle_deg=8.0)
        lobe = sh.ellipse(u, v, (cu + self.lobe[0] * f, cv + self.lobe[1] * f), (0.6 * ru, 0.55 * rv))
        sdf = sh.smin(body, lobe, 4.0)
        jf = anatomy.joint_fields(u, v)
        leg, _ = anatomy.leg(u, v)
        free = (1.0 - sh.coverage(jf.bones - 0.5, edge)) * sh.coverage(leg + 3.0, edge)
        return (sh.coverage(sdf, edge) * free).astype(np.float32)


_LESION_TYPES: dict[str, Callable[[np.random.Generator, KneeSubject], Lesion]] = {
    MENISCUS_TEAR: MeniscusTear.sample,
    CARTILAGE_PARTIAL: CartilageDefect.sample,
    SUBCHONDRAL_EDEMA: SubchondralEdema.sample,
    JOINT_EFFUSION: JointEffusion.sample,
    PERIARTICULAR_CYST: PeriarticularCyst.sample,
}


def sample_lesions(rng: np.random.Generator, subject: KneeSubject, p_none: float = 0.25) -> tuple[Lesion, ...]:
    """The lesions of one subject: none with probability ``p_none``, else one to four of
    different types, drawn with the relative frequencies of the fastMRI+ knee labels."""
    if rng.random() < p_none:
        return ()
    count = int(rng.choice([1, 2, 3, 4], p=[0.35, 0.35, 0.2, 0.1]))
    weights = np.array([_FREQUENCY[label] for label in LESION_LABELS], dtype=float)
    labels = rng.choice(len(LESION_LABELS), size=count, replace=False, p=weights / weights.sum())
    return tuple(_LESION_TYPES[LESION_LABELS[i]](rng, subject) for i in sorted(labels))


@dataclass(frozen=True)
class LesionSupport:
    """Where one lesion changed one slice: a boolean mask on ``window`` of the grid."""

    label: str
    window: Window
    mask: np.ndarray


def apply_lesions(
    lesions: tuple[Lesion, ...],
    anatomy: SliceAnatomy,
    grid: Grid,
    magnitude: np.ndarray,
    signal: Callable[[Tissue], float],
) -> list[LesionSupport]:
    """Blend the lesions present on this slice into ``magnitude`` (display frame, modified in
    place) and return their supports.

    Parameters
    ----------
    grid
        The reconstruction-resolution display grid of ``magnitude``.
    signal
        Signal of a tissue in this contrast and subject (gain included).
    """
    supports = []
    for lesion in lesions:
        f = lesion.factor(anatomy.t)
        if f <= 0:
            continue
        u_range, v_range = lesion.bounds(anatomy)
        window = grid.window(u_range, v_range)
        if window.empty:
            continue
        u, v = window.mesh()
        w = lesion.weight(anatomy, u, v, f, grid.pixel_mm)
        region = magnitude[window.rows, window.cols]
        change = w * (np.float32(signal(lesion.tissue)) - region)
        mask = (w >= MIN_WEIGHT) & (np.abs(change) >= MIN_CHANGE)
        if not mask.any():
            continue
        region[mask] += change[mask]
        supports.append(LesionSupport(lesion.label, window, mask))
    return supports
