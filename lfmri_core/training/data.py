"""Training data: synthetic volumes (default) or a folder of fastMRI files, read per slice.

Two sources give the same :class:`TrainingData` (lists of :class:`VolumeEntry`):

- :class:`SyntheticSource`: subjects from :func:`~lfmri_core.synthetic.splits.split_seeds`
  (``"train"`` for training, ``"validation"`` for validation; never test subjects), each scanned
  PD (SNR 30) and PDFS (SNR 18) like the embedded sample, written once in the fastMRI format
  with a fastMRI+ CSV into a cache folder and reused while the folder's manifest names the same
  recipe (generation is deterministic, so a cached file equals a fresh one);
- :class:`FolderSource`: fastMRI ``.h5`` files (fully sampled multicoil, as in the train and val
  sets) plus, optionally, a fastMRI+ CSV and its file list of reviewed files.

:class:`SliceDataset` is a torch ``Dataset`` over ``(volume, slice)`` that reads one slice's
k-space per item through :func:`~lfmri_core.io.volume.open_volume`, so memory stays bounded by
the batch, whatever the size of the data set.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import AnnotationSet, FileAnnotations, LesionBox, file_stem, read_annotations
from lfmri_core.io.atomic import atomic_write_text
from lfmri_core.io.volume import open_volume
from lfmri_core.progress import Progress
from lfmri_core.training.labels import slice_targets

ANNOTATIONS_NAME = "lfmri_knee"
"""Stem of the fastMRI+ CSV (and ``<stem>_file_list.csv``) in a synthetic cache folder."""

MANIFEST_NAME = "lfmri_training_data.json"
"""Manifest of a synthetic cache folder: the recipe and the files it made."""

SYNTHETIC_CONTRASTS: tuple[tuple[str, float], ...] = (("PD", 30.0), ("PDFS", 18.0))
"""``(contrast, snr)`` of each synthetic subject's scans, as in the embedded sample."""

_RECIPE_VERSION = 1



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


# --- scanning files ------------------------------------------------------------------------------


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


# --- sources -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderSource:
    """fastMRI files from a folder.

    Attributes
    ----------
    folder
        The training files.
    annotations, file_list
        fastMRI+ CSV and its file list (needed for the classifier; for reconstruction they
        give the lesion boxes of the validation metrics).
    train_volumes
        Use only the first N files (by name) for training; None: all (less the validation ones).
    val_volumes
        Number of validation files: the first N of ``val_folder``, or, without it, the last N
        files of ``folder`` (held out from training).
    val_folder
        A separate folder of validation files (fastMRI's ``multicoil_val``).
    """

    folder: Path
    annotations: Path | None = None
    file_list: Path | None = None
    train_volumes: int | None = None
    val_volumes: int = 1
    val_folder: Path | None = None

    def load(self, progress: Progress | None = None) -> TrainingData:
        """Scan the files (every rank may call this; nothing is written)."""
        _check_count("val_volumes", self.val_volumes, low=0)
        if self.train_volumes is not None:
            _check_count("train_volumes", self.train_volumes, low=1)
        entries = scan_folder(self.folder, annotations=self.annotations, file_list=self.file_list)
        if self.val_folder is not None:
            validation = scan_folder(self.val_folder, annotations=self.annotations, file_list=self.file_list)
            validation = validation[: self.val_volumes]
            train = entries
        else:
            if self.val_volumes >= len(entries):
                raise InputError(
                    f"{self.folder} has {len(entries)} .h5 files: too few to hold out {self.val_volumes} for validation "
                    "(use --val-volumes 0, or more files)"
                )
            split = len(entries) - self.val_volumes
            train, validation = entries[:split], entries[split:]
        if self.train_volumes is not None:
            train = train[: self.train_volumes]
        description = (
            f"fastMRI folder {self.folder}: {len(train)} training volumes ({sum(v.num_slices for v in train)} slices), "
            f"{len(validation)} validation volumes"
            + (f" from {self.val_folder}" if self.val_folder is not None else "")
            + (f"; annotations {self.annotations.name}" if self.annotations is not None else "")
        )
        return TrainingData(train=tuple(train), validation=tuple(validation), description=description)


