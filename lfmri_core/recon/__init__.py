"""Reconstruction methods (by name) and the per-volume reconstruction pipeline."""

from lfmri_core.recon import zero_filled as _zero_filled  # noqa: F401  (registers the method)
from lfmri_core.recon.admm import ADMM, SplitTerm
from lfmri_core.recon.classical import (  # registers zero-filled-sense, cg-sense, cs-wavelet, cs-tv
    CgSense,
    CgSenseParams,
    CsTv,
    CsTvParams,
    CsWavelet,
    CsWaveletParams,
    SenseReconstruction,
    ZeroFilledSense,
)
from lfmri_core.recon.conjugate_gradient import ConjugateGradient
from lfmri_core.recon.learned import (  # registers unet, unrolled-no-focus, lfmri (after the classical ones)
    LEARNED_METHODS,
    LearnedReconstruction,
    installed_learned_methods,
    weights_installed,
)
from lfmri_core.recon.fista import FISTA
from lfmri_core.recon.iterative import IterativeAlgorithm, run, steps
from lfmri_core.recon.scaling import bart_scaling
from lfmri_core.recon.wavelet_transform import WaveletSoftThreshold, wavedec2, waverec2
from lfmri_core.recon.registry import (
    METHOD_REGISTRY,
    Cancelled,
    MethodInfo,
    ReconMethod,
    available_methods,
    build_method,
    method_info,
    register_method,
)

__all__ = [
    "ADMM",
    "FISTA",
    "METHOD_REGISTRY",
    "Cancelled",
    "CgSense",
    "CgSenseParams",
    "ConjugateGradient",
    "CsTv",
    "CsTvParams",
    "CsWavelet",
    "CsWaveletParams",
    "IterativeAlgorithm",
    "LEARNED_METHODS",
    "LearnedReconstruction",
    "MethodInfo",
    "ReconMethod",
    "SenseReconstruction",
    "SplitTerm",
    "WaveletSoftThreshold",
    "ZeroFilledSense",
    "bart_scaling",
    "available_methods",
    "build_method",
    "installed_learned_methods",
    "method_info",
    "register_method",
    "run",
    "steps",
    "wavedec2",
    "waverec2",
    "weights_installed",
]
