"""The readouts a front end shows for one slice result.

A result is the slice pipeline's :class:`~lfmri_core.pipeline.SliceResult`: everything that does
not depend on the lesion boxes (image, CAM, whole-slice metrics and the SSIM map), so editing a
box only re-pools the stored error and SSIM map inside the new boxes (:func:`readout`, with
:func:`lfmri_core.metrics.lesion_scores`, the function the pipeline scores with): the LF metrics
update at once and equal ``lfmri evaluate``'s for the same boxes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lfmri_core.io.annotations import LesionBox
from lfmri_core.metrics import cam_localisation, lesion_scores
from lfmri_core.pipeline import SliceResult

@dataclass(frozen=True)
class Readout:
    """The numbers a front end shows for one method on one slice."""

    method: str
    slice: int
    psnr: float
    ssim: float
    nmse: float
    lf_psnr: float
    """dB inside the union of the slice's boxes; NaN without boxes or reference."""
    lf_ssim: float
    cam_hit: bool | None
    """Pointing game: the CAM's maximum lies in a box. None without boxes or CAM."""
    cam_energy: float
    """Fraction of the CAM's energy inside the boxes; NaN without boxes or CAM."""
    lesion_probability: float | None
    timings: dict[str, float]
    device: str
    cam_peak_px: float = math.nan
    """Pixels from the CAM's maximum to the nearest box pixel (0 for a hit); NaN without boxes
    or CAM, inf for a flat CAM."""
    cam_peak_mm: float = math.nan
    """:attr:`cam_peak_px` in mm; NaN also for a volume without geometry."""

    def as_row(self) -> dict[str, object]:
        """Flat dict for tables and CSV (timings in milliseconds)."""
        row: dict[str, object] = {
            "method": self.method, "slice": self.slice, "psnr": self.psnr, "ssim": self.ssim, "nmse": self.nmse,
            "lf_psnr": self.lf_psnr, "lf_ssim": self.lf_ssim, "cam_hit": self.cam_hit, "cam_energy": self.cam_energy,
            "cam_peak_px": self.cam_peak_px, "cam_peak_mm": self.cam_peak_mm, "lesion_probability": self.lesion_probability, "device": self.device,
        }
        row.update({f"{name}_ms": 1e3 * seconds for name, seconds in self.timings.items()})
        return row


def readout(
    result: SliceResult,
    reference: np.ndarray | None,
    boxes: Sequence[LesionBox],
    maxval: float | None,
    pixel_mm: tuple[float, float] | None = None,
) -> Readout:
    """The readout of ``result`` with the slice's current ``boxes`` (``pixel_mm``: the
    ``(row, col)`` pixel spacing in mm, for the CAM peak distance in mm).

    LF-PSNR pools the squared error over the union of the boxes and LF-SSIM averages the
    stored SSIM map there (:func:`lfmri_core.metrics.lesion_scores`, without recomputing the
    SSIM); the CAM numbers are :func:`lfmri_core.metrics.cam_localisation`'s.
    """
    lf_psnr = lf_ssim = math.nan
    if reference is not None and maxval is not None:
        lf_psnr, lf_ssim = lesion_scores(reference, result.image, result.ssim_map, boxes, maxval)
    cam_hit: bool | None = None
    cam_energy = cam_peak_px = cam_peak_mm = math.nan
    if result.cam is not None:
        where = cam_localisation(result.cam, boxes, pixel_mm=pixel_mm)
        cam_hit, cam_energy, cam_peak_px, cam_peak_mm = where.hit, where.energy, where.distance_px, where.distance_mm
    return Readout(
        method=result.method, slice=result.slice, psnr=result.psnr, ssim=result.ssim, nmse=result.nmse,
        lf_psnr=lf_psnr, lf_ssim=lf_ssim, cam_hit=cam_hit, cam_energy=cam_energy,
        lesion_probability=result.lesion_probability, timings=dict(result.timings), device=result.device,
        cam_peak_px=cam_peak_px, cam_peak_mm=cam_peak_mm,
    )


__all__ = ["Readout", "SliceResult", "readout"]
