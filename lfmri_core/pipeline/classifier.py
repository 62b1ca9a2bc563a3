"""Net_c on reconstructed slices: the one place the lesion classifier runs.

The slice pipeline classifies every reconstruction with :func:`classify`; ``lfmri evaluate``
classifies the fully sampled references with it too, and ``lfmri recon --cam`` its volumes
(:func:`lfmri_core.inference.cam_volume`). The lesion probability of a slice is
:func:`lesion_probability` of its class-0 logit, whoever shows it.

:func:`gated_saliency` sharpens where Net_c points. A CAM's peak is where the evidence of the
last features is largest, and their receptive fields are tens of pixels wide: on thin lesions
(cartilage defects, a few rows tall) the peak lies on the bone below the defect. The gradient of
the logit with respect to the image (Simonyan et al., ICLR 2014 workshop) is at pixel
resolution but, on its own, also lights up edges far from any lesion. Restricted to the
CAM's hot region, it combines the two, in the spirit of Guided Grad-CAM (Selvaraju et al.,
ICCV 2017). Its three settings were chosen on training and validation subjects, never on the
test set (``docs/lfmri.md``, "What limits Net_c's pointing game").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, maximum_filter
from scipy.special import expit

import lfmri_core.weights as shipped
from lfmri_core.errors import InputError
from lfmri_core.models.classifier import LesionClassifier
from lfmri_core.models.unrolled import LFMRINet
from lfmri_core.recon.learned import load_model

ClassifierArg = str | os.PathLike[str] | LesionClassifier | None
"""Net_c as a caller names it: :data:`SHIPPED`, a weights file, a model, or None (no classifier)."""

SHIPPED = "shipped"
"""``classifier=SHIPPED``: the shipped Net_c (``lfmri_core/weights/net_c.safetensors``) if installed."""

CLASSIFIER_BATCH = 8
"""Images per classifier forward pass."""


def load_classifier(spec: ClassifierArg, device: torch.device) -> LesionClassifier | None:
    """Net_c on ``device``, or None (no classifier asked for, or none shipped).

    ``spec``: :data:`SHIPPED`, a weights file (a classifier, or an LF-MRI file, whose own Net_c
    is used), a :class:`LesionClassifier` (moved to ``device``) or None.
    """
    if spec is None:
        return None
    if isinstance(spec, LesionClassifier):
        return spec.to(device)
    if isinstance(spec, str) and spec == SHIPPED:
        path = shipped.shipped_weights("net_c")
        if path is None:
            return None
        spec = path
    if not isinstance(spec, (str, os.PathLike)):
        raise InputError(f"classifier must be 'shipped', a weights file, a LesionClassifier or None, got {type(spec).__name__}")
    model = load_model(Path(spec), device)
    if isinstance(model, LFMRINet) and model.classifier is not None:
        return model.classifier  # an LF-MRI file carries its own Net_c
    if not isinstance(model, LesionClassifier):
        raise InputError(f"{spec}: holds no lesion classifier (Net_c); pass a classifier weights file")
    return model


@dataclass(frozen=True)
class Classification:
    """Net_c on a stack of ``n`` magnitude images (numpy, on the CPU)."""

    logits: np.ndarray
    """Class logits, float32 ``(n, classes)``; class 0 is "any lesion"."""
    scores: np.ndarray
    """Class probabilities, ``sigmoid(logits)`` in float32, ``(n, classes)``."""
    cams: np.ndarray
    """Class-0 activation maps, float32 ``(n, rh, rw)`` in ``[0, 1]`` (all zero: no activation)."""


def _image_stack(images: torch.Tensor | np.ndarray, device: str | torch.device | None, batch_size: object) -> torch.Tensor:
    """Magnitude images ``(n, H, W)`` as float32 on ``device`` (default: where they are), with the
    arguments of :func:`classify` and :func:`gated_saliency` checked."""
    if isinstance(images, np.ndarray):
        array = np.ascontiguousarray(images, dtype=np.float32)
        # a read-only array (a cached result's) is copied: torch takes only writable memory
        images = torch.from_numpy(array if array.flags.writeable else array.copy())
    if images.ndim != 3:
        raise InputError(f"images for the classifier must have shape (n, H, W), got {tuple(images.shape)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return images.to(device=device if device is not None else images.device, dtype=torch.float32)


def classify(net_c: LesionClassifier, images: torch.Tensor | np.ndarray, *, device: str | torch.device | None = None,
             batch_size: int = CLASSIFIER_BATCH) -> Classification:
    """Run Net_c on magnitude images ``(n, rh, rw)`` (any intensity scale: Net_c normalises each
    image), ``batch_size`` at a time, on ``device`` (default: where the images are)."""
    images = _image_stack(images, device, batch_size)
    cams, logits = [], []
    with torch.inference_mode():
        for first in range(0, images.shape[0], batch_size):
            out = net_c(images[first : first + batch_size, None])
            cams.append(out.cam[:, 0])
            logits.append(out.logits)
        all_logits = torch.cat(logits).to(torch.float32)
        return Classification(logits=all_logits.cpu().numpy(), scores=torch.sigmoid(all_logits).cpu().numpy(),
                              cams=torch.cat(cams).to(torch.float32).cpu().numpy())


SALIENCY_SIGMA = 4.0
"""Pixels: standard deviation of the Gaussian that smooths ``|d logit / d image|``."""

SALIENCY_GATE = 0.7
"""The CAM level (of its maximum 1) that marks its hot region."""

SALIENCY_WIDEN = 8
"""Pixels by which the hot region is widened on every side (a square maximum filter)."""


def gated_saliency(net_c: LesionClassifier, images: torch.Tensor | np.ndarray, *, device: str | torch.device | None = None,
                   batch_size: int = CLASSIFIER_BATCH) -> np.ndarray:
    """Net_c's pixel-resolution lesion pointer on magnitude images ``(n, rh, rw)``.

    For each image: ``|d logit_0 / d image|`` smoothed by a Gaussian of :data:`SALIENCY_SIGMA`
    pixels, set to 0 outside the pixels within :data:`SALIENCY_WIDEN` of the class-0 CAM's
    region at or above :data:`SALIENCY_GATE`, and scaled to maximum 1. A map is all zero where
    the CAM is (no activation) or where the logit does not depend on the image there.

    Returns float32 ``(n, rh, rw)`` in ``[0, 1]``; its maximum is the refined peak (score it with
    :func:`lfmri_core.metrics.pointing_distance`, as a CAM). Needs one backward pass through
    Net_c per image: a few times the cost of :func:`classify`. Net_c's parameters are left as they are.
    """
    return saliency_and_logits(net_c, images, device=device, batch_size=batch_size)[0]


def saliency_and_logits(net_c: LesionClassifier, images: torch.Tensor | np.ndarray, *,
                        device: str | torch.device | None = None,
                        batch_size: int = CLASSIFIER_BATCH) -> tuple[np.ndarray, torch.Tensor]:
    """:func:`gated_saliency` and the class-0 logits ``(n,)`` of the same forward pass (detached,
    on the images' device), for callers that need both (the pointer-weighted lesion loss)."""
    images = _image_stack(images, device, batch_size)
    maps = []
    logits = []
    with torch.inference_mode(False), torch.enable_grad():
        for first in range(0, images.shape[0], batch_size):
            # a fresh tensor: an inference tensor cannot be recorded by autograd
            x = images[first : first + batch_size, None].clone().requires_grad_(True)
            out = net_c(x)
            # each logit depends on its own image only (Net_c is used in eval mode)
            (grad,) = torch.autograd.grad(out.logits[:, 0].sum(), x)
            logits.append(out.logits[:, 0].detach())
            magnitudes = grad[:, 0].abs().to(torch.float32).cpu().numpy()
            cams = out.cam[:, 0].detach().to(torch.float32).cpu().numpy()
            for magnitude, cam in zip(magnitudes, cams):
                gate = maximum_filter(cam >= SALIENCY_GATE, size=2 * SALIENCY_WIDEN + 1, mode="constant")
                pointer = gaussian_filter(magnitude, SALIENCY_SIGMA) * gate
                peak = float(pointer.max())
                maps.append((pointer / peak if peak > 0 else np.zeros_like(pointer)).astype(np.float32))
    stacked = np.stack(maps) if maps else np.zeros((0, *images.shape[1:]), dtype=np.float32)
    return stacked, torch.cat(logits) if logits else images.new_zeros((0,))


def lesion_probability(logit: float) -> float:
    """The "any lesion" probability of a class-0 logit: ``sigmoid`` in float64 (the float32
    scores saturate at 1 from a logit of about 17, which would tie confident slices in a ROC)."""
    return float(expit(np.float64(logit)))


__all__ = ["CLASSIFIER_BATCH", "SALIENCY_GATE", "SALIENCY_SIGMA", "SALIENCY_WIDEN", "SHIPPED", "Classification",
           "ClassifierArg", "classify", "gated_saliency", "lesion_probability", "load_classifier",
           "saliency_and_logits"]
