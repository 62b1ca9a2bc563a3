"""The embedded sample data: the public module ``lfmri_sample_data`` (this folder, installed under
that name).

``manifest.json`` beside this file names the sample volumes. They are synthesised on first use
into a cache folder (``$LFMRI_CACHE/sample`` or ``~/.cache/lfmri/sample``), deterministically
from the seed, and regenerated only when missing or made with other settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import h5py

MANIFEST_PATH = Path(__file__).with_name("manifest.json")


def manifest() -> dict:
    """The sample manifest (volume names, contrasts and default settings)."""
    return json.loads(MANIFEST_PATH.read_text())


def cache_dir() -> Path:
    """Root of the project's cache: ``$LFMRI_CACHE``, else ``$XDG_CACHE_HOME/lfmri``, else
    ``~/.cache/lfmri``."""
    if os.environ.get("LFMRI_CACHE"):
        return Path(os.environ["LFMRI_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lfmri"


def _recipe(geometry: str, num_slices: int, seed: int) -> str:
    return f"v{manifest()['version']} geometry={geometry} slices={num_slices} seed={seed}"


def _is_current(path: Path, recipe: str) -> bool:
    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("lfmri_sample_recipe") == recipe
    except OSError:
        return False


def ensure_sample_data(
    out: str | os.PathLike[str] | None = None,
    *,
    geometry: str | None = None,
    num_slices: int | None = None,
    seed: int | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Make sure the sample volumes and their annotations exist; return their paths.

    Returns the ``.h5`` paths followed by the annotation CSV and its file list. ``progress`` is
    called as ``progress(done, total)`` while the volumes are generated, ``total`` being the
    slices of all volumes plus one step for writing the files; it is not called when the cached
    files are current (:func:`is_current` says so beforehand).
    """
    from lfmri_core.synthetic import SyntheticConfig, generate_volume
    from lfmri_core.synthetic.export import write_dataset

    spec = manifest()
    defaults = spec["defaults"]
    geometry = geometry or defaults["geometry"]
    num_slices = int(num_slices if num_slices is not None else defaults["num_slices"])
    seed = int(seed if seed is not None else defaults["seed"])
    folder = Path(out) if out is not None else cache_dir() / "sample"
    name = spec["annotations_name"]
    recipe = _recipe(geometry, num_slices, seed)
    h5_paths = [folder / f"{v['stem']}.h5" for v in spec["volumes"]]
    extras = [folder / f"{name}.csv", folder / f"{name}_file_list.csv"]
    if not force and all(_is_current(p, recipe) for p in h5_paths) and all(p.is_file() for p in extras):
        return [*h5_paths, *extras]
    total = num_slices * len(spec["volumes"]) + 1
    volumes = []
    for i, v in enumerate(spec["volumes"]):
        def slice_done(done: int, _n: int, before: int = i * num_slices) -> None:
            if progress is not None:
                progress(before + done, total)

        volumes.append((v["stem"], generate_volume(SyntheticConfig(
            geometry=geometry, contrast=v["contrast"], num_slices=num_slices, snr=float(v["snr"]), seed=seed),
            progress=slice_done)))
    written = write_dataset(folder, volumes, annotations_name=name, attrs={"lfmri_sample_recipe": recipe})
    if progress is not None:
        progress(total, total)
    return written


def is_current(out: str | os.PathLike[str] | None = None) -> bool:
    """Whether :func:`ensure_sample_data` with the default settings would return at once
    (the cached sample exists and was made with the manifest's recipe)."""
    spec = manifest()
    defaults = spec["defaults"]
    folder = Path(out) if out is not None else cache_dir() / "sample"
    recipe = _recipe(defaults["geometry"], int(defaults["num_slices"]), int(defaults["seed"]))
    name = spec["annotations_name"]
    return (all(_is_current(folder / f"{v['stem']}.h5", recipe) for v in spec["volumes"])
            and all((folder / f"{name}{suffix}.csv").is_file() for suffix in ("", "_file_list")))
