"""The boxes writer contribution (fastMRI+ CSV, labels kept) and the dock widget's "Save
annotations" and "Export volumes" buttons: edit -> save -> reopen gives the same boxes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import napari
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from napari.utils.notifications import NotificationSeverity, notification_manager
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QFileDialog

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox, read_annotations
from lfmri_viewer.jobs import SYNC_ENV
from lfmri_viewer.napari_plugin._layers import boxes_layer, shapes_to_boxes
from lfmri_viewer.napari_plugin._widget import ReconstructionWidget
from lfmri_viewer.napari_plugin._writer import write_boxes
from tests.viewer.conftest import SmallDataset

PLUGIN = "lfmri-viewer"
MakeViewer = Callable[..., Any]


def _state(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The attributes napari hands a writer: the layer's state (features as a DataFrame)."""
    return {**kwargs, "features": pd.DataFrame(kwargs["features"])}


def test_writer_round_trip_in_the_flipped_frame(small_dataset: SmallDataset, tmp_path: Path) -> None:
    boxes = [LesionBox(0, "Meniscus Tear", 200, 230, 40, 90), LesionBox(2, "Bone- Subchondral edema", 0, 10, 310, 320)]
    data, kwargs, kind = boxes_layer(boxes, small_dataset.h5, (3, 320, 320))
    assert kind == "shapes"
    assert write_boxes(str(tmp_path / "boxes.csv"), data, _state(kwargs)) == [str(tmp_path / "boxes.csv")]
    lines = (tmp_path / "boxes.csv").read_text().splitlines()
    # y is counted from the bottom of the stored image (fastMRI+'s up/down flipped frame).
    assert lines[1:] == ["small,0,No,40,90,50,30,Meniscus Tear", "small,2,No,310,310,10,10,Bone- Subchondral edema"]
    found = read_annotations(tmp_path / "boxes.csv", frame_shape=(320, 320)).for_file(small_dataset.h5)
    assert list(found.boxes) == boxes


def test_writer_refuses_foreign_layers_and_inputs(small_dataset: SmallDataset, tmp_path: Path) -> None:
    data, kwargs, _ = boxes_layer([LesionBox(0, "x", 1, 5, 1, 5)], small_dataset.h5, (3, 320, 320))
    with pytest.raises(InputError, match="not an LF-MRI lesion boxes layer"):
        write_boxes(str(tmp_path / "b.csv"), data, {"name": "mine", "metadata": {}})
    before = small_dataset.csv.read_bytes()
    with pytest.raises(InputError, match="input file"):
        write_boxes(str(small_dataset.csv), data, _state(kwargs))
    assert small_dataset.csv.read_bytes() == before
    with pytest.raises(InputError, match="input file"):
        write_boxes(str(small_dataset.h5), data, _state(kwargs))


@pytest.mark.gui
def test_edit_save_through_napari_and_reopen(make_napari_viewer: MakeViewer, small_dataset: SmallDataset,
                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SYNC_ENV, "1")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "LF-MRI reconstruction")
    assert isinstance(widget, ReconstructionWidget)
    widget.set_methods(("zero-filled",))
    _, layer = viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    # Edit: move every box 20 rows down and rename the first one.
    layer.data = [np.array(shape) + [0, 20, 0] for shape in layer.data]
    labels = list(layer.features["label"])
    labels[0] = "Joint Effusion"
    layer.features = pd.DataFrame({"label": np.asarray(labels, dtype=object)})
    image_shape = (widget.controller.num_slices, *widget.controller.recon_shape)
    edited = shapes_to_boxes(layer.data, list(layer.features["label"]), image_shape)
    assert edited != list(small_dataset.volume.boxes)

    # File > Save Selected Layers with the plugin's writer.
    saved = napari.save_layers(str(tmp_path / "edited.csv"), [layer], plugin=PLUGIN)
    assert saved == [str(tmp_path / "edited.csv")]
    reopened = napari.Viewer(show=False)
    try:
        _, other = reopened.window.add_plugin_dock_widget(PLUGIN, "LF-MRI reconstruction")
        assert other.open_file(small_dataset.h5) and other.load_annotations(tmp_path / "edited.csv")
        assert list(other.controller.all_boxes()) == sorted(edited, key=lambda b: b.slice)
        assert other.controller.boxes(edited[0].slice)[0].label == "Joint Effusion"
    finally:
        reopened.close()

    # The widget's own button (the dialog answered) saves the same through the controller.
    assert widget.controller.unsaved_box_edits
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "button.csv"), ""))
    QTest.mouseClick(widget.save_annotations_button, Qt.LeftButton)
    assert not widget.controller.unsaved_box_edits
    again = read_annotations(tmp_path / "button.csv", frame_shape=image_shape[1:]).for_file(small_dataset.h5)
    assert sorted(again.boxes, key=lambda b: b.slice) == sorted(edited, key=lambda b: b.slice)

    # Export volumes: NIfTI of the reconstruction and its error map.
    assert widget.reconstruct_volume() is not None
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "zf.nii.gz"), ""))
    QTest.mouseClick(widget.export_volumes_button, Qt.LeftButton)
    recon = np.asarray(nib.load(tmp_path / "zf.nii.gz").dataobj).transpose(2, 0, 1)
    assert np.array_equal(recon[1], widget.controller.result("zero-filled", 1).image)
    assert (tmp_path / "zf_error.nii.gz").is_file()

    start = len(notification_manager.records)
    assert widget.save_annotations(small_dataset.csv) is None  # an input: refused, one error
    errors = [n.message for n in notification_manager.records[start:] if n.severity == NotificationSeverity.ERROR]
    assert len(errors) == 1 and "input file" in errors[0]
