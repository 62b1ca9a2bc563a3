"""The session's lesion boxes: read from fastMRI+ CSVs, edited by the user, saved back.

A part of :class:`~lfmri_viewer.controller.SessionController` (its boxes and annotations
methods), kept apart so each file of the controller reads in one sitting. Boxes are in the
stored frame of the recon-size images; editing one fires ``boxes_changed`` and
``readouts_changed`` (the LF readouts re-pool the stored SSIM map at once).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import (
    FileAnnotations,
    LesionBox,
    find_annotations,
    read_annotations,
    write_annotations,
)
from lfmri_core.io.fastmri_h5 import VolumeInfo
from lfmri_core.io.protected import protect_inputs
from lfmri_viewer.session_inputs import as_input_error, file_list_beside, input_warnings


class BoxesMixin:
    """Lesion boxes and annotations of :class:`~lfmri_viewer.controller.SessionController`."""

    _boxes: dict[int, tuple[LesionBox, ...]]
    _annotations_source: Path | None
    _study_findings: tuple[str, ...]
    _unsaved_edits: bool
    _inputs: tuple[Path, ...]
    _path: Path | None

    # ------------------------------------------------------------------------------------------
    def boxes(self, index: int | None = None) -> tuple[LesionBox, ...]:
        """The boxes on a slice (annotated, or as edited in this session)."""
        return self._boxes.get(self._index(index), ())

    def all_boxes(self) -> tuple[LesionBox, ...]:
        return tuple(b for i in sorted(self._boxes) for b in self._boxes[i])

    @property
    def annotations_source(self) -> Path | None:
        """The CSV the boxes came from (None: none found, or found beside the file)."""
        return self._annotations_source

    def set_boxes(self, index: int, boxes: Iterable[LesionBox]) -> None:
        """Replace a slice's boxes (a user drew, moved or deleted one); LF readouts update.

        Boxes are moved onto ``index`` (labels stripped of surrounding spaces, blank ones
        ``"lesion"``) and must lie inside the recon-size image. Nothing is
        written to disk (see :meth:`save_annotations`).
        """
        index = self._index(index)
        rows, cols = self.recon_shape
        new = []
        for box in boxes:
            # Labels are kept as the fastMRI+ reader gives them back: without surrounding spaces.
            moved = LesionBox(index, box.label.strip() or "lesion", box.row0, box.row1, box.col0, box.col1)
            if not moved.fits((rows, cols)):
                raise InputError(f"box {moved.label!r} (rows {moved.row0}:{moved.row1}, cols {moved.col0}:{moved.col1}) "
                                 f"lies outside the {rows} x {cols} image")
            new.append(moved)
        if tuple(new) == self.boxes(index):
            return
        if new:
            self._boxes[index] = tuple(new)
        else:
            self._boxes.pop(index, None)
        self._unsaved_edits = True
        self.events.boxes_changed.emit(index)
        self.events.readouts_changed.emit(index)

    def load_annotations(self, csv_path: str | os.PathLike[str], file_list: str | os.PathLike[str] | None = None) -> int:
        """Read this volume's boxes from a fastMRI+ CSV the user chose (with ``<name>_file_list.csv``
        beside it when there is one and no ``file_list`` is given); returns how many."""
        if file_list is None:
            file_list = file_list_beside(csv_path)
        with input_warnings() as dropped, as_input_error(Path(csv_path).name):
            found, read = self._read_annotations(self._path or Path(), self.info, csv_path, file_list)
        self._inputs = tuple(dict.fromkeys((*self._inputs, *read)))
        self._set_annotations(found, Path(csv_path))
        self._unsaved_edits = False
        for message in dropped:
            self.events.notice.emit("warning", message)
        self.events.boxes_changed.emit(-1)
        for index in range(self.num_slices):
            self.events.readouts_changed.emit(index)
        return len(self.all_boxes())

    @property
    def unsaved_box_edits(self) -> bool:
        """Whether boxes were edited (:meth:`set_boxes`) since the volume was opened, the
        annotations loaded or saved."""
        return self._unsaved_edits

    def save_annotations(self, csv_path: str | os.PathLike[str]) -> Path:
        """Write the current boxes as a fastMRI+ CSV: boxes in the up/down flipped labelling
        frame, labels and study-level findings kept, the file named by the volume's stem.

        Atomic, and never over one of the :attr:`inputs` (the volume, the CSV the boxes came
        from): a refused path is an :class:`InputError`. Reading the file back
        (:meth:`load_annotations`) gives the same boxes and labels.
        """
        self._require()
        assert self._path is not None
        csv_path = Path(csv_path)
        frame = self.recon_shape
        stem = self._path.stem if self._path.suffix in (".h5", ".cfl", ".hdr") else self._path.name
        record = FileAnnotations(file=stem, boxes=self.all_boxes(), study_findings=self._study_findings)
        with protect_inputs(*self._inputs):
            write_annotations(csv_path, [record], frame_height=frame[0])
        self._unsaved_edits = False
        return csv_path

    def _read_annotations(self, path: Path, info: VolumeInfo, csv_path: str | os.PathLike[str] | None,
                          file_list: str | os.PathLike[str] | None) -> tuple[FileAnnotations | None, tuple[Path, ...]]:
        """The volume's annotations and the files they were read from."""
        if csv_path is None:
            beside = find_annotations(path, frame_shape=info.recon_shape)
            if beside is None:
                return None, ()
            found, read = beside.annotations, tuple(p for p in (beside.csv, beside.file_list) if p is not None)
        else:
            found = read_annotations(csv_path, file_list, frame_shape=info.recon_shape).for_file(path.name)
            read = tuple(Path(p) for p in (csv_path, file_list) if p is not None)
        found = found.within(info.recon_shape)
        found.validate(info.num_slices, info.recon_shape)
        return found, read

    def _set_annotations(self, found: FileAnnotations | None, source: Path | None) -> None:
        self._boxes = {}
        for box in found.boxes if found is not None else ():
            self._boxes.setdefault(box.slice, ())
            self._boxes[box.slice] = (*self._boxes[box.slice], box)
        self._study_findings = found.study_findings if found is not None else ()
        self._annotations_source = source
        self._unsaved_edits = False



__all__ = ["BoxesMixin"]
