"""Image-quality metrics: fastMRI's PSNR/SSIM/NMSE and the lesion-focused LF-PSNR/LF-SSIM;
CAM localisation (pointing game, energy fraction) and classification scores; and the numbers
of one reconstructed slice, computed in one place (:mod:`lfmri_core.metrics.slice_scores`).

See :mod:`lfmri_core.metrics.image` for the fastMRI conventions and
:mod:`lfmri_core.metrics.lesion` (and ``docs/metrics.md``) for the definition of the
lesion-focused metrics; :mod:`lfmri_core.metrics.cam` for the pointing game and energy fraction.
"""

from lfmri_core.metrics.cam import (
    STANDARD_POINTING_TOLERANCE,
    CamLocalisation,
    cam_localisation,
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
from lfmri_core.metrics.slice_scores import SliceScores, lesion_scores, score_slice

__all__ = [
    "CamLocalisation",
    "LesionMetrics",
    "SliceScores",
    "cam_localisation",
    "lesion_scores",
    "score_slice",
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
