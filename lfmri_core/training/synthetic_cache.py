"""The synthetic training data cache: subjects written once in the fastMRI format and reused.

:func:`ensure_synthetic_split` writes ``count`` subjects of a split (PD and PDFS scans of each,
and their lesion-free twins when asked for) with a fastMRI+ CSV into a folder, unless the
folder's manifest (:data:`MANIFEST_NAME`) already names the same recipe; files of the same
subjects made for another recipe in a sibling folder are linked instead of generated again.
:class:`~lfmri_core.training.data.SyntheticSource` reads the folders back.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from lfmri_core.io.annotations import FileAnnotations, LesionBox, read_annotations
from lfmri_core.io.atomic import atomic_write_text
from lfmri_core.io.volume import open_volume
from lfmri_core.training.volumes import Progress, check_count

__all__ = [
    "ANNOTATIONS_NAME",
    "MANIFEST_NAME",
    "SYNTHETIC_CONTRASTS",
    "default_cache",
    "ensure_synthetic_split",
    "first_seed",
    "read_manifest",
    "split_recipe",
]

ANNOTATIONS_NAME = "lfmri_knee"
"""Stem of the fastMRI+ CSV (and ``<stem>_file_list.csv``) in a synthetic cache folder."""

MANIFEST_NAME = "lfmri_training_data.json"
"""Manifest of a synthetic cache folder: the recipe and the files it made."""

SYNTHETIC_CONTRASTS: tuple[tuple[str, float], ...] = (("PD", 30.0), ("PDFS", 18.0))
"""``(contrast, snr)`` of each synthetic subject's scans, as in the embedded sample."""

_RECIPE_VERSION = 1

def default_cache() -> Path:
    """``$LFMRI_CACHE``, else ``$XDG_CACHE_HOME/lfmri``, else ``~/.cache/lfmri``."""
    if os.environ.get("LFMRI_CACHE"):
        return Path(os.environ["LFMRI_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lfmri"


def first_seed(split: str) -> int:
    """The first subject seed of a split (for descriptions)."""
    from lfmri_core.synthetic.splits import split_seeds

    return split_seeds(split, 1)[0]


def split_recipe(split: str, count: int, num_slices: int, geometry: str, num_coils: int | None, *,
                 lesion_free_twins: bool = False) -> dict[str, Any]:
    """What a cache folder of ``count`` subjects of ``split`` holds, as its manifest records it."""
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


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """A cache folder's manifest (:data:`MANIFEST_NAME`), or None when missing or unreadable."""
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
        manifest = read_manifest(sibling)
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

    check_count("workers", workers, low=1)
    folder = Path(folder)
    recipe = split_recipe(split, count, num_slices, geometry, num_coils, lesion_free_twins=lesion_free_twins)
    manifest = read_manifest(folder)
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
