"""Learned models as plain ``nn.Module``s (they never import training code).

:mod:`.classifier`: Net_c, the image-level lesion classifier and its differentiable class
activation maps (CAMs), which steer LF-MRI's lesion-focused module.
:mod:`.unrolled`: the LF-MRI unrolled network (denoising, lesion focus, CG data consistency);
:mod:`.unet`: the general U-Net building block; :mod:`.unet_recon`: the image-domain U-Net baseline as a
reconstruction model; :mod:`.inputs`: the coil maps all learned models use;
:mod:`.weights`: safetensors weights files for every model kind (each model module registers
its kind there; the weights module imports no model).
"""

from lfmri_core.models.classifier import (
    BACKBONE_REGISTRY,
    Backbone,
    ClassifierConfig,
    ClassifierOutput,
    LesionClassifier,
    available_backbones,
    build_classifier,
    min_max_normalise,
    normalise_images,
)
from lfmri_core.models.inputs import model_sensitivities
from lfmri_core.models.unet import UNet
from lfmri_core.models.unet_recon import UNetConfig, UNetRecon
from lfmri_core.models.unrolled import (
    DenoiserCNN,
    LesionCorrection,
    DenoiserUNet,
    LFMRIConfig,
    LFMRINet,
    LFMRIOutput,
    conjugate_gradient,
    check_model_inputs,
    solve_data_consistency,
)
from lfmri_core.models.weights import load_weights, model_kinds, read_weights_metadata, save_weights

__all__ = [
    "BACKBONE_REGISTRY",
    "Backbone",
    "ClassifierConfig",
    "ClassifierOutput",
    "LesionClassifier",
    "available_backbones",
    "build_classifier",
    "min_max_normalise",
    "normalise_images",
    "DenoiserCNN",
    "LesionCorrection",
    "DenoiserUNet",
    "LFMRIConfig",
    "LFMRINet",
    "LFMRIOutput",
    "UNet",
    "UNetConfig",
    "UNetRecon",
    "check_model_inputs",
    "conjugate_gradient",
    "load_weights",
    "model_kinds",
    "model_sensitivities",
    "read_weights_metadata",
    "save_weights",
    "solve_data_consistency",
]