@dataclass(frozen=True)
class SyntheticSource:
    """Synthetic knee subjects, each scanned PD and PDFS, cached in the fastMRI format.

    Attributes
    ----------
    cache
        Root of the cache; the volumes go to ``<cache>/<split>-<recipe>/``. Default
        ``$LFMRI_CACHE/training`` (else ``~/.cache/lfmri/training``).
    train_volumes, val_volumes
        Number of training / validation *subjects* (seeds); each gives
        ``len(SYNTHETIC_CONTRASTS)`` volumes. Some subjects have no lesion (as in real
        data), so validation takes two by default: the first two validation seeds include one
        with lesions.
    num_slices
        Slices per volume.
    geometry
        ``"compact"`` (320 x 320, 8 coils; image size = recon size, so readout crops apply) or
        ``"fastmri-knee"``.
    num_coils
        Receive coils; None: the geometry's default.
    lesion_free_twins
        Training split only: for every volume with lesions add its lesion-free twin (the same
        knee, coils and noise rendered without the lesions; every slice negative). A lesion
        slice and its twin differ only by the lesion, so a classifier cannot score them apart
        by anatomy that merely correlates with lesions (which slice, which region).
    workers
        Processes that generate missing subjects in parallel (the files do not depend on it).
    """

    cache: Path | None = None
    train_volumes: int = 8
    val_volumes: int = 2
    num_slices: int = 16
    geometry: str = "compact"
    num_coils: int | None = None
    lesion_free_twins: bool = False
    workers: int = 1

    def folder(self, split: str) -> Path:
        """Cache folder of a split (``"train"`` or ``"validation"``)."""
        count = self.train_volumes if split == "train" else self.val_volumes
        coils = "" if self.num_coils is None else f"-{self.num_coils}coils"
        twins = "-twins" if self.lesion_free_twins and split == "train" else ""
        root = self.cache if self.cache is not None else default_cache() / "training"
        return Path(root) / f"{split}-{self.geometry}-{self.num_slices}sl{coils}-{count}{twins}"

    def ensure(self, progress: Progress | None = None) -> None:
        """Generate whatever is not cached yet (only one process may call this at a time)."""
        _check_count("train_volumes", self.train_volumes, low=1)
        _check_count("val_volumes", self.val_volumes, low=0)
        for split, count in (("train", self.train_volumes), ("validation", self.val_volumes)):
            if count:
                ensure_synthetic_split(self.folder(split), split, count, num_slices=self.num_slices,
                                       geometry=self.geometry, num_coils=self.num_coils, progress=progress,
                                       lesion_free_twins=self.lesion_free_twins and split == "train",
                                       workers=self.workers)

    def load(self, progress: Progress | None = None) -> TrainingData:
        """The cached volumes (call :meth:`ensure` first, on one process)."""
        from lfmri_core.synthetic import LESION_LABELS

        splits = []
        for split, count in (("train", self.train_volumes), ("validation", self.val_volumes)):
            if not count:
                splits.append([])
                continue
            folder = self.folder(split)
            manifest = _read_manifest(folder)
            twins = self.lesion_free_twins and split == "train"
            if manifest is None or manifest.get("recipe") != _recipe(split, count, self.num_slices, self.geometry, self.num_coils,
                                                                     lesion_free_twins=twins):
                raise InputError(f"synthetic training data in {folder} is missing or stale; generate it first")
            splits.append(scan_folder(folder, annotations=folder / f"{ANNOTATIONS_NAME}.csv",
                                      file_list=folder / f"{ANNOTATIONS_NAME}_file_list.csv", stems=manifest["files"]))
        train, validation = splits
        description = (
            f"synthetic {self.geometry} knees, {self.num_slices} slices, PD + PDFS: {self.train_volumes} training subjects "
            f"(seeds from {_first_seed('train')}){' with lesion-free twins' if self.lesion_free_twins else ''}, "
            f"{self.val_volumes} validation subjects (seeds from {_first_seed('validation')})"
        )
        return TrainingData(train=tuple(train), validation=tuple(validation), lesion_types=tuple(LESION_LABELS),
                            description=description)


