"""Lesion-focused metrics LF-PSNR and LF-SSIM (Ju et al. 2026, LF-MRI).

LF-PSNR and LF-SSIM are fastMRI's PSNR and SSIM restricted to the annotated lesion boxes
(:class:`~lfmri_core.io.annotations.LesionBox`, half-open row/column ranges in the stored
reconstruction frame). The paper does not fix every detail; our definition is:

- **Data range.** ``R = gt.max()`` over the whole reference *volume* (fastMRI's data range),
  never the maximum inside a box, so LF numbers sit on the same scale as the global PSNR/SSIM
  and a box's score does not depend on how bright the lesion happens to be. A caller may pass
  ``maxval`` explicitly (it must then be the same value used for the global metrics).
- **Lesion pixels of a slice.** The *union* of that slice's boxes: a pixel covered by two
  overlapping boxes counts once; empty (zero-width or zero-height) boxes cover nothing; boxes
  are clipped to the image.
- **LF-PSNR of a slice.** ``10 log10(R^2 / MSE)`` with the MSE pooled over the union pixels.
- **LF-SSIM of a slice.** The mean, over the union pixels, of scikit-image's full SSIM map
  (``structural_similarity(..., full=True)``: 7 x 7 uniform window, K1 0.01, K2 0.03, data
  range ``R``), computed on the *whole* slice so that every box pixel, even in a 1-pixel box,
  gets its full 7 x 7 neighbourhood. Unlike the global SSIM, which leaves a 3-pixel border out
  of the mean, box pixels on the image border are kept; scikit-image fills their windows by
  reflection.
- **Slices without boxes.** A slice with no non-empty box reports NaN and is left out of the
  volume aggregates. A volume with no non-empty box reports NaN for both metrics.
- **Volume LF-PSNR.** PSNR of the MSE pooled over all lesion pixels of all slices (as
  fastMRI's volume PSNR pools over all voxels): big boxes weigh more than small ones.
- **Volume LF-SSIM.** Mean over the slices with boxes of their LF-SSIM (as fastMRI averages the
  SSIM of slices): every lesion slice weighs the same.
- **Perfect reconstruction.** A zero error inside the boxes gives LF-PSNR ``+inf``; it is not
  clamped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
from skimage.metrics import structural_similarity

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.metrics.image import (
    ArrayLike,
    _as_float_pair,
    _check_ssim_size,
    _data_range,
    _psnr_of,
)

__all__ = [
    "LesionMetrics",
    "SSIMMap",
    "lesion_mask",
    "lf_metrics",
    "lf_psnr_slice",
    "lf_ssim_slice",
    "mean_ssim_map",
]


class SSIMMap(NamedTuple):
    """SSIM of one slice together with its map."""

    mean_ssim: float
    """fastMRI's slice SSIM: mean of the map without its 3-pixel border."""
    ssim_map: np.ndarray
    """Local SSIM, shape ``(H, W)``, float64; border pixels use reflected windows."""


@dataclass(frozen=True, eq=False)
class LesionMetrics:
    """LF-PSNR and LF-SSIM of one volume (see the module docstring for the definition).

    The per-slice arrays are read-only.
    """

    lf_psnr: float
    """Volume LF-PSNR in dB: PSNR of the MSE pooled over all lesion pixels; NaN without any
    lesion pixel, ``+inf`` if they are all reconstructed exactly."""
    lf_ssim: float
    """Volume LF-SSIM: mean of the per-slice LF-SSIM over slices with lesion pixels; NaN if none."""
    per_slice_lf_psnr: np.ndarray
    """Shape ``(slices,)``, dB; NaN on slices without lesion pixels."""
    per_slice_lf_ssim: np.ndarray
    """Shape ``(slices,)``; NaN on slices without lesion pixels."""
    per_slice_num_box_pixels: np.ndarray
    """Shape ``(slices,)``, int64: pixels in the union of each slice's boxes."""
    num_box_pixels: int
    """Lesion pixels over the volume (sum of ``per_slice_num_box_pixels``)."""
    data_range: float
    """The data range ``R`` used (``gt.max()`` over the volume unless given)."""

    @property
    def num_lesion_slices(self) -> int:
        """Number of slices with at least one lesion pixel."""
        return int(np.count_nonzero(self.per_slice_num_box_pixels))

    def as_dict(self) -> dict[str, object]:
        """Plain dict (per-slice arrays as lists), e.g. for JSON."""
        out = asdict(self)
        for key in ("per_slice_lf_psnr", "per_slice_lf_ssim", "per_slice_num_box_pixels"):
            out[key] = np.asarray(out[key]).tolist()
        out["num_lesion_slices"] = self.num_lesion_slices
        return out


