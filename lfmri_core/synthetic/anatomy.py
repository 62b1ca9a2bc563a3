"""A seeded 3-D model of the knee, rendered as sagittal sections in physical coordinates.

Coordinates (display frame, mm): ``u`` runs anterior -> posterior (left -> right in the image),
``v`` inferior -> superior (bottom -> top), ``x`` lateral -> medial. A slice at position
``t in [-1, 1]`` (lateral -> medial) is the plane ``x = t * subject.ml_half_mm``; every
structure is a 3-D shape whose section changes smoothly with ``x``, so consecutive slices of a
volume look like consecutive slices of one knee:

- femur (shaft, metaphysis with the intercondylar notch roof, trochlea and the two condyles
  with their rounded posterior part), tibia (plateau with its posterior slope and the tibial
  spines, metaphysis, tuberosity, shaft), fibular head (lateral slices) and patella, each with
  fatty marrow (trabecular texture), a dark cortical rim (thicker along the shafts) and a faint
  physeal scar;
- hyaline cartilage on the femur, tibial plateau and patella, and a thin film of joint fluid
  between the cartilage surfaces, behind the posterior condyles and in the suprapatellar recess;
- menisci (dark triangular anterior and posterior horns that merge into the body on the most
  lateral and medial slices and fade out towards the notch), the cruciate ligaments (ACL
  lateral and PCL medial in the notch), patellar and quadriceps tendons;
- Hoffa's, suprapatellar and popliteal fat pads, popliteal vessels, muscle with fibre texture
  and intermuscular fat septa, subcutaneous fat, skin; air outside is exactly zero.

The tibia, fibula, menisci, tibial ends of the cruciates and the patellar tendon move with the
flexion angle (rotation about the femoral condyle centre), the patella with part of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import PchipInterpolator

from lfmri_core.synthetic import shapes as sh
from lfmri_core.synthetic.compose import Painter
from lfmri_core.synthetic.contrast import Tissue
from lfmri_core.synthetic.raster import Grid, Window
from lfmri_core.synthetic.texture import LevelSetField, band_noise

Point = tuple[float, float]


@dataclass(frozen=True)
class KneeSubject:
    """Subject-specific parameters of the knee model (sizes in mm, angles in degrees).

    Attributes
    ----------
    bone_scale
        Scale of all bones (1 = an average adult knee).
    soft_scale
        Scale of the soft-tissue envelope (anterior-posterior).
    ml_half_mm
        Half the mediolateral extent covered by slices ``t = -1 .. 1``.
    condyle_center
        ``(u, v)`` of the centre of the posterior femoral condyle circle.
    flexion_deg
        Knee flexion: rotation of the lower leg about ``condyle_center``.
    tibial_slope_deg
        Posterior slope of the tibial plateau.
    femoral_cartilage_mm, tibial_cartilage_mm, patellar_cartilage_mm
        Cartilage thicknesses.
    joint_gap_mm
        Width of the fluid film between the femoral and tibial cartilage.
    patella_shift_mm
        Vertical offset of the patella (alta > 0, baja < 0).
    fat_anterior_mm, fat_posterior_mm
        Subcutaneous fat thickness.
    gains
        Per-tissue signal scaling (about +-10 %).
    septa, septa_mask
        Level-set fields: the zero set of ``septa`` draws the intermuscular fat septa where
        ``septa_mask`` is positive.
    physis_phase
        Phase of the wavy physeal scars.
    """

    bone_scale: float
    soft_scale: float
    ml_half_mm: float
    condyle_center: Point
    flexion_deg: float
    tibial_slope_deg: float
    femoral_cartilage_mm: float
    tibial_cartilage_mm: float
    patellar_cartilage_mm: float
    joint_gap_mm: float
    patella_shift_mm: float
    fat_anterior_mm: float
    fat_posterior_mm: float
    gains: dict[Tissue, float] = field(hash=False)
    septa: LevelSetField = field(hash=False)
    septa_mask: LevelSetField = field(hash=False)
    physis_phase: float = 0.0

    @classmethod
    def sample(cls, rng: np.random.Generator) -> KneeSubject:
        """Draw a subject: bone sizes and positions, joint space, flexion, tissue signals."""
        s = rng.uniform(0.92, 1.07)
        fem_cart = rng.uniform(2.0, 2.7)
        tib_cart = rng.uniform(1.7, 2.3)
        gap = rng.uniform(0.5, 1.2)
        radius = 20.0 * s
        joint_v = rng.uniform(-16.0, -8.0)
        center = (rng.uniform(0.0, 6.0), joint_v + tib_cart + gap + fem_cart + radius)
        gains = {tissue: float(rng.uniform(0.9, 1.1)) for tissue in Tissue}
        return cls(
            bone_scale=s,
            soft_scale=rng.uniform(0.95, 1.04),
            ml_half_mm=44.0 * s,
            condyle_center=center,
            flexion_deg=rng.uniform(0.0, 6.0),
            tibial_slope_deg=rng.uniform(4.0, 9.0),
            femoral_cartilage_mm=fem_cart,
            tibial_cartilage_mm=tib_cart,
            patellar_cartilage_mm=rng.uniform(3.0, 4.0),
            joint_gap_mm=gap,
            patella_shift_mm=rng.uniform(-4.0, 6.0),
            fat_anterior_mm=rng.uniform(4.0, 8.0),
            fat_posterior_mm=rng.uniform(7.0, 13.0),
            gains=gains,
            septa=LevelSetField.random(rng, 16, (25.0, 70.0), (1.0, 0.4, 1.0)),
            septa_mask=LevelSetField.random(rng, 8, (30.0, 60.0), (1.0, 1.0, 1.0)),
            physis_phase=rng.uniform(0, 2 * np.pi),
        )

    @property
    def joint_v(self) -> float:
        """``v`` of the tibial plateau (bone surface) at the tibial centre."""
        return (
            self.condyle_center[1]
            - 20.0 * self.bone_scale
            - self.femoral_cartilage_mm
            - self.joint_gap_mm
            - self.tibial_cartilage_mm
        )


@dataclass(frozen=True)
class SliceTextures:
    """Per-slice texture fields on the render grid (unit-variance noise)."""

    trabecular: np.ndarray
    fibres: np.ndarray

    @classmethod
    def random(cls, rng: np.random.Generator, grid: Grid) -> SliceTextures:
        # Synthesised at (about) the reconstruction resolution: finer detail would be removed
        # by the band limiting anyway.
        factor = max(1, int(round(0.5 / grid.pixel_mm)))
        fine = band_noise(rng, grid.shape, grid.pixel_mm, (0.35, 1.0), factor=factor)
        coarse = band_noise(rng, grid.shape, grid.pixel_mm, (0.01, 0.06), factor=4 * factor)
        trabecular = (0.85 * fine + 0.45 * coarse).astype(np.float32)
        fibres = band_noise(rng, grid.shape, grid.pixel_mm, (0.15, 0.7), stretch=(6.0, 1.0), factor=factor)
        return cls(trabecular, fibres)


@dataclass(frozen=True)
class JointFields:
    """SDFs (mm) of the joint structures on a set of points.

    ``u, v`` are the display coordinates, ``tu, tv`` the same points in the tibial frame;
    ``*_cartilage`` are the local cartilage thicknesses (0 where there is none), so that
    ``bone - thickness`` is the SDF of the bone plus its cartilage.
    """

    u: np.ndarray
    v: np.ndarray
    tu: np.ndarray
    tv: np.ndarray
    femur: np.ndarray
    articular: np.ndarray
    tibia: np.ndarray
    fibula: np.ndarray
    patella: np.ndarray
    femoral_cartilage: np.ndarray
    tibial_cartilage: np.ndarray
    patellar_cartilage: np.ndarray

    @property
    def femoral_surface(self) -> np.ndarray:
        return self.femur - self.femoral_cartilage

    @property
    def tibial_surface(self) -> np.ndarray:
        return self.tibia - self.tibial_cartilage

    @property
    def patellar_surface(self) -> np.ndarray:
        return self.patella - self.patellar_cartilage

    @property
    def bones(self) -> np.ndarray:
        return np.minimum(np.minimum(self.femur, self.tibia), np.minimum(self.fibula, self.patella))


def _cover(sdf: np.ndarray, edge: float) -> np.ndarray:
    return sh.coverage(sdf, edge)


class SliceAnatomy:
    """The knee model cut at one sagittal position.

    Parameters
    ----------
    subject
        The subject.
    t
        Slice position, -1 (lateral) .. 1 (medial).
    """

    def __init__(self, subject: KneeSubject, t: float) -> None:
        self.subject = subject
        self.t = float(t)
        s = subject.bone_scale
        self.s = s
        x = self.x = float(t) * subject.ml_half_mm
        uf, vf = self.cf = subject.condyle_center
        self.vj = subject.joint_v
        self.flexion = subject.flexion_deg
        medial = x > 0
        self.medial = medial
        # Femur.
        self.rc = 20.0 * s
        self.f_condyle = max(sh.section(x, -23.0 * s, 15.0 * s, 5.0), sh.section(x, 23.0 * s, 16.0 * s, 5.0))
        self.condyle_anchor = (uf + 2.0 * s, vf + 12.0 * s)
        groove = 4.0 * s * np.exp(-0.5 * ((x + 3.0 * s) / (8.0 * s)) ** 2) - (2.5 * s if x < -10 * s else 0.0)
        self.trochlea_center = (uf - 20.0 * s + groove, vf + 14.0 * s)
        self.f_trochlea = sh.section(x, -3.0 * s, 34.0 * s, 4.0)
        # Shaft and metaphysis: anterior and posterior cortex positions (relative to the
        # condyle centre) at heights above it; the rounded bottom hides inside the condyles
        # and trochlea, and the notch roof cuts it in the central slices.
        heights = np.array([-9.0, -4.0, 4.0, 14.0, 26.0, 40.0, 58.0, 80.0, 400.0])
        anterior = np.array([-17.0, -23.0, -25.0, -27.0, -29.5, -29.0, -26.0, -24.5, -24.5])
        posterior = np.array([4.0, 14.0, 17.0, 17.0, 13.0, 8.0, 5.0, 4.5, 4.5])
        width_ml = np.array([30.0, 40.0, 43.0, 43.0, 38.0, 29.0, 19.0, 15.0, 14.5])
        self.femur_loft = sh.Loft(
            heights * s + vf,
            0.5 * (anterior + posterior) * s + uf,
            np.full(heights.size, -2.0 * s),
            0.5 * (posterior - anterior) * s,
            width_ml * s,
            power=3.0,
        )
        self.roof_point = (uf - 16.0 * s, vf - 2.0 * s)
        # Tibia (tibia frame).
        # The posterior condyle circle sits over the posterior half of the plateau.
        self.ut = uf - 10.0 * s
        self.f_tibia = sh.section(x, 0.0, 40.0 * s, 3.0) ** (2.0 / 3.0)
        self.half_ap = 25.5 * s * self.f_tibia
        depth = np.array([400.0, 80.0, 62.0, 48.0, 35.0, 22.0, 12.0, 5.0, 0.0, -10.0]) * s
        self.tibia_loft = sh.Loft(
            self.vj - depth,
            np.array([-4.0, -4.0, -4.0, -3.5, -3.0, -1.5, 0.0, 0.8, 1.0, 1.0]) * s + self.ut,
            np.array([-2.0, -2.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.0, 0.0, 0.0]) * s,
            np.array([14.0, 14.0, 14.5, 15.2, 16.5, 19.0, 22.0, 24.5, 25.5, 25.5]) * s,
            np.array([13.5, 16.0, 21.0, 26.0, 30.5, 34.5, 37.5, 39.3, 40.0, 40.0]) * s,
            power=3.0,
        )
        self.f_spine = max(sh.section(x, -6.0 * s, 5.0 * s), sh.section(x, 5.0 * s, 5.0 * s))
        self.f_tuberosity = sh.section(x, -5.0 * s, 16.0 * s)
        self.f_fibula = sh.section(x, -38.0 * s, 9.0 * s)
        self.fib_shaft_hw = float(np.sqrt(max((6.5 * s) ** 2 - (x + 38.0 * s) ** 2, 0.0)))
        self.convexity = 1.2 if x < -8.0 * s else (-0.8 if x > 8.0 * s else 0.0)
        # Patella (patella frame).
        self.f_patella = sh.section(x, -4.0 * s, 25.0 * s, 2.5)
        self.patella_center = (uf - 48.5 * s + 0.6 * groove, vf + 19.0 * s + subject.patella_shift_mm)
        self.patella_radii = (11.0 * s + 0.4 * groove, 21.0 * s)
        # Menisci, cruciates.
        ax = abs(x)
        self.f_meniscus = float(sh.smoothstep(6.0 * s, 13.0 * s, ax)) * (1.0 if ax < 41.0 * s else 0.0)
        self.meniscus_merge = float(sh.smoothstep(30.0 * s, 38.0 * s, ax))
        self.f_acl = sh.section(x, -6.0 * s, 6.0 * s)
        self.f_pcl = sh.section(x, 6.0 * s, 6.5 * s)
        # Popliteal vessels, fat pads.
        self.artery_hw = float(np.sqrt(max(3.0**2 - (x - 2.0 * s) ** 2, 0.0)))
        self.vein_hw = float(np.sqrt(max(3.4**2 - (x - 8.0 * s) ** 2, 0.0)))
        self.f_hoffa = sh.section(x, -2.0 * s, 32.0 * s, 2.5)
        self.f_suprapatellar = sh.section(x, -3.0 * s, 23.0 * s, 2.5)
        self.f_notch = sh.section(x, -1.0 * s, 16.0 * s, 3.0)
        self.f_popliteal = sh.section(x, 0.0, 22.0 * s, 2.0)
        self.f_quadriceps = sh.section(x, -2.0 * s, 24.0 * s, 4.0)
        self.f_patellar_tendon = sh.section(x, -3.0 * s, 16.0 * s, 4.0)
        self.f_recess = sh.section(x, -2.0 * s, 30.0 * s, 3.0)
        # Leg outline at x = 0, then shrunk for the section (an elliptic cylinder, 70 mm half
        # width mediolaterally).
        self.f_leg = sh.section(x, 0.0, 70.0 * subject.soft_scale, 2.0)
        ss = subject.soft_scale
        knots = np.array([-400.0, -120.0, -75.0, -45.0, -20.0, 5.0, 25.0, 50.0, 90.0, 140.0, 400.0])
        front = np.array([-32.0, -32.0, -33.0, -37.0, -48.0, -60.0, -64.0, -63.0, -58.0, -55.0, -55.0])
        back = np.array([62.0, 62.0, 60.0, 58.0, 56.0, 55.0, 56.0, 60.0, 64.0, 67.0, 67.0])
        vj = self.vj
        self._front = PchipInterpolator(knots + vj, front * ss * np.where(knots < -30, 1.0, s) + uf)
        self._back = PchipInterpolator(knots + vj, back * ss + uf)

    # ----------------------------------------------------------------- frames and helpers
    def tibia_frame(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates in the tibial frame (the lower leg rotated by the flexion angle)."""
        return sh.rotate(u, v, self.cf, self.flexion)

    def tibia_point(self, p: Point) -> Point:
        """Display position of a point given in the tibial frame."""
        return sh.rotate_point(p, self.cf, self.flexion)

    def patella_frame(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pu, pv = sh.rotate(u, v, self.cf, 0.6 * self.flexion)
        return pu, pv + np.float32(0.3 * self.flexion)

    def patella_point(self, p: Point) -> Point:
        q = sh.rotate_point((p[0], p[1] - 0.3 * self.flexion), self.cf, 0.6 * self.flexion)
        return q

    def _scaled(self, center: Point, anchor: Point, f: float) -> Point:
        return (anchor[0] + f * (center[0] - anchor[0]), anchor[1] + f * (center[1] - anchor[1]))

    # ----------------------------------------------------------------- bones
    def femur(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(sdf of the femur, sdf of its articular parts: condyle and trochlea)``."""
        s, (uf, vf) = self.s, self.cf
        bone = self.femur_loft.sdf(u, v, self.x)
        # The intercondylar notch roof (Blumensaat line), rising posteriorly at ~34 degrees:
        # the shaft/metaphysis ends there, the condyles below it are added separately.
        a = np.deg2rad(34.0)
        roof = sh.halfplane(u, v, self.roof_point, (np.sin(a), -np.cos(a)))
        bone = sh.smax(bone, roof, 3.0)
        artic = np.full(np.broadcast_shapes(np.shape(u), np.shape(v)), sh.FAR, dtype=np.float32)
        if self.f_trochlea > 0:
            c = self._scaled(self.trochlea_center, (uf - 12.0 * s, vf + 24.0 * s), self.f_trochlea)
            artic = sh.ellipse(u, v, c, (13.0 * s * self.f_trochlea, 19.0 * s * self.f_trochlea))
        if self.f_condyle > 0:
            f = self.f_condyle
            # Round posterior condyle (the flexion facet), flatter distal-anterior surface.
            c1 = self._scaled((uf, vf), self.condyle_anchor, f)
            c2 = self._scaled((uf - 11.0 * s, vf + 2.0 * s), self.condyle_anchor, f)
            condyle = sh.smin(
                sh.circle(u, v, c1, self.rc * f),
                sh.ellipse(u, v, c2, (24.0 * s * f, (self.rc - 1.0 * s) * f)),
                4.0,
            )
            artic = sh.smin(artic, condyle, 8.0)
        bone = sh.smin(bone, artic, 7.0)
        return bone, artic

    def femoral_cartilage_extent(self, u: np.ndarray, v: np.ndarray, bone: np.ndarray, artic: np.ndarray) -> np.ndarray:
        """Fraction (0..1) of the full cartilage thickness at each point near the femur."""
        s, (uf, vf) = self.s, self.cf
        posterior = sh.smoothstep(vf + 0.95 * self.rc, vf + 0.55 * self.rc, v)
        anterior = sh.smoothstep(vf + 36.0 * s, vf + 28.0 * s, v)
        side = sh.smoothstep(uf - 14.0 * s, uf - 2.0 * s, u)
        region = side * posterior + (1.0 - side) * anterior
        return region * sh.smoothstep(3.0, 0.5, artic - bone)

    def tibia(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """SDF of the tibia; ``u, v`` in the tibial frame."""
        s, vj, ut = self.s, self.vj, self.ut
        top = self.plateau_height(u, v)
        if self.f_spine > 0:
            # The tibial spines: a smooth peak rising from the intercondylar area.
            top = top - np.float32(6.5 * s * self.f_spine) * np.exp(-(((u - np.float32(ut - 1.5 * s)) / np.float32(4.5 * s)) ** 2))
        bone = sh.smax(self.tibia_loft.sdf(u, v, self.x), top, 1.5)
        if self.f_tuberosity > 0:
            f = self.f_tuberosity
            tub = sh.ellipse(u, v, (ut - 17.0 * s, vj - 30.0 * s), (5.0 * s * f, 11.0 * s * f), angle_deg=-12.0)
            bone = sh.smin(bone, tub, 8.0)
        return bone

    def plateau_height(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Signed height above the tibial plateau surface (tibial frame); > 0 above."""
        slope = np.float32(np.tan(np.deg2rad(self.subject.tibial_slope_deg)))
        du = u - np.float32(self.ut)
        crown = 0.0
        if self.half_ap > 0 and self.convexity:
            crown = np.float32(self.convexity) * np.clip(1.0 - (du / np.float32(self.half_ap)) ** 2, 0.0, 1.0)
        return v - np.float32(self.vj) + slope * du - crown

    def tibial_cartilage_extent(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        s = self.s
        top = sh.smoothstep(-5.0, -1.0, self.plateau_height(u, v))
        rim = sh.smoothstep(-1.0, 3.0, np.float32(self.half_ap) - np.abs(u - np.float32(self.ut)))
        return top * rim * np.float32(sh.smoothstep(4.0 * s, 10.0 * s, abs(self.x)))

    def fibula(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """SDF of the fibular head and neck; ``u, v`` in the tibial frame."""
        s, vj, ut = self.s, self.vj, self.ut
        bone = np.full(np.broadcast_shapes(np.shape(u), np.shape(v)), sh.FAR, dtype=np.float32)
        if self.f_fibula > 0:
            f = self.f_fibula
            bone = sh.ellipse(u, v, (ut + 17.0 * s, vj - 22.0 * s), (8.5 * s * f, 11.0 * s * f))
        if self.fib_shaft_hw > 0:
            shaft = np.maximum(np.abs(u - np.float32(ut + 19.0 * s)) - np.float32(self.fib_shaft_hw), v - np.float32(vj - 26.0 * s))
            bone = sh.smin(bone, shaft, 8.0)
        return bone

    def patella(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """SDF of the patella; ``u, v`` in the patellar frame."""
        f = self.f_patella
        if f <= 0:
            return np.full(np.broadcast_shapes(np.shape(u), np.shape(v)), sh.FAR, dtype=np.float32)
        ru, rv = self.patella_radii
        cu, cv = self.patella_center
        pu, pv = sh.rotate(u, v, self.patella_center, -8.0)
        # Egg-shaped: thick superior pole (base), pointed inferior pole (apex).
        taper = 1.0 + 0.22 * np.clip((pv - np.float32(cv)) / np.float32(rv), -1.2, 1.2)
        pu = np.float32(cu) + (pu - np.float32(cu)) / taper
        return sh.ellipse(pu, pv, self.patella_center, (ru * (0.5 + 0.5 * f), rv * f))

    def patellar_cartilage_extent(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        pu, pv = self.patella_center
        s = self.s
        back = sh.smoothstep(pu - 2.0 * s, pu + 3.0 * s, u)
        height = sh.smoothstep(pv - 15.0 * s, pv - 9.0 * s, v) * sh.smoothstep(pv + 17.0 * s, pv + 12.0 * s, v)
        return back * height

    # ----------------------------------------------------------------- soft tissue
    def leg(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(sdf of the leg surface, signed u-offset from the leg's centre line)``.

        The distance is measured along ``u`` (the outline is nearly vertical in this field of
        view); the lower leg swings posteriorly with flexion.
        """
        vv = np.asarray(v, dtype=np.float64).reshape(-1)
        front = self._front(vv)
        back = self._back(vv)
        vf = self.cf[1]
        swing = (vf - vv) * np.sin(np.deg2rad(self.flexion)) * sh.smoothstep(vf, self.vj - 20.0, vv)
        centre = (0.5 * (front + back) + swing).astype(np.float32).reshape(np.shape(v))
        half = (0.5 * (back - front) * self.f_leg).astype(np.float32).reshape(np.shape(v))
        du = u - centre
        return np.abs(du) - half, du

    # ----------------------------------------------------------------- rendering
    def render(self, painter: Painter, grid: Grid, textures: SliceTextures | None) -> None:
        """Paint the section onto ``grid`` (display frame) through ``painter``."""
        s, (uf, vf), vj = self.s, self.cf, self.vj
        e = grid.pixel_mm
        gains = self.subject.gains

        def tex(window: Window, field_name: str, amount: float) -> np.ndarray | float:
            if textures is None:
                return 1.0
            return 1.0 + np.float32(amount) * getattr(textures, field_name)[window.rows, window.cols]

        def paint(tissue: Tissue, window: Window, frac: np.ndarray, texture: np.ndarray | float = 1.0) -> None:
            painter.paint(tissue, window, frac.astype(np.float32, copy=False), np.float32(gains[tissue]) * texture)

        if self.f_leg <= 0:
            return
        # -- leg envelope: skin, subcutaneous fat, muscle with fibres, marbling and septa.
        full = grid.window((-200.0, 200.0), (-1e4, 1e4))
        u, v = full.mesh()
        leg, du = self.leg(u, v)
        fat_th = np.where(du < 0, np.float32(self.subject.fat_anterior_mm), np.float32(self.subject.fat_posterior_mm))
        paint(Tissue.SKIN, full, _cover(leg, e))
        paint(Tissue.FAT, full, _cover(leg + 1.3, e), tex(full, "trabecular", 0.03))
        muscle = _cover(leg + 1.3 + fat_th, e)
        paint(Tissue.MUSCLE, full, muscle, tex(full, "fibres", 0.08))
        deep = _cover(leg + 1.3 + fat_th + 3.0, 2.0)
        step = 4 if e < 0.4 else 2
        septa = self.subject.septa.distance(full, self.x, step=step)
        visible = sh.smoothstep(-2.0, 4.0, self.subject.septa_mask.distance(full, self.x, step=step))
        paint(Tissue.FAT, full, _cover(np.abs(septa) - 0.5, e) * deep * visible)

        top_pole = self.patella_pole(upper=True)
        bottom_pole = self.patella_pole(upper=False)
        tuberosity = self.tibia_point((self.ut - 23.0 * s, vj - 28.0 * s))

        # -- fat pads: Hoffa's (behind the patellar tendon), suprapatellar/prefemoral (behind the
        # quadriceps tendon), popliteal (behind the joint). Bones and tendons painted later
        # shape their borders.
        if self.f_hoffa > 0:
            f = self.f_hoffa
            verts = [
                (bottom_pole[0] - 14.0, bottom_pole[1] + 2.0),
                (tuberosity[0] - 6.0, tuberosity[1] + 2.0),
                (uf - 6.0 * s, vj + 4.0 * s),
                (uf - 12.0 * s, vf + 4.0 * s),
                (bottom_pole[0] + 10.0 * s, bottom_pole[1] + 8.0 * s),
            ]
            cu = sum(q[0] for q in verts) / len(verts)
            cv = sum(q[1] for q in verts) / len(verts)
            k = min(1.0, f / 0.7)
            verts = [(cu + k * (q[0] - cu), cv + k * (q[1] - cv)) for q in verts]
            w = grid.window((min(q[0] for q in verts) - 4, max(q[0] for q in verts) + 4), (min(q[1] for q in verts) - 4, max(q[1] for q in verts) + 4))
            uh, vh = w.mesh()
            hoffa = sh.polygon(uh, vh, verts) - 1.0
            paint(Tissue.FAT, w, _cover(hoffa, e), tex(w, "trabecular", 0.03))
        if self.f_suprapatellar > 0:
            f = self.f_suprapatellar
            w = grid.window((uf - 70.0, uf), (vf, vf + 90.0))
            uh, vh = w.mesh()
            # A tapering wedge behind the quadriceps tendon: the suprapatellar fat pad in front
            # of the recess and the prefemoral fat pad behind it, replaced by muscle higher up.
            # Triangle: broad on the upper pole of the patella, tapering upwards along the tendon
            # (suprapatellar fat pad) and along the femur (prefemoral fat pad).
            height = 48.0 * s * (0.6 + 0.4 * f)
            base_front = (top_pole[0] + 4.0 * s, top_pole[1] - 4.0 * s)
            base_back = (uf - 24.0 * s, top_pole[1] - 8.0 * s)
            apex = (top_pole[0] + 9.0 * s, top_pole[1] + height)
            supra = sh.polygon(uh, vh, [base_front, base_back, apex]) - 2.5
            supra = supra + 1.5 * np.tanh(self.subject.septa.distance(w, self.x - 30.0, step=4) / 6.0)
            paint(Tissue.FAT, w, _cover(supra, e), tex(w, "trabecular", 0.03))
        if self.f_notch > 0:
            # Fat and synovium around the cruciates in the intercondylar notch.
            f = self.f_notch
            wn = grid.window((uf - 30.0, uf + 35.0), (vj - 15.0, vf + 25.0))
            un, vn = wn.mesh()
            notch = sh.ellipse(un, vn, (uf + 3.0 * s, vj + 14.0 * s), (24.0 * s * f, 17.0 * s * f))
            paint(Tissue.FAT, wn, _cover(notch, e), tex(wn, "trabecular", 0.03))
        if self.f_popliteal > 0:
            f = self.f_popliteal
            wp = grid.window((uf + 5.0, uf + 70.0), (vj - 80.0, vf + 80.0))
            up, vp = wp.mesh()
            wobble = 5.0 * np.tanh(self.subject.septa.distance(wp, self.x + 40.0, step=4) / 6.0)
            pop = sh.ellipse(up, vp, (uf + 36.0 * s, vj + 16.0 * s), (14.0 * s * f, 42.0 * s * f)) + wobble
            paint(Tissue.FAT, wp, _cover(pop, e), tex(wp, "trabecular", 0.03))
        # -- popliteal vessels (gently curving vertical tubes).
        if self.artery_hw > 0 or self.vein_hw > 0:
            wv = grid.window((uf + 10.0, uf + 70.0), (-1e4, 1e4))
            up, vp = wv.mesh()
            course = (
                np.float32(uf + 31.0 * s)
                + 4.0 * np.sin((vp - np.float32(vj)) / 45.0)
                + np.float32(self.flexion * 0.4) * sh.smoothstep(vj + 10, vj - 40, vp)
            )
            flow = 1.0 + 0.35 * np.cos((vp - np.float32(vj)) / 17.0 + self.subject.physis_phase)
            if self.artery_hw > 0:
                paint(Tissue.ARTERY, wv, _cover(np.abs(up - course) - self.artery_hw, e), flow)
            if self.vein_hw > 0:
                paint(Tissue.VEIN, wv, _cover(np.abs(up - course - 7.5 * s) - self.vein_hw, e), flow)
        # -- tendons.
        if self.f_quadriceps > 0:
            wq = grid.window((top_pole[0] - 15.0, top_pole[0] + 30.0), (top_pole[1] - 10.0, 1e4))
            uq, vq = wq.mesh()
            paint(Tissue.TENDON, wq, _cover(self.quadriceps_tendon(uq, vq), e))
        if self.f_patellar_tendon > 0:
            wt = grid.window((min(bottom_pole[0], tuberosity[0]) - 8.0, max(bottom_pole[0], tuberosity[0]) + 8.0), (tuberosity[1] - 8.0, bottom_pole[1] + 8.0))
            ut_, vt_ = wt.mesh()
            tendon = sh.segment(ut_, vt_, bottom_pole, tuberosity, 2.7 * s * (0.6 + 0.4 * self.f_patellar_tendon))
            paint(Tissue.TENDON, wt, _cover(tendon, e))

        # -- bones, cartilage, fluid, menisci and ligaments around the joint.
        wj = grid.window((uf - 75.0, uf + 45.0), (-1e4, 1e4))
        u, v = wj.mesh()
        jf = self.joint_fields(u, v)
        femur, tibia, fibula, patella = jf.femur, jf.tibia, jf.fibula, jf.patella
        tu, tv = jf.tu, jf.tv
        fem_surface, tib_surface, pat_surface = jf.femoral_surface, jf.tibial_surface, jf.patellar_surface
        gap = np.float32(self.subject.joint_gap_mm)

        # Joint fluid: within the joint gap of two opposing cartilage surfaces, behind the
        # posterior condyles and in the (collapsed) suprapatellar recess.
        fluid = np.maximum(fem_surface, tib_surface) - (gap + 0.4)
        fluid = np.minimum(fluid, np.maximum(fem_surface, pat_surface) - (gap + 0.6))
        behind = sh.smoothstep(uf + 4.0 * s, uf + 12.0 * s, u) * sh.smoothstep(vj, vj + 8.0, v)
        fluid = np.minimum(fluid, np.where(behind > 0.5, np.abs(fem_surface - 0.5) - 0.4, sh.FAR))
        if self.f_recess > 0:
            recess = sh.polyline(u, v, self.recess_points(), 0.45 * self.f_recess)
            fluid = np.minimum(fluid, recess)
        paint(Tissue.FLUID, wj, _cover(fluid, e))

        # Menisci: triangles on the tibial cartilage at the plateau rim, trimmed by the femur.
        if self.has_menisci:
            meniscus = self.menisci(tu, tv, fem_surface, gap)
            paint(Tissue.MENISCUS, wj, _cover(meniscus, e))

        # Bones: marrow, cortex, physeal scar.
        phys_f = np.abs(v - np.float32(vf + 12.0 * s) - 1.8 * np.sin(0.13 * u + self.subject.physis_phase)) - 0.35
        phys_t = np.abs(tv - np.float32(vj - 17.0 * s) - 1.5 * np.sin(0.15 * tu + 1.3 * self.subject.physis_phase)) - 0.35
        shaft_f = sh.smoothstep(vf + 40.0, vf + 90.0, v)
        shaft_t = sh.smoothstep(vj - 45.0, vj - 95.0, tv)
        for bone, physis, shaft in (
            (femur, phys_f, shaft_f),
            (tibia, phys_t, shaft_t),
            (fibula, None, 0.0),
            (patella, None, 0.0),
        ):
            inside = _cover(bone, e)
            if not np.any(inside):
                continue
            paint(Tissue.MARROW, wj, inside, tex(wj, "trabecular", 0.07))
            if physis is not None:
                paint(Tissue.CORTEX, wj, 0.35 * _cover(physis, e) * _cover(bone + 2.0, e))
            cortex_th = (0.5 if bone is patella else 0.7) + 3.2 * shaft
            paint(Tissue.CORTEX, wj, np.clip(inside - _cover(bone + cortex_th, e), 0.0, 1.0))

        # Cartilage.
        for surface, bone in ((fem_surface, femur), (tib_surface, tibia), (pat_surface, patella)):
            band = np.clip(_cover(surface, e) - _cover(bone, e), 0.0, 1.0)
            paint(Tissue.CARTILAGE, wj, band, tex(wj, "fibres", 0.05))

        # Cruciate ligaments in the notch (behind the bones).
        outside_bone = 1.0 - _cover(np.minimum(femur, tibia), e)
        if self.f_acl > 0:
            fa = (uf + 14.0 * s, vf + 12.0 * s)
            ta = self.tibia_point((self.ut - 13.0 * s, vj + 1.0 * s))
            acl = sh.segment(u, v, fa, ta, 3.4 * s * (0.5 + 0.5 * self.f_acl))
            texture = 1.0 + 0.3 * np.cos(3.1 * self._across(u, v, fa, ta))
            paint(Tissue.LIGAMENT, wj, _cover(acl, e) * outside_bone, texture)
        if self.f_pcl > 0:
            fp = (uf - 12.0 * s, vf + 5.0 * s)
            tp = self.tibia_point((self.ut + 22.0 * s, vj - 9.0 * s))
            ctrl = (uf + 17.0 * s, vf + 16.0 * s)
            pcl = sh.polyline(u, v, sh.bezier_points(fp, ctrl, tp), 4.5 * s * (0.5 + 0.5 * self.f_pcl))
            paint(Tissue.TENDON, wj, _cover(pcl, e) * outside_bone)

        # Nothing pokes through the skin: air outside, skin on top.
        u, v = full.mesh()
        leg, _ = self.leg(u, v)
        painter.keep(full, _cover(leg, e))
        paint(Tissue.SKIN, full, np.clip(_cover(leg, e) - _cover(leg + 1.3, e), 0.0, 1.0))

    @property
    def has_menisci(self) -> bool:
        return self.f_meniscus > 0 and self.half_ap > 0

    def recess_points(self) -> list[Point]:
        """Course of the suprapatellar recess (from the patellofemoral joint upwards)."""
        s, (uf, vf) = self.s, self.cf
        return [(uf - 38.0 * s, vf + 28.0 * s), (uf - 37.0 * s, vf + 42.0 * s), (uf - 35.0 * s, vf + 58.0 * s), (uf - 32.0 * s, vf + 72.0 * s)]

    def condyle_circle(self) -> tuple[Point, float] | None:
        """Centre and radius of the posterior condyle circle on this slice (None in the notch)."""
        if self.f_condyle <= 0:
            return None
        f = self.f_condyle
        return self._scaled(self.cf, self.condyle_anchor, f), self.rc * f

    def horn_geometry(self, horn: str) -> tuple[float, float, float, float] | None:
        """``(rim_u, apex_u, base_v, height)`` of a meniscal horn in the tibial frame with the
        plateau slope removed (see :meth:`plateau_frame`); None where there is no horn."""
        if not self.has_menisci:
            return None
        s, f, merge, half = self.s, self.f_meniscus, self.meniscus_merge, self.half_ap
        sign = -1.0 if horn == "anterior" else 1.0
        bigger = 1.0 if sign < 0 else (1.4 if self.medial else 1.05)
        length = (10.0 * s * bigger * f) * (1.0 - merge) + (half + 1.0) * merge
        rim = self.ut + sign * (half + 1.0 * s)
        base = self.vj + self.subject.tibial_cartilage_mm * 0.9
        # The rim is as tall as the space left by the femoral condyle there (5 .. 10 mm), so the
        # upper surface of the horn meets the condyle.
        room = self._femoral_height(rim - sign * 2.0 * s, base)
        height = float(np.clip(room - 0.6 * self.subject.joint_gap_mm, 5.0 * s, 10.0 * s)) * min(1.0, f / 0.6)
        if length <= 0.5 or height <= 0.5:
            return None
        return rim, rim - sign * length, base, height

    def _femoral_height(self, tu: float, base: float) -> float:
        """Height above ``base`` (flat plateau frame) of the femoral cartilage surface at the
        tibial-frame position ``tu`` (20 mm if it is higher than that)."""
        slope = np.tan(np.deg2rad(self.subject.tibial_slope_deg))
        heights = np.arange(0.0, 20.0, 0.25)
        flat_v = base + heights
        tv = flat_v - slope * (tu - self.ut)
        pts = [self.tibia_point((tu, h)) for h in tv]
        u = np.array([[p[0] for p in pts]], dtype=np.float32)
        v = np.array([[p[1] for p in pts]], dtype=np.float32)
        bone, artic = self.femur(u, v)
        surface = bone - np.float32(self.subject.femoral_cartilage_mm) * self.femoral_cartilage_extent(u, v, bone, artic)
        hit = np.nonzero(surface[0] < 0)[0]
        return float(heights[hit[0]]) if hit.size else 20.0

    def plateau_frame(self, tu: np.ndarray, tv: np.ndarray) -> np.ndarray:
        """Tibial-frame heights sheared so that the sloped plateau is level."""
        slope = np.float32(np.tan(np.deg2rad(self.subject.tibial_slope_deg)))
        return tv + slope * (tu - np.float32(self.ut))

    def quadriceps_tendon(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """SDF of the quadriceps tendon (FAR where the slice misses it)."""
        if self.f_quadriceps <= 0:
            return np.full(np.broadcast_shapes(np.shape(u), np.shape(v)), sh.FAR, dtype=np.float32)
        s = self.s
        top = self.patella_pole(upper=True)
        return sh.segment(u, v, top, (top[0] + 12.0 * s, top[1] + 160.0), 3.6 * s * (0.6 + 0.4 * self.f_quadriceps))

    def patella_pole(self, upper: bool) -> Point:
        """Display position of the upper or lower pole of the patella."""
        p, s, rv = self.patella_center, self.s, self.patella_radii[1]
        if upper:
            return self.patella_point((p[0] - 1.0 * s, p[1] + rv * 0.9))
        return self.patella_point((p[0] + 1.5 * s, p[1] - rv * 0.9))

    def joint_fields(self, u: np.ndarray, v: np.ndarray) -> JointFields:
        """SDFs of the bones and cartilage surfaces at display coordinates ``u, v`` (2-D)."""
        femur, artic = self.femur(u, v)
        tu, tv = self.tibia_frame(u, v)
        tibia = self.tibia(tu, tv)
        pu, pv = self.patella_frame(u, v)
        patella = self.patella(pu, pv)
        fem_th = np.float32(self.subject.femoral_cartilage_mm) * self.femoral_cartilage_extent(u, v, femur, artic)
        tib_th = np.float32(self.subject.tibial_cartilage_mm) * self.tibial_cartilage_extent(tu, tv)
        pat_th = np.float32(self.subject.patellar_cartilage_mm) * self.patellar_cartilage_extent(pu, pv)
        return JointFields(
            u=u, v=v, tu=tu, tv=tv, femur=femur, articular=artic, tibia=tibia, fibula=self.fibula(tu, tv), patella=patella,
            femoral_cartilage=fem_th, tibial_cartilage=tib_th, patellar_cartilage=pat_th,
        )

    @staticmethod
    def _across(u: np.ndarray, v: np.ndarray, a: Point, b: Point) -> np.ndarray:
        """Signed distance across the line a-b (for fibre striations)."""
        return sh.halfplane(u, v, a, (b[1] - a[1], a[0] - b[0]))

    def menisci(self, tu: np.ndarray, tv: np.ndarray, fem_surface: np.ndarray, gap: float, horn: str | None = None) -> np.ndarray:
        """SDF of the meniscal horns (or the body on peripheral slices); tibial-frame coords.

        Each horn is a triangle standing on the tibial cartilage at the plateau rim, its top
        trimmed by the femoral cartilage surface. ``horn`` = ``"anterior"`` or ``"posterior"``
        restricts it to one horn.
        """
        flat_v = self.plateau_frame(tu, tv)
        out = np.full(np.shape(tu), sh.FAR, dtype=np.float32)
        for name in ("anterior", "posterior"):
            if horn is not None and horn != name:
                continue
            geometry = self.horn_geometry(name)
            if geometry is None:
                continue
            rim, apex, base, height = geometry
            # A wedge: flat on the tibial cartilage, vertical at the rim, its upper surface
            # following the femoral condyle (trimmed below) but never above a steep line from
            # the free edge or above the rim height.
            top = base + 1.8 * height
            if name == "anterior":
                verts = [(rim, base), (apex, base), (rim, top)]
            else:
                verts = [(rim, base), (rim, top), (apex, base)]
            wedge = np.maximum(sh.convex_polygon(tu, flat_v, verts), flat_v - np.float32(base + height))
            out = np.minimum(out, wedge - 0.3)
        return sh.smax(out, -(fem_surface - (0.6 * gap)), 0.8)
