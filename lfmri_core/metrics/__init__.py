"""Image-quality metrics: fastMRI's PSNR/SSIM/NMSE and the lesion-focused LF-PSNR/LF-SSIM;
CAM localisation (pointing game, energy fraction) and classification scores.

See :mod:`lfmri_core.metrics.image` for the fastMRI conventions and
:mod:`lfmri_core.metrics.lesion` (and ``docs/metrics.md``) for the definition of the
lesion-focused metrics; :mod:`lfmri_core.metrics.cam` for the pointing game and energy fraction.
"""

from lfmri_core.metrics.cam import (
    STANDARD_POINTING_TOLERANCE,
    check_pointing_tolerance,
    energy_fraction,
    pointing_distance,
    pointing_game,
)
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
    "STANDARD_POINTING_TOLERANCE",
    "accuracy",
    "center_crop",
    "check_pointing_tolerance",
    "energy_fraction",
    "lesion_mask",
    "lf_metrics",
    "lf_psnr_slice",
    "lf_ssim_slice",
    "mean_ssim_map",
    "mse",
    "nmse",
    "pointing_distance",
    "pointing_game",
    "psnr",
    "roc_auc",
    "slice_metrics",
    "ssim",
    "volume_metrics",
]