DataSource = SyntheticSource | FolderSource


def default_cache() -> Path:
    """``$LFMRI_CACHE``, else ``$XDG_CACHE_HOME/lfmri``, else ``~/.cache/lfmri``."""
    if os.environ.get("LFMRI_CACHE"):
        return Path(os.environ["LFMRI_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lfmri"


def _check_count(name: str, value: object, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{name} must be an integer >= {low}, got {value!r}")


def _first_seed(split: str) -> int:
    from lfmri_core.synthetic.splits import split_seeds

    return split_seeds(split, 1)[0]


def _recipe(split: str, count: int, num_slices: int, geometry: str, num_coils: int | None, *,
            lesion_free_twins: bool = False) -> dict[str, Any]:
    from lfmri_core.synthetic.splits import split_seeds

    extra = {"lesion_free_twins": True} if lesion_free_twins else {}  # (caches made before it stay valid)
    return {**extra,
        "version": _RECIPE_VERSION,
        "split": split,
        "seeds": split_seeds(split, count),
        "contrasts": [list(c) for c in SYNTHETIC_CONTRASTS],
        "geometry": geometry,
        "num_slices": num_slices,
        "num_coils": num_coils,
        "lesions": True,
    }


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _cached_copies(folder: Path, recipe: dict[str, Any]) -> dict[str, Path]:
    """Files of the same subjects already made for another recipe in a sibling folder.

    A volume depends only on its seed, contrast, geometry, slice count and coil count, so a file
    made for another subject count (or with twins) is the file this recipe would make.
    Returns ``{stem: path}`` over the complete sibling folders whose recipe agrees on those.
    """
    same = ("version", "split", "contrasts", "geometry", "num_slices", "num_coils", "lesions")
    found: dict[str, Path] = {}
    if not folder.parent.is_dir():
        return found
    for sibling in sorted(folder.parent.iterdir()):
        if sibling == folder or not sibling.is_dir():
            continue
        manifest = _read_manifest(sibling)
        other = manifest.get("recipe") if manifest is not None else None
        if not isinstance(other, dict) or any(other.get(k) != recipe.get(k) for k in same):
            continue
        for stem in manifest.get("files", []):  # type: ignore[union-attr]
            path = sibling / f"{stem}.h5"
            if isinstance(stem, str) and path.is_file():
                found.setdefault(stem, path)
    return found


def _link_or_copy(source: Path, target: Path) -> None:
    import shutil

    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _reuse_subject(folder: Path, split: str, seed: int, lesion_free_twins: bool, cached: dict[str, Path]
                   ) -> list[tuple[str, tuple[LesionBox, ...], int]] | None:
    """One subject's volumes linked from ``cached`` (see :func:`_cached_copies`), or None when
    one of them is missing there."""
    out: list[tuple[str, tuple[LesionBox, ...], int]] = []
    for contrast, _ in SYNTHETIC_CONTRASTS:
        stem = f"{split}_{seed}_{contrast.lower()}"
        if stem not in cached:
            return None
        boxes, height = _boxes_of(cached[stem])
        stems = [stem] + ([f"{stem}_twin"] if lesion_free_twins and boxes else [])
        if any(s not in cached for s in stems):
            return None
        out += [(s, boxes if s == stem else (), height) for s in stems]
    for s, _, _ in out:
        _link_or_copy(cached[s], folder / f"{s}.h5")
    return out


def _boxes_of(path: Path) -> tuple[tuple[LesionBox, ...], int]:
    """The boxes of a cached synthetic volume (from its folder's fastMRI+ CSV) and its recon height."""
    with open_volume(path) as vol:
        info = vol.info
    records = read_annotations(path.parent / f"{ANNOTATIONS_NAME}.csv",
                               file_list=path.parent / f"{ANNOTATIONS_NAME}_file_list.csv",
                               frame_shape=info.recon_shape)
    return tuple(records.for_file(path.stem).boxes), info.recon_shape[0]


def _generate_subject(folder: str, split: str, seed: int, num_slices: int, geometry: str, num_coils: int | None,
                      lesion_free_twins: bool) -> list[tuple[str, tuple[LesionBox, ...], int]]:
    """Write one subject's volumes (PD, PDFS, and their twins); ``[(stem, boxes, recon height)]``.

    Module-level so that a process pool can run it; everything it makes depends only on the
    arguments (the subject is its seed), so the files are the same however the work is spread.
    """
    from lfmri_core.synthetic import SyntheticConfig, generate_volume
    from lfmri_core.synthetic.export import write_synthetic_volume

    out: list[tuple[str, tuple[LesionBox, ...], int]] = []
    for contrast, snr in SYNTHETIC_CONTRASTS:
        stem = f"{split}_{seed}_{contrast.lower()}"
        config = SyntheticConfig(geometry=geometry, contrast=contrast, num_slices=num_slices, num_coils=num_coils,
                                 snr=snr, seed=seed)
        volume = generate_volume(config)
        write_synthetic_volume(Path(folder) / f"{stem}.h5", volume)
        out.append((stem, tuple(volume.boxes), volume.recon_shape[0]))
        has_lesions = bool(volume.boxes)
        del volume
        if lesion_free_twins and has_lesions:
            twin = generate_volume(replace(config, lesions=False))
            write_synthetic_volume(Path(folder) / f"{stem}_twin.h5", twin)
            out.append((f"{stem}_twin", (), twin.recon_shape[0]))
            del twin
    return out


def ensure_synthetic_split(
    folder: str | os.PathLike[str],
    split: str,
    count: int,
    *,
    num_slices: int = 16,
    geometry: str = "compact",
    num_coils: int | None = None,
    progress: Progress | None = None,
    lesion_free_twins: bool = False,
    workers: int = 1,
) -> list[Path]:
    """Write ``count`` subjects of ``split`` (PD and PDFS each) into ``folder``, unless cached.

    With ``lesion_free_twins`` every volume with lesions is followed by ``<stem>_twin``: the same
    knee, coils and noise without the lesions, no boxes (see :class:`SyntheticSource`).

    The folder's manifest (:data:`MANIFEST_NAME`), written last, records the recipe; when it
    matches, nothing is generated. Volumes that a sibling folder already holds for another
    recipe (another subject count, with or without twins) are hard-linked (or copied) from
    there. With one worker the others are generated and written one at a time (memory holds one
    volume); with ``workers`` > 1 a process pool makes one subject per process at a time (the
    files are identical either way). A fastMRI+ CSV and file list cover all of them.

    Returns
    -------
    list of Path
        The ``.h5`` files, in manifest order.
    """
    from lfmri_core.io.annotations import write_annotations
    from lfmri_core.synthetic.parallel import map_jobs

    _check_count("workers", workers, low=1)
    folder = Path(folder)
    recipe = _recipe(split, count, num_slices, geometry, num_coils, lesion_free_twins=lesion_free_twins)
    manifest = _read_manifest(folder)
    if manifest is not None and manifest.get("recipe") == recipe:
        paths = [folder / f"{stem}.h5" for stem in manifest["files"]]
        if all(p.is_file() for p in paths):
            return paths
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST_NAME).unlink(missing_ok=True)
    seeds = list(recipe["seeds"])
    per_subject = len(SYNTHETIC_CONTRASTS)
    total = len(seeds) * per_subject
    cached = _cached_copies(folder, recipe)
    made: dict[int, list[tuple[str, tuple[LesionBox, ...], int]]] = {}
    for seed in seeds:
        reused = _reuse_subject(folder, split, seed, lesion_free_twins, cached) if cached else None
        if reused is not None:
            made[seed] = reused
    if progress is not None and made:
        progress(len(made) * per_subject, total)
    args = [(str(folder), split, seed, num_slices, geometry, num_coils, lesion_free_twins) for seed in seeds
            if seed not in made]
    for item, result in zip(args, map_jobs(_generate_subject, args, workers)):
        made[item[2]] = result
        if progress is not None:
            progress(len(made) * per_subject, total)
    records = [FileAnnotations(file=stem, boxes=boxes, reviewed=True) for seed in seeds for stem, boxes, _ in made[seed]]
    stems = [stem for seed in seeds for stem, _, _ in made[seed]]
    recon_height = made[seeds[-1]][-1][2] if seeds else 320
    write_annotations(folder / f"{ANNOTATIONS_NAME}.csv", records,
                      file_list=folder / f"{ANNOTATIONS_NAME}_file_list.csv", frame_height=recon_height)
    atomic_write_text(folder / MANIFEST_NAME, json.dumps({"recipe": recipe, "files": stems}, indent=2) + "\n")
    return [folder / f"{stem}.h5" for stem in stems]


# --- slices --------------------------------------------------------------------------------------


class SliceSample(NamedTuple):
    """One training slice as read from disk."""

    kspace: torch.Tensor
    """Fully sampled coil k-space, complex64 ``(coils, H, W)``."""
    targets: torch.Tensor
    """Image-level targets, float32 ``(num_classes,)``: 1, 0, or NaN when unknown."""
    volume: int
    """Index of the volume in the dataset's volume list."""
    slice: int
    """Slice index in the volume."""


@dataclass
class SliceDataset(Dataset[SliceSample]):
    """``(volume, slice)`` items of a list of volumes, read lazily one slice at a time.

    Parameters
    ----------
    volumes
        The volumes.
    class_names
        Lesion types of classes ``1 ..`` (see :mod:`lfmri_core.training.labels`).
    items
        The ``(volume index, slice)`` pairs; None: every slice of every volume.
    open_files
        How many files each process keeps open between items.
    """

    volumes: Sequence[VolumeEntry]
    class_names: Sequence[str] = ()
    items: list[tuple[int, int]] | None = None
    open_files: int = 4

    def __post_init__(self) -> None:
        self.volumes = tuple(self.volumes)
        self.class_names = tuple(self.class_names)
        if self.items is None:
            self.items = [(v, s) for v, entry in enumerate(self.volumes) for s in range(entry.num_slices)]
        per_volume = [slice_targets(entry.annotations, entry.num_slices, self.class_names) for entry in self.volumes]
        self.targets = np.stack([per_volume[v][s] for v, s in self.items]) if self.items else \
            np.zeros((0, 1 + len(self.class_names)), np.float32)
        self._handles: OrderedDict[int, Any] = OrderedDict()
        self._preloaded: dict[tuple[int, int], torch.Tensor] | None = None

    def preload(self, device: torch.device | str = "cpu", progress: Progress | None = None) -> SliceDataset:
        """Read every item's k-space once and keep it on ``device`` (returns ``self``).

        Afterwards items come from memory: no file is read per step, which keeps a GPU fed
        (a slice of the compact geometry is 6.5 MB; 20 subjects with two contrasts of 16 slices
        hold 4.2 GB). Items then carry their k-space on ``device``.
        """
        wanted: dict[int, list[int]] = {}
        for v, s in self.items:
            wanted.setdefault(v, []).append(s)
        loaded: dict[tuple[int, int], torch.Tensor] = {}
        for n, (v, slices) in enumerate(wanted.items()):
            with open_volume(self.volumes[v].path) as vol:
                for s in sorted(set(slices)):
                    loaded[(v, s)] = torch.from_numpy(vol.kspace(s)).to(device)
            if progress is not None:
                progress(n + 1, len(wanted))
        self._preloaded = loaded
        return self

    def labelled(self) -> SliceDataset:
        """The same dataset without slices whose class-0 label is unknown."""
        keep = [item for item, target in zip(self.items, self.targets) if not np.isnan(target[0])]
        return SliceDataset(self.volumes, self.class_names, keep, self.open_files)

    def subset(self, positions: Sequence[int]) -> SliceDataset:
        """The items at ``positions`` (indices into :attr:`items`)."""
        return SliceDataset(self.volumes, self.class_names, [self.items[i] for i in positions], self.open_files)

    def __len__(self) -> int:
        return len(self.items)

    def _volume(self, index: int) -> Any:
        handle = self._handles.pop(index, None)
        if handle is None:
            handle = open_volume(self.volumes[index].path)
            while len(self._handles) >= max(1, self.open_files):
                _, oldest = self._handles.popitem(last=False)
                oldest.close()
        self._handles[index] = handle
        return handle

    def __getitem__(self, position: int) -> SliceSample:
        v, s = self.items[position]
        if self._preloaded is not None:
            kspace = self._preloaded[(v, s)]
        else:
            kspace = torch.from_numpy(self._volume(v).kspace(s))
        return SliceSample(kspace, torch.from_numpy(self.targets[position].copy()), v, s)

    def close(self) -> None:
        """Close the open files and drop preloaded items."""
        while self._handles:
            self._handles.popitem()[1].close()
        self._preloaded = None

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes open their own files (an h5py handle does not cross processes).
        state = self.__dict__.copy()
        state["_handles"] = OrderedDict()
        if state.get("_preloaded") is not None:
            raise InputError("a preloaded dataset is read in the training process: use no data-loading workers with preload")
        return state


TWIN_SUFFIX = "_twin"
"""Stem suffix of a volume's lesion-free twin (``<stem>_twin.h5``)."""


def _same_size(a: VolumeEntry, b: VolumeEntry) -> bool:
    return (a.num_slices, a.num_coils, a.image_shape, a.recon_shape) == (b.num_slices, b.num_coils, b.image_shape, b.recon_shape)


def twin_pairs(dataset: SliceDataset) -> SliceDataset:
    """The lesion slices of ``dataset`` each followed by the same slice of its lesion-free twin.

    Items come in pairs ``[lesion slice, twin slice, ...]`` (positions ``2i`` and ``2i + 1``),
    for every slice with a class-0 label of 1 whose volume ``<stem>`` has a twin
    ``<stem>_twin`` of the same size (slices, coils, image and recon shape) in the dataset.

    Raises
    ------
    InputError
        No such pair (no twin volumes, or no lesion slice in the volumes that have one).
    """
    index = {entry.path.stem: v for v, entry in enumerate(dataset.volumes)}
    positive = {item for item, target in zip(dataset.items, dataset.targets) if target[0] == 1}
    items: list[tuple[int, int]] = []
    for v, s in dataset.items:
        twin = index.get(dataset.volumes[v].path.stem + TWIN_SUFFIX)
        if (v, s) in positive and twin is not None and _same_size(dataset.volumes[twin], dataset.volumes[v]):
            items += [(v, s), (twin, s)]
    if not items:
        raise InputError("twin pairs need lesion slices whose volume has a lesion-free twin <stem>_twin "
                         "(synthetic data: --lesion-free-twins)")
    return SliceDataset(dataset.volumes, dataset.class_names, items, dataset.open_files)


def spread(count: int, available: int) -> list[int]:
    """``count`` (or all) evenly spaced positions out of ``range(available)``."""
    if count >= available:
        return list(range(available))
    if count <= 0:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, available - 1, count)})


