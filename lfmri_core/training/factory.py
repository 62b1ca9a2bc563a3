"""The model factory of a training run: which architecture a task trains and a freshly seeded model.

:func:`default_model_config` names a task's default architecture, :func:`build_model` builds it
(its initial weights depend only on the seed), :func:`load_phase1_classifier` reads the phase-1
Net_c that LF-MRI and the lesion and perceptual losses need, and :func:`needs_classifier` /
:func:`uses_oracle_focus` say when a run needs it.
"""

from __future__ import annotations

import copy
import os

import torch
from torch import nn

from lfmri_core.errors import InputError
from lfmri_core.models import (
    ClassifierConfig,
    LesionClassifier,
    LFMRIConfig,
    LFMRINet,
    UNetConfig,
    UNetRecon,
)
from lfmri_core.training.config import TrainingConfig

__all__ = [
    "ModelConfig",
    "build_model",
    "default_model_config",
    "load_phase1_classifier",
    "needs_classifier",
    "uses_oracle_focus",
]

ModelConfig = ClassifierConfig | LFMRIConfig | UNetConfig


def default_model_config(task: str, classifier: LesionClassifier | None = None) -> ModelConfig:
    """The default architecture of a task (LF-MRI takes Net_c's architecture from ``classifier``)."""
    if task == "classifier":
        return ClassifierConfig()
    if task == "lfmri":
        return LFMRIConfig(lesion_focus=True, classifier=classifier.config if classifier is not None else ClassifierConfig())
    if task == "unrolled-no-focus":
        return LFMRIConfig(lesion_focus=False)
    if task == "unet":
        return UNetConfig()
    raise InputError(f"unknown training task {task!r}")


def _check_model_config(task: str, config: ModelConfig, classifier: LesionClassifier | None) -> None:
    expected = {"classifier": ClassifierConfig, "lfmri": LFMRIConfig, "unrolled-no-focus": LFMRIConfig, "unet": UNetConfig}[task]
    if not isinstance(config, expected):
        raise InputError(f"the {task} task needs a {expected.__name__}, got {type(config).__name__}")
    if isinstance(config, LFMRIConfig):
        if config.lesion_focus != (task == "lfmri"):
            raise InputError(f"the {task} task needs lesion_focus={task == 'lfmri'} in its LFMRIConfig")
        if task == "lfmri" and config.uses_classifier:
            if classifier is None:
                raise InputError("training lfmri needs the phase-1 classifier (--classifier PATH)")
            if config.classifier != classifier.config:
                raise InputError(
                    f"LF-MRI config expects classifier {config.classifier}, the given classifier is {classifier.config}"
                )


def build_model(task: str, config: ModelConfig, classifier: LesionClassifier | None, seed: int) -> nn.Module:
    """A freshly initialised model; its weights depend only on ``seed`` (global RNG untouched)."""
    _check_model_config(task, config, classifier)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(config, ClassifierConfig):
            return LesionClassifier(config)
        if isinstance(config, UNetConfig):
            return UNetRecon(config)
        # A copy: the trained model owns its frozen Net_c, the caller's stays untouched.
        return LFMRINet(config, classifier=copy.deepcopy(classifier) if config.uses_classifier else None)


def starts_from_ablation(start: object, wanted: object) -> bool:
    """Whether a network of config ``wanted`` may start from weights of config ``start`` by loading
    the denoisers and ``mu1`` alone: ``start`` is a no-focus network, ``wanted`` the same network
    with the residual lesion module (which starts neutral, ``U = Z``)."""
    if not (isinstance(start, LFMRIConfig) and isinstance(wanted, LFMRIConfig)):
        return False
    if start.lesion_focus or not wanted.lesion_focus or wanted.lesion_module != "residual":
        return False
    shape = ("num_stages", "width", "depth", "cg_iterations", "denoiser", "levels")
    return all(getattr(start, name) == getattr(wanted, name) for name in shape)


def uses_oracle_focus(model_config: ModelConfig | None) -> bool:
    """Whether a model is the oracle-focus LF-MRI variant (boxes instead of Net_c's CAM)."""
    return isinstance(model_config, LFMRIConfig) and model_config.lesion_focus and model_config.focus == "oracle"


def needs_classifier(config: TrainingConfig, model_config: ModelConfig | None) -> bool:
    """Whether a run needs the phase-1 Net_c: for the model (CAM focus) or for its loss (the
    lesion loss unless the focus is the oracle's boxes; the perceptual loss)."""
    if uses_oracle_focus(model_config):
        return bool(config.loss.perceptual)
    return config.needs_classifier


def load_phase1_classifier(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> LesionClassifier:
    """The phase-1 Net_c from its weights file (refused unless it holds a classifier)."""
    from lfmri_core.models import load_weights

    model = load_weights(path, kind="classifier", device=device)
    assert isinstance(model, LesionClassifier)
    return model
