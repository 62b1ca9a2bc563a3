"""The session controller: one owner of the viewer state, with events and jobs; no GUI.

Both front ends (the napari plugin and the Jupyter widgets) are subscribers of one
:class:`SessionController` (the mpl-interactions pattern): they set its state
(:meth:`~SessionController.open`, :meth:`~SessionController.set_slice`,
:meth:`~SessionController.update`, :meth:`~SessionController.set_boxes`), run its jobs with their
own runner (napari's ``thread_worker``, a thread in Jupyter, or :func:`~lfmri_viewer.jobs.run_sync`)
and redraw when its events fire. Same state, same numbers, whichever front end shows them.

>>> session = SessionController()                                  # doctest: +SKIP
>>> session.open_sample("PD")                                      # doctest: +SKIP
>>> session.update(acceleration=8, methods=("zero-filled", "lfmri"))  # doctest: +SKIP
>>> session.reconstruct_slice()                                    # doctest: +SKIP
>>> session.readouts()["lfmri"].lf_psnr                            # doctest: +SKIP
31.2

The controller is split by responsibility: this module holds the volume, the slice and
settings, the mask, the cached results and the jobs; :mod:`lfmri_viewer.session_boxes` the
lesion boxes and annotations, :mod:`lfmri_viewer.session_exports` the exports and tables,
:mod:`lfmri_viewer.session_jobs` the jobs' work (the slice pipeline,
:func:`lfmri_core.pipeline.run_slices`: the numbers shown are ``lfmri evaluate``'s) and
:mod:`lfmri_viewer.session_inputs` how reading a user's file fails.

Conventions: images are magnitudes at the recon size ``(rh, rw)`` (fastMRI's centre crop), in
the stored frame of ``reconstruction_rss``; lesion boxes are in that frame too. Metrics use the
reference volume's maximum as data range (fastMRI's convention), so slices compare.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal, SignalGroup

from lfmri_core.coils import finding_kind, virtual_coil_count
from lfmri_core.device import cuda_fallback, resolve_device
from lfmri_core.display import DisplayFrame, window_presets
from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.fastmri_h5 import VolumeInfo
from lfmri_core.io.protected import check_output, protect_inputs
from lfmri_core.io.volume import KSpaceVolume, open_volume, volume_files
from lfmri_core.masks import SamplingMask
from lfmri_core.pipeline import SHIPPED, ClassifierArg, volume_mask
from lfmri_viewer.cache import ResultCache, default_cache_bytes
from lfmri_viewer.jobs import Job, Progress, Runner, run_sync
from lfmri_viewer.reference import reference_image
from lfmri_viewer.results import Readout, SliceResult, readout
from lfmri_viewer.session_boxes import BoxesMixin
from lfmri_viewer.session_exports import ExportsMixin
from lfmri_viewer.session_inputs import as_input_error, file_list_beside, input_warnings
from lfmri_viewer.session_jobs import JobSnapshot, reconstruct_job
from lfmri_viewer.settings import ReconSettings, default_methods

ERROR_FRACTION = 0.2
"""Error maps are shown on ``[0, ERROR_FRACTION * maxval]`` of the reference volume: one fixed
contrast per volume, so slices and methods compare."""


class SessionEvents(SignalGroup):
    """What a front end can subscribe to (psygnal signals, emitted on the state-owning thread)."""

    volume_opened = Signal(object)
    """The :class:`~lfmri_core.io.fastmri_h5.VolumeInfo` of the newly opened volume."""
    slice_changed = Signal(int)
    settings_changed = Signal(object)
    """The new :class:`~lfmri_viewer.settings.ReconSettings`."""
    auto_update_changed = Signal(bool)
    result_added = Signal(object)
    """A new :class:`~lfmri_viewer.results.SliceResult`."""
    readouts_changed = Signal(int)
    """The slice whose readouts changed (a result came in, or its boxes changed)."""
    boxes_changed = Signal(int)
    """The slice whose boxes changed; -1 for all (annotations loaded)."""
    job_started = Signal(object)
    job_progress = Signal(object, object)
    """``(job, Progress)``."""
    job_finished = Signal(object)
    """The job; its ``state`` says done, failed or cancelled, ``error`` why it failed."""
    notice = Signal(str, str)
    """``(level, message)`` with level ``"info"``, ``"warning"`` or ``"error"``: one line for the user."""


class SessionController(BoxesMixin, ExportsMixin):
    """State, events and jobs of one viewing session.

    Parameters
    ----------
    settings
        Initial reconstruction settings; default zero-filled (and LF-MRI when its weights are
        installed) at 4x with fastMRI's random mask.
    runner
        How jobs run: default :func:`~lfmri_viewer.jobs.run_sync` (on the calling thread). Front
        ends install their own (:attr:`runner`).
    auto_update
        Reconstruct the current slice whenever the slice or a setting changes.
    classifier
        Net_c for the CAMs: ``"shipped"``, a weights file, or None for no CAM.
    cache_bytes
        Memory the cached slice results may take, bytes (least recently used dropped first;
        the results on screen are always kept, so 0 disables caching). Default
        ``LFMRI_VIEWER_CACHE`` from the environment, else 256 MiB: see
        :mod:`lfmri_viewer.cache`.
    """

    def __init__(
        self,
        settings: ReconSettings | None = None,
        *,
        runner: Runner | None = None,
        auto_update: bool = False,
        classifier: ClassifierArg = SHIPPED,
        cache_bytes: int | None = None,
    ) -> None:
        self.events = SessionEvents()
        self.runner: Runner = runner or run_sync
        self.classifier = classifier
        self._settings = settings or ReconSettings(methods=default_methods())
        self._auto_update = bool(auto_update)
        self._volume: KSpaceVolume | None = None
        self._path: Path | None = None
        self._slice = 0
        self._reference: np.ndarray | None = None
        self._reference_done = False
        self._boxes: dict[int, tuple[LesionBox, ...]] = {}
        self._annotations_source: Path | None = None
        self._study_findings: tuple[str, ...] = ()
        self._unsaved_edits = False
        self._inputs: tuple[Path, ...] = ()
        self._results = ResultCache(default_cache_bytes() if cache_bytes is None else cache_bytes)
        self._mask: tuple[tuple[object, ...], SamplingMask] | None = None
        self._presets: dict[str, tuple[float, float]] | None = None
        self._key_parts: tuple[ReconSettings, KSpaceVolume, tuple[object, ...]] | None = None
        """The settings and volume the last cache key was made for, and its settings part."""
        self._coil_rss: tuple[KSpaceVolume, int, np.ndarray] | None = None
        """The root sum of squares over coils of the last k-space slice shown, ``(H, W)``."""
        self._job: Job[Any] | None = None
        self._warned_device = False
        self._warned_maps: set[str] = set()

    # ------------------------------------------------------------------------------------------
    # volume
    def open(
        self,
        path: str | os.PathLike[str],
        *,
        annotations: str | os.PathLike[str] | None = None,
        file_list: str | os.PathLike[str] | None = None,
    ) -> VolumeInfo:
        """Open a fastMRI ``.h5`` or BART ``.cfl`` volume (read-only, lazily, slice by slice).

        Its reference image is read now (the stored target, or the RSS of the k-space slice by
        slice): every front end shows it at once, and a file damaged there is refused here.
        Annotations come from ``annotations`` (a fastMRI+ CSV, with its file list: by default
        ``<name>_file_list.csv`` beside it when there is one) when given, else from fastMRI+
        CSVs found beside the file; CSVs skipped there and boxes dropped (entirely outside the
        image) are ``"warning"`` notices.

        Raises :class:`InputError` (one line) for a file that cannot be read, whatever the
        reader raised; the previous volume then stays open. The files read become the
        session's :attr:`inputs`, which its writers refuse to write over.
        """
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a folder; open a fastMRI .h5 or BART .cfl file")
        if annotations is not None and file_list is None:
            file_list = file_list_beside(annotations)
        with input_warnings() as skipped, as_input_error(path.name):
            volume = open_volume(path)
            try:
                info = volume.info
                if info.num_slices < 1:
                    raise InputError(f"{path.name}: holds no slices")
                found, read = self._read_annotations(path, info, annotations, file_list)
                reference = _reference_of(volume)
            except BaseException:
                volume.close()
                raise
        self.close()
        self._volume, self._path = volume, path
        self._reference, self._reference_done = reference, True
        self._inputs = (*volume_files(path), *read)
        self._slice = info.num_slices // 2
        self._set_annotations(found, Path(annotations) if annotations is not None else None)
        self.events.volume_opened.emit(info)
        self.events.boxes_changed.emit(-1)
        self.events.slice_changed.emit(self._slice)
        for message in skipped:
            self.events.notice.emit("warning", message)
        self._maybe_auto_update()
        return info

    def open_sample(self, contrast: str = "PD") -> VolumeInfo:
        """Open the embedded synthetic knee (``"PD"`` or ``"PDFS"``), generating it on first use."""
        from lfmri_sample_data import ensure_sample_data, manifest

        by_contrast = {v["contrast"].upper(): v["stem"] for v in manifest()["volumes"]}
        stem = by_contrast.get(str(contrast).upper())
        if stem is None:
            raise InputError(f"unknown sample contrast {contrast!r}; choose one of {', '.join(by_contrast)}")
        path = next(p for p in ensure_sample_data() if p.suffix == ".h5" and p.stem == stem)
        return self.open(path)

    def close(self) -> None:
        """Cancel any job, close the volume and forget its results.

        Box edits not saved (:attr:`unsaved_box_edits`) are dropped with a ``"warning"`` notice.
        """
        self.cancel()
        if self._unsaved_edits and self._path is not None:
            self.events.notice.emit("warning", f"the lesion box edits of {self._path.name} were not saved "
                                    "(Save annotations writes them as a fastMRI+ CSV): discarded")
        self._unsaved_edits = False
        if self._volume is not None:
            self._volume.close()
        self._volume = self._path = None
        self._reference, self._reference_done = None, False
        self._boxes, self._annotations_source, self._study_findings = {}, None, ()
        self._inputs = ()
        self._results.clear()
        self._mask = None
        self._presets = None
        self._key_parts = None
        self._coil_rss = None

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def inputs(self) -> tuple[Path, ...]:
        """The files this session read: the volume (both files of a BART array) and every
        annotation CSV and file list loaded. :meth:`save_annotations` and the exports refuse
        to write over them; empty when no volume is open."""
        return self._inputs

    def check_output(self, path: str | os.PathLike[str]) -> Path:
        """``path`` if a front end may write its own output there (a screenshot, say), else
        :class:`InputError`: it is one of the session's :attr:`inputs`."""
        with protect_inputs(*self._inputs):
            check_output(path)
        return Path(path)

    @property
    def info(self) -> VolumeInfo:
        """The open volume's description; :class:`InputError` when none is open."""
        return self._require().info

    @property
    def is_open(self) -> bool:
        return self._volume is not None

    @property
    def num_slices(self) -> int:
        return self.info.num_slices

    @property
    def recon_shape(self) -> tuple[int, int]:
        return self.info.recon_shape

    @property
    def display_frame(self) -> DisplayFrame:
        """How the open volume's slices are shown (display orientation and pixel spacing in mm,
        from the header): the one transform every view applies (:mod:`lfmri_core.display`)."""
        return DisplayFrame.for_volume(self.info)

    @property
    def pixel_mm(self) -> tuple[float, float] | None:
        """``(row, col)`` pixel spacing in mm of the reconstructions; None without geometry."""
        return self.display_frame.pixel_mm

    def window_presets(self) -> dict[str, tuple[float, float]]:
        """Contrast limits of the window/level presets (:data:`~lfmri_core.display.WINDOW_PRESETS`)
        for the reference and every reconstruction, from the reference volume's histogram (from
        the reconstructions shown so far for a file without a reference)."""
        if self._presets is None:
            reference = self.reference_volume()
            if reference is None:  # not kept: more reconstructions make a better histogram
                found = (self._results.get(key) for key in list(self._results))
                images = [r.image for r in found if r is not None] or [np.zeros((1, 1), np.float32)]
                return window_presets(np.stack([i for i in images if i.shape == images[0].shape]))
            self._presets = window_presets(reference)
        return dict(self._presets)

    @property
    def is_undersampled_file(self) -> bool:
        """The file stores undersampled k-space (fastMRI test data): its own mask is used."""
        return self.info.mask is not None

    def _require(self) -> KSpaceVolume:
        if self._volume is None:
            raise InputError("no volume is open; open a fastMRI .h5 or BART .cfl file, or a sample")
        return self._volume

    # ------------------------------------------------------------------------------------------
    # reference image
    def reference_volume(self) -> np.ndarray | None:
        """The reference ``(slices, rh, rw)``: the stored ``reconstruction_rss`` (or ESC), else
        the RSS of fully sampled k-space; None for undersampled files without a reference."""
        volume = self._require()
        if not self._reference_done:
            with as_input_error(f"{volume.info.name}: the reference image"):
                self._reference = _reference_of(volume)
            self._reference_done = True
        return self._reference

    def reference(self, index: int | None = None) -> np.ndarray | None:
        """The reference slice ``(rh, rw)``, or None."""
        ref = self.reference_volume()
        return None if ref is None else ref[self._index(index)]

    @property
    def maxval(self) -> float | None:
        """Data range of the metrics: the reference volume's maximum (fastMRI's convention)."""
        ref = self.reference_volume()
        return None if ref is None else float(ref.max())

    def error_limits(self) -> tuple[float, float]:
        """Contrast limits of the error maps, fixed per volume."""
        maxval = self.maxval
        return (0.0, ERROR_FRACTION * maxval if maxval else 1.0)

    # ------------------------------------------------------------------------------------------
    # slice and settings
    @property
    def slice_index(self) -> int:
        return self._slice

    def check_slice(self, index: int | None = None) -> int:
        """``index`` (default the current slice) checked against the volume; :class:`InputError` if absent."""
        return self._index(index)

    def _index(self, index: int | None) -> int:
        n = self.num_slices
        value = self._slice if index is None else index
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < n:
            raise InputError(f"slice {value!r} does not exist: the volume has {n} slices (0..{n - 1})")
        return int(value)

    def set_slice(self, index: int) -> None:
        """Move to slice ``index`` (auto-update reconstructs it)."""
        index = self._index(index)
        if index == self._slice:
            return
        self._slice = index
        self.events.slice_changed.emit(index)
        self._maybe_auto_update()

    @property
    def settings(self) -> ReconSettings:
        return self._settings

    def update(self, **changes: Any) -> ReconSettings:
        """Change settings (checked first: a bad value raises and changes nothing)."""
        new = self._settings.updated(**changes)
        if new == self._settings:
            return new
        if self._volume is not None and not self.is_undersampled_file and new.mask_key() != self._settings.mask_key():
            volume_mask(self.info, new.mask_spec())  # a mask this volume cannot have fails here, not later
        self._settings = new
        self.events.settings_changed.emit(new)
        self._maybe_auto_update()
        return new

    @property
    def auto_update(self) -> bool:
        return self._auto_update

    def set_auto_update(self, on: bool) -> None:
        """Reconstruct the current slice on every slice or setting change (starts one now)."""
        on = bool(on)
        if on == self._auto_update:
            return
        self._auto_update = on
        self.events.auto_update_changed.emit(on)
        self._maybe_auto_update()

    def _maybe_auto_update(self) -> None:
        if self._auto_update and self._volume is not None:
            # Nobody asked for this job: a job that cannot start is a notice, and the slice or
            # setting change that started it stands.
            try:
                self.reconstruct_slice()
            except InputError as error:
                self.events.notice.emit("error", f"reconstruct slice {self._slice} failed: {error}")

    def _virtual_coils(self) -> int | None:
        """The virtual-coil setting, None when it keeps every coil of the open volume."""
        return None if self._volume is None else virtual_coil_count(self._settings.virtual_coils, self.info.num_coils)

    def _device(self) -> str:
        """The device the jobs run on (:func:`lfmri_core.device.resolve_device`); a CUDA choice
        without a GPU runs on the CPU, with one ``"warning"`` notice per session."""
        fallback = cuda_fallback(self._settings.device)
        if fallback is not None and not self._warned_device:
            self._warned_device = True
            self.events.notice.emit("warning", fallback)
        return str(resolve_device(self._settings.device, warn=False))

    # ------------------------------------------------------------------------------------------
    # mask and k-space
    def _mask_key(self) -> tuple[object, ...]:
        return ("stored",) if self.is_undersampled_file else self._settings.mask_key()

    def mask(self) -> SamplingMask:
        """The sampling mask of the volume for the current settings (stored mask for test files)."""
        info = self.info
        key = self._mask_key()
        if self._mask is None or self._mask[0] != key:
            spec = None if self.is_undersampled_file else self._settings.mask_spec()
            self._mask = (key, volume_mask(info, spec))
        return self._mask[1]

    def mask_image(self) -> np.ndarray:
        """The mask as an ``(H, W)`` float32 image (1 sampled, 0 not), line masks broadcast."""
        pattern = self.mask().pattern
        height, width = self.info.image_shape
        image = np.broadcast_to(pattern, (height, width)) if pattern.ndim == 1 else pattern
        return np.ascontiguousarray(image, dtype=np.float32)

    def kspace_image(self, index: int | None = None) -> np.ndarray:
        """``log(1 + |k|)`` of the undersampled k-space (RSS over coils), ``(H, W)`` float32."""
        volume, index = self._require(), self._index(index)
        # The coils' RSS does not depend on the mask: kept for the slice, so a mask change (a
        # drawn edit, say) does not read and sum every coil again.
        if self._coil_rss is None or self._coil_rss[0] is not volume or self._coil_rss[1] != index:
            kspace = np.asarray(volume.kspace(index))
            self._coil_rss = (volume, index, np.sqrt((np.abs(kspace) ** 2).sum(axis=0)))
        magnitude = self._coil_rss[2] * self.mask_image()
        scale = float(np.median(magnitude[magnitude > 0])) if (magnitude > 0).any() else 1.0
        return np.log1p(magnitude / scale).astype(np.float32)

    def iterations(self, method: str, index: int | None = None, *, every: int = 1,
                   cancel: Any = None) -> Generator[Any, None, np.ndarray]:
        """The image after every ``every``-th iteration of ``method`` (``cg-sense``, ``cs-wavelet``,
        ``cs-tv``) on a slice (default the current) with the session's mask, device and virtual
        coils: :func:`lfmri_core.iterations.iterate_slices`, whose last image is the one
        :meth:`reconstruct_slice` stores. Runs on the calling thread; nothing is stored."""
        from lfmri_core.iterations import iterate_slices

        index = self._index(index)
        return iterate_slices(np.asarray(self._require().kspace(index)), self.mask(), method, device=self._device(),
                              recon_shape=self.recon_shape, coil_compression=self._virtual_coils(), every=every,
                              cancel=cancel)

    # ------------------------------------------------------------------------------------------
    # results
    def _key(self, method: str, index: int) -> tuple[object, ...]:
        # made once per settings and volume: a scene refill looks up every slice of every method
        parts = self._key_parts
        if parts is None or parts[0] is not self._settings or parts[1] is not self._volume:
            parts = self._key_parts = (self._settings, self._require(),
                                       (self._mask_key(), self._device(), self._virtual_coils()))
        return (method, index, *parts[2])

    def result(self, method: str, index: int | None = None) -> SliceResult | None:
        """The stored result of ``method`` on a slice for the current settings, or None."""
        return self._results.get(self._key(method, self._index(index)))

    @property
    def cache(self) -> ResultCache:
        """The results kept in memory (its ``budget`` in bytes may be changed at any time)."""
        return self._results

    def results(self, index: int | None = None, methods: Sequence[str] | None = None) -> dict[str, SliceResult]:
        """Stored results on a slice of ``methods`` (default the current ones); methods not yet
        run are absent."""
        index = self._index(index)
        return {m: r for m in (methods or self._settings.methods) if (r := self.result(m, index)) is not None}

    def missing(self, index: int | None = None, methods: Sequence[str] | None = None) -> list[str]:
        """Methods (of ``methods``, default the current ones) without a result on a slice."""
        index = self._index(index)
        return [m for m in (methods or self._settings.methods) if self.result(m, index) is None]

    def error_map(self, method: str, index: int | None = None) -> np.ndarray | None:
        """``|reconstruction - reference|``, float32 ``(rh, rw)``; None without either."""
        result, ref = self.result(method, index), self.reference(index)
        if result is None or ref is None:
            return None
        return np.abs(result.image - ref).astype(np.float32)

    def readouts(self, index: int | None = None, methods: Sequence[str] | None = None) -> dict[str, Readout]:
        """PSNR, SSIM, LF-PSNR, LF-SSIM, CAM hit and timings of each computed method (of
        ``methods``, default the current ones) on a slice, with the slice's current boxes."""
        index = self._index(index)
        ref, maxval, boxes = self.reference(index), self.maxval, self.boxes(index)
        pixel_mm = self.pixel_mm
        return {m: readout(r, ref, boxes, maxval, pixel_mm) for m, r in self.results(index, methods).items()}

    def _store(self, results: Iterable[SliceResult]) -> None:
        touched: set[int] = set()
        for result in results:
            key = (result.method, result.slice, result.mask_key, result.device, result.virtual_coils)
            stored = self._results.put(key, result)
            touched.add(result.slice)
            self.events.result_added.emit(stored)
            # each kind of finding once per session: the mask, not the slice, decides it
            for line in result.coil_map_warnings:
                if finding_kind(line) not in self._warned_maps:
                    self._warned_maps.add(finding_kind(line))
                    self.events.notice.emit("warning", f"{result.method}, slice {result.slice}: {line}")
        self._results.trim(keep=self._shown_keys())
        for index in sorted(touched):
            self.events.readouts_changed.emit(index)

    def _shown_keys(self) -> set[tuple[object, ...]]:
        """Cache keys of what the front ends show: the current slice under the current settings."""
        if self._volume is None:
            return set()
        return {self._key(method, self._slice) for method in self._settings.methods}

    # ------------------------------------------------------------------------------------------
    # jobs
    @property
    def current_job(self) -> Job[Any] | None:
        """The job started last, if it has not finished."""
        return self._job if self._job is not None and not self._job.finished else None

    def cancel(self) -> None:
        """Cancel the running job (its partial results already shown stay)."""
        if self._job is not None and not self._job.finished:
            self._job.cancel()

    def reconstruct_slice(self, index: int | None = None, methods: Sequence[str] | None = None) -> Job[Any] | None:
        """Reconstruct one slice (default the current) with the methods lacking a result.

        Replaces (cancels) a running job. Returns the job, or None when every result is there
        already (then ``readouts_changed`` fires at once).
        """
        index = self._index(index)
        todo = [(index, m) for m in self.missing(index, methods)]
        if not todo:
            self.cancel()
            self.events.readouts_changed.emit(index)
            return None
        return self._submit(f"reconstruct slice {index}", todo)

    def reconstruct_volume(self, methods: Sequence[str] | None = None) -> Job[Any] | None:
        """Reconstruct every slice with the methods lacking a result, current slice first."""
        n = self.num_slices
        return self.reconstruct_slices([self._slice] + [i for i in range(n) if i != self._slice], methods)

    def reconstruct_slices(self, indices: Iterable[int], methods: Sequence[str] | None = None) -> Job[Any] | None:
        """Reconstruct the given slices, in that order, with the methods lacking a result.

        Replaces (cancels) a running job; returns None when nothing is missing.
        """
        order = list(dict.fromkeys(self._index(i) for i in indices))
        todo = [(i, m) for i in order for m in self.missing(i, methods)]
        if not todo:
            self.cancel()
            return None
        name = f"reconstruct slice {order[0]}" if len(order) == 1 else f"reconstruct {len(order)} slices"
        return self._submit(name, todo)

    def _submit(self, name: str, todo: list[tuple[int, str]]) -> Job[Any]:
        self.cancel()
        snapshot = JobSnapshot(
            volume=self._require(), mask=self.mask(), mask_key=self._mask_key(), device=self._device(),
            virtual_coils=self._virtual_coils(), reference=self.reference_volume(), maxval=self.maxval,
            boxes=self.all_boxes(), classifier=self.classifier,
        )
        job: Job[list[SliceResult]] = Job(name, lambda j: reconstruct_job(j, snapshot, todo),
                                          on_complete=lambda _: None, on_payload=self._store)
        job.progress_listeners.append(self._progress)
        job.finish_listeners.append(self._finished)
        self._job = job
        self.events.job_started.emit(job)
        self.runner(job)
        return job

    def _progress(self, job: Job[Any], progress: Progress) -> None:
        if job is self._job:  # a job replaced by a newer one reports nothing more
            self.events.job_progress.emit(job, progress)

    def _finished(self, job: Job[Any]) -> None:
        if job is not self._job:
            return
        if job.error is not None:
            self.events.notice.emit("error", f"{job.name} failed: {job.error}")
        self.events.job_finished.emit(job)



def _reference_of(volume: KSpaceVolume) -> np.ndarray | None:
    """The reference ``(slices, rh, rw)`` of a volume; None for an undersampled file without one."""
    if volume.info.mask is not None and not volume.info.targets:
        return None
    return reference_image(volume)[0]



__all__ = ["ERROR_FRACTION", "SessionController", "SessionEvents"]
