"""How readouts and failure cases are written for people: one formatting for every front end.

The napari table and the Jupyter table show exactly these strings, so the two front ends
display the same numbers for the same state (a test compares them).
"""

from __future__ import annotations

import math

from lfmri_viewer.results import Readout
from lfmri_viewer.review import FailureCase

READOUT_COLUMNS = ("method", "PSNR (dB)", "SSIM", "LF-PSNR (dB)", "LF-SSIM", "CAM in box", "CAM peak to box",
                   "p(lesion)", "time (ms)")
"""Columns of the live metrics table."""

READOUT_KEY_COLUMNS = ("method", "PSNR (dB)", "SSIM", "LF-PSNR (dB)", "LF-SSIM", "CAM in box")
"""The columns the tables show by default (the rest on demand: "all columns")."""

POINTER_COLUMNS = ("pointer in box", "pointer distance (mm)")
"""The failure-case columns of Net_c's refined pointer, shown only when it is computed."""

FAILURE_COLUMNS = ("slice", "CAM in box", "peak distance (px)", "peak distance (mm)", "CAM energy in boxes",
                   "p(lesion)", "boxes", "labels", *POINTER_COLUMNS)
"""Columns of the failure-case table (the pointer's last, when Net_c's refined pointer is asked for)."""



POINTER_LABEL = "Net_c's refined pointer"
POINTER_HELP = ("also where the logit's gradient, inside the CAM's hot region, points: it finds thin lesions "
                "(cartilage defects) the CAM's peak misses; one backward pass through Net_c per annotated slice")

FAILURE_KEY_COLUMNS = ("slice", "CAM in box", "peak distance (mm)", "p(lesion)", "labels")
"""The failure-case columns the napari table shows by default (the rest on demand)."""


def failure_columns(every: bool, pointer: bool) -> tuple[str, ...]:
    """The failure-case columns shown: every one or the key ones (``every``), and the refined
    pointer's only when it was computed (``pointer``)."""
    return tuple(c for c in FAILURE_COLUMNS if (pointer if c in POINTER_COLUMNS else every or c in FAILURE_KEY_COLUMNS))


SEED_FILE = "file"
"""How both front ends spell the mask seed ``None``: fastMRI's per-file seed."""
SEED_HELP = '"file": fastMRI\'s per-file seed (one mask for the whole volume), or a fixed non-negative integer'
ALL_COILS = "all"
"""How both front ends spell ``virtual_coils=None``: no coil compression."""
VIRTUAL_COILS_HELP = "compress the coils to this many virtual coils first (faster on many-coil data); all: no compression"


def number(value: float | None, digits: int = 2) -> str:
    """``value`` rounded, ``"–"`` for a missing one (None or NaN), ``"inf"`` for infinity."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def hit(value: bool | None) -> str:
    return "–" if value is None else ("yes" if value else "no")


def peak(px: float, mm: float) -> str:
    """A CAM peak distance in pixels with its length in mm beside it: ``"12.0 px · 5.3 mm"``,
    ``"12.0 px"`` without geometry, ``"–"`` when there is none (no box or no CAM)."""
    if math.isnan(px):
        return "–"
    return f"{number(px, 1)} px" + ("" if math.isnan(mm) else f" · {number(mm, 1)} mm")


def readout_cells(readout: Readout) -> dict[str, str]:
    """One row of the metrics table (``READOUT_COLUMNS``); time is the method's total seconds
    (maps, reconstruction, CAM) plus the metrics, in milliseconds."""
    seconds = readout.timings.get("total", 0.0) + readout.timings.get("metrics", 0.0)
    return {
        "method": readout.method,
        "PSNR (dB)": number(readout.psnr),
        "SSIM": number(readout.ssim, 4),
        "LF-PSNR (dB)": number(readout.lf_psnr),
        "LF-SSIM": number(readout.lf_ssim, 4),
        "CAM in box": hit(readout.cam_hit),
        "CAM peak to box": peak(readout.cam_peak_px, readout.cam_peak_mm),
        "p(lesion)": number(readout.lesion_probability),
        "time (ms)": number(1e3 * seconds, 0),
    }


def failure_cells(case: FailureCase) -> dict[str, str]:
    """One row of the failure-case table (``FAILURE_COLUMNS``)."""
    return {
        "slice": str(case.slice),
        "CAM in box": hit(case.hit),
        "peak distance (px)": number(case.peak_distance, 1),
        "peak distance (mm)": number(case.peak_distance_mm, 1),
        "CAM energy in boxes": number(case.energy_inside, 3),
        "p(lesion)": number(case.lesion_probability),
        "boxes": str(case.num_boxes),
        "labels": case.labels,
        "pointer in box": hit(case.pointer_hit),
        "pointer distance (mm)": number(case.pointer_distance_mm, 1),
    }


def timing_line(readout: Readout) -> str:
    """``"lfmri: maps 6 ms, reconstruction 399 ms, CAM 12 ms, metrics 10 ms (cpu)"`` (with
    ``"coil compression N ms"`` first when the coils were compressed)."""
    names = (("compression", "coil compression"), ("maps", "maps"), ("reconstruction", "reconstruction"),
             ("classifier", "CAM"), ("metrics", "metrics"))
    parts = [f"{label} {1e3 * readout.timings[key]:.0f} ms" for key, label in names
             if key in readout.timings and (key != "compression" or readout.timings[key] > 0)]
    return f"{readout.method}: {', '.join(parts)} ({readout.device})"


__all__ = ["ALL_COILS", "FAILURE_COLUMNS", "FAILURE_KEY_COLUMNS", "POINTER_COLUMNS", "POINTER_HELP", "POINTER_LABEL", "READOUT_COLUMNS", "READOUT_KEY_COLUMNS", "SEED_FILE", "SEED_HELP", "VIRTUAL_COILS_HELP", "failure_cells", "failure_columns", "hit", "number", "peak", "readout_cells", "timing_line"]
