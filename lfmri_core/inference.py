"""Reconstruct a few slices held in memory and explain them: the slice pipeline on arrays.

:func:`infer_slices` undersamples k-space with a mask, reconstructs it with any registered
method (classical or learned), crops the magnitude to the recon size and, when a lesion
classifier (Net_c) is available, adds its class activation map (CAM) and class probabilities
for the reconstruction. Every step is timed. It is
:func:`lfmri_core.pipeline.reconstruct_batch`, the work of the slice pipeline that the viewers,
``lfmri recon`` and ``lfmri evaluate`` run on volumes (:func:`lfmri_core.pipeline.run_slices`),
for k-space that is not in a file.

>>> result = infer_slices(kspace, mask, "lfmri")                          # doctest: +SKIP
>>> result.image.shape, result.cam.shape, result.timings["total"]        # doctest: +SKIP
((1, 320, 320), (1, 320, 320), 0.41)

Conventions: k-space complex ``(coils, H, W)`` or ``(slices, coils, H, W)``, ``H`` readout,
``W`` phase encode, DC at ``(H // 2, W // 2)`` (centered orthonormal FFT).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from lfmri_core.coils.calibration import as_kspace_batch
from lfmri_core.device import resolve_device
from lfmri_core.models.inputs import READOUT_MARGIN
from lfmri_core.pipeline import (
    SHIPPED,
    ClassifierArg,
    MaskArg,
    as_sampling_mask,
    check_recon_shape,
    classify,
    load_classifier,
    reconstruct_batch,
)
from lfmri_core.progress import Cancel, Progress
from lfmri_core.recon.registry import build_method, method_info


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
    readout_margin: int | None = READOUT_MARGIN,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
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
    readout_margin
        The learned methods run on the recon rows and this many rows on each side when the
        readout is oversampled and the mask is a line mask (fastMRI's 640-row k-space with a
        320-row ``recon_shape``: 448 rows instead of 640; :mod:`lfmri_core.models.inputs`).
        None runs them on the whole readout.
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
    crop = check_recon_shape(recon_shape, (int(batch.shape[-2]), int(batch.shape[-1])))
    sampling_mask = as_sampling_mask(mask)
    sampling_mask.to_tensor(tuple(batch.shape))  # a mask that does not fit fails before the work
    recon = build_method(method, **dict(method_params or {}))
    net_c = load_classifier(classifier, dev)
    out = reconstruct_batch(batch, sampling_mask, recon, info, recon_shape=crop, net_c=net_c,
                            sensitivity_method=sensitivity_method, coil_compression=coil_compression,
                            readout_margin=readout_margin, progress=progress, cancel=cancel, warn=warn)
    found = out.classification
    timings = dict(out.timings)
    image = out.magnitude.cpu().numpy()
    timings["total"] = time.perf_counter() - start
    return InferenceResult(image=image, cam=None if found is None else found.cams,
                           class_scores=None if found is None else found.scores, timings=timings, device=str(dev),
                           method=method, coil_maps=out.coil_maps, coil_map_warnings=out.coil_map_warnings)


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
    net_c = load_classifier(classifier, dev)
    if net_c is None:
        return None
    return classify(net_c, np.asarray(images, dtype=np.float32), device=dev).cams


__all__ = ["SHIPPED", "ClassifierArg", "InferenceResult", "cam_volume", "infer_slices"]