def lesion_mask(boxes: Iterable[LesionBox], slice_index: int, shape: tuple[int, int]) -> np.ndarray:
    """Union of the boxes lying on one slice, as a mask.

    Parameters
    ----------
    boxes
        Lesion boxes of the volume (any slices; only ``box.slice == slice_index`` are used).
    slice_index
        The slice.
    shape
        ``(H, W)`` of the slice.

    Returns
    -------
    np.ndarray
        Boolean, shape ``(H, W)``, True on pixels covered by at least one box (boxes clipped to
        the image; empty boxes cover nothing).
    """
    return _slice_mask(boxes, slice_index, shape)


def _slice_mask(boxes: Iterable[LesionBox], slice_index: int | None, shape: tuple[int, int]) -> np.ndarray:
    """Union mask of ``boxes``; all of them when ``slice_index`` is None."""
    mask = np.zeros(shape, dtype=bool)
    for box in boxes:
        if slice_index is None or box.slice == slice_index:
            mask |= box.to_mask(shape)
    return mask


def _required(maxval: float | None) -> float:
    if maxval is None:
        raise InputError("maxval is required for a single slice: pass the maximum of the reference volume")
    return maxval


def _ssim_map_of(gt: np.ndarray, pred: np.ndarray, maxval: float) -> SSIMMap:
    """SSIM and full map of one checked slice ``(H, W)``."""
    mean, full = structural_similarity(gt, pred, data_range=maxval, full=True)
    return SSIMMap(float(mean), full)


def mean_ssim_map(gt_slice: ArrayLike, pred_slice: ArrayLike, maxval: float) -> SSIMMap:
    """fastMRI slice SSIM and the local SSIM map behind it (for display or LF-SSIM).

    Parameters
    ----------
    gt_slice, pred_slice
        Magnitude slices, shape ``(H, W)`` with ``H, W >= 7``.
    maxval
        Data range: the maximum of the whole reference volume.

    Returns
    -------
    SSIMMap
        ``(mean_ssim, ssim_map)``: the slice SSIM (equal to ``slice_metrics(...)["ssim"]``) and
        the map, shape ``(H, W)``, float64.
    """
    gt_arr, pred_arr = _as_float_pair(gt_slice, pred_slice, 2)
    _check_ssim_size(gt_arr.shape)
    return _ssim_map_of(gt_arr, pred_arr, _data_range(_required(maxval), gt_arr))


def lf_psnr_slice(
    gt_slice: ArrayLike,
    pred_slice: ArrayLike,
    boxes: Iterable[LesionBox],
    maxval: float,
    *,
    slice_index: int | None = None,
) -> float:
    """LF-PSNR of one slice: PSNR of the MSE pooled over the union of its boxes.

    Parameters
    ----------
    gt_slice, pred_slice
        Magnitude slices, shape ``(H, W)``.
    boxes
        The slice's boxes (e.g. ``FileAnnotations.boxes_on(s)``). With ``slice_index`` given,
        boxes of other slices are ignored; without it, every box given is used.
    maxval
        Data range: the maximum of the whole reference volume.
    slice_index
        Keep only boxes with ``box.slice == slice_index``.

    Returns
    -------
    float
        dB; NaN if the boxes cover no pixel, ``+inf`` if the boxes are reconstructed exactly.
    """
    gt_arr, pred_arr = _as_float_pair(gt_slice, pred_slice, 2)
    value = _data_range(_required(maxval), gt_arr)
    mask = _slice_mask(boxes, slice_index, gt_arr.shape)
    if not mask.any():
        return float("nan")
    return _psnr_of(gt_arr[mask], pred_arr[mask], value)


