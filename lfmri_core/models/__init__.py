"""Learned models as plain ``nn.Module``s (they never import training code).

:mod:`.classifier`: Net_c, the image-level lesion classifier and its differentiable class
activation maps (CAMs), which steer LF-MRI's lesion-focused module.
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
]
