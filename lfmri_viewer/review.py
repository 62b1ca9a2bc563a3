"""Failure-case review: slices ranked by how far Net_c's CAM misses the annotated lesions.

For every slice with a box and a CAM: did the CAM's maximum land in a box (pointing game), how
far from the nearest box pixel it landed, and what fraction of the CAM's energy lies inside
the boxes. Misses come first, farthest first; hits follow, least energy inside first. This is
the list a researcher walks through to see where the weak supervision fails.

On request, each row also says where Net_c's refined pointer lands
(:func:`lfmri_core.pipeline.classifier.gated_saliency`: the logit's gradient inside the CAM's
hot region), which resolves thin lesions the CAM's peak misses; the order stays the CAM's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from lfmri_core.io.annotations import LesionBox
from lfmri_core.metrics.cam import cam_localisation, pointing_distance
from lfmri_viewer.csv_table import write_csv


@dataclass(frozen=True)
class FailureCase:
    """One slice's CAM against its boxes."""

    slice: int
    method: str
    hit: bool
    """Pointing game: the CAM's maximum lies inside a box."""
    peak_distance: float
    """Pixels from the CAM's maximum to the nearest box pixel (0 for a hit; inf for a flat CAM)."""
    energy_inside: float
    """Fraction of the CAM's energy inside the boxes (NaN for an all-zero CAM)."""
    lesion_probability: float | None
    num_boxes: int
    labels: str
    """The slice's box labels, ``"; "``-joined."""
    peak_distance_mm: float = math.nan
    """:attr:`peak_distance` in mm (NaN for a volume without geometry)."""
    pointer_hit: bool | None = None
    """Whether Net_c's refined pointer lies inside a box (None: not computed)."""
    pointer_distance: float = math.nan
    """Pixels from the refined pointer's maximum to the nearest box pixel (NaN: not computed)."""
    pointer_distance_mm: float = math.nan
    """:attr:`pointer_distance` in mm (NaN without geometry or not computed)."""


def peak_distance(cam: np.ndarray, boxes: Iterable[LesionBox], spacing: tuple[float, float] = (1.0, 1.0)) -> float:
    """Euclidean distance from the CAM's maximum to the nearest pixel centre of a box, in
    pixels, or in mm given the ``(row, col)`` pixel ``spacing`` in mm (nearest in that unit):
    :func:`lfmri_core.metrics.pointing_distance`."""
    return pointing_distance(cam, boxes, spacing)


def failure_cases(
    cams: Mapping[int, np.ndarray],
    boxes: Mapping[int, Sequence[LesionBox]],
    *,
    method: str,
    probabilities: Mapping[int, float | None] | None = None,
    pixel_mm: tuple[float, float] | None = None,
    pointers: Mapping[int, np.ndarray] | None = None,
) -> list[FailureCase]:
    """Rank the slices that have both a CAM and at least one non-empty box.

    Parameters
    ----------
    cams
        Slice index -> CAM ``(rh, rw)``.
    boxes
        Slice index -> that slice's boxes.
    method
        The method whose reconstructions the CAMs were computed on.
    probabilities
        Slice index -> Net_c's lesion probability (optional, shown in the table).
    pixel_mm
        ``(row, col)`` pixel spacing in mm, for the peak distance in mm (None: NaN there).
    pointers
        Slice index -> Net_c's refined pointer map ``(rh, rw)`` (optional; its rows' pointer
        fields stay unset without one).

    Returns
    -------
    list of FailureCase
        Misses first (largest peak distance first), then hits (lowest energy inside first);
        ties by slice index.
    """
    cases = []
    for index in sorted(set(cams) & set(boxes)):
        slice_boxes = [b for b in boxes[index] if not b.is_empty]
        if not slice_boxes:
            continue
        where = cam_localisation(cams[index], slice_boxes, pixel_mm=pixel_mm)
        pointer = None if pointers is None else pointers.get(index)
        pointed = None if pointer is None else cam_localisation(pointer, slice_boxes, pixel_mm=pixel_mm)
        cases.append(FailureCase(
            slice=index, method=method, hit=bool(where.hit), peak_distance=where.distance_px,
            energy_inside=where.energy, lesion_probability=None if probabilities is None else probabilities.get(index),
            num_boxes=len(slice_boxes), labels="; ".join(sorted({b.label for b in slice_boxes})),
            peak_distance_mm=where.distance_mm,
            pointer_hit=None if pointed is None else bool(pointed.hit),
            pointer_distance=math.nan if pointed is None else pointed.distance_px,
            pointer_distance_mm=math.nan if pointed is None else pointed.distance_mm,
        ))

    def order(case: FailureCase) -> tuple[int, float, int]:
        energy = case.energy_inside if math.isfinite(case.energy_inside) else -1.0
        return (0, -case.peak_distance, case.slice) if not case.hit else (1, energy, case.slice)

    return sorted(cases, key=order)


def write_failure_csv(path: str | os.PathLike[str], cases: Sequence[FailureCase]) -> None:
    """Write the table as CSV (atomically: a reader never sees half a file)."""
    write_csv(path, [asdict(case) for case in cases], columns=list(FailureCase.__dataclass_fields__))


__all__ = ["FailureCase", "failure_cases", "peak_distance", "write_failure_csv"]
