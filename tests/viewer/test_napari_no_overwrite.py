"""The napari widget's exports never write over the open volume or its annotations: an error
notification names the file, which stays as it was."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from napari.utils.notifications import notification_manager

from tests.core.io.test_protected import digests
from tests.viewer.conftest import SmallDataset
from tests.viewer.test_napari_widget import MakeViewer, dock, errors_since, sync  # noqa: F401  (sync: a fixture)

pytestmark = pytest.mark.gui


def test_exports_refuse_the_inputs(make_napari_viewer: MakeViewer, small_dataset: SmallDataset, tmp_path: Path,
                                   sync: None) -> None:  # noqa: F811
    shutil.copytree(small_dataset.h5.parent, tmp_path / "data")
    folder = tmp_path / "data"
    widget = dock(make_napari_viewer())
    assert widget.open_file(folder / "small.h5")
    before = digests(folder)
    exports: list[tuple[Any, Path]] = [(widget.export_png, folder / "small.h5"),
                                       (widget.export_failure_csv, folder / "small_knee.csv"),
                                       (widget.export_readouts_csv, folder / "small.h5"),
                                       (widget.export_readouts_csv, folder / "small_knee_file_list.csv")]
    for export, target in exports:
        start = len(notification_manager.records)
        assert export(target) is None
        messages = errors_since(start)
        assert len(messages) == 1 and messages[0].startswith(f"{target} is an input file;"), messages
    assert digests(folder) == before
    assert widget.export_readouts_csv(folder / "readouts.csv") == folder / "readouts.csv"
