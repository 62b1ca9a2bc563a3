"""The held-out test set of ``lfmri evaluate``: synthetic test subjects, or real fastMRI files.

Synthetic: the subjects are the first ``num_volumes`` seeds of the *test* split
(:func:`lfmri_core.synthetic.splits.split_seeds`), never a training or validation seed
(default :data:`DEFAULT_NUM_VOLUMES`, enough for :data:`MIN_LESION_SLICES` lesion slices). Every
seed is scanned with each contrast asked for, PD (``CORPD_FBK``, SNR 30) and fat-suppressed PD
(``CORPDFS_FBK``, SNR 18, as the embedded sample), in the compact geometry (320 x 320, 8 coils),
so the PD and PDFS volumes of a seed show the same knee. The volumes are written once, in the
fastMRI format with fastMRI+ annotations, into a cache folder with a ``manifest.json`` naming
the recipe; a later run with the same recipe reads them back instead of generating them again.

Real data: every ``.h5`` file of a folder that has a ``reconstruction_rss`` reference, with
its boxes from a fastMRI+ CSV (and the file list of reviewed files); the contrast comes from
the file's ``acquisition`` attribute.

:func:`lesion_slices_only` narrows either set to the slices with lesion boxes, when only the
lesion-focused comparisons are wanted (about a quarter of the slices, so about a quarter of the
reconstruction time).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lfmri_core import __version__
from lfmri_core.errors import InputError
from lfmri_core.io.annotations import (
    AnnotationSet,
    FileAnnotations,
    ImageLabel,
    LesionBox,
    read_annotations,
    write_annotations,
)
from lfmri_core.io.atomic import atomic_write_text
from lfmri_core.io.fastmri_h5 import FastMRIVolume
from lfmri_core.io.volume import open_volume
from lfmri_core.progress import Progress

__all__ = [
    "ACQUISITION_CONTRAST",
    "CONTRAST_SNR",
    "DEFAULT_NUM_VOLUMES",
    "MIN_LESION_SLICES",
    "EvaluationSet",
    "EvaluationVolume",
    "SyntheticRecipe",
    "count_lesion_slices",
    "default_cache_dir",
    "ensure_synthetic_set",
    "lesion_slices_only",
    "load_fastmri_set",
]

CONTRAST_SNR: dict[str, float] = {"PD": 30.0, "PDFS": 18.0}
"""SNR of each synthetic contrast (fat suppression costs signal, as in real PDFS scans)."""

ACQUISITION_CONTRAST: dict[str, str] = {"CORPD_FBK": "PD", "CORPDFS_FBK": "PDFS"}
"""fastMRI acquisition code -> contrast name used in the tables."""

MIN_LESION_SLICES = 60
"""Lesion slices (slices with boxes, every contrast) the default synthetic test set must hold,
so that the interval of a paired per-slice LF-PSNR difference resolves 0.3 dB. Measured on the
60 lesion slices of the default set with the shipped weights (2026-12-04): the per-slice
differences of LF-PSNR between LF-MRI and its no-focus ablation had a standard deviation of
0.44 dB at 8x and 0.56 dB at 4x, so the 95 % interval was ±0.11 and ±0.14 dB (±0.17 dB at 8x
when whole subjects are resampled instead of slices, since a subject's lesion slices are
neighbours)."""

DEFAULT_NUM_VOLUMES = 8
"""Subjects per contrast of the default synthetic test set. The number of lesions per subject
is random: test seeds 0-7 in PD and PDFS, 16 slices each, hold exactly 60 lesion slices (3, 3, 3,
0, 8, 7, 4 and 2 per volume, the same in both contrasts), the fewest seeds that reach
:data:`MIN_LESION_SLICES`; 4 seeds held 18."""

TESTSET_VERSION = 1
"""Bumped when the way the synthetic test set is made changes (invalidates caches)."""

ANNOTATIONS_NAME = "lfmri_test"
MANIFEST_NAME = "manifest.json"



@dataclass(frozen=True)
class EvaluationVolume:
    """One volume of the test set.

    Attributes
    ----------
    path
        The fastMRI ``.h5`` file (fully sampled, with ``reconstruction_rss``), or ISMRMRD/MRD raw
        data (scored against the RSS of its k-space).
    contrast
        ``"PD"``, ``"PDFS"`` or, for other real acquisitions, the acquisition code.
    boxes
        Lesion boxes in the stored frame of the recon crop (volume slice indices).
    labels
        Image-level label of every slice of the volume, ``(num_slices,)``.
    slices
        Slices evaluated (volume indices, ascending).
    seed
        Synthetic subject seed, None for real data.
    """

    path: Path
    contrast: str
    boxes: tuple[LesionBox, ...]
    labels: tuple[ImageLabel, ...]
    slices: tuple[int, ...]
    seed: int | None = None

    @property
    def name(self) -> str:
        """File stem (``lfmri_test_pd_000``)."""
        return self.path.stem


@dataclass(frozen=True)
class EvaluationSet:
    """The volumes to evaluate, with a description of where they came from (for the report)."""

    volumes: tuple[EvaluationVolume, ...]
    source: str
    """``"synthetic"`` or ``"fastmri"``."""
    description: dict[str, object] = field(default_factory=dict)
    """JSON-ready recipe: seeds, contrasts, slices, folder..."""

    @property
    def contrasts(self) -> tuple[str, ...]:
        """Contrasts present, in the order they first appear."""
        return tuple(dict.fromkeys(v.contrast for v in self.volumes))


@dataclass(frozen=True)
class SyntheticRecipe:
    """How the synthetic test set is made.

    Attributes
    ----------
    num_volumes
        Subjects per contrast: the first ``num_volumes`` seeds of the test split.
    num_slices
        Slices per volume (all are evaluated).
    contrasts
        Contrasts, each a key of :data:`CONTRAST_SNR`.
    geometry
        Synthetic geometry name.
    """

    num_volumes: int = DEFAULT_NUM_VOLUMES
    num_slices: int = 16
    contrasts: tuple[str, ...] = ("PD", "PDFS")
    geometry: str = "compact"

    def __post_init__(self) -> None:
        if isinstance(self.num_volumes, bool) or not isinstance(self.num_volumes, int) or self.num_volumes < 1:
            raise InputError(f"--num-volumes must be an integer >= 1, got {self.num_volumes!r}")
        if isinstance(self.num_slices, bool) or not isinstance(self.num_slices, int) or self.num_slices < 1:
            raise InputError(f"--num-slices must be an integer >= 1, got {self.num_slices!r}")
        if not self.contrasts:
            raise InputError("choose at least one contrast")
        for contrast in self.contrasts:
            if contrast not in CONTRAST_SNR:
                raise InputError(f"unknown contrast {contrast!r}; choose from {', '.join(CONTRAST_SNR)}")
        if len(set(self.contrasts)) != len(self.contrasts):
            raise InputError(f"contrasts are repeated: {' '.join(self.contrasts)}")

    def seeds(self) -> list[int]:
        """The test-split seeds of the subjects."""
        from lfmri_core.synthetic.splits import split_seeds

        return split_seeds("test", self.num_volumes)

    @staticmethod
    def stem(contrast: str, seed: int) -> str:
        """File stem of one volume (its name also seeds fastMRI's per-file masks)."""
        return f"{ANNOTATIONS_NAME}_{contrast.lower()}_{seed:03d}"

    def as_dict(self) -> dict[str, object]:
        """The recipe as written into the manifest (and the report)."""
        from lfmri_core.synthetic.contrast import ACQUISITIONS

        return {
            "version": TESTSET_VERSION,
            "lfmri_core": __version__,
            "split": "test",
            "seeds": self.seeds(),
            "contrasts": {c: {"acquisition": ACQUISITIONS[c], "snr": CONTRAST_SNR[c]} for c in self.contrasts},
            "geometry": self.geometry,
            "num_slices": self.num_slices,
        }


def default_cache_dir() -> Path:
    """``$LFMRI_CACHE/evaluate`` (else ``~/.cache/lfmri/evaluate``)."""
    from lfmri_sample_data import cache_dir

    return cache_dir() / "evaluate"


def _read_manifest(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _synthetic_volumes(folder: Path, recipe: SyntheticRecipe, annotations: AnnotationSet) -> tuple[EvaluationVolume, ...]:
    volumes = []
    for contrast in recipe.contrasts:
        for seed in recipe.seeds():
            stem = recipe.stem(contrast, seed)
            ann = annotations.for_file(stem)
            volumes.append(EvaluationVolume(
                path=folder / f"{stem}.h5", contrast=contrast, boxes=ann.boxes,
                labels=tuple(ann.slice_labels(recipe.num_slices)), slices=tuple(range(recipe.num_slices)), seed=seed,
            ))
    return tuple(volumes)


def _generate_test_volume(folder: str, geometry: str, contrast: str, num_slices: int, seed: int, stem: str,
                          spec: str) -> tuple[tuple[LesionBox, ...], tuple[int, int]]:
    """Write one test volume; its boxes and recon shape (module level: a process pool runs it)."""
    from lfmri_core.synthetic import SyntheticConfig, generate_volume
    from lfmri_core.synthetic.export import write_synthetic_volume

    volume = generate_volume(SyntheticConfig(geometry=geometry, contrast=contrast, num_slices=num_slices,
                                             snr=CONTRAST_SNR[contrast], seed=seed))
    write_synthetic_volume(Path(folder) / f"{stem}.h5", volume, attrs={"lfmri_evaluate_recipe": spec})
    return tuple(volume.boxes), tuple(volume.recon_shape)  # type: ignore[return-value]


def ensure_synthetic_set(
    recipe: SyntheticRecipe,
    cache: str | os.PathLike[str] | None = None,
    *,
    progress: Progress | None = None,
    workers: int = 1,
) -> EvaluationSet:
    """The synthetic test set of ``recipe``, generated into ``cache`` unless already there.

    Parameters
    ----------
    recipe
        Subjects, contrasts and slices.
    cache
        Folder of the test set (default :func:`default_cache_dir`). Its ``manifest.json``
        records the recipe; files of an older recipe listed there are replaced.
    progress
        Called as ``progress(volumes_done, volumes_total)`` while generating.
    workers
        Processes generating volumes in parallel (the files do not depend on it).
    """
    from lfmri_core.synthetic.parallel import map_jobs

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be an integer >= 1, got {workers!r}")

    folder = Path(cache) if cache is not None else default_cache_dir()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--cache {folder} is a file, not a folder")
    spec = recipe.as_dict()
    manifest_path = folder / MANIFEST_NAME
    csv_path = folder / f"{ANNOTATIONS_NAME}.csv"
    list_path = folder / f"{ANNOTATIONS_NAME}_file_list.csv"
    stems = [recipe.stem(c, s) for c in recipe.contrasts for s in recipe.seeds()]
    manifest = _read_manifest(manifest_path)
    current = (
        manifest is not None
        and manifest.get("recipe") == spec
        and csv_path.is_file()
        and list_path.is_file()
        and all((folder / f"{stem}.h5").is_file() for stem in stems)
    )
    frame = (0, 0)
    if not current:
        folder.mkdir(parents=True, exist_ok=True)
        if manifest is not None:
            # Files of the previous recipe that this one does not make again.
            for old in manifest.get("files", []) if isinstance(manifest.get("files"), list) else []:
                if isinstance(old, str) and old not in stems and "/" not in old and old.startswith(ANNOTATIONS_NAME):
                    (folder / f"{old}.h5").unlink(missing_ok=True)
        manifest_path.unlink(missing_ok=True)
        jobs = [(str(folder), recipe.geometry, contrast, recipe.num_slices, seed, recipe.stem(contrast, seed),
                 json.dumps(spec)) for contrast in recipe.contrasts for seed in recipe.seeds()]
        made: list[tuple[tuple[LesionBox, ...], tuple[int, int]]] = []
        for result in map_jobs(_generate_test_volume, jobs, workers):
            made.append(result)
            if progress is not None:
                progress(len(made), len(jobs))
        records = [FileAnnotations(file=job[5], boxes=boxes, reviewed=True) for job, (boxes, _) in zip(jobs, made)]
        frame = made[-1][1]
        write_annotations(csv_path, records, file_list=list_path, frame_height=frame[0])
        atomic_write_text(manifest_path, json.dumps({"recipe": spec, "files": stems}, indent=2) + "\n")
    with FastMRIVolume(folder / f"{stems[0]}.h5") as vol:
        frame = vol.info.recon_shape
    annotations = read_annotations(csv_path, list_path, frame_shape=frame)
    volumes = _synthetic_volumes(folder, recipe, annotations)
    description = {"source": "synthetic", **spec, "folder": str(folder), "reused_cache": bool(current),
                   "lesion_slices": count_lesion_slices(EvaluationSet(volumes, "synthetic"))}
    return EvaluationSet(volumes, "synthetic", description)


def _contrast_of(acquisition: str | None) -> str:
    if not acquisition:
        return "unknown"
    return ACQUISITION_CONTRAST.get(acquisition, acquisition)


def load_fastmri_set(
    data: str | os.PathLike[str],
    annotations: str | os.PathLike[str],
    file_list: str | os.PathLike[str] | None = None,
    *,
    contrasts: Sequence[str] | None = None,
    num_volumes: int | None = None,
    num_slices: int | None = None,
) -> EvaluationSet:
    """Real fully sampled fastMRI files with fastMRI+ boxes as the test set.

    Parameters
    ----------
    data
        Folder of ``.h5`` files (fully sampled multicoil files with ``reconstruction_rss``), or
        a ``.txt`` list of such files (:func:`lfmri_core.sharding.read_file_list`).
    annotations, file_list
        fastMRI+ CSV and its list of reviewed files (default: ``<csv stem>_file_list.csv``
        beside the CSV when present). Slices of files not reviewed have unknown labels and are
        left out of the classifier table.
    contrasts
        Keep only these contrasts (``PD``, ``PDFS`` or acquisition codes); default all.
    num_volumes
        At most this many files per contrast (in name order); default all.
    num_slices
        Evaluate only the central ``num_slices`` slices of each volume; default all.
    """
    from lfmri_core.sharding import is_file_list, read_file_list

    folder = Path(data)
    listed = is_file_list(folder)  # a .txt list of files instead of a folder
    if not listed and not folder.is_dir():
        raise InputError(f"--data {folder} is not a folder")
    csv_path = Path(annotations)
    if not csv_path.is_file():
        raise InputError(f"--annotations {csv_path} does not exist")
    if file_list is None:
        beside = csv_path.with_name(f"{csv_path.stem}_file_list.csv")
        file_list = beside if beside.is_file() else None
    elif not Path(file_list).is_file():
        raise InputError(f"--file-list {file_list} does not exist")
    paths = read_file_list(folder) if listed else sorted(folder.glob("*.h5"))
    if not paths:
        raise InputError(f"--data {folder} holds no .h5 files")
    if num_volumes is not None and num_volumes < 1:
        raise InputError(f"--num-volumes must be >= 1, got {num_volumes}")
    if num_slices is not None and num_slices < 1:
        raise InputError(f"--num-slices must be >= 1, got {num_slices}")
    wanted = None if contrasts is None else {ACQUISITION_CONTRAST.get(c, c) for c in contrasts}
    parsed: dict[tuple[int, int], AnnotationSet] = {}
    counts: dict[str, int] = {}
    volumes: list[EvaluationVolume] = []
    for path in paths:
        with open_volume(path) as vol:  # fastMRI files, or ISMRMRD/MRD raw data scored against its RSS
            info = vol.info
        if info.mask is not None:
            raise InputError(f"{path.name} is already undersampled (a test file); evaluate needs fully sampled files")
        if "reconstruction_rss" not in info.targets and info.attrs.get("format") != "ismrmrd":
            raise InputError(f"{path.name} has no reconstruction_rss reference to score against")
        contrast = _contrast_of(info.acquisition)
        if wanted is not None and contrast not in wanted:
            continue
        if num_volumes is not None and counts.get(contrast, 0) >= num_volumes:
            continue
        counts[contrast] = counts.get(contrast, 0) + 1
        shape = info.recon_shape
        if shape not in parsed:
            parsed[shape] = read_annotations(csv_path, file_list, frame_shape=shape)
        ann = parsed[shape].for_file(path)
        ann.validate(info.num_slices, shape)
        n = info.num_slices
        if num_slices is None or num_slices >= n:
            chosen = tuple(range(n))
        else:
            start = (n - num_slices) // 2
            chosen = tuple(range(start, start + num_slices))
        volumes.append(EvaluationVolume(path=path, contrast=contrast, boxes=ann.boxes,
                                        labels=tuple(ann.slice_labels(n)), slices=chosen))
    if not volumes:
        raise InputError(f"--data {folder}: no file of contrast {', '.join(sorted(wanted or ()))}")
    description: dict[str, object] = {
        "source": "fastmri",
        "data": str(folder),
        "annotations": str(csv_path),
        "file_list": None if file_list is None else str(file_list),
        "files": [v.path.name for v in volumes],
        "contrasts": counts,
        "num_slices": "all" if num_slices is None else f"central {num_slices}",
        "lesion_slices": count_lesion_slices(EvaluationSet(tuple(volumes), "fastmri")),
    }
    return EvaluationSet(tuple(volumes), "fastmri", description)


def count_lesion_slices(evaluation_set: EvaluationSet) -> int:
    """Evaluated slices with at least one non-empty lesion box, over every volume."""
    return sum(len({b.slice for b in v.boxes if not b.is_empty} & set(v.slices)) for v in evaluation_set.volumes)


def lesion_slices_only(evaluation_set: EvaluationSet) -> EvaluationSet:
    """The same test set narrowed to the slices with lesion boxes; volumes without any are left
    out.

    Use it when only the lesion-focused comparisons matter: the LF metrics and the CAM
    localisation are computed on the same slices as before (their numbers do not change, the
    data range stays the whole volume's maximum), but whole-image PSNR and SSIM then describe
    the lesion slices only, and Net_c's accuracy and AUC have no negative slice to score (AUC
    NaN).

    Raises
    ------
    InputError
        No evaluated slice has a lesion box.
    """
    volumes = []
    for volume in evaluation_set.volumes:
        boxed = {b.slice for b in volume.boxes if not b.is_empty}
        kept = tuple(s for s in volume.slices if s in boxed)
        if kept:
            volumes.append(replace(volume, slices=kept))
    if not volumes:
        raise InputError("--lesion-slices-only: no evaluated slice has a lesion box")
    description = {**evaluation_set.description, "lesion_slices_only": True,
                   "lesion_slices": sum(len(v.slices) for v in volumes)}
    return EvaluationSet(tuple(volumes), evaluation_set.source, description)
