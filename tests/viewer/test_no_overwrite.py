"""The session's writers (annotations, readouts, failure cases) never write over its inputs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.protected import protected_inputs
from lfmri_viewer.controller import SessionController
from lfmri_viewer.settings import ReconSettings
from tests.core.io.test_protected import digests
from tests.viewer.conftest import SmallDataset

Writer = Callable[[SessionController, Path], Path]
WRITERS: dict[str, Writer] = {
    "save_annotations": lambda session, path: session.save_annotations(path),
    "export_readouts_csv": lambda session, path: session.export_readouts_csv(path),
    "export_failure_csv": lambda session, path: session.export_failure_csv(path, "zero-filled"),
}


@pytest.fixture
def folder(small_dataset: SmallDataset, tmp_path: Path) -> Path:
    """A copy of the small dataset (the shared one is only read): ``small.h5``, ``small_knee.csv``,
    ``small_knee_file_list.csv`` and ``bart/small.{cfl,hdr}``."""
    shutil.copytree(small_dataset.h5.parent, tmp_path / "data")
    return tmp_path / "data"


def _session() -> SessionController:
    return SessionController(ReconSettings(methods=("zero-filled",)), classifier=None)


def _refused(write: Writer, session: SessionController, target: Path, folder: Path) -> str:
    before = digests(folder)
    with pytest.raises(InputError) as refused:
        write(session, target)
    message = str(refused.value)
    assert "\n" not in message and str(target) in message and ".part" not in message
    assert "input files are never overwritten and never modified" in message
    assert digests(folder) == before
    assert protected_inputs() == ()
    return message


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("target", ["small.h5", "small_knee.csv", "small_knee_file_list.csv"])
def test_writers_refuse_the_volume_and_its_annotations(writer: str, target: str, folder: Path) -> None:
    session = _session()
    session.open(folder / "small.h5")  # annotations found beside it
    assert set(session.inputs) == {folder / "small.h5", folder / "small_knee.csv", folder / "small_knee_file_list.csv"}
    message = _refused(WRITERS[writer], session, folder / target, folder)
    assert message.startswith(f"{folder / target} is an input file;")


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("target", ["small.cfl", "small.hdr"])
def test_writers_refuse_either_file_of_a_bart_volume(writer: str, target: str, folder: Path) -> None:
    session = _session()
    session.open(folder / "bart" / "small.cfl")
    _refused(WRITERS[writer], session, folder / "bart" / target, folder)


@pytest.mark.parametrize("link", ["symlink", "hard link"])
def test_writers_refuse_a_link_to_the_volume(link: str, folder: Path) -> None:
    alias = folder / "alias.h5"
    if link == "symlink":
        alias.symlink_to(folder / "small.h5")
    else:
        os.link(folder / "small.h5", alias)
    session = _session()
    session.open(folder / "small.h5")
    for write in WRITERS.values():
        assert f"is the input file {folder / 'small.h5'}" in _refused(write, session, alias, folder)


def test_annotations_given_or_loaded_are_inputs(folder: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine.csv"
    shutil.copy(folder / "small_knee.csv", mine)
    session = _session()
    session.open(folder / "small.h5", annotations=mine)
    _refused(WRITERS["save_annotations"], session, mine, folder.parent)
    loaded = tmp_path / "loaded.csv"
    shutil.copy(folder / "small_knee.csv", loaded)
    shutil.copy(folder / "small_knee_file_list.csv", tmp_path / "loaded_file_list.csv")
    session.load_annotations(loaded)  # with its file list beside it
    for target in (loaded, tmp_path / "loaded_file_list.csv", mine):
        _refused(WRITERS["export_readouts_csv"], session, target, folder.parent)
    assert session.check_output(tmp_path / "view.png") == tmp_path / "view.png"
    with pytest.raises(InputError, match="is an input file"):
        session.check_output(folder / "small.h5")


def test_outputs_are_written_and_rewritten(folder: Path, tmp_path: Path) -> None:
    """Saving twice to one file works (it is an output, not an input); closing ends the protection."""
    session = _session()
    session.open(folder / "small.h5")
    for name, write in WRITERS.items():
        for boxes in ([], [LesionBox(0, "drawn", 10, 20, 10, 20)]):
            session.set_boxes(0, boxes)
            assert write(session, tmp_path / f"{name}.csv") == tmp_path / f"{name}.csv"
    assert "drawn" in (tmp_path / "save_annotations.csv").read_text()
    session.close()
    assert session.inputs == () and protected_inputs() == ()
    session.check_output(folder / "small.h5")
