"""Reconstruct a fastMRI volume slice by slice: undersample, run a method, crop.

A loop over the slice pipeline (:func:`lfmri_core.pipeline.run_slices`), which reads one slice
at a time (volumes stay lazy), applies the volume's sampling mask (all slices share it, as in
fastMRI's per-file seed convention) with the header's padding, runs the named method and
centre-crops the magnitude to the recon size; this module collects the images and timings of
a volume (``lfmri recon``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.volume import KSpaceVolume
from lfmri_core.masks import MaskSpec, SamplingMask
from lfmri_core.pipeline import LEARNED_SLICES_PER_CALL, coil_maps_for, run_slices, volume_mask
from lfmri_core.coils import finding_kind
from lfmri_core.device import resolve_device
from lfmri_core.progress import Cancel, Progress
from lfmri_core.recon.registry import method_info

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
        Of ``seconds``, the time spent making coil maps (the learned methods' own included;
        zeros for methods without maps).
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


def reconstruct_volume(
    volume: KSpaceVolume,
    *,
    method: str = "zero-filled",
    mask_spec: MaskSpec | None = None,
    slices: Sequence[int] | None = None,
    device: str | torch.device = "auto",
    progress: Progress | None = None,
    cancel: Cancel | None = None,
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
    indices = tuple(range(info.num_slices)) if slices is None else tuple(int(s) for s in slices)
    images = np.empty((len(indices), *info.recon_shape), dtype=np.float32)
    seconds = np.empty(len(indices))
    map_seconds = np.zeros(len(indices))
    estimated: list[str] = []
    map_warnings: list[str] = []
    device_used = str(resolve_device(device, warn=False))
    mask = volume_mask(info, mask_spec)
    # the learned methods' own maps are not an estimate to report (their name may equal one: lowres)
    estimates_maps = coil_maps_for(method_info(method)) == "estimated"
    for n, result in enumerate(run_slices(
            volume, indices, mask, method, method_params=method_params, device=device, boxes=lesion_boxes,
            sensitivity_method=sensitivity_method, sensitivity_params=sensitivity_params,
            coil_compression=coil_compression, slices_per_call=slices_per_call, progress=progress, cancel=cancel,
            warn=True)):
        images[n] = result.image
        seconds[n] = result.recon_seconds
        map_seconds[n] = result.timings["maps"]
        device_used = result.device
        if estimates_maps and result.coil_maps is not None:
            estimated.append(result.coil_maps)
        map_warnings += [line for line in result.coil_map_warnings
                         if finding_kind(line) not in {finding_kind(w) for w in map_warnings}]
    needs_maps = len(estimated) == len(indices) and bool(indices)
    return VolumeReconstruction(images, indices, mask, method, seconds, device_used, map_seconds,
                                ", ".join(dict.fromkeys(estimated)) if needs_maps else None,
                                tuple(estimated) if needs_maps else None, tuple(map_warnings))


__all__ = ["LEARNED_SLICES_PER_CALL", "VolumeReconstruction", "reconstruct_volume", "volume_mask"]
