"""Reconstruction methods (by name) and the per-volume reconstruction pipeline.

Importing this package registers the built-in methods, then the methods that installed
packages add through the ``lfmri.methods`` entry-point group (:func:`load_plugins`).
"""

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
from lfmri_core.physics.cg import ConjugateGradient
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
    PLUGIN_GROUP,
    Cancelled,
    MethodInfo,
    PluginWarning,
    ReconMethod,
    available_methods,
    build_method,
    load_plugins,
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
    "PLUGIN_GROUP",
    "PluginWarning",
    "ReconMethod",
    "SenseReconstruction",
    "SplitTerm",
    "WaveletSoftThreshold",
    "ZeroFilledSense",
    "bart_scaling",
    "available_methods",
    "build_method",
    "installed_learned_methods",
    "load_plugins",
    "method_info",
    "register_method",
    "run",
    "steps",
    "wavedec2",
    "waverec2",
    "weights_installed",
]

# Last: the built-in methods keep their names and come first; a plugin may use this package.
load_plugins()
