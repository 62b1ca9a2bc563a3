"""fastMRI+ lesion annotations: parsing, frame mapping, image-level labels and writing.

The fastMRI+ CSV has the columns ``file,slice,study_level,x,y,width,height,label``. Boxes were
drawn on the *up/down flipped* 320 x 320 image, so on ``reconstruction_rss`` as stored a box
covers the half-open rows ``[H - y - height, H - y)`` and columns ``[x, x + width)``, where
``H`` is the height of the reconstruction (320 for knee). Rows with ``study_level == "Yes"``
carry no box (a finding about the whole study); some boxes have zero width or height and cover
no pixel; labels can carry trailing spaces, which are stripped.

Image-level labels per slice follow from the annotation CSV plus the file list of reviewed
files: a slice with at least one box is *positive*; a slice of a reviewed file without a box
is *negative* (reviewed, no findings there); a slice of a file that was not reviewed is
*unknown*.
"""

from __future__ import annotations

import csv
import enum
import io
import os
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lfmri_core.errors import InputError, InputWarning
from lfmri_core.io.atomic import atomic_write_text
from lfmri_core.io.protected import check_output

CSV_COLUMNS = ("file", "slice", "study_level", "x", "y", "width", "height", "label")

#: Shape ``(H, W)`` of the labelling frame of the public fastMRI+ annotations (knee and brain).
FASTMRI_PLUS_FRAME = (320, 320)


class ImageLabel(enum.Enum):
    """Image-level (weak) label of one slice."""

    POSITIVE = 1
    NEGATIVE = 0
    UNKNOWN = -1


def _overlaps(start: int, length: int, size: int) -> bool:
    """Whether ``[start, start + length)`` meets ``[0, size)``; a zero-length range meets it
    when it lies on it or on its ends."""
    if length == 0:
        return 0 <= start <= size
    return start < size and start + length > 0


