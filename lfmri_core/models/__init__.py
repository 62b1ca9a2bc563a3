"""Learned models as plain ``nn.Module``s (they never import training code).

:mod:`.classifier`: Net_c, the image-level lesion classifier and its differentiable class
activation maps (CAMs), which steer LF-MRI's lesion-focused module.
:mod:`.unrolled`: the LF-MRI unrolled network (denoising, lesion focus, CG data consistency)
and the image-domain U-Net baseline.
"""

from lfmri_core.models.classifier import (
    BACKBONE_REGISTRY,
    Backbone,
    ClassifierConfig,
    ClassifierOutput,
    LesionClassifier,
    available_backbones,
    build_classifier,
    load_classifier,
    min_max_normalise,
    normalise_images,
    save_classifier,
)
from lfmri_core.models.unrolled import (
    DenoiserCNN,
    LFMRIConfig,
    LFMRINet,
    LFMRIOutput,
    UNet,
    conjugate_gradient,
    solve_data_consistency,
)

__all__ = [
    "BACKBONE_REGISTRY",
    "Backbone",
    "ClassifierConfig",
    "ClassifierOutput",
    "LesionClassifier",
    "available_backbones",
    "build_classifier",
    "load_classifier",
    "min_max_normalise",
    "normalise_images",
    "save_classifier",
    "DenoiserCNN",
    "LFMRIConfig",
    "LFMRINet",
    "LFMRIOutput",
    "UNet",
    "conjugate_gradient",
    "solve_data_consistency",
]