def validation_positions(targets: np.ndarray, count: int) -> list[int]:
    """A fixed validation subset of at most ``count`` items: up to half with lesions.

    Positives and the other slices are each taken evenly spaced (so every volume is visited),
    which keeps lesion-focused metrics and classifier AUC defined whenever the data allow.

    Parameters
    ----------
    targets
        ``(n, K)`` image-level targets of the candidate items (class 0 is used).
    count
        Maximum subset size.
    """
    positives = [i for i, t in enumerate(targets[:, 0]) if t == 1]
    others = [i for i, t in enumerate(targets[:, 0]) if t != 1]
    take_pos = min(len(positives), max(count // 2, count - len(others)))
    take_other = min(len(others), count - take_pos)
    chosen = [positives[i] for i in spread(take_pos, len(positives))] + [others[i] for i in spread(take_other, len(others))]
    return sorted(chosen)


def describe_counts(dataset: SliceDataset) -> str:
    """``"120 slices (34 with lesions, 6 unknown)"``."""
    labels = dataset.targets[:, 0] if len(dataset) else np.zeros(0)
    positives = int(np.sum(labels == 1))
    unknown = int(np.sum(np.isnan(labels)))
    return f"{len(dataset)} slices ({positives} with lesions" + (f", {unknown} unknown)" if unknown else ")")
