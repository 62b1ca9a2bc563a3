"""Image-quality metrics with the conventions of fastMRI's ``fastmri/evaluate.py``.

All functions take magnitude images: volumes of shape ``(slices, H, W)`` or single slices of
shape ``(H, W)``, as numpy arrays or torch tensors, and compute in float64.

Conventions (identical to fastMRI's leaderboard evaluation):

- **Data range.** ``maxval = gt.max()`` over the whole *volume*, unless given. The same value is
  used for PSNR and for every slice's SSIM, so slices of one volume are scored on one scale.
- **PSNR.** scikit-image ``peak_signal_noise_ratio(gt, pred, data_range=maxval)`` over the
  volume: ``10 log10(maxval^2 / MSE)`` with the MSE pooled over every voxel (this is *not* the
  mean of per-slice PSNRs). A perfect reconstruction gives ``+inf`` (no warning, no clamping).
- **SSIM.** scikit-image ``structural_similarity(gt[s], pred[s], data_range=maxval)`` slice by
  slice (uniform 7 x 7 window, K1 = 0.01, K2 = 0.03, sample covariance; the mean of each
  slice's SSIM map leaves out a 3-pixel border), averaged over slices.
- **NMSE.** ``||gt - pred||^2 / ||gt||^2`` over the volume.
- **Cropping.** fastMRI crops the target and the prediction to a common centred size before
  scoring; here shapes must already match (:func:`center_crop` does the crop, with fastMRI's
  offsets ``(H - h) // 2``, ``(W - w) // 2``).

fastMRI runs on the arrays as given, so on float32 input its SSIM is computed in float32;
ours always converts to float64, so on float32 data the two differ at float32 rounding level
(about 1e-9 on a random test volume); on float64 input they agree to the last bit.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from lfmri_core.errors import InputError
from lfmri_core.physics.transforms import center_crop

ArrayLike = np.ndarray | torch.Tensor

#: Side of the square SSIM window (scikit-image's and fastMRI's default).
SSIM_WIN_SIZE = 7

__all__ = [
    "SSIM_WIN_SIZE",
    "center_crop",
    "mse",
    "nmse",
    "psnr",
    "slice_metrics",
    "ssim",
    "volume_metrics",
]


def _as_float_array(x: ArrayLike, name: str, ndim: int) -> np.ndarray:
    """Real float64 numpy copy/view of ``x`` after checking rank and finiteness.

    Parameters
    ----------
    x
        Magnitude image(s), numpy array or torch tensor (any device, any real dtype).
    name
        What ``x`` is, for the error message (``"target"``, ``"prediction"``).
    ndim
        Required rank: 3 for volumes ``(slices, H, W)``, 2 for slices ``(H, W)``.

    Raises
    ------
    InputError
        Complex or non-numeric data, wrong rank, empty array, NaN or Inf.
    """
    what = "volume (slices, H, W)" if ndim == 3 else "slice (H, W)"
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise InputError(f"{name} is complex ({x.dtype}); metrics take magnitude images, use abs() first")
        arr = x.detach().to(device="cpu", dtype=torch.float64).numpy()
    else:
        arr = np.asarray(x)
        if np.iscomplexobj(arr):
            raise InputError(f"{name} is complex ({arr.dtype}); metrics take magnitude images, use abs() first")
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise InputError(f"{name} has non-numeric dtype {arr.dtype}")
        arr = arr.astype(np.float64, copy=False)
    if arr.ndim != ndim:
        raise InputError(f"{name} must be a {ndim}-D {what}, got shape {tuple(arr.shape)}")
    if arr.size == 0:
        raise InputError(f"{name} is empty (shape {tuple(arr.shape)})")
    finite = np.isfinite(arr)
    if not finite.all():
        raise InputError(f"{name} contains {int((~finite).sum())} NaN/Inf value(s)")
    return arr


def _as_float_pair(gt: ArrayLike, pred: ArrayLike, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Checked float64 ``(gt, pred)`` of equal shape and rank ``ndim`` (see :func:`_as_float_array`)."""
    gt_arr = _as_float_array(gt, "target", ndim)
    pred_arr = _as_float_array(pred, "prediction", ndim)
    if gt_arr.shape != pred_arr.shape:
        raise InputError(
            f"target has shape {gt_arr.shape} but prediction has shape {pred_arr.shape}; "
            "center_crop the prediction to the target size first"
        )
    return gt_arr, pred_arr


