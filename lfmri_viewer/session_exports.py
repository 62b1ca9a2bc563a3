"""What the session writes: exported volumes, the failure-case table and the readouts as CSV.

A part of :class:`~lfmri_viewer.controller.SessionController`, kept apart so each file of the
controller reads in one sitting. Every writer refuses the session's inputs
(:attr:`~lfmri_viewer.controller.SessionController.inputs`) and writes atomically.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import numpy as np
import torch

from lfmri_core.errors import InputError
from lfmri_core.io.protected import protect_inputs
from lfmri_viewer.csv_table import write_csv
from lfmri_viewer.review import FailureCase, failure_cases, write_failure_csv
from lfmri_viewer.session_inputs import input_warnings


class ExportsMixin:
    """Exports and tables of :class:`~lfmri_viewer.controller.SessionController`."""

    _inputs: tuple[Path, ...]
    _pointer_cache: dict[tuple[str, int], tuple[weakref.ref[np.ndarray], np.ndarray]] | None = None
    """Net_c's refined pointer per (method, slice), with the image it was computed on, weakly:
    the result cache decides what stays in memory (:meth:`_pointers`)."""

    def export_volumes(self, path: str | os.PathLike[str], method: str | None = None,
                       fmt: str | None = None) -> list[Path]:
        """Export ``method``'s reconstruction (default the last chosen method), its error map
        (with a reference) and its CAM (with a classifier), for the current settings, as NIfTI
        (``.nii.gz``: three files), HDF5 (one file, the source's header kept) or DICOM (a
        folder, with the boxes as an SR); see :mod:`lfmri_core.io.export`.

        Exports the slices reconstructed so far (a ``"warning"`` notice when that is not every
        slice; :class:`InputError` when none is). Never over one of the :attr:`inputs`. A volume
        without an ISMRMRD header gets 1 mm voxels and a ``"warning"`` notice.
        """
        from lfmri_core.io.export import ExportVolumes, export_volumes

        volume = self._require()
        info = volume.info
        method = method or self._settings.methods[-1]
        done = [i for i in range(info.num_slices) if self.result(method, i) is not None]
        if not done:
            raise InputError(f"no slice reconstructed with {method} for these settings yet: reconstruct the volume "
                             "first, then export it")
        results = [self.result(method, i) for i in done]
        images = np.stack([r.image for r in results if r is not None])
        errors = [self.error_map(method, i) for i in done]
        cams = [r.cam for r in results if r is not None]
        mask = self.mask()
        data = ExportVolumes(
            reconstruction=images, slices=tuple(done), num_slices=info.num_slices, method=method,
            acceleration=mask.achieved_acceleration, mask_name=mask.name,
            error=None if any(e is None for e in errors) else np.stack(errors),  # type: ignore[arg-type]
            cam=None if any(c is None for c in cams) else np.stack(cams),  # type: ignore[arg-type]
            boxes=tuple(b for b in self.all_boxes() if b.slice in done), mask_pattern=mask.pattern,
            header_xml=getattr(volume, "header_xml", None) if info.has_header else None,
            source_attrs=info.attrs, source=info.name)
        with input_warnings() as notes, protect_inputs(*self._inputs):
            files = export_volumes(path, data, fmt)
        for message in notes:
            self.events.notice.emit("warning", message)
        if len(done) < info.num_slices:
            self.events.notice.emit("warning", f"exported the {len(done)} of {info.num_slices} slices reconstructed "
                                    f"with {method} so far")
        return files

    def failure_cases(self, method: str | None = None, *, pointer: bool = False) -> list[FailureCase]:
        """Slices with boxes ranked by how far the CAM (on ``method``'s reconstructions, default
        the last chosen method) misses them; only slices already reconstructed count.

        With ``pointer``, each row also scores Net_c's refined pointer
        (:func:`~lfmri_core.pipeline.classifier.gated_saliency`) on that reconstruction: one
        backward pass through Net_c per slice, on the calling thread, kept until the
        slice's result changes."""
        method = method or self._settings.methods[-1]
        cams, probabilities, images = {}, {}, {}
        for index in range(self.num_slices):
            result = self.result(method, index)
            if result is not None and result.cam is not None:
                cams[index], probabilities[index] = result.cam, result.lesion_probability
                images[index] = result.image
        boxes = {i: self._boxes[i] for i in self._boxes}
        pointers = self._pointers(method, {i: images[i] for i in images if boxes.get(i)}) if pointer else None
        return failure_cases(cams, boxes, method=method, probabilities=probabilities, pixel_mm=self.pixel_mm,
                             pointers=pointers)

    def _pointers(self, method: str, images: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Net_c's refined pointer on ``method``'s slice images (slice -> map), from the session's
        cache where the same image was pointed at before; {} without a classifier."""
        from lfmri_core.pipeline.classifier import gated_saliency, load_classifier

        if self._pointer_cache is None:
            self._pointer_cache = {}
        cache = self._pointer_cache
        for key in [key for key, (image, _) in cache.items() if image() is None]:
            del cache[key]  # its result left the result cache (or the volume was closed)

        def known(i: int) -> bool:
            entry = cache.get((method, i))
            return entry is not None and entry[0]() is images[i]

        wanted = [i for i in sorted(images) if not known(i)]
        if wanted:
            device = self._device()
            net_c = load_classifier(self.classifier, torch.device(device))
            if net_c is None:
                return {}
            maps = gated_saliency(net_c, np.stack([images[i] for i in wanted]), device=device)
            for i, found in zip(wanted, maps, strict=True):
                cache[(method, i)] = (weakref.ref(images[i]), found)  # a new result (a new image) recomputes
        return {i: cache[(method, i)][1] for i in images}

    def export_failure_csv(self, path: str | os.PathLike[str], method: str | None = None, *,
                           pointer: bool = False) -> Path:
        """Write the failure-case table as CSV (never over one of the :attr:`inputs`); with
        ``pointer``, with Net_c's refined pointer (see :meth:`failure_cases`)."""
        cases = self.failure_cases(method, pointer=pointer)
        with protect_inputs(*self._inputs):
            write_failure_csv(path, cases)
        return Path(path)

    def readout_rows(self, index: int | None = None) -> list[dict[str, object]]:
        """The readouts of a slice as flat rows (for a table or CSV)."""
        return [r.as_row() for r in self.readouts(index).values()]

    def export_readouts_csv(self, path: str | os.PathLike[str], index: int | None = None) -> Path:
        """Write a slice's readouts as CSV (never over one of the :attr:`inputs`)."""
        rows = self.readout_rows(index)
        with protect_inputs(*self._inputs):
            return write_csv(path, rows)



__all__ = ["ExportsMixin"]