@dataclass(frozen=True)
class LesionBox:
    """One annotated lesion box on one slice, in the stored reconstruction frame.

    The box covers rows ``row0 <= r < row1`` and columns ``col0 <= c < col1`` of
    ``reconstruction_rss[slice]`` as stored in the HDF5 file (half-open ranges, so
    ``image[row0:row1, col0:col1]`` is exactly the box). An empty box (zero width or height)
    covers no pixel but is kept so that nothing in the CSV is silently lost.
    """

    slice: int
    label: str
    row0: int
    row1: int
    col0: int
    col1: int

    def __post_init__(self) -> None:
        if self.row1 < self.row0 or self.col1 < self.col0:
            raise InputError(
                f"lesion box {self.label!r} on slice {self.slice} has negative size "
                f"(rows {self.row0}:{self.row1}, cols {self.col0}:{self.col1})"
            )

    @classmethod
    def from_labelling_frame(
        cls,
        *,
        slice: int,
        label: str,
        x: int,
        y: int,
        width: int,
        height: int,
        frame_shape: tuple[int, int] = FASTMRI_PLUS_FRAME,
    ) -> LesionBox:
        """Map a fastMRI+ box (flipped labelling frame) onto the stored frame.

        Boxes reaching outside the frame are clipped to it: a few public knee boxes start at
        ``y = -1``. A box entirely outside the frame is mapped unclipped, so that it does not
        :meth:`fits` the image: :meth:`FileAnnotations.within` drops it with a warning.
        """
        frame_h, frame_w = frame_shape
        if width < 0 or height < 0:
            raise InputError(f"lesion box {label.strip()!r} on slice {slice} has negative size ({width} x {height})")
        if not (_overlaps(x, width, frame_w) and _overlaps(y, height, frame_h)):
            return cls(slice=slice, label=label.strip(), row0=frame_h - y - height, row1=frame_h - y,
                       col0=x, col1=x + width)

        def clip(value: int, top: int) -> int:
            return min(max(value, 0), top)

        return cls(
            slice=slice,
            label=label.strip(),
            row0=clip(frame_h - y - height, frame_h),
            row1=clip(frame_h - y, frame_h),
            col0=clip(x, frame_w),
            col1=clip(x + width, frame_w),
        )

    def to_labelling_frame(self, frame_height: int = FASTMRI_PLUS_FRAME[0]) -> tuple[int, int, int, int]:
        """The ``(x, y, width, height)`` this box has in a fastMRI+ CSV."""
        return (self.col0, frame_height - self.row1, self.width, self.height)

    @property
    def width(self) -> int:
        return self.col1 - self.col0

    @property
    def height(self) -> int:
        return self.row1 - self.row0

    @property
    def area(self) -> int:
        """Number of pixels covered (0 for an empty box)."""
        return self.width * self.height

    @property
    def is_empty(self) -> bool:
        return self.area == 0

    def fits(self, shape: tuple[int, int]) -> bool:
        """Whether the box lies inside an image of ``shape = (H, W)``."""
        return 0 <= self.row0 <= self.row1 <= shape[0] and 0 <= self.col0 <= self.col1 <= shape[1]

    def to_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean mask, shape ``(H, W)``, True inside the box (clipped to the image)."""
        mask = np.zeros(shape, dtype=bool)
        mask[max(self.row0, 0) : max(self.row1, 0), max(self.col0, 0) : max(self.col1, 0)] = True
        return mask


@dataclass(frozen=True)
class FileAnnotations:
    """Everything annotated for one file.

    Attributes
    ----------
    file
        File stem as it appears in the CSV (``file1000001``), without ``.h5``.
    boxes
        Lesion boxes in the stored reconstruction frame, in CSV order.
    study_findings
        Labels of study-level rows (no box).
    reviewed
        True when the file is in the file list of reviewed files, or has any annotation row.
    """

    file: str
    boxes: tuple[LesionBox, ...] = ()
    study_findings: tuple[str, ...] = ()
    reviewed: bool = False

    def boxes_on(self, slice_index: int) -> tuple[LesionBox, ...]:
        """Boxes on one slice (empty boxes included)."""
        return tuple(b for b in self.boxes if b.slice == slice_index)

    def slice_label(self, slice_index: int) -> ImageLabel:
        """Image-level label of one slice (see the module docstring)."""
        if any(b.slice == slice_index for b in self.boxes):
            return ImageLabel.POSITIVE
        return ImageLabel.NEGATIVE if self.reviewed else ImageLabel.UNKNOWN

    def slice_labels(self, num_slices: int) -> list[ImageLabel]:
        """Image-level labels for slices ``0 .. num_slices - 1``."""
        return [self.slice_label(s) for s in range(num_slices)]

    @property
    def labels(self) -> tuple[str, ...]:
        """Distinct box labels, sorted."""
        return tuple(sorted({b.label for b in self.boxes}))

    def within(self, image_shape: tuple[int, int]) -> FileAnnotations:
        """These annotations without the boxes that lie entirely outside an image of
        ``image_shape = (H, W)``, each dropped with an :class:`~lfmri_core.errors.InputWarning`."""
        kept = []
        for box in self.boxes:
            if _overlaps(box.row0, box.height, image_shape[0]) and _overlaps(box.col0, box.width, image_shape[1]):
                kept.append(box)
                continue
            x, y, width, height = box.to_labelling_frame(image_shape[0])
            warnings.warn(
                f"annotation box {box.label!r} on slice {box.slice} of {self.file} (x {x}, y {y}, width {width}, "
                f"height {height}) lies entirely outside the {image_shape[0]} x {image_shape[1]} image: dropped",
                InputWarning, stacklevel=2)
        return self if len(kept) == len(self.boxes) else replace(self, boxes=tuple(kept))

    def validate(self, num_slices: int, image_shape: tuple[int, int]) -> None:
        """Raise :class:`InputError` if a box names a slice or pixels the volume lacks."""
        for box in self.boxes:
            if not 0 <= box.slice < num_slices:
                raise InputError(
                    f"annotation for {self.file} names slice {box.slice}, but the volume has "
                    f"{num_slices} slices (0..{num_slices - 1})"
                )
            if not box.fits(image_shape):
                raise InputError(
                    f"annotation box {box.label!r} on slice {box.slice} of {self.file} "
                    f"(rows {box.row0}:{box.row1}, cols {box.col0}:{box.col1}) lies outside "
                    f"the {image_shape[0]} x {image_shape[1]} reconstruction"
                )


@dataclass(frozen=True)
class AnnotationSet:
    """A parsed fastMRI+ annotation CSV plus its file list.

    ``files`` maps the file stem to its :class:`FileAnnotations`; reviewed files without any
    row are present with no boxes (negatives).
    """

    files: Mapping[str, FileAnnotations] = field(default_factory=dict)

    def for_file(self, name: str | os.PathLike[str]) -> FileAnnotations:
        """Annotations of one file; accepts a stem, a file name or a path."""
        stem = file_stem(name)
        return self.files.get(stem, FileAnnotations(file=stem))

    @property
    def boxes(self) -> list[tuple[str, LesionBox]]:
        return [(f, b) for f, ann in self.files.items() for b in ann.boxes]

    def __len__(self) -> int:
        return len(self.files)


def file_stem(name: str | os.PathLike[str]) -> str:
    """``/data/file1000001.h5`` -> ``file1000001``."""
    base = os.path.basename(os.fspath(name))
    return base[:-3] if base.endswith(".h5") else base


def _parse_int(value: str, what: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{where}: {what} is {value!r}, not an integer") from None


def parse_annotation_rows(
    rows: Iterable[Mapping[str, str]],
    *,
    source: str = "annotations",
    frame_shape: tuple[int, int] = FASTMRI_PLUS_FRAME,
) -> tuple[dict[str, list[LesionBox]], dict[str, list[str]]]:
    """Parse fastMRI+ CSV rows into boxes (stored frame) and study-level findings per file
    (the first row is counted as line 2, below the header)."""
    return _parse_numbered_rows(enumerate(rows, start=2), source=source, frame_shape=frame_shape)


def _parse_numbered_rows(
    rows: Iterable[tuple[int, Mapping[str, str]]], *, source: str, frame_shape: tuple[int, int]
) -> tuple[dict[str, list[LesionBox]], dict[str, list[str]]]:
    """:func:`parse_annotation_rows` of ``(line number, row)`` pairs."""
    boxes: dict[str, list[LesionBox]] = defaultdict(list)
    studies: dict[str, list[str]] = defaultdict(list)
    for line_no, row in rows:
        where = f"{source} line {line_no}"
        missing = [c for c in CSV_COLUMNS if row.get(c) is None]
        if missing:
            raise InputError(f"{where}: missing column(s) {', '.join(missing)}")
        stem = file_stem(row["file"].strip())
        label = row["label"].strip()
        if row["study_level"].strip().lower() == "yes":
            studies[stem].append(label)
            continue
        try:
            box = LesionBox.from_labelling_frame(
                slice=_parse_int(row["slice"], "slice", where),
                label=label,
                x=_parse_int(row["x"], "x", where),
                y=_parse_int(row["y"], "y", where),
                width=_parse_int(row["width"], "width", where),
                height=_parse_int(row["height"], "height", where),
                frame_shape=frame_shape,
            )
        except InputError as err:
            raise InputError(err if str(err).startswith(where) else f"{where}: {err}") from None
        boxes[stem].append(box)
    return boxes, studies


def _read_text(path: Path, what: str) -> str:
    """The UTF-8 text of a CSV (a byte-order mark allowed); InputError naming the first byte
    that is not UTF-8, and where."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise InputError(f"{what} {path} is not UTF-8 text (byte 0x{data[err.start]:02x} on line {line}); "
                         "save it as UTF-8") from None