def _data_range(maxval: float | None, gt: np.ndarray) -> float:
    """The data range: ``maxval`` if given, else ``gt.max()``; must be positive and finite."""
    if maxval is None:
        value = float(gt.max())
        if not value > 0:
            raise InputError(
                f"target maximum is {value}: PSNR and SSIM need a positive data range (is the target all zero?)"
            )
        return value
    try:
        value = float(maxval)
    except (TypeError, ValueError, RuntimeError):
        raise InputError(f"maxval must be a number, got {maxval!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise InputError(f"maxval (data range) must be positive and finite, got {value}")
    return value


def _check_ssim_size(shape: tuple[int, ...]) -> None:
    """Raise :class:`InputError` if a slice is smaller than the 7 x 7 SSIM window."""
    height, width = shape[-2], shape[-1]
    if height < SSIM_WIN_SIZE or width < SSIM_WIN_SIZE:
        raise InputError(
            f"SSIM needs slices of at least {SSIM_WIN_SIZE} x {SSIM_WIN_SIZE} pixels, got {height} x {width}"
        )


def _psnr_of(gt: np.ndarray, pred: np.ndarray, maxval: float) -> float:
    """scikit-image PSNR of checked arrays of any shape; ``+inf`` when they are equal."""
    # Equal arrays divide by a zero MSE: +inf is the documented answer, not a warning.
    with np.errstate(divide="ignore"):
        return float(peak_signal_noise_ratio(gt, pred, data_range=maxval))


def _ssim_slice_of(gt: np.ndarray, pred: np.ndarray, maxval: float) -> float:
    """scikit-image SSIM of one checked slice ``(H, W)`` (fastMRI's settings)."""
    return float(structural_similarity(gt, pred, data_range=maxval))


def _ssim_volume_of(gt: np.ndarray, pred: np.ndarray, maxval: float) -> float:
    """Mean over slices of the SSIM of checked volumes ``(slices, H, W)``."""
    # Same accumulation order as fastMRI, so the results agree to the last bit.
    total = 0.0
    for gt_slice, pred_slice in zip(gt, pred):
        total = total + _ssim_slice_of(gt_slice, pred_slice, maxval)
    return float(total / gt.shape[0])


def _nmse_of(gt: np.ndarray, pred: np.ndarray) -> float:
    """``||gt - pred||^2 / ||gt||^2``; ``inf`` (or NaN for 0/0) when ``gt`` is all zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.linalg.norm(gt - pred) ** 2 / np.linalg.norm(gt) ** 2)


def mse(gt: ArrayLike, pred: ArrayLike) -> float:
    """Mean squared error over the volume.

    Parameters
    ----------
    gt, pred
        Magnitude volumes, shape ``(slices, H, W)``.

    Returns
    -------
    float
        ``mean((gt - pred)^2)`` over every voxel.
    """
    gt_arr, pred_arr = _as_float_pair(gt, pred, 3)
    return float(np.mean((gt_arr - pred_arr) ** 2))


def nmse(gt: ArrayLike, pred: ArrayLike) -> float:
    """Normalised mean squared error over the volume, as fastMRI.

    Parameters
    ----------
    gt, pred
        Magnitude volumes, shape ``(slices, H, W)``.

    Returns
    -------
    float
        ``||gt - pred||^2 / ||gt||^2`` (Frobenius norms over the volume); ``inf`` if ``gt`` is
        all zero and ``pred`` is not.
    """
    gt_arr, pred_arr = _as_float_pair(gt, pred, 3)
    return _nmse_of(gt_arr, pred_arr)


def psnr(gt: ArrayLike, pred: ArrayLike, maxval: float | None = None) -> float:
    """Peak signal-to-noise ratio over the volume, in dB, as fastMRI.

    Parameters
    ----------
    gt, pred
        Magnitude volumes, shape ``(slices, H, W)``.
    maxval
        Data range; default ``gt.max()`` over the volume.

    Returns
    -------
    float
        ``10 log10(maxval^2 / MSE)`` with the MSE over every voxel; ``+inf`` if ``pred == gt``.
    """
    gt_arr, pred_arr = _as_float_pair(gt, pred, 3)
    return _psnr_of(gt_arr, pred_arr, _data_range(maxval, gt_arr))


def ssim(gt: ArrayLike, pred: ArrayLike, maxval: float | None = None) -> float:
    """Structural similarity, slice by slice and averaged over slices, as fastMRI.

    Parameters
    ----------
    gt, pred
        Magnitude volumes, shape ``(slices, H, W)`` with ``H, W >= 7``.
    maxval
        Data range used for every slice; default ``gt.max()`` over the volume.

    Returns
    -------
    float
        Mean over slices of scikit-image's SSIM (7 x 7 uniform window, K1 0.01, K2 0.03).
    """
    gt_arr, pred_arr = _as_float_pair(gt, pred, 3)
    _check_ssim_size(gt_arr.shape)
    return _ssim_volume_of(gt_arr, pred_arr, _data_range(maxval, gt_arr))


def volume_metrics(gt: ArrayLike, pred: ArrayLike, maxval: float | None = None) -> dict[str, float]:
    """fastMRI's PSNR, SSIM and NMSE of one volume.

    Parameters
    ----------
    gt, pred
        Magnitude volumes, shape ``(slices, H, W)``, already cropped to a common size.
    maxval
        Data range for PSNR and SSIM; default ``gt.max()`` over the volume.

    Returns
    -------
    dict
        ``{"psnr": dB, "ssim": ..., "nmse": ...}`` as floats.
    """
    gt_arr, pred_arr = _as_float_pair(gt, pred, 3)
    _check_ssim_size(gt_arr.shape)
    value = _data_range(maxval, gt_arr)
    return {
        "psnr": _psnr_of(gt_arr, pred_arr, value),
        "ssim": _ssim_volume_of(gt_arr, pred_arr, value),
        "nmse": _nmse_of(gt_arr, pred_arr),
    }


def slice_metrics(gt_slice: ArrayLike, pred_slice: ArrayLike, maxval: float) -> dict[str, float]:
    """PSNR, SSIM and NMSE of one slice, on the *volume's* data range.

    Parameters
    ----------
    gt_slice, pred_slice
        Magnitude slices, shape ``(H, W)`` with ``H, W >= 7``.
    maxval
        Data range: the maximum of the whole reference *volume* (not of this slice), so that
        per-slice numbers compare across slices and the volume SSIM is the mean of the slice
        SSIMs.

    Returns
    -------
    dict
        ``{"psnr": dB, "ssim": ..., "nmse": ...}`` of the slice. ``psnr`` is ``+inf`` for a
        perfect slice; ``nmse`` is ``inf`` (or NaN if the prediction is zero too) on an
        all-zero reference slice.
    """
    if maxval is None:
        raise InputError("slice_metrics needs maxval, the maximum of the reference volume")
    gt_arr, pred_arr = _as_float_pair(gt_slice, pred_slice, 2)
    _check_ssim_size(gt_arr.shape)
    value = _data_range(maxval, gt_arr)
    return {
        "psnr": _psnr_of(gt_arr, pred_arr, value),
        "ssim": _ssim_slice_of(gt_arr, pred_arr, value),
        "nmse": _nmse_of(gt_arr, pred_arr),
    }
