"""Image-quality metrics: fastMRI's PSNR/SSIM/NMSE and the lesion-focused LF-PSNR/LF-SSIM.

See :mod:`lfmri_core.metrics.image` for the fastMRI conventions and
:mod:`lfmri_core.metrics.lesion` (and ``docs/metrics.md``) for the definition of the
lesion-focused metrics.
"""

from lfmri_core.metrics.classification import accuracy, roc_auc
from lfmri_core.metrics.image import center_crop, mse, nmse, psnr, slice_metrics, ssim, volume_metrics
from lfmri_core.metrics.lesion import (
    LesionMetrics,
    SSIMMap,
    lesion_mask,
    lf_metrics,
    lf_psnr_slice,
    lf_ssim_slice,
    mean_ssim_map,
)

__all__ = [
    "LesionMetrics",
    "SSIMMap",
    "accuracy",
    "center_crop",
    "lesion_mask",
    "lf_metrics",
    "lf_psnr_slice",
    "lf_ssim_slice",
    "mean_ssim_map",
    "mse",
    "nmse",
    "psnr",
    "roc_auc",
    "slice_metrics",
    "ssim",
    "volume_metrics",
]