def _csv_rows(text: str, source: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on. A record over several lines is an error: no
    fastMRI+ field holds a line break, so it is an unbalanced quote swallowing the lines below."""
    reader = csv.reader(io.StringIO(text), strict=True)
    end = 0
    while True:
        start = end + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            if reader.line_num > start and "unexpected end of data" in str(err):
                raise InputError(f"{source} line {start}: a quoted field is never closed (an unbalanced quote "
                                 f"swallows the lines below)") from None
            raise InputError(f"{source} line {reader.line_num}: not valid CSV ({err})") from None
        end = reader.line_num
        if end > start and any("\n" in f or "\r" in f for f in record):
            raise InputError(f"{source} line {start}: a quoted field runs on to line {end} (an unbalanced "
                             "quote?)")
        if record:
            yield start, record


def read_file_list(path: str | os.PathLike[str]) -> list[str]:
    """Read a fastMRI+ ``*_file_list.csv``: one file stem per line, no header; lines with
    spaces (captions) are skipped."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file list {path} does not exist")
    stems = []
    for line in _read_text(path, "file list").splitlines():
        line = line.strip().strip(",")
        # File stems never contain spaces; the public knee list ends with a caption line
        # ("Knee data") that is not a file.
        if line and " " not in line and line.lower() != "file":
            stems.append(file_stem(line))
    return stems


