"""Fixtures of the viewer tests: small volumes on disk and the embedded sample.

GUI tests use napari's ``make_napari_viewer`` fixture (registered by napari's pytest plugin)
under the Xvfb server that pytest-xvfb starts for the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lfmri_core.io.bart_cfl import write_cfl
from lfmri_core.synthetic import SyntheticConfig, SyntheticVolume, generate_volume
from lfmri_core.synthetic.export import write_dataset
from lfmri_sample_data import ensure_sample_data

def pytest_configure(config: pytest.Config) -> None:
    """Give napari a preferences file of this run.

    napari saves its preferences on every change and ``make_napari_viewer`` resets them, so
    without this the GUI tests would overwrite the user's napari preferences. napari reads
    ``NAPARI_CONFIG`` when its settings module is first imported, which happens in the first
    test, after this hook.
    """
    folder = Path(tempfile.mkdtemp(prefix="lfmri-napari-settings-"))
    previous = os.environ.get("NAPARI_CONFIG")
    os.environ["NAPARI_CONFIG"] = str(folder / "settings.yaml")

    def restore() -> None:
        if previous is None:
            os.environ.pop("NAPARI_CONFIG", None)
        else:
            os.environ["NAPARI_CONFIG"] = previous
        shutil.rmtree(folder, ignore_errors=True)

    config.add_cleanup(restore)


#: Seed 4 of the synthetic knee has lesion boxes on several slices.
SMALL_SEED = 4


@dataclass(frozen=True)
class SmallDataset:
    """A small synthetic volume written as fastMRI (with annotations) and as BART.

    Attributes
    ----------
    volume
        The generated volume: k-space ``(3, 2, 320, 320)``, target ``(3, 320, 320)``.
    h5
        ``small.h5`` beside ``small_knee.csv`` and ``small_knee_file_list.csv``.
    csv, file_list
        The annotation CSV and its file list.
    cfl
        ``bart/small.cfl`` (with ``small.hdr``): the same k-space as ``(read, phase1, slices,
        coils)``, alone in its folder (no annotations).
    """

    volume: SyntheticVolume
    h5: Path
    csv: Path
    file_list: Path
    cfl: Path


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> SmallDataset:
    """Written once per run; tests only read it (the reader never writes)."""
    folder = tmp_path_factory.mktemp("small_dataset")
    volume = generate_volume(SyntheticConfig(num_slices=3, num_coils=2, seed=SMALL_SEED))
    h5, csv, file_list = write_dataset(folder, [("small", volume)], annotations_name="small_knee")
    (folder / "bart").mkdir()
    cfl = folder / "bart" / "small.cfl"
    write_cfl(cfl, np.transpose(volume.kspace, (2, 3, 0, 1)))
    return SmallDataset(volume=volume, h5=h5, csv=csv, file_list=file_list, cfl=cfl)


@pytest.fixture(scope="session")
def sample_paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    """The embedded sample with its default settings (what napari's sample menu opens).

    ``LFMRI_CACHE`` points at a folder of this run for the rest of the session, so the sample
    contributions find the volumes generated here (once, about a minute) and no test touches
    the user's cache. Returns ``[pd.h5, pdfs.h5, annotations.csv, file_list.csv]``.
    """
    cache = tmp_path_factory.mktemp("lfmri_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LFMRI_CACHE", str(cache))
        paths = ensure_sample_data()
        assert all(p.is_relative_to(cache) for p in paths)
        yield paths
