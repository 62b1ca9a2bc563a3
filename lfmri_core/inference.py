"""Reconstruct a few slices and explain them: the call the napari and Jupyter viewers make.

:func:`infer_slices` undersamples k-space with a mask, reconstructs it with any registered
method (classical or learned), crops the magnitude to the recon size and, when a lesion
classifier (Net_c) is available, adds its class activation map (CAM) and class probabilities
for the reconstruction. Every step is timed.

>>> result = infer_slices(kspace, mask, "lfmri")                          # doctest: +SKIP
>>> result.image.shape, result.cam.shape, result.timings["total"]        # doctest: +SKIP
((1, 320, 320), (1, 320, 320), 0.41)

Conventions: k-space complex ``(coils, H, W)`` or ``(slices, coils, H, W)``, ``H`` readout,
``W`` phase encode, DC at ``(H // 2, W // 2)`` (centered orthonormal FFT).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import lfmri_core.weights as shipped
from lfmri_core.coils import compress_coils, estimate_sensitivities, virtual_coil_count
from lfmri_core.coils.calibration import as_kspace_batch
from lfmri_core.device import resolve_device
from lfmri_core.errors import InputError
from lfmri_core.masks import SamplingMask
from lfmri_core.models.classifier import LesionClassifier
from lfmri_core.models.inputs import MODEL_MAPS, model_sensitivities
from lfmri_core.models.unrolled import LFMRINet
from lfmri_core.physics import center_crop
from lfmri_core.physics.sense import apply_mask
from lfmri_core.recon.learned import LearnedReconstruction, load_model
from lfmri_core.recon.registry import (
    CancelCallback,
    Cancelled,
    ProgressCallback,
    build_method,
    method_info,
)

ClassifierArg = str | os.PathLike[str] | LesionClassifier | None
MaskArg = SamplingMask | np.ndarray | torch.Tensor

SHIPPED = "shipped"
"""``classifier=SHIPPED``: the shipped Net_c (``lfmri_core/weights/net_c.safetensors``) if installed."""

CLASSIFIER_BATCH = 8
"""Images per classifier forward pass."""


@dataclass(frozen=True)
class InferenceResult:
    """What :func:`infer_slices` returns (numpy arrays on the CPU)."""

    image: np.ndarray
    """Magnitude reconstruction, float32 ``(slices, rh, rw)``, centre-cropped to the recon size."""
    cam: np.ndarray | None
    """Net_c's class-0 ("any lesion") CAM on ``image``, float32 ``(slices, rh, rw)`` in ``[0, 1]``
    (a map with no activation is all zero); None without a classifier."""
    class_scores: np.ndarray | None
    """Net_c's class probabilities (sigmoid of the logits), float32 ``(slices, classes)``; class 0
    is "any lesion". None without a classifier."""
    timings: dict[str, float]
    """Seconds spent in this call: ``"compression"`` (coil compression; 0 without), ``"maps"`` (coil
    maps; 0 for methods without), ``"reconstruction"``,
    ``"classifier"`` (0 without one) and ``"total"`` (everything, checks and loading weights included)."""
    device: str
    """The torch device everything ran on."""
    method: str
    """The registered method name."""
    coil_maps: str | None = None
    """The coil-map method used (``"nlinv"`` where ESPIRiT's maps failed their checks; the
    learned methods' own ``"lowres"``); None for methods without maps."""
    coil_map_warnings: tuple[str, ...] = ()
    """What the coil-map checks found, one line each (see :mod:`lfmri_core.coils.checks`)."""


def _mask_tensor(mask: MaskArg, shape: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, SamplingMask]:
    """The mask as a boolean tensor broadcastable to k-space of ``shape`` (``(1, W)`` or ``(H, W)``)."""
    if not isinstance(mask, SamplingMask):
        if isinstance(mask, torch.Tensor):
            pattern = mask.detach().cpu().numpy()
        elif isinstance(mask, np.ndarray):
            pattern = mask
        else:
            raise InputError(f"mask must be a SamplingMask or a boolean array/tensor, got {type(mask).__name__}")
        if pattern.ndim == 2 and pattern.shape[0] == 1:
            pattern = pattern[0]
        if pattern.ndim in (1, 2) and pattern.size and pattern.dtype == np.bool_:
            sampled = int(np.count_nonzero(pattern))
            mask = SamplingMask(pattern, name="given", nominal_acceleration=pattern.size / max(sampled, 1),
                                num_low_frequencies=0)
        else:
            raise InputError(
                f"mask must be a boolean (W,), (1, W) or (H, W) array, got {pattern.dtype} of shape {tuple(np.shape(mask))}"
            )
    return mask.to_tensor(shape, device=device), mask


def _recon_shape(value: Any, image_shape: tuple[int, int]) -> tuple[int, int]:
    if value is None:
        return image_shape
    try:
        rows, cols = value
    except (TypeError, ValueError):
        raise InputError(f"recon_shape must be (rows, columns), got {value!r}") from None
    for v in (rows, cols):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(f"recon_shape must be two positive integers, got {value!r}")
    if rows > image_shape[0] or cols > image_shape[1]:
        raise InputError(f"recon_shape {int(rows)} x {int(cols)} is larger than the image, {image_shape[0]} x {image_shape[1]}")
    return int(rows), int(cols)


def _classifier(spec: ClassifierArg, device: torch.device) -> LesionClassifier | None:
    """Net_c on ``device``, or None (no classifier asked for, or none shipped)."""
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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _poll(cancel: CancelCallback | None, what: str) -> None:
    if cancel is not None and cancel():
        raise Cancelled(f"inference cancelled {what}")


def infer_slices(
    kspace: np.ndarray | torch.Tensor,
    mask: MaskArg,
    method: str,
    *,
    device: str | torch.device = "auto",
    strict_device: bool = False,
    recon_shape: tuple[int, int] | None = None,
    classifier: ClassifierArg = SHIPPED,
    method_params: Mapping[str, object] | None = None,
    sensitivity_method: str = "espirit",
    coil_compression: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    warn: bool = True,
) -> InferenceResult:
    """Undersample, reconstruct and classify slices.

    Parameters
    ----------
    kspace
        Complex k-space ``(coils, H, W)`` or ``(slices, coils, H, W)``, numpy or torch, fully
        sampled or already undersampled: the mask is applied either way (unsampled entries
        become exactly ``+0.0``).
    mask
        A :class:`~lfmri_core.masks.SamplingMask`, or a boolean array/tensor ``(W,)``,
        ``(1, W)`` (line mask over phase-encode columns) or ``(H, W)``.
    method
        Any registered method (:func:`lfmri_core.recon.available_methods`). Methods that need
        coil maps get them from :func:`~lfmri_core.coils.estimate_sensitivities` on the
        undersampled k-space; the learned methods from
        :func:`~lfmri_core.models.model_sensitivities`, as in training.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``. CUDA without a GPU runs on the CPU with a
        ``RuntimeWarning``, or raises with ``strict_device``.
    strict_device
        Raise :class:`InputError` instead of falling back to the CPU.
    recon_shape
        ``(rh, rw)`` to centre-crop to (fastMRI's recon size); default the full image.
    classifier
        Net_c for the CAM and class scores: ``"shipped"`` (the installed
        ``net_c.safetensors``; when there is none, ``cam`` and ``class_scores`` are None), a
        weights file (a classifier, or an LF-MRI file, whose Net_c is used), a
        :class:`~lfmri_core.models.LesionClassifier` (moved to ``device``), or None.
    method_params
        Parameters of the method (e.g. ``{"weights": "my.safetensors"}`` for a learned one).
    sensitivity_method
        Coil-map estimation for the classical methods that need maps (``"espirit"``,
        ``"lowres"`` or ``"nlinv"``). ESPIRiT maps that fail their checks (too few calibration
        lines, too little of the object covered) are replaced by NLINV's: ``coil_maps`` and
        ``coil_map_warnings`` of the result say so.
    coil_compression
        Compress the coils to this many virtual coils first (:func:`~lfmri_core.coils.compress_coils`,
        from the undersampled k-space's centre); None, or at least the number of coils, keeps them.
        Every coil-wise FFT of the reconstruction gets cheaper, at the cost of the dropped
        components' signal.
    progress
        ``progress(done, total)`` as the method works (iterations or unrolled stages).
    cancel
        Polled between steps; True raises :class:`~lfmri_core.recon.Cancelled`.
    warn
        Issue the coil-map checks' findings as :class:`~lfmri_core.coils.CalibrationWarning`
        too (the default); False only returns them, for a caller that shows them itself.

    Returns
    -------
    InferenceResult
        Image, CAM, class scores (slices in the input's order; one slice for 3-D input),
        timings, device and method.

    Raises
    ------
    InputError
        Bad k-space, mask, method, parameters, recon shape, weights or device (one line).
    Cancelled
        When ``cancel`` returned True.
    """
    start = time.perf_counter()
    info = method_info(method)
    dev = resolve_device(device, strict=strict_device)
    batch, _ = as_kspace_batch(kspace)
    batch = batch.to(dev)
    image_shape = (int(batch.shape[-2]), int(batch.shape[-1]))
    crop = _recon_shape(recon_shape, image_shape)
    mask_tensor, sampling_mask = _mask_tensor(mask, tuple(batch.shape), dev)
    recon = build_method(method, **dict(method_params or {}))
    net_c = _classifier(classifier, dev)
    timings = {"compression": 0.0, "maps": 0.0, "reconstruction": 0.0, "classifier": 0.0}

    _poll(cancel, "before the reconstruction")
    undersampled = apply_mask(batch, mask_tensor)
    virtual = virtual_coil_count(coil_compression, undersampled.shape[1])
    if virtual is not None:
        tick = time.perf_counter()
        undersampled = compress_coils(undersampled, virtual, mask=sampling_mask).kspace
        _sync(dev)
        timings["compression"] = time.perf_counter() - tick
    maps = None
    coil_maps: str | None = None
    coil_map_warnings: tuple[str, ...] = ()
    if info.needs_sensitivities or isinstance(recon, LearnedReconstruction):
        _sync(dev)
        tick = time.perf_counter()
        if isinstance(recon, LearnedReconstruction):
            maps = model_sensitivities(undersampled, mask_tensor)
            coil_maps = MODEL_MAPS
        else:
            estimate = estimate_sensitivities(undersampled, sensitivity_method, mask=sampling_mask, warn=warn)
            maps, coil_maps, coil_map_warnings = estimate.maps, estimate.method, estimate.warnings
        _sync(dev)
        timings["maps"] = time.perf_counter() - tick
        _poll(cancel, "after the coil maps")

    tick = time.perf_counter()
    with torch.no_grad():  # (the learned methods run under inference_mode themselves)
        output = recon(undersampled, mask_tensor, sensitivities=maps, progress=progress, cancel=cancel)
        magnitude = center_crop(output.abs(), crop).to(torch.float32)
    _sync(dev)
    timings["reconstruction"] = time.perf_counter() - tick

    cam = scores = None
    if net_c is not None:
        _poll(cancel, "before the classifier")
        tick = time.perf_counter()
        cams, probabilities = [], []
        with torch.inference_mode():
            for first in range(0, magnitude.shape[0], CLASSIFIER_BATCH):
                out = net_c(magnitude[first : first + CLASSIFIER_BATCH, None])
                cams.append(out.cam[:, 0])
                probabilities.append(torch.sigmoid(out.logits))
            cam = torch.cat(cams).to(torch.float32).cpu().numpy()
            scores = torch.cat(probabilities).to(torch.float32).cpu().numpy()
        timings["classifier"] = time.perf_counter() - tick

    image = magnitude.cpu().numpy()
    timings["total"] = time.perf_counter() - start
    return InferenceResult(image=image, cam=cam, class_scores=scores, timings=timings, device=str(dev), method=method,
                           coil_maps=coil_maps, coil_map_warnings=coil_map_warnings)


def cam_volume(
    images: np.ndarray, classifier: ClassifierArg = SHIPPED, *, device: str | torch.device = "auto"
) -> np.ndarray | None:
    """Net_c's class activation maps of magnitude images, as :func:`infer_slices` makes them.

    Parameters
    ----------
    images
        Magnitudes ``(slices, rh, rw)`` at the recon size (a reconstructed volume).
    classifier
        ``"shipped"``, a weights file, a :class:`LesionClassifier`, or None.

    Returns
    -------
    numpy.ndarray or None
        The CAM ``(slices, rh, rw)`` float32 in ``[0, 1]`` ("any lesion"); None without a
        classifier (none asked for, or none shipped).
    """
    dev = resolve_device(device)
    net_c = _classifier(classifier, dev)
    if net_c is None:
        return None
    magnitude = torch.as_tensor(np.asarray(images, dtype=np.float32), device=dev)
    cams = []
    with torch.inference_mode():
        for first in range(0, magnitude.shape[0], CLASSIFIER_BATCH):
            cams.append(net_c(magnitude[first : first + CLASSIFIER_BATCH, None]).cam[:, 0])
    return torch.cat(cams).to(torch.float32).cpu().numpy()


__all__ = ["SHIPPED", "InferenceResult", "cam_volume", "infer_slices"]