def read_annotations(
    csv_path: str | os.PathLike[str],
    file_list: str | os.PathLike[str] | None = None,
    *,
    frame_shape: tuple[int, int] = FASTMRI_PLUS_FRAME,
) -> AnnotationSet:
    """Read a fastMRI+ annotation CSV (and optionally its file list of reviewed files).

    Parameters
    ----------
    csv_path
        The labels CSV (``knee.csv``, ``brain.csv`` or one written by :func:`write_annotations`).
    file_list
        The matching ``*_file_list.csv``. Files listed there without rows become negatives.
        Without it, only files with rows count as reviewed.
    frame_shape
        ``(H, W)`` of the labelling frame: the reconstruction size, 320 x 320 for the public
        knee and brain annotations.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InputError(f"annotation file {csv_path} does not exist" if not csv_path.exists()
                         else f"annotation file {csv_path} is not a file")
    records = _csv_rows(_read_text(csv_path, "annotation file"), str(csv_path))
    first = next(records, None)
    header = [h.strip() for h in first[1]] if first is not None else []
    if tuple(header[: len(CSV_COLUMNS)]) != CSV_COLUMNS:
        shown = ",".join(header)
        raise InputError(
            f"{csv_path} is not a fastMRI+ annotation CSV: header is "
            f"{(shown[:80] + '...' if len(shown) > 80 else shown) or '(empty)'}, expected {','.join(CSV_COLUMNS)}"
        )
    rows = ((line, dict(zip(header, record))) for line, record in records)
    boxes, studies = _parse_numbered_rows(rows, source=str(csv_path), frame_shape=frame_shape)
    reviewed = set(read_file_list(file_list)) if file_list is not None else set()
    names = list(dict.fromkeys([*boxes, *studies, *sorted(reviewed)]))
    files = {
        name: FileAnnotations(
            file=name,
            boxes=tuple(boxes.get(name, ())),
            study_findings=tuple(studies.get(name, ())),
            reviewed=True,
        )
        for name in names
    }
    return AnnotationSet(files=files)


def format_annotations(
    annotations: Iterable[FileAnnotations], *, frame_height: int = FASTMRI_PLUS_FRAME[0]
) -> str:
    """fastMRI+ CSV text for the given files (boxes mapped back to the labelling frame)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for ann in annotations:
        for label in ann.study_findings:
            writer.writerow([ann.file, 0, "Yes", "", "", "", "", label])
        for box in ann.boxes:
            x, y, w, h = box.to_labelling_frame(frame_height)
            writer.writerow([ann.file, box.slice, "No", x, y, w, h, box.label])
    return out.getvalue()


