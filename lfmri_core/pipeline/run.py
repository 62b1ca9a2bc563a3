"""The slice pipeline: mask -> coil compression -> coil maps -> method -> crop -> Net_c -> metrics.

:func:`reconstruct_batch` is the work on k-space already in memory (what
:func:`lfmri_core.inference.infer_slices` wraps); :func:`run_slices` reads the slices of a volume,
runs :func:`reconstruct_batch` on them a few at a time and yields one
:class:`~lfmri_core.pipeline.SliceResult` per slice, scored against the reference.
:func:`coil_maps_for` is the one rule of which coil maps a method gets.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch

from lfmri_core.coils import (
    CalibrationWarning,
    compress_coils,
    estimate_sensitivities,
    finding_kind,
    virtual_coil_count,
)
from lfmri_core.device import resolve_device
from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.fastmri_h5 import VolumeInfo
from lfmri_core.masks import MaskSpec, SamplingMask
from lfmri_core.metrics.slice_scores import score_slice
from lfmri_core.models.classifier import LesionClassifier
from lfmri_core.models.inputs import (
    MODEL_MAPS,
    READOUT_MARGIN,
    check_readout_margin,
    model_sensitivities,
    readout_window,
    readout_window_rows,
)
from lfmri_core.physics import center_crop
from lfmri_core.physics.sense import apply_mask
from lfmri_core.pipeline.classifier import (
    SHIPPED,
    Classification,
    ClassifierArg,
    classify,
    lesion_probability,
    load_classifier,
)
from lfmri_core.pipeline.masks import volume_mask
from lfmri_core.pipeline.result import SliceResult
from lfmri_core.progress import Cancel, Progress
from lfmri_core.recon.registry import (
    Cancelled,
    MethodInfo,
    ReconMethod,
    build_method,
    method_info,
)

LEARNED_SLICES_PER_CALL = 8
"""Slices per call of a learned method in :func:`run_slices` (one forward pass)."""


class SliceSource(Protocol):
    """What :func:`run_slices` reads: a volume's description and its k-space slice by slice
    (:class:`~lfmri_core.io.volume.KSpaceVolume`)."""

    @property
    def info(self) -> VolumeInfo: ...

    def kspace(self, index: int) -> np.ndarray: ...


def coil_maps_for(info: MethodInfo) -> Literal["estimated", "model"] | None:
    """Which coil maps the pipeline hands a method: the one place this is decided.

    ``"model"`` for the learned methods (they bring their own:
    :func:`~lfmri_core.models.model_sensitivities`, the low-resolution maps they were trained
    with), ``"estimated"`` for the classical methods that need maps
    (:attr:`~lfmri_core.recon.registry.MethodInfo.needs_sensitivities`:
    :func:`~lfmri_core.coils.estimate_sensitivities`), None for the others.
    """
    if info.learned:
        return "model"
    return "estimated" if info.needs_sensitivities else None


@dataclass(frozen=True)
class BatchResult:
    """What :func:`reconstruct_batch` gives for ``n`` slices."""

    magnitude: torch.Tensor
    """float32 ``(n, rh, rw)`` on the device."""
    classification: Classification | None
    """Net_c on ``magnitude``; None without a classifier."""
    timings: dict[str, float]
    """Seconds: ``compression``, ``maps``, ``reconstruction``, ``classifier``."""
    coil_maps: str | None
    coil_map_warnings: tuple[str, ...]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _poll(cancel: Cancel | None, what: str) -> None:
    if cancel is not None and cancel():
        raise Cancelled(f"reconstruction cancelled {what}")


def reconstruct_batch(
    kspace: torch.Tensor,
    mask: SamplingMask,
    recon: ReconMethod,
    info: MethodInfo,
    *,
    recon_shape: tuple[int, int],
    net_c: LesionClassifier | None = None,
    sensitivity_method: str = "espirit",
    sensitivity_params: Mapping[str, object] | None = None,
    coil_compression: int | None = None,
    focus_boxes: Sequence[Sequence[LesionBox]] | None = None,
    readout_margin: int | None = READOUT_MARGIN,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    warn: bool = False,
) -> BatchResult:
    """Undersample, reconstruct, crop and classify slices already on their device.

    Parameters
    ----------
    kspace
        Complex64 ``(n, coils, H, W)`` on the device to run on, fully sampled or already
        undersampled (the mask is applied either way: unsampled entries become ``+0.0``).
    mask
        The sampling mask.
    recon, info
        The built method and its registry entry.
    recon_shape
        ``(rh, rw)`` to centre-crop the magnitude to.
    net_c
        Net_c on the device, or None.
    sensitivity_method, sensitivity_params
        How the maps of ``"estimated"`` methods (:func:`coil_maps_for`) are made; ESPIRiT maps
        that fail their checks are replaced (``coil_maps`` says by what).
    coil_compression
        Virtual coils to compress to first; None (or at least the coil count) keeps them.
    focus_boxes
        Each slice's boxes (recon frame) for methods that take them (``needs_boxes``).
    readout_margin
        Learned methods on k-space with a line mask and more readout rows than the recon crop
        run on a readout window, the recon rows and this many rows on each side
        (:func:`~lfmri_core.models.inputs.readout_window_rows`); None runs them on the whole
        readout. The result is the same crop either way.
    progress, cancel
        Handed to the method (iterations or stages); ``cancel`` is also polled between steps.
    warn
        Issue the coil-map checks' findings as :class:`~lfmri_core.coils.CalibrationWarning`
        too; they are returned either way.
    """
    check_readout_margin(readout_margin)
    device = kspace.device
    timings = {"compression": 0.0, "maps": 0.0, "reconstruction": 0.0, "classifier": 0.0}
    mask_tensor = mask.to_tensor(tuple(kspace.shape), device=device)
    _poll(cancel, "before the reconstruction")
    undersampled = apply_mask(kspace, mask_tensor)
    virtual = virtual_coil_count(coil_compression, undersampled.shape[1])
    if virtual is not None:
        tick = time.perf_counter()
        undersampled = compress_coils(undersampled, virtual, mask=mask).kspace
        _sync(device)
        timings["compression"] = time.perf_counter() - tick
    maps = None
    used: str | None = None
    findings: tuple[str, ...] = ()
    kind = coil_maps_for(info)
    if kind == "model" and mask.is_1d:
        rows = readout_window_rows(int(undersampled.shape[-2]), recon_shape[0], readout_margin)
        if rows is not None:
            undersampled = apply_mask(readout_window(undersampled, rows), mask_tensor)
    if kind is not None:
        tick = time.perf_counter()
        if kind == "model":
            maps, used = model_sensitivities(undersampled, mask_tensor), MODEL_MAPS
        else:
            estimate = estimate_sensitivities(undersampled, sensitivity_method, mask=mask, warn=warn,
                                              **dict(sensitivity_params or {}))
            maps, used, findings = estimate.maps, estimate.method, tuple(estimate.warnings)
        _sync(device)
        timings["maps"] = time.perf_counter() - tick
        _poll(cancel, "after the coil maps")
    extra: dict[str, torch.Tensor] = {}
    if info.needs_boxes:
        if focus_boxes is None:
            raise InputError(f"{info.name} needs the lesion boxes (annotated data only)")
        from lfmri_core.models.focus import box_focus_maps

        extra["focus"] = box_focus_maps(focus_boxes, tuple(undersampled.shape[-2:]), recon_shape, device=device)
    tick = time.perf_counter()
    with torch.no_grad():  # (the learned methods run under inference_mode themselves)
        output = recon(undersampled, mask_tensor, sensitivities=maps, progress=progress, cancel=cancel, **extra)
        magnitude = center_crop(output.abs(), recon_shape).to(torch.float32)
    _sync(device)
    timings["reconstruction"] = time.perf_counter() - tick
    classification = None
    if net_c is not None:
        _poll(cancel, "before the classifier")
        tick = time.perf_counter()
        classification = classify(net_c, magnitude)
        timings["classifier"] = time.perf_counter() - tick
    return BatchResult(magnitude, classification, timings, used, findings)


def check_recon_shape(value: object, image_shape: tuple[int, int]) -> tuple[int, int]:
    """``value`` as ``(rows, columns)`` no larger than ``image_shape`` (None: the image shape)."""
    if value is None:
        return image_shape
    try:
        rows, cols = value  # type: ignore[misc]
    except (TypeError, ValueError):
        raise InputError(f"recon_shape must be (rows, columns), got {value!r}") from None
    for v in (rows, cols):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(f"recon_shape must be two positive integers, got {value!r}")
    if rows > image_shape[0] or cols > image_shape[1]:
        raise InputError(f"recon_shape {int(rows)} x {int(cols)} is larger than the image, {image_shape[0]} x {image_shape[1]}")
    return int(rows), int(cols)


def run_slices(
    volume: SliceSource,
    slices: Sequence[int] | None = None,
    mask: MaskSpec | SamplingMask | None = None,
    method: str = "zero-filled",
    *,
    method_params: Mapping[str, object] | None = None,
    device: str | torch.device = "auto",
    classifier: ClassifierArg = None,
    reference: np.ndarray | None = None,
    maxval: float | None = None,
    boxes: Sequence[LesionBox] | None = None,
    sensitivity_method: str = "espirit",
    sensitivity_params: Mapping[str, object] | None = None,
    coil_compression: int | None = None,
    readout_margin: int | None = READOUT_MARGIN,
    slices_per_call: int | None = None,
    mask_key: tuple[object, ...] = (),
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    warn: bool = False,
) -> Iterator[SliceResult]:
    """Reconstruct, classify and score slices of a volume, yielding one result per slice.

    Parameters
    ----------
    volume
        An open volume (:func:`lfmri_core.io.volume.open_volume`), read one slice at a time.
    slices
        Volume slice indices, in the order to yield them (default: all).
    mask
        A :class:`~lfmri_core.masks.MaskSpec` for a fully sampled file (default seed: the
        file's fastMRI seed; header padding applied: :func:`volume_mask`), None for a file that
        stores its own mask, or a :class:`~lfmri_core.masks.SamplingMask` used as it is.
    method, method_params
        A registered method and its parameters.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"`` (a CUDA choice without a GPU runs on the CPU).
    classifier
        Net_c for the CAM and lesion probability (:data:`SHIPPED`, a weights file, a model),
        or None.
    reference, maxval
        The reference volume ``(num_slices, rh, rw)``, indexed by volume slice, and the data
        range (default ``reference.max()``): the metrics (:func:`~lfmri_core.metrics.score_slice`)
        are computed when given.
    boxes
        The volume's lesion boxes (volume slice indices, recon frame): the LF metrics, and the
        focus of methods that take boxes (``lfmri-oracle``, which needs them: None means the
        volume is not annotated).
    sensitivity_method, sensitivity_params, coil_compression, readout_margin
        See :func:`reconstruct_batch`.
    slices_per_call
        Slices given to the method at once (None: :data:`LEARNED_SLICES_PER_CALL` for learned
        methods, whose forward pass batches them, 1 for the others).
    mask_key
        Recorded in each result as :attr:`~lfmri_core.pipeline.SliceResult.mask_key`.
    progress
        ``progress(done_slices, total_slices)`` after each call of the method.
    cancel
        Polled between calls and handed to the method; True raises
        :class:`~lfmri_core.recon.Cancelled`.
    warn
        Issue each kind of coil-map finding once as a
        :class:`~lfmri_core.coils.CalibrationWarning` (they are in the results either way).

    Raises
    ------
    InputError
        Bad method, parameters, mask, slices, device, weights or reference (one line).
    """
    start = time.perf_counter()
    check_readout_margin(readout_margin)
    info = volume.info
    entry = method_info(method)
    if entry.needs_boxes and boxes is None:
        raise InputError(f"{method} needs the lesion boxes of {info.name} (annotated data only)")
    chunk = (LEARNED_SLICES_PER_CALL if entry.learned else 1) if slices_per_call is None else slices_per_call
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise InputError(f"slices_per_call must be an integer >= 1, got {chunk!r}")
    indices = tuple(range(info.num_slices)) if slices is None else tuple(int(s) for s in slices)
    for index in indices:
        if not 0 <= index < info.num_slices:
            raise InputError(f"slice {index} does not exist: {info.name} has {info.num_slices} slices")
    recon = build_method(method, **dict(method_params or {}))
    sampling = mask if isinstance(mask, SamplingMask) else volume_mask(info, mask)
    dev = resolve_device(device)
    net_c = load_classifier(classifier, dev)
    recon_shape = info.recon_shape
    if reference is not None:
        if reference.ndim != 3 or tuple(reference.shape[1:]) != tuple(recon_shape) or len(reference) != info.num_slices:
            raise InputError(f"the reference of {info.name} must have shape ({info.num_slices}, {recon_shape[0]}, "
                             f"{recon_shape[1]}), got {tuple(reference.shape)}")
        maxval = float(reference.max()) if maxval is None else float(maxval)
    virtual = virtual_coil_count(coil_compression, info.num_coils)
    warned: set[str] = set()
    setup = time.perf_counter() - start
    for first in range(0, len(indices), chunk):
        if cancel is not None and cancel():
            raise Cancelled(f"reconstruction of {info.name} cancelled after {first} slices")
        tick = time.perf_counter()
        group = indices[first : first + chunk]
        kspace = torch.stack([torch.from_numpy(np.ascontiguousarray(volume.kspace(i), dtype=np.complex64))
                              for i in group]).to(dev)
        per_slice = [[b for b in boxes or () if b.slice == i] for i in group]
        batch = reconstruct_batch(kspace, sampling, recon, entry, recon_shape=recon_shape, net_c=net_c,
                                  sensitivity_method=sensitivity_method, sensitivity_params=sensitivity_params,
                                  coil_compression=coil_compression, focus_boxes=per_slice if entry.needs_boxes else None,
                                  readout_margin=readout_margin, cancel=cancel)
        for line in batch.coil_map_warnings:
            # once per run and kind: the slices of one mask fail alike (their numbers differ)
            if warn and finding_kind(line) not in warned:
                warned.add(finding_kind(line))
                warnings.warn(line, CalibrationWarning, stacklevel=2)
        images = batch.magnitude.cpu().numpy()
        done = time.perf_counter() - tick
        results = []
        for n, index in enumerate(group):
            timings = {key: value / len(group) for key, value in batch.timings.items()}
            scores = {}
            if reference is not None and maxval is not None:
                clock = time.perf_counter()
                scored = score_slice(reference[index], images[n], maxval, per_slice[n])
                timings["metrics"] = time.perf_counter() - clock
                scores = {"psnr": scored.psnr, "ssim": scored.ssim, "nmse": scored.nmse, "lf_psnr": scored.lf_psnr,
                          "lf_ssim": scored.lf_ssim, "ssim_map": scored.ssim_map}
            timings["total"] = done / len(group) + timings.get("metrics", 0.0) + (setup if first == 0 and n == 0 else 0.0)
            found = batch.classification
            results.append(SliceResult(
                method=method, slice=index, image=images[n], cam=None if found is None else found.cams[n],
                lesion_probability=None if found is None else lesion_probability(found.logits[n, 0]),
                timings=timings, device=str(dev), class_logits=None if found is None else found.logits[n],
                class_scores=None if found is None else found.scores[n], mask=sampling, mask_key=mask_key,
                virtual_coils=virtual, coil_maps=batch.coil_maps, coil_map_warnings=batch.coil_map_warnings,
                **scores))
        if progress is not None:
            progress(first + len(group), len(indices))
        yield from results


__all__ = [
    "LEARNED_SLICES_PER_CALL",
    "SHIPPED",
    "BatchResult",
    "SliceSource",
    "check_recon_shape",
    "coil_maps_for",
    "reconstruct_batch",
    "run_slices",
]