def lf_ssim_slice(
    gt_slice: ArrayLike,
    pred_slice: ArrayLike,
    boxes: Iterable[LesionBox],
    maxval: float,
    *,
    slice_index: int | None = None,
) -> float:
    """LF-SSIM of one slice: mean of the whole-slice SSIM map over the union of its boxes.

    Parameters
    ----------
    gt_slice, pred_slice
        Magnitude slices, shape ``(H, W)`` with ``H, W >= 7``.
    boxes
        The slice's boxes. With ``slice_index`` given, boxes of other slices are ignored;
        without it, every box given is used.
    maxval
        Data range: the maximum of the whole reference volume.
    slice_index
        Keep only boxes with ``box.slice == slice_index``.

    Returns
    -------
    float
        LF-SSIM; NaN if the boxes cover no pixel.
    """
    gt_arr, pred_arr = _as_float_pair(gt_slice, pred_slice, 2)
    _check_ssim_size(gt_arr.shape)
    value = _data_range(_required(maxval), gt_arr)
    mask = _slice_mask(boxes, slice_index, gt_arr.shape)
    if not mask.any():
        return float("nan")
    return float(_ssim_map_of(gt_arr, pred_arr, value).ssim_map[mask].mean())


def lf_metrics(
    gt_volume: ArrayLike,
    pred_volume: ArrayLike,
    boxes: Iterable[LesionBox],
    maxval: float | None = None,
) -> LesionMetrics:
    """LF-PSNR and LF-SSIM of a volume, per slice and aggregated.

    Parameters
    ----------
    gt_volume, pred_volume
        Magnitude volumes, shape ``(slices, H, W)`` with ``H, W >= 7``.
    boxes
        Lesion boxes of the volume, in the stored reconstruction frame; ``box.slice`` indexes
        the first axis.
    maxval
        Data range; default ``gt_volume.max()`` (fastMRI's volume data range).

    Returns
    -------
    LesionMetrics
        Volume and per-slice LF-PSNR/LF-SSIM (NaN where there is no lesion pixel).

    Raises
    ------
    InputError
        Bad volumes (rank, shape, NaN/Inf), a non-positive data range, or a box on a slice the
        volume does not have.
    """
    gt, pred = _as_float_pair(gt_volume, pred_volume, 3)
    value = _data_range(maxval, gt)
    num_slices, height, width = gt.shape

    by_slice: dict[int, list[LesionBox]] = defaultdict(list)
    for box in boxes:
        if not 0 <= box.slice < num_slices:
            raise InputError(
                f"lesion box {box.label!r} is on slice {box.slice}, but the volume has "
                f"{num_slices} slices (0..{num_slices - 1})"
            )
        by_slice[int(box.slice)].append(box)

    per_psnr = np.full(num_slices, np.nan)
    per_ssim = np.full(num_slices, np.nan)
    per_count = np.zeros(num_slices, dtype=np.int64)
    gt_pixels: list[np.ndarray] = []
    pred_pixels: list[np.ndarray] = []
    for index in sorted(by_slice):
        mask = _slice_mask(by_slice[index], None, (height, width))
        count = int(mask.sum())
        if count == 0:
            continue
        _check_ssim_size(gt.shape)
        per_count[index] = count
        gt_pixels.append(gt[index][mask])
        pred_pixels.append(pred[index][mask])
        per_psnr[index] = _psnr_of(gt_pixels[-1], pred_pixels[-1], value)
        per_ssim[index] = _ssim_map_of(gt[index], pred[index], value).ssim_map[mask].mean()

    if gt_pixels:
        lf_psnr = _psnr_of(np.concatenate(gt_pixels), np.concatenate(pred_pixels), value)
        lf_ssim = float(per_ssim[per_count > 0].mean())
    else:
        lf_psnr = lf_ssim = float("nan")
    for array in (per_psnr, per_ssim, per_count):
        array.setflags(write=False)
    return LesionMetrics(
        lf_psnr=lf_psnr,
        lf_ssim=lf_ssim,
        per_slice_lf_psnr=per_psnr,
        per_slice_lf_ssim=per_ssim,
        per_slice_num_box_pixels=per_count,
        num_box_pixels=int(per_count.sum()),
        data_range=value,
    )