def write_annotations(
    csv_path: str | os.PathLike[str],
    annotations: Sequence[FileAnnotations],
    *,
    file_list: str | os.PathLike[str] | None = None,
    frame_height: int = FASTMRI_PLUS_FRAME[0],
) -> None:
    """Write a fastMRI+ style CSV (and file list), atomically.

    Every file passed is listed in ``file_list`` (it was "reviewed"), including files with no
    boxes, which readers then treat as negatives.
    """
    for target in (csv_path, file_list):  # both refused or neither written
        if target is not None:
            check_output(target)
    atomic_write_text(csv_path, format_annotations(annotations, frame_height=frame_height))
    if file_list is not None:
        atomic_write_text(file_list, "".join(f"{a.file}\n" for a in annotations))


class FoundAnnotations(NamedTuple):
    """A volume's annotations found beside it (:func:`find_annotations`) and where they were read."""

    annotations: FileAnnotations
    csv: Path
    file_list: Path | None


def find_annotations(
    volume_path: str | os.PathLike[str], *, frame_shape: tuple[int, int] = FASTMRI_PLUS_FRAME
) -> FoundAnnotations | None:
    """Find the annotations of a volume in fastMRI+ CSVs lying in the same folder.

    Every ``*.csv`` beside the volume whose header is the fastMRI+ header is read (with its
    ``<name>_file_list.csv`` when present); the first one that knows the file wins. Returns
    None when no CSV mentions the file. ``frame_shape`` is the volume's recon size.

    A CSV there that is not a fastMRI+ annotation CSV (another header, or not UTF-8 text) is
    skipped with an :class:`~lfmri_core.errors.InputWarning`; one with the fastMRI+ header but
    a malformed row is an :class:`InputError`, as when it is given explicitly.
    """
    path = Path(volume_path)
    stem = file_stem(path)
    for csv_path in sorted(path.parent.glob("*.csv")):
        if csv_path.name.endswith("_file_list.csv") or not csv_path.is_file():
            continue
        why = _not_an_annotation_csv(csv_path)
        if why is not None:
            warnings.warn(f"skipped {csv_path} beside {path.name}: {why}", InputWarning, stacklevel=2)
            continue
        file_list = csv_path.with_name(f"{csv_path.stem}_file_list.csv")
        used_list = file_list if file_list.is_file() else None
        found = read_annotations(csv_path, used_list, frame_shape=frame_shape)
        if stem in found.files:
            return FoundAnnotations(found.files[stem], csv_path, used_list)
    return None


def _not_an_annotation_csv(csv_path: Path) -> str | None:
    """Why ``csv_path`` is not a fastMRI+ annotation CSV, or None when it is one (by its header
    and encoding; its rows are checked when it is read)."""
    try:
        with csv_path.open("rb") as f:
            head = f.read(1 << 16)
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    first = head.split(b"\n", 1)[0].strip()
    try:
        columns = tuple(h.strip() for h in first.decode("utf-8-sig").split(","))
    except UnicodeDecodeError:
        columns = ()
    if columns[: len(CSV_COLUMNS)] != CSV_COLUMNS:
        return f"not a fastMRI+ annotation CSV (its header is not {','.join(CSV_COLUMNS)})"
    try:
        _read_text(csv_path, "annotation file")
    except InputError as err:
        return str(err).replace(f"annotation file {csv_path} is ", "")
    return None


def discover_annotations(
    volume_path: str | os.PathLike[str], *, frame_shape: tuple[int, int] = FASTMRI_PLUS_FRAME
) -> FileAnnotations | None:
    """The annotations :func:`find_annotations` finds beside a volume, or None."""
    found = find_annotations(volume_path, frame_shape=frame_shape)
    return found.annotations if found is not None else None
