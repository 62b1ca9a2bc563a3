"""The work of the session's reconstruction jobs: the slice pipeline, one slice and method a step.

A job gets a :class:`JobSnapshot` of the session state, taken on the state-owning thread when
it is made, and reads nothing else, so it may run on any thread. Each step is one call of
:func:`lfmri_core.pipeline.run_slices` (the path ``lfmri evaluate`` takes too), so the results
the viewers show are the pipeline's :class:`~lfmri_core.pipeline.SliceResult` unchanged.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.fastmri_h5 import VolumeInfo
from lfmri_core.io.volume import KSpaceVolume
from lfmri_core.masks import SamplingMask
from lfmri_core.pipeline import ClassifierArg, SliceResult, run_slices
from lfmri_core.recon.registry import Cancelled
from lfmri_viewer.jobs import Job, Progress


@dataclass(frozen=True)
class JobSnapshot:
    """What a job needs from the state, taken on the state-owning thread when it is made."""

    volume: KSpaceVolume
    mask: SamplingMask
    mask_key: tuple[object, ...]
    device: str
    virtual_coils: int | None
    reference: np.ndarray | None
    """The reference volume ``(slices, rh, rw)``, or None (no metrics)."""
    maxval: float | None
    boxes: tuple[LesionBox, ...]
    """The volume's boxes when the job was made (the LF metrics of the results; the readouts
    re-pool them in the boxes of the moment)."""
    classifier: ClassifierArg


class LastSlice:
    """A volume whose last slice read is kept: the methods of one slice read its k-space once."""

    def __init__(self, volume: KSpaceVolume) -> None:
        self._volume = volume
        self._last: tuple[int, np.ndarray] | None = None

    @property
    def info(self) -> VolumeInfo:
        return self._volume.info

    def kspace(self, index: int) -> np.ndarray:
        if self._last is None or self._last[0] != index:
            self._last = (index, np.asarray(self._volume.kspace(index)))
        return self._last[1]


def reconstruct_job(job: Job[Any], snap: JobSnapshot, todo: list[tuple[int, str]]) -> Generator[Progress, None, list[SliceResult]]:
    """The work of a reconstruction job: ``todo``'s ``(slice, method)`` pairs in order, each
    result sent as a progress payload as soon as it is made (runs on any thread; reads only
    ``snap``)."""
    done: list[SliceResult] = []
    source = LastSlice(snap.volume)
    for n, (index, method) in enumerate(todo):
        if job.is_cancelled():
            raise Cancelled(f"{job.name} cancelled")
        yield Progress(n, len(todo), f"{method} on slice {index}")
        # the coil-map checks' findings come back in the result and become notices, not warnings
        (result,) = run_slices(source, [index], snap.mask, method, device=snap.device, classifier=snap.classifier,
                               reference=snap.reference, maxval=snap.maxval, boxes=snap.boxes,
                               coil_compression=snap.virtual_coils, mask_key=snap.mask_key, cancel=job.is_cancelled)
        done.append(result)
        yield Progress(n + 1, len(todo), f"{method} on slice {index} done", payload=[result])
    return done


__all__ = ["JobSnapshot", "LastSlice", "reconstruct_job"]
