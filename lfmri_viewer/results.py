"""What a reconstruction of one slice gives, and the readouts computed from it.

A :class:`SliceResult` holds everything that does not depend on the lesion boxes (image, CAM,
whole-slice metrics and the SSIM map), so editing a box only re-pools the stored error and
SSIM map inside the new boxes (:func:`readout`): the LF metrics update at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lfmri_core.io.annotations import LesionBox
from lfmri_core.metrics import lesion_mask, mean_ssim_map, nmse, psnr
from lfmri_core.metrics.cam import energy_fraction, pointing_game
from lfmri_viewer.review import peak_distance


@dataclass(frozen=True, eq=False)
class SliceResult:
    """One method's reconstruction of one slice (numpy, on the CPU)."""

    method: str
    slice: int
    mask_key: tuple[object, ...]
    """The mask setting it was made with (:meth:`ReconSettings.mask_key`)."""
    image: np.ndarray
    """Magnitude, float32 ``(rh, rw)`` (the recon size)."""
    cam: np.ndarray | None
    """Net_c's CAM on ``image``, float32 ``(rh, rw)`` in ``[0, 1]``; None without a classifier."""
    lesion_probability: float | None
    """Net_c's "any lesion" probability for ``image``; None without a classifier."""
    timings: dict[str, float]
    """Seconds: ``compression``, ``maps``, ``reconstruction``, ``classifier``, ``metrics`` and ``total``."""
    device: str
    psnr: float = math.nan
    """Whole-slice PSNR in dB on the volume's data range; NaN without a reference."""
    ssim: float = math.nan
    nmse: float = math.nan
    ssim_map: np.ndarray | None = field(default=None, repr=False)
    """Local SSIM, float32 ``(rh, rw)``, behind ``ssim`` (for LF-SSIM); None without a reference."""
    virtual_coils: int | None = None
    """The virtual coils the k-space was compressed to; None: all coils."""
    coil_maps: str | None = None
    """The coil-map method used (``"nlinv"`` where ESPIRiT's maps failed their checks); None for
    methods without maps."""
    coil_map_warnings: tuple[str, ...] = ()
    """What the coil-map checks found, one line each (the session shows each as a warning notice)."""


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


def whole_slice_metrics(reference: np.ndarray, image: np.ndarray, maxval: float) -> tuple[float, float, float, np.ndarray]:
    """``(psnr, ssim, nmse, ssim_map)`` of one slice on the volume's data range ``maxval``.

    The SSIM is fastMRI's (the map's mean without its border), computed once together with the
    map that is kept for LF-SSIM, as float32: half the memory of the float64 map, and its
    rounding (6e-8 relative) is far below the 1e-4 that SSIM values are read to. PSNR and
    NMSE are those of the slice as a one-slice volume.
    """
    ssim = mean_ssim_map(reference, image, maxval)
    ssim_map = ssim.ssim_map.astype(np.float32)
    return psnr(reference[None], image[None], maxval), ssim.mean_ssim, nmse(reference[None], image[None]), ssim_map


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
    stored SSIM map there: the definitions of :func:`lfmri_core.metrics.lf_psnr_slice` and
    :func:`~lfmri_core.metrics.lf_ssim_slice`, without recomputing the SSIM.
    """
    shape = result.image.shape
    inside = lesion_mask([LesionBox(0, b.label, b.row0, b.row1, b.col0, b.col1) for b in boxes], 0, shape)
    lf_psnr = lf_ssim = math.nan
    if reference is not None and maxval is not None and inside.any():
        error = reference[inside].astype(np.float64) - result.image[inside].astype(np.float64)
        mse = float(np.mean(error**2))
        lf_psnr = math.inf if mse == 0 else 10.0 * math.log10(maxval**2 / mse)
        if result.ssim_map is not None:
            lf_ssim = float(result.ssim_map[inside].mean(dtype=np.float64))
    cam_hit: bool | None = None
    cam_energy = cam_peak_px = cam_peak_mm = math.nan
    if result.cam is not None and inside.any():
        cam_hit = pointing_game(result.cam, boxes)
        cam_energy = energy_fraction(result.cam, boxes)
        cam_peak_px = peak_distance(result.cam, boxes)
        if pixel_mm is not None:
            cam_peak_mm = peak_distance(result.cam, boxes, pixel_mm)
    return Readout(
        method=result.method, slice=result.slice, psnr=result.psnr, ssim=result.ssim, nmse=result.nmse,
        lf_psnr=lf_psnr, lf_ssim=lf_ssim, cam_hit=cam_hit, cam_energy=cam_energy,
        lesion_probability=result.lesion_probability, timings=dict(result.timings), device=result.device,
        cam_peak_px=cam_peak_px, cam_peak_mm=cam_peak_mm,
    )


__all__ = ["Readout", "SliceResult", "readout", "whole_slice_metrics"]
