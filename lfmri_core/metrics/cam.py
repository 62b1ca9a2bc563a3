"""Localisation metrics of class activation maps against lesion boxes.

- :func:`pointing_game`: whether the maximum of a class activation map lies inside (or within
  a tolerance of) one of the slice's lesion boxes (Zhang et al., ECCV 2016);
  :func:`pointing_distance` is the distance it thresholds.
- :func:`energy_fraction`: the share of the CAM's total inside the union of the boxes.
- :func:`cam_localisation`: all of them for one slice (what the viewers and ``lfmri evaluate``
  report).

Boxes and CAMs are both in the stored frame of the recon crop (``LesionBox`` rows and columns
index the ``(rh, rw)`` image that the CAM is computed on).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.metrics.lesion import lesion_mask

__all__ = [
    "STANDARD_POINTING_TOLERANCE",
    "CamLocalisation",
    "cam_localisation",
    "check_pointing_tolerance",
    "energy_fraction",
    "pointing_distance",
    "pointing_game",
]


def _nonempty(boxes: Iterable[LesionBox]) -> list[LesionBox]:
    return [b for b in boxes if not b.is_empty]


STANDARD_POINTING_TOLERANCE = 15.0
"""Pixels of slack of the pointing game as Zhang et al. (ECCV 2016) defined it."""


def pointing_distance(cam: np.ndarray, boxes: Iterable[LesionBox], spacing: tuple[float, float] = (1.0, 1.0)) -> float:
    """Euclidean distance in pixels from the CAM's maximum to the nearest box pixel (in mm given
    the ``(row, col)`` pixel ``spacing`` in mm: the nearest in that unit).

    Parameters
    ----------
    cam
        Class activation map of one slice, real ``(rh, rw)``.
    boxes
        The slice's lesion boxes (half-open ranges in the same frame; their ``slice`` is not
        looked at). Empty boxes are ignored.

    Returns
    -------
    float
        0 when the maximum lies inside a box; ``inf`` when there is no (non-empty) box or the
        CAM points nowhere (constant, e.g. all zero, or not finite). The maximum is the first in
        row-major order when several pixels tie.
    """
    cam = np.asarray(cam)
    if cam.ndim != 2:
        raise InputError(f"a CAM must have shape (H, W), got {cam.shape}")
    if cam.size == 0 or not np.isfinite(cam).all() or float(cam.max()) == float(cam.min()):
        return math.inf
    row, col = np.unravel_index(int(np.argmax(cam)), cam.shape)
    best = math.inf
    for box in _nonempty(boxes):
        d_row = max(box.row0 - row, 0, row - (box.row1 - 1))
        d_col = max(box.col0 - col, 0, col - (box.col1 - 1))
        best = min(best, math.hypot(spacing[0] * d_row, spacing[1] * d_col))
    return best


def pointing_game(cam: np.ndarray, boxes: Iterable[LesionBox], tolerance: float = 0.0) -> bool:
    """Whether the CAM's maximum points at a lesion: :func:`pointing_distance` <= ``tolerance``.

    Parameters
    ----------
    cam
        Class activation map of one slice, real ``(rh, rw)``.
    boxes
        The slice's lesion boxes. Empty boxes are ignored.
    tolerance
        Pixels: a hit when the Euclidean distance from the maximum to the nearest box pixel is
        at most this (0: the maximum must lie inside a box; Zhang et al. use
        :data:`STANDARD_POINTING_TOLERANCE`).

    Returns
    -------
    bool
        True for a hit; a CAM that is constant (all zero, say) points nowhere and is a miss.
    """
    check_pointing_tolerance(tolerance)
    return pointing_distance(cam, boxes) <= tolerance


def check_pointing_tolerance(tolerance: object) -> None:
    """One-line :class:`InputError` unless ``tolerance`` is a finite number >= 0 (pixels)."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < math.inf:
        raise InputError(f"pointing-game tolerance must be a finite number >= 0, got {tolerance!r}")


def energy_fraction(cam: np.ndarray, boxes: Iterable[LesionBox]) -> float:
    """``sum(cam over the union of the boxes) / sum(cam)`` for one slice.

    Parameters
    ----------
    cam
        Non-negative class activation map, ``(rh, rw)``.
    boxes
        The slice's boxes (their ``slice`` is not looked at); overlapping pixels count once.

    Returns
    -------
    float
        In ``[0, 1]``; NaN when the CAM sums to zero.
    """
    cam = np.asarray(cam, dtype=np.float64)
    if cam.ndim != 2:
        raise InputError(f"a CAM must have shape (H, W), got {cam.shape}")
    total = float(cam.sum())
    if not total > 0:
        return float("nan")
    relabelled = [
        LesionBox(slice=0, label=b.label, row0=b.row0, row1=b.row1, col0=b.col0, col1=b.col1) for b in boxes
    ]
    inside = lesion_mask(relabelled, 0, cam.shape)
    return float(cam[inside].sum()) / total


@dataclass(frozen=True)
class CamLocalisation:
    """How well one slice's CAM points at its boxes (None/NaN on a slice without boxes)."""

    hit: bool | None
    """Pointing game: :attr:`distance_px` <= the tolerance."""
    energy: float
    """:func:`energy_fraction`."""
    distance_px: float
    """:func:`pointing_distance` in pixels (0 for a hit inside a box, inf for a CAM that points nowhere)."""
    distance_mm: float
    """The same in mm (nearest in mm); NaN without a pixel spacing."""


def cam_localisation(
    cam: np.ndarray, boxes: Iterable[LesionBox], tolerance: float = 0.0, pixel_mm: tuple[float, float] | None = None
) -> CamLocalisation:
    """Pointing game, energy fraction and peak distance of one slice's CAM: the numbers the
    viewers show and ``lfmri evaluate`` tabulates, from this one function."""
    check_pointing_tolerance(tolerance)
    boxes = _nonempty(boxes)
    if not boxes:
        return CamLocalisation(None, math.nan, math.nan, math.nan)
    distance = pointing_distance(cam, boxes)
    return CamLocalisation(hit=distance <= tolerance, energy=energy_fraction(cam, boxes), distance_px=distance,
                           distance_mm=math.nan if pixel_mm is None else pointing_distance(cam, boxes, pixel_mm))
