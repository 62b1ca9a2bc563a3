"""The numbers of one reconstructed slice: the one place they are computed.

The slice pipeline (:mod:`lfmri_core.pipeline`) scores every slice with :func:`score_slice`,
and the viewers re-pool the same stored SSIM map with :func:`lesion_scores` when the user edits
a box, so the viewer's readouts and ``lfmri evaluate``'s per-slice numbers are the same numbers.

- PSNR, SSIM and NMSE of the slice on the reference *volume's* data range (fastMRI's slice
  SSIM: the local SSIM map's mean without its border; PSNR/NMSE of the slice as a one-slice
  volume), as :func:`~lfmri_core.metrics.slice_metrics`.
- LF-PSNR: PSNR of the squared error pooled over the union of the slice's boxes; LF-SSIM: mean
  of the local SSIM map over that union (:mod:`lfmri_core.metrics.lesion`). The map is kept as
  float32: half the memory of float64 in the viewer's result cache, and its rounding (6e-8
  relative) is far below the 1e-4 that SSIM values are read to.

Volume numbers (fastMRI's volume PSNR, the pooled LF-PSNR) are not means of these: see
:func:`lfmri_core.evaluation.score_volume`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from lfmri_core.io.annotations import LesionBox
from lfmri_core.metrics.image import _as_float_pair, _psnr_of, nmse, psnr
from lfmri_core.metrics.lesion import lesion_mask, mean_ssim_map


@dataclass(frozen=True, eq=False)
class SliceScores:
    """Metrics of one slice against its reference (NaN where they do not apply)."""

    psnr: float
    """Whole-slice PSNR, dB, on the volume's data range."""
    ssim: float
    """fastMRI's slice SSIM on the volume's data range."""
    nmse: float
    lf_psnr: float = math.nan
    """dB inside the union of the slice's boxes; NaN without boxes."""
    lf_ssim: float = math.nan
    """Mean of :attr:`ssim_map` inside the union of the boxes; NaN without boxes."""
    ssim_map: np.ndarray | None = field(default=None, repr=False)
    """Local SSIM, float32 ``(rh, rw)``, behind ``ssim`` and ``lf_ssim``."""


def lesion_scores(
    reference: np.ndarray, image: np.ndarray, ssim_map: np.ndarray | None, boxes: Iterable[LesionBox], maxval: float
) -> tuple[float, float]:
    """``(lf_psnr, lf_ssim)`` of one slice inside the union of ``boxes`` (their ``slice`` is not
    looked at): the squared error pooled there, and the mean of the stored ``ssim_map`` there.

    NaN for both when the boxes cover no pixel; ``lf_ssim`` NaN without a map.
    """
    inside = lesion_mask([LesionBox(0, b.label, b.row0, b.row1, b.col0, b.col1) for b in boxes], 0, image.shape)
    if not inside.any():
        return math.nan, math.nan
    gt, pred = _as_float_pair(reference, image, 2)
    lf_psnr = _psnr_of(gt[inside], pred[inside], float(maxval))
    lf_ssim = math.nan if ssim_map is None else float(ssim_map[inside].mean(dtype=np.float64))
    return lf_psnr, lf_ssim


def score_slice(
    reference: np.ndarray, image: np.ndarray, maxval: float, boxes: Iterable[LesionBox] = ()
) -> SliceScores:
    """PSNR, SSIM, NMSE, LF-PSNR and LF-SSIM of one slice.

    Parameters
    ----------
    reference, image
        Magnitude slices ``(rh, rw)`` (at least 7 x 7), in the same frame.
    maxval
        Data range: the maximum of the whole reference volume (fastMRI's convention), so the
        numbers of the slices of a volume compare.
    boxes
        The slice's lesion boxes (their ``slice`` is not looked at).
    """
    ssim = mean_ssim_map(reference, image, maxval)
    ssim_map = ssim.ssim_map.astype(np.float32)
    ssim_map.flags.writeable = False
    lf_psnr, lf_ssim = lesion_scores(reference, image, ssim_map, boxes, maxval)
    return SliceScores(psnr=psnr(reference[None], image[None], maxval), ssim=ssim.mean_ssim,
                       nmse=nmse(reference[None], image[None]), lf_psnr=lf_psnr, lf_ssim=lf_ssim, ssim_map=ssim_map)


__all__ = ["SliceScores", "lesion_scores", "score_slice"]
