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

This module holds the two sources; the rest lives beside it and is re-exported here:
:mod:`.volumes` (:class:`VolumeEntry`, :class:`TrainingData`, :func:`scan_folder`),
:mod:`.synthetic_cache` (the synthetic subjects' cache folders) and :mod:`.slices`
(:class:`SliceDataset`, twin pairs, the validation subset).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lfmri_core.errors import InputError
from lfmri_core.training.slices import (
    TWIN_SUFFIX,
    SliceDataset,
    SliceSample,
    describe_counts,
    spread,
    twin_pairs,
    validation_positions,
)
from lfmri_core.training.synthetic_cache import (
    ANNOTATIONS_NAME,
    MANIFEST_NAME,
    SYNTHETIC_CONTRASTS,
    default_cache,
    ensure_synthetic_split,
    first_seed,
    read_manifest,
    split_recipe,
)
from lfmri_core.training.volumes import Progress, TrainingData, VolumeEntry, check_count, scan_folder

# The data-set names this module has always offered, from the modules that now hold them.
__all__ = [
    "ANNOTATIONS_NAME",
    "MANIFEST_NAME",
    "SYNTHETIC_CONTRASTS",
    "TWIN_SUFFIX",
    "DataSource",
    "FolderSource",
    "SliceDataset",
    "SliceSample",
    "SyntheticSource",
    "TrainingData",
    "VolumeEntry",
    "default_cache",
    "describe_counts",
    "ensure_synthetic_split",
    "scan_folder",
    "spread",
    "twin_pairs",
    "validation_positions",
]


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
        check_count("val_volumes", self.val_volumes, low=0)
        if self.train_volumes is not None:
            check_count("train_volumes", self.train_volumes, low=1)
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
        check_count("train_volumes", self.train_volumes, low=1)
        check_count("val_volumes", self.val_volumes, low=0)
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
            manifest = read_manifest(folder)
            twins = self.lesion_free_twins and split == "train"
            if manifest is None or manifest.get("recipe") != split_recipe(split, count, self.num_slices, self.geometry, self.num_coils,
                                                                     lesion_free_twins=twins):
                raise InputError(f"synthetic training data in {folder} is missing or stale; generate it first")
            splits.append(scan_folder(folder, annotations=folder / f"{ANNOTATIONS_NAME}.csv",
                                      file_list=folder / f"{ANNOTATIONS_NAME}_file_list.csv", stems=manifest["files"]))
        train, validation = splits
        description = (
            f"synthetic {self.geometry} knees, {self.num_slices} slices, PD + PDFS: {self.train_volumes} training subjects "
            f"(seeds from {first_seed('train')}){' with lesion-free twins' if self.lesion_free_twins else ''}, "
            f"{self.val_volumes} validation subjects (seeds from {first_seed('validation')})"
        )
        return TrainingData(train=tuple(train), validation=tuple(validation), lesion_types=tuple(LESION_LABELS),
                            description=description)


DataSource = SyntheticSource | FolderSource
