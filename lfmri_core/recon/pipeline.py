"""Reconstruct a fastMRI volume slice by slice: undersample, run a method, crop.

The pipeline reads one slice at a time (volumes stay lazy), applies the volume's sampling mask
(all slices share it, as in fastMRI's per-file seed convention) with the header's padding, runs
the named method and centre-crops the magnitude to the recon size.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
from lfmri_core.io.volume import KSpaceVolume
from lfmri_core.masks import MaskSpec, SamplingMask, seed_from_filename
from lfmri_core.physics import center_crop
from lfmri_core.physics.sense import apply_mask
from lfmri_core.recon.registry import (
    CancelCallback,
    Cancelled,
    build_method,
    method_info,
)

SliceProgress = Callable[[int, int], None]

LEARNED_SLICES_PER_CALL = 8
"""Slices per call of a learned method in :func:`reconstruct_volume` (one forward pass)."""


@dataclass(frozen=True)
class VolumeReconstruction:
    """Result of :func:`reconstruct_volume`.

    Attributes
    ----------
    images
        Magnitude reconstructions, float32 ``(len(slices), rh, rw)`` (centre-cropped).
    slices
        Slice indices reconstructed, in order.
    mask
        The sampling mask used (header padding applied).
    method
        Registered method name.
    seconds
        Wall time per slice, ``(len(slices),)``, coil-map estimation included.
    device
        Device the method ran on.
    map_seconds
        Of ``seconds``, the time spent estimating coil maps (zeros for methods without maps).
    sensitivity_method
        How the coil maps were estimated: the method used (``"nlinv"`` where ESPIRiT's maps
        failed their checks; several, comma-separated, when the slices differ), or None.
    map_estimates
        The coil-map method used for each slice, or None for methods without maps.
    map_warnings
        What the coil-map checks found, in order, each kind once (the first slice's line: the
        slices of one mask fail alike, with other numbers); empty when nothing.
    """

    images: np.ndarray
    slices: tuple[int, ...]
    mask: SamplingMask
    method: str
    seconds: np.ndarray
    device: str
    map_seconds: np.ndarray | None = None
    sensitivity_method: str | None = None
    map_estimates: tuple[str, ...] | None = None
    map_warnings: tuple[str, ...] = ()


def volume_mask(info: VolumeInfo, spec: MaskSpec | None) -> SamplingMask:
    """The sampling mask for a volume.

    Fully sampled files get ``spec`` (default seed: fastMRI's per-file seed from the file
    name), with columns outside the header's acquired range removed. Test files that are
    already undersampled use their stored mask; asking for another one is an error.
    """
    left, right = info.encoding.padding
    if info.mask is not None:
        if spec is not None:
            raise InputError(
                f"{info.name} is already undersampled (stored mask, acceleration "
                f"{info.attrs.get('acceleration', '?')}); reconstruct it without a mask choice"
            )
        return SamplingMask(
            pattern=info.mask.copy(),
            name="stored",
            nominal_acceleration=float(info.attrs.get("acceleration", info.mask.size / max(info.mask.sum(), 1))),
            num_low_frequencies=int(info.attrs.get("num_low_frequency", 0)),
        )
    if spec is None:
        raise InputError(f"{info.name} is fully sampled: choose a mask (name, acceleration, center fraction)")
    if spec.seed is None:
        spec = spec.with_seed(seed_from_filename(info.name))
    mask = spec.build(info.image_shape)
    return mask.with_padding(left, right) if mask.is_1d and (left, right) != (0, info.image_shape[1]) else mask


def reconstruct_volume(
    volume: KSpaceVolume,
    *,
    method: str = "zero-filled",
    mask_spec: MaskSpec | None = None,
    slices: Sequence[int] | None = None,
    device: str | torch.device = "auto",
    progress: SliceProgress | None = None,
    cancel: CancelCallback | None = None,
    method_params: dict[str, object] | None = None,
    sensitivity_method: str = "espirit",
    sensitivity_params: dict[str, object] | None = None,
    coil_compression: int | None = None,
    lesion_boxes: Sequence[LesionBox] | None = None,
    slices_per_call: int | None = None,
) -> VolumeReconstruction:
    """Undersample and reconstruct the chosen slices of ``volume`` with ``method``.

    Parameters
    ----------
    volume
        An open volume (:func:`lfmri_core.io.volume.open_volume`).
    method
        Registered method name (see :func:`lfmri_core.recon.available_methods`).
    mask_spec
        Mask for fully sampled files; must be None for already undersampled files.
    slices
        Slice indices (default: all).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    progress
        Called as ``progress(done_slices, total_slices)``.
    cancel
        Polled between slices and handed to the method; when it returns True,
        :class:`Cancelled` is raised.
    method_params
        Parameters of the method (see its registry entry).
    sensitivity_method, sensitivity_params
        For methods that need coil maps: how to estimate them, per slice, from the
        undersampled k-space's fully sampled centre (:func:`lfmri_core.coils.estimate_sensitivities`;
        ESPIRiT maps that fail its checks are replaced, and the result says so; each kind of
        finding is issued once per volume as a :class:`~lfmri_core.coils.CalibrationWarning`).
    coil_compression
        Compress each slice's coils to this many virtual coils before anything else
        (:func:`lfmri_core.coils.compress_coils`); None, or at least the number of coils, keeps them.
    lesion_boxes
        The volume's annotated boxes (volume slice indices, recon frame), for methods that take
        them (``lfmri-oracle``: :attr:`~lfmri_core.recon.registry.MethodInfo.needs_boxes`);
        ignored by the others.
    slices_per_call
        Slices given to the method at once: learned methods batch them (None:
        :data:`LEARNED_SLICES_PER_CALL` for learned methods, 1 for the others, whose coil maps
        and solvers work per slice). ``seconds`` then spreads each call's time over its slices.
    """
    info = volume.info
    needs_maps = method_info(method).needs_sensitivities
    needs_boxes = method_info(method).needs_boxes
    if needs_boxes and lesion_boxes is None:
        raise InputError(f"{method} needs the lesion boxes of {info.name} (annotated data only)")
    recon_method = build_method(method, **(method_params or {}))
    mask = volume_mask(info, mask_spec)
    dev = resolve_device(device)
    mask_tensor = mask.to_tensor(info.image_shape, device=dev)
    indices = tuple(range(info.num_slices)) if slices is None else tuple(int(s) for s in slices)
    recon_shape = info.recon_shape
    images = np.empty((len(indices), *recon_shape), dtype=np.float32)
    seconds = np.empty(len(indices))
    map_seconds = np.zeros(len(indices))
    used: list[str] = []
    map_warnings: list[str] = []
    chunk = (LEARNED_SLICES_PER_CALL if method_info(method).learned else 1) if slices_per_call is None else slices_per_call
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise InputError(f"slices_per_call must be an integer >= 1, got {chunk!r}")
    for first in range(0, len(indices), chunk):
        if cancel is not None and cancel():
            raise Cancelled(f"reconstruction of {info.name} cancelled after {first} slices")
        group = indices[first : first + chunk]
        kspace = torch.stack([torch.from_numpy(volume.kspace(index)) for index in group]).to(dev)
        start = time.perf_counter()
        undersampled = apply_mask(kspace, mask_tensor)
        virtual = virtual_coil_count(coil_compression, undersampled.shape[1])
        if virtual is not None:
            undersampled = compress_coils(undersampled, virtual, mask=mask).kspace
        maps = None
        if needs_maps:
            estimate = estimate_sensitivities(undersampled, sensitivity_method, mask=mask, warn=False,
                                              **(sensitivity_params or {}))
            maps = estimate.maps
            map_seconds[first : first + len(group)] = (time.perf_counter() - start) / len(group)
            used += [estimate.method] * len(group)
            for line in estimate.warnings:
                # once per volume and kind: the slices of one mask fail alike (their numbers differ)
                if finding_kind(line) not in {finding_kind(w) for w in map_warnings}:
                    map_warnings.append(line)
                    warnings.warn(line, CalibrationWarning, stacklevel=2)
        extra: dict[str, torch.Tensor] = {}
        if needs_boxes:
            from lfmri_core.models.focus import box_focus_maps

            extra["focus"] = box_focus_maps([[b for b in lesion_boxes or () if b.slice == index] for index in group],
                                            tuple(undersampled.shape[-2:]), recon_shape, device=dev)
        image = recon_method(undersampled, mask_tensor, sensitivities=maps, cancel=cancel, **extra)
        images[first : first + len(group)] = center_crop(image.abs(), recon_shape).cpu().numpy()
        seconds[first : first + len(group)] = (time.perf_counter() - start) / len(group)
        if progress is not None:
            progress(first + len(group), len(indices))
    return VolumeReconstruction(images, indices, mask, method, seconds, str(dev), map_seconds,
                                ", ".join(dict.fromkeys(used)) if needs_maps else None,
                                tuple(used) if needs_maps else None, tuple(map_warnings))
