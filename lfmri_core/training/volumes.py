"""The volumes a training run reads: :class:`VolumeEntry` per fully sampled multicoil file,
:class:`TrainingData` for a run's training and validation lists, and :func:`scan_folder`, which
makes them from a folder of fastMRI ``.h5`` files and a fastMRI+ CSV.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import AnnotationSet, FileAnnotations, file_stem, read_annotations
from lfmri_core.io.volume import open_volume
from lfmri_core.progress import Progress

__all__ = ["Progress", "TrainingData", "VolumeEntry", "check_count", "scan_folder"]



@dataclass(frozen=True)
class VolumeEntry:
    """One fully sampled multicoil volume usable for training.

    Attributes
    ----------
    path
        The ``.h5`` file.
    num_slices, num_coils
        Its size.
    image_shape
        k-space / full field-of-view image shape ``(H, W)`` (H readout, W phase encode).
    recon_shape
        Shape ``(rh, rw)`` of the reference (``reconstruction_rss``) centre crop.
    padding
        Acquired phase-encode columns ``[left, right)`` (ISMRMRD encoding limits); the training
        masks leave the columns outside unsampled, as the reconstruction pipeline does.
    maxval
        The file's ``max`` attribute (the reference maximum, fastMRI's data range), or None.
    annotations
        Its fastMRI+ annotations, or None when no CSV mentions the file.
    """

    path: Path
    num_slices: int
    num_coils: int
    image_shape: tuple[int, int]
    recon_shape: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    maxval: float | None = None
    annotations: FileAnnotations | None = None

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class TrainingData:
    """Training and validation volumes.

    Attributes
    ----------
    train, validation
        The volumes; validation may be empty (no validation rounds then).
    lesion_types
        Lesion-type names in class order for ``num_classes > 1``, when the source fixes them
        (synthetic data: :data:`~lfmri_core.synthetic.LESION_LABELS`); None: the most frequent
        labels of the training annotations.
    description
        One line for logs and weights metadata.
    """

    train: tuple[VolumeEntry, ...]
    validation: tuple[VolumeEntry, ...] = ()
    lesion_types: tuple[str, ...] | None = None
    description: str = ""



def _entry(path: Path) -> VolumeEntry:
    with open_volume(path) as vol:
        info = vol.info
        if not info.multicoil:
            raise InputError(f"{path}: singlecoil data; training needs multicoil k-space")
        if info.undersampled:
            raise InputError(f"{path}: k-space is already undersampled (stored mask); training needs fully sampled data")
        h, w = info.image_shape
        rh, rw = info.recon_shape
        if rh > h or rw > w:
            raise InputError(f"{path}: recon size {rh} x {rw} is larger than the {h} x {w} image")
        maxval = info.attrs.get("max")
        return VolumeEntry(
            path=path,
            num_slices=info.num_slices,
            num_coils=info.num_coils,
            image_shape=(h, w),
            recon_shape=(rh, rw),
            padding=tuple(info.encoding.padding),  # type: ignore[arg-type]
            maxval=float(maxval) if isinstance(maxval, (int, float)) else None,
        )


def _with_annotations(
    entries: Sequence[VolumeEntry], annotations: str | os.PathLike[str] | None, file_list: str | os.PathLike[str] | None
) -> list[VolumeEntry]:
    if annotations is None:
        if file_list is not None:
            raise InputError("a file list needs its annotation CSV (--annotations)")
        return list(entries)
    if not Path(annotations).is_file():
        raise InputError(f"annotation CSV {annotations} does not exist")
    # Boxes are flipped within the recon-size frame, so read once per recon shape.
    by_frame: dict[tuple[int, int], AnnotationSet] = {}
    result = []
    for entry in entries:
        if entry.recon_shape not in by_frame:
            by_frame[entry.recon_shape] = read_annotations(annotations, file_list, frame_shape=entry.recon_shape)
        found = by_frame[entry.recon_shape].files.get(file_stem(entry.path))
        if found is not None:
            found.validate(entry.num_slices, entry.recon_shape)
        result.append(replace(entry, annotations=found))
    return result


def scan_folder(
    folder: str | os.PathLike[str],
    *,
    annotations: str | os.PathLike[str] | None = None,
    file_list: str | os.PathLike[str] | None = None,
    stems: Sequence[str] | None = None,
) -> list[VolumeEntry]:
    """The ``.h5`` volumes of a folder (sorted by name), with their annotations.

    Parameters
    ----------
    folder
        Folder of fastMRI files (not searched recursively).
    annotations, file_list
        fastMRI+ CSV and its list of reviewed files (both optional).
    stems
        Only these files (stems, in this order); default every ``*.h5``.

    Raises
    ------
    InputError
        Missing folder, no ``.h5`` file, a file that is not fully sampled multicoil data, an
        annotation naming a slice or pixels a volume lacks.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"training data folder {folder} does not exist" if not folder.exists() else f"{folder} is not a folder")
    if stems is None:
        paths = sorted(folder.glob("*.h5"))
    else:
        paths = [folder / f"{stem}.h5" for stem in stems]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise InputError(f"{folder}: missing {', '.join(missing[:3])}")
    if not paths:
        raise InputError(f"no .h5 files in {folder}")
    return _with_annotations([_entry(p) for p in paths], annotations, file_list)


def check_count(name: str, value: object, *, low: int) -> None:
    """Refuse ``value`` unless it is an integer (not a bool) of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
