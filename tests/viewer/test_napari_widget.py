"""The "LF-MRI reconstruction" dock widget in a napari viewer: controls drive the controller,
its results and boxes show in layers and tables, jobs run off the GUI thread and can be
cancelled, errors become notifications."""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from napari.utils.interactions import (
    mouse_move_callbacks,
    mouse_press_callbacks,
    mouse_release_callbacks,
)
from napari.utils.notifications import NotificationSeverity, notification_manager
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

import lfmri_viewer.session_jobs as session_jobs
from lfmri_core.io.annotations import LesionBox
from lfmri_core.metrics import lf_psnr_slice
from lfmri_viewer.formatting import (
    FAILURE_COLUMNS,
    POINTER_COLUMNS,
    READOUT_COLUMNS,
    failure_cells,
    number,
    readout_cells,
)
from lfmri_viewer.jobs import SYNC_ENV, JobState
from lfmri_viewer.napari_plugin._layers import (
    BOXES_ROLE,
    REFERENCE_ROLE,
    ROLE_KEY,
    SOURCE_KEY,
    shapes_to_boxes,
)
from lfmri_viewer.napari_plugin._widget import (
    ALL_COILS,
    FILE_SEED,
    ReconstructionWidget,
    WorkerRunner,
)
from lfmri_viewer.review import FailureCase
from tests.viewer.conftest import SmallDataset

pytestmark = pytest.mark.gui

PLUGIN = "lfmri-viewer"
WIDGET = "LF-MRI reconstruction"
FAST = ("zero-filled",)
MakeViewer = Callable[..., Any]


@pytest.fixture
def sync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs run on the GUI thread: every action has finished when its call returns."""
    monkeypatch.setenv(SYNC_ENV, "1")


def errors_since(start: int) -> list[str]:
    """Messages of the error notifications napari got after record number ``start``."""
    return [n.message for n in notification_manager.records[start:] if n.severity == NotificationSeverity.ERROR]


def click(button: Any) -> None:
    assert button.isEnabled()
    QTest.mouseClick(button, Qt.LeftButton)


def dock(viewer: Any, methods: tuple[str, ...] = FAST) -> ReconstructionWidget:
    """The widget as napari's Plugins menu docks it, with fast methods chosen."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert isinstance(widget, ReconstructionWidget)
    widget.set_methods(methods)
    assert widget.controller.settings.methods == methods
    return widget


def layers_with_role(viewer: Any, role: str) -> list[Any]:
    return [layer for layer in viewer.layers if layer.metadata.get(ROLE_KEY) == role]


def slice_with_boxes(widget: ReconstructionWidget) -> int:
    return next(i for i in range(widget.controller.num_slices) if widget.controller.boxes(i))


def slice_without_boxes(widget: ReconstructionWidget) -> int:
    return next(i for i in range(widget.controller.num_slices) if not widget.controller.boxes(i))


def lf_psnr_shown(widget: ReconstructionWidget, method: str = "zero-filled") -> str:
    return next(row["LF-PSNR (dB)"] for row in widget.displayed_readouts() if row["method"] == method)


def expected_lf_psnr(widget: ReconstructionWidget, boxes: list[LesionBox], method: str = "zero-filled") -> str:
    c = widget.controller
    result = c.result(method)
    assert result is not None and c.maxval is not None
    return number(lf_psnr_slice(c.reference(), result.image, boxes, c.maxval))


# --- opening ----------------------------------------------------------------------------------


def test_reader_layers_are_reused(make_napari_viewer: MakeViewer, small_dataset: SmallDataset, sync: None) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    reference, boxes = viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    c = widget.controller
    assert c.path == small_dataset.h5 and c.num_slices == 3
    # The reader's layers are the session's: no second reference or boxes layer.
    assert widget.scene.reference is reference and widget.scene.boxes is boxes
    assert layers_with_role(viewer, REFERENCE_ROLE) == [reference]
    assert layers_with_role(viewer, BOXES_ROLE) == [boxes]
    names = [layer.name for layer in viewer.layers]
    assert names.index("small reference") < names.index("zero-filled recon") < names.index("CAM (zero-filled)")
    assert names[-1] == "small lesion boxes"
    kspace = widget.scene.kspace
    assert kspace is not None and not kspace.visible and kspace.data.shape == c.info.image_shape

    # Auto-update reconstructed the middle slice; the others are still empty.
    recon = widget.scene.reconstructions["zero-filled"]
    assert recon.data.shape == (3, *c.recon_shape)
    assert c.slice_index == 1 and viewer.dims.current_step[0] == 1
    result = c.result("zero-filled", 1)
    assert result is not None
    np.testing.assert_array_equal(recon.data[1], result.image)
    assert not recon.data[0].any() and not recon.data[2].any()
    np.testing.assert_allclose(widget.scene.errors["zero-filled"].data[1], np.abs(result.image - c.reference(1)))
    assert widget.scene.errors["zero-filled"].contrast_limits == list(c.error_limits())
    assert widget.displayed_readouts() == [readout_cells(c.readouts(1)["zero-filled"])]

    # The slider and the controller follow each other.
    viewer.dims.set_current_step(0, 0)
    assert c.slice_index == 0 and recon.data[0].any()
    assert widget.displayed_readouts() == [readout_cells(c.readouts(0)["zero-filled"])]
    c.set_slice(2)
    assert viewer.dims.current_step[0] == 2 and recon.data[2].any()


def test_sample_opened_before_docking_is_taken_up(make_napari_viewer: MakeViewer, sample_paths: list[Path], sync: None) -> None:
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "knee_pd")
    reference, boxes = viewer.layers
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert isinstance(widget, ReconstructionWidget)
    c = widget.controller
    assert c.path == sample_paths[0] and c.num_slices == reference.data.shape[0]
    assert widget.scene.reference is reference and widget.scene.boxes is boxes
    assert len(layers_with_role(viewer, REFERENCE_ROLE)) == 1 and len(layers_with_role(viewer, BOXES_ROLE)) == 1
    assert len(c.all_boxes()) == boxes.nshapes > 0
    assert set(widget.scene.reconstructions) == set(c.settings.methods)


def test_open_button_makes_the_layers(make_napari_viewer: MakeViewer, small_dataset: SmallDataset, sync: None) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    assert widget.open_file(small_dataset.h5)
    scene = widget.scene
    assert scene.reference is not None and scene.owns(scene.reference)
    np.testing.assert_array_equal(scene.reference.data, small_dataset.volume.reconstruction_rss)
    assert scene.boxes is not None and scene.boxes.nshapes == len(widget.controller.all_boxes()) > 0
    assert "small.h5" in widget.volume_label.text()
    # Opening another volume replaces the session's own layers (BART: no boxes beside it).
    assert widget.open_file(small_dataset.cfl)
    assert [layer.name for layer in layers_with_role(viewer, REFERENCE_ROLE)] == ["small RSS"]
    assert len(layers_with_role(viewer, BOXES_ROLE)) == 1 and scene.boxes is not None and scene.boxes.nshapes == 0
    assert len(viewer.layers) == len(scene.derived_layers()) + 2
    assert scene.reference.metadata[SOURCE_KEY] == str(small_dataset.cfl)
    c = widget.controller
    reference = c.reference_volume()
    assert reference is not None
    np.testing.assert_allclose(scene.reference.data, reference, rtol=1e-5, atol=1e-6 * float(reference.max()))
    result = c.result("zero-filled")
    assert result is not None
    np.testing.assert_array_equal(scene.reconstructions["zero-filled"].data[c.slice_index], result.image)
    assert scene.kspace is not None and scene.kspace.name == "small k-space"  # short enough for the layer list

    # A volume opened by the reader next takes the place of the session's own layers.
    derived = len(scene.derived_layers())
    reference, boxes = viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    assert c.path == small_dataset.h5
    assert layers_with_role(viewer, REFERENCE_ROLE) == [reference] and layers_with_role(viewer, BOXES_ROLE) == [boxes]
    assert scene.reference is reference and scene.boxes is boxes
    assert len(viewer.layers) == len(scene.derived_layers()) + 2 == derived + 2


def test_broken_file_is_an_error_notification_and_the_app_goes_on(
    make_napari_viewer: MakeViewer, small_dataset: SmallDataset, tmp_path: Path, sync: None
) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    assert widget.open_file(small_dataset.h5)
    layers_before = list(viewer.layers)
    not_hdf5 = tmp_path / "notes.h5"
    not_hdf5.write_text("this is not HDF5")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(small_dataset.h5.read_bytes()[:4096])

    for broken in (not_hdf5, truncated, tmp_path / "missing.h5"):
        start = len(notification_manager.records)
        assert not widget.open_file(broken)
        messages = errors_since(start)
        assert len(messages) == 1 and broken.name in messages[0], messages

    # The open volume, its layers and its jobs still work.
    c = widget.controller
    assert c.path == small_dataset.h5 and list(viewer.layers) == layers_before
    c.set_slice(0)
    assert c.result("zero-filled", 0) is not None
    assert widget.displayed_readouts()[0]["method"] == "zero-filled"


# --- controls ---------------------------------------------------------------------------------


def test_controls_drive_the_controller(make_napari_viewer: MakeViewer, small_dataset: SmallDataset, sync: None) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    c = widget.controller
    at_4x = widget.displayed_readouts()[0]
    assert c.settings.acceleration == 4.0 and widget.auto_update.isChecked() and c.auto_update

    widget.acceleration.setValue(8.0)
    assert c.settings.acceleration == 8.0
    result = c.result("zero-filled")
    assert result is not None and result.mask_key[1] == 8.0  # reconstructed at once (auto-update)
    at_8x = widget.displayed_readouts()[0]
    assert at_8x == readout_cells(c.readouts()["zero-filled"]) and at_8x["PSNR (dB)"] != at_4x["PSNR (dB)"]
    np.testing.assert_array_equal(widget.scene.reconstructions["zero-filled"].data[c.slice_index], result.image)
    assert f"{c.mask().achieved_acceleration:.2f}x" in widget.mask_label.text()
    assert widget.scene.mask is not None
    np.testing.assert_array_equal(widget.scene.mask.data, c.mask_image())
    assert widget.mask_preview.pixmap() is not None and not widget.mask_preview.pixmap().isNull()

    widget.mask_type.setCurrentText("equispaced")
    widget.center_fraction.setValue(0.04)
    widget.seed.setValue(7)
    assert (c.settings.mask, c.settings.center_fraction, c.settings.seed) == ("equispaced", 0.04, 7)
    widget.seed.setValue(FILE_SEED)
    assert c.settings.seed is None and widget.seed.text() == "file"
    widget.device.setCurrentIndex(widget.device.findText("CPU"))
    assert c.settings.device == "cpu"
    assert widget.virtual_coils.text() == "all" and c.settings.virtual_coils is None
    widget.virtual_coils.setValue(1)  # the small volume has 2 coils
    assert c.settings.virtual_coils == 1 and c.result("zero-filled").virtual_coils == 1
    widget.virtual_coils.setValue(ALL_COILS)
    assert c.settings.virtual_coils is None and c.result("zero-filled").virtual_coils is None

    # Methods: a ticked one gets its layers; unticking all is refused and shown as an error.
    widget.methods.findItems("zero-filled-sense", Qt.MatchExactly)[0].setCheckState(Qt.Checked)
    assert c.settings.methods == ("zero-filled", "zero-filled-sense")
    assert set(widget.scene.reconstructions) == {"zero-filled", "zero-filled-sense"}
    assert [row["method"] for row in widget.displayed_readouts()] == ["zero-filled", "zero-filled-sense"]
    start = len(notification_manager.records)
    widget.set_methods([])
    assert errors_since(start) and c.settings.methods == ("zero-filled", "zero-filled-sense")
    assert widget.checked_methods() == c.settings.methods  # the list shows the settings in force

    # The CAM overlay: which method, how opaque.
    widget.set_cam_method("zero-filled")
    cam = widget.scene.cam
    assert cam is not None and cam.name == "CAM (zero-filled)"
    result = c.result("zero-filled")
    assert result is not None and result.cam is not None
    np.testing.assert_array_equal(cam.data[c.slice_index], result.cam)
    widget.set_cam_opacity(0.8)
    assert cam.opacity == pytest.approx(0.8) and cam.blending == "additive"

    # Without auto-update a change computes nothing until asked.
    widget.auto_update.setChecked(False)
    assert not c.auto_update
    widget.acceleration.setValue(6.0)
    assert c.result("zero-filled") is None and widget.displayed_readouts() == []
    click(widget.reconstruct_slice_button)
    assert c.result("zero-filled") is not None and len(widget.displayed_readouts()) == 2

    # The k-space layer (k-space frame, not the image's) is filled when shown.
    kspace = widget.scene.kspace
    assert kspace is not None and not kspace.data.any()
    kspace.visible = True
    np.testing.assert_array_equal(kspace.data, c.kspace_image())
    assert kspace.data.shape == c.info.image_shape


# --- boxes ------------------------------------------------------------------------------------


class _PressEvent:
    """A mouse press as napari's drag callbacks see it: napari swaps the event it wraps for
    each later move, so one drag callback follows the whole gesture."""

    def __init__(self, **fields: Any) -> None:
        self.__wrapped__ = SimpleNamespace(**fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["__wrapped__"], name)


def drag(layer: Any, index: int, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Press at ``start``, move in four steps and release at ``end`` (data ``(row, col)`` on
    slice ``index``), through the layer's own mouse callbacks (what a drag in the canvas runs).
    Mouse events carry world positions: the layer's display transform takes the data there."""
    common = {"modifiers": [], "dims_displayed": [1, 2], "dims_point": [index, 0, 0], "view_direction": [1, 0, 0],
              "pos": [0, 0], "button": 1, "handled": False}

    def world(point: Any) -> tuple[float, ...]:
        return tuple(layer.data_to_world((index, *point)))

    mouse_press_callbacks(layer, _PressEvent(type="mouse_press", position=world(start), is_dragging=False, **common))
    for fraction in (0.25, 0.5, 0.75, 1.0):
        point = np.add(start, fraction * np.subtract(end, start))
        mouse_move_callbacks(layer, SimpleNamespace(type="mouse_move", position=world(point), is_dragging=True, **common))
    mouse_release_callbacks(layer, SimpleNamespace(type="mouse_release", position=world(end), is_dragging=True, **common))


def test_box_edits_update_the_lf_readouts(make_napari_viewer: MakeViewer, small_dataset: SmallDataset, sync: None) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    _, layer = viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    c = widget.controller
    index = slice_with_boxes(widget)
    c.set_slice(index)
    before = lf_psnr_shown(widget)
    (old,) = c.boxes(index)
    assert before == expected_lf_psnr(widget, [old]) != "–"

    # Drag the box 30 pixels down and right in select mode.
    layer.mode = "select"
    centre = ((old.row0 + old.row1) / 2, (old.col0 + old.col1) / 2)
    drag(layer, index, centre, (centre[0] + 30, centre[1] + 30))
    (moved,) = c.boxes(index)
    assert (moved.row0, moved.row1, moved.col0, moved.col1) == (old.row0 + 30, old.row1 + 30, old.col0 + 30, old.col1 + 30)
    assert moved.label == old.label
    assert lf_psnr_shown(widget) == expected_lf_psnr(widget, [moved]) != before

    # Draw a box on a slice that had none: it gets the default label.
    empty = slice_without_boxes(widget)
    c.set_slice(empty)
    assert lf_psnr_shown(widget) == "–"
    layer.mode = "add_rectangle"
    drag(layer, empty, (99.5, 119.5), (139.5, 169.5))  # pixel edges: rows 100..139, cols 120..169
    drawn = LesionBox(empty, "lesion", 100, 140, 120, 170)
    assert c.boxes(empty) == (drawn,)
    assert lf_psnr_shown(widget) == expected_lf_psnr(widget, [drawn]) != "–"

    # Delete it again (what the Delete key does).
    layer.mode = "select"
    layer.selected_data = {layer.nshapes - 1}
    layer.remove_selected()
    assert c.boxes(empty) == () and lf_psnr_shown(widget) == "–"
    assert c.boxes(index) == (moved,)  # the other slice's edit stays

    # A programmatic edit of the layer's data counts too.
    data = [np.array(shape) for shape in layer.data]
    number_on_slice = next(i for i, box in enumerate(_layer_boxes(widget)) if box.slice == index)
    data[number_on_slice][:, 1:] -= 30
    layer.data = data
    assert c.boxes(index) == (old,)

    # Annotations loaded from a CSV replace the edits, in the controller and in the layer.
    layer.data = []
    assert c.all_boxes() == ()
    assert widget.load_annotations(small_dataset.csv)
    assert c.all_boxes() == tuple(small_dataset.volume.boxes)
    assert _layer_boxes(widget) == list(small_dataset.volume.boxes)
    c.set_slice(index)
    assert lf_psnr_shown(widget) == before


def _layer_boxes(widget: ReconstructionWidget) -> list[LesionBox]:
    layer = widget.scene.boxes
    assert layer is not None
    return shapes_to_boxes(layer.data, list(layer.features["label"]), (widget.controller.num_slices, *widget.controller.recon_shape))


# --- jobs -------------------------------------------------------------------------------------


def test_cancel_stops_a_volume_job(make_napari_viewer: MakeViewer, small_dataset: SmallDataset, sync: None) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    c = widget.controller
    widget.auto_update.setChecked(False)
    widget.acceleration.setValue(8.0)  # nothing computed at 8x yet
    assert not widget.cancel_button.isEnabled()
    arrived: list[int] = []

    def cancel_after_the_first(result: Any) -> None:
        arrived.append(result.slice)
        if len(arrived) == 1:
            click(widget.cancel_button)  # enabled while the job runs

    c.events.result_added.connect(cancel_after_the_first)
    job = widget.reconstruct_volume()
    assert job is not None and job.state is JobState.CANCELLED
    assert arrived == [c.slice_index]
    assert sum(c.result("zero-filled", i) is not None for i in range(c.num_slices)) == 1 < c.num_slices
    assert "cancelled" in widget.status.text() and not widget.cancel_button.isEnabled()


def test_jobs_run_in_worker_threads(
    make_napari_viewer: MakeViewer, small_dataset: SmallDataset, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SYNC_ENV, raising=False)
    threads: list[threading.Thread] = []
    infer = session_jobs.run_slices

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return infer(*args, **kwargs)

    monkeypatch.setattr(session_jobs, "run_slices", recording)
    viewer = make_napari_viewer()
    widget = dock(viewer)
    assert isinstance(widget.controller.runner, WorkerRunner)
    viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    c = widget.controller
    # open() returned before the auto-update job ended: its result arrives through the event loop.
    qtbot.waitUntil(lambda: len(widget.displayed_readouts()) == 1, timeout=30_000)
    assert threads and all(t is not threading.main_thread() for t in threads)
    np.testing.assert_array_equal(widget.scene.reconstructions["zero-filled"].data[1], c.result("zero-filled", 1).image)

    # A volume job, cancelled when its first result is in.
    widget.auto_update.setChecked(False)
    widget.acceleration.setValue(8.0)

    def cancel(_: Any) -> None:
        widget.cancel()

    c.events.result_added.connect(cancel)
    job = widget.reconstruct_volume()
    assert job is not None and not job.finished
    qtbot.waitUntil(lambda: job.finished, timeout=30_000)
    assert job.state is JobState.CANCELLED
    assert sum(c.result("zero-filled", i) is not None for i in range(c.num_slices)) == 1 < c.num_slices
    qtbot.waitUntil(lambda: not widget.runner.workers, timeout=10_000)

    # Sweeping the slider with auto-update on: each move replaces the running job; the last
    # slice's readouts are the ones shown in the end.
    c.events.result_added.disconnect(cancel)
    widget.auto_update.setChecked(True)
    for step in (0, 2, 1, 0, 2, 0):
        viewer.dims.set_current_step(0, step)
    assert c.slice_index == 0
    qtbot.waitUntil(lambda: c.current_job is None and not widget.runner.workers, timeout=30_000)
    assert c.result("zero-filled", 0) is not None
    assert widget.displayed_readouts() == [readout_cells(c.readouts(0)["zero-filled"])]
    np.testing.assert_array_equal(widget.scene.reconstructions["zero-filled"].data[0], c.result("zero-filled", 0).image)


def test_a_failing_job_is_an_error_notification(
    make_napari_viewer: MakeViewer, small_dataset: SmallDataset, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SYNC_ENV, raising=False)
    viewer = make_napari_viewer()
    widget = dock(viewer)
    widget.auto_update.setChecked(False)
    viewer.open(str(small_dataset.h5), plugin=PLUGIN)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(session_jobs, "run_slices", broken)
    start = len(notification_manager.records)
    job = widget.reconstruct_slice()
    assert job is not None
    qtbot.waitUntil(lambda: job.finished, timeout=30_000)
    assert job.state is JobState.FAILED
    assert any("out of memory" in m for m in errors_since(start))
    assert "failed" in widget.status.text()
    monkeypatch.undo()
    monkeypatch.delenv(SYNC_ENV, raising=False)
    job = widget.reconstruct_slice()  # the session goes on
    assert job is not None
    qtbot.waitUntil(lambda: job.finished, timeout=30_000)
    assert job.state is JobState.DONE and widget.displayed_readouts()


# --- tables and exports -----------------------------------------------------------------------


def test_failure_table_click_goes_to_the_slice(make_napari_viewer: MakeViewer, small_dataset: SmallDataset, sync: None) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    c = widget.controller
    assert widget.reconstruct_volume() is not None
    cases = c.failure_cases("zero-filled")
    assert len(cases) == len({b.slice for b in c.all_boxes()}) > 0
    assert widget.displayed_failures() == [failure_cells(case) for case in cases]
    assert list(widget.displayed_failures()[0]) == list(FAILURE_COLUMNS)

    row = next(r for r, case in enumerate(cases) if case.slice != c.slice_index)
    table = widget.failure_table
    rect = table.visualItemRect(table.item(row, 0))
    assert rect.height() > 0 and rect.top() == table.rowViewportPosition(row)
    QTest.mouseClick(table.viewport(), Qt.LeftButton, Qt.NoModifier, rect.center())
    assert c.slice_index == cases[row].slice and viewer.dims.current_step[0] == cases[row].slice
    assert widget.displayed_readouts() == [readout_cells(c.readouts()["zero-filled"])]


def test_failure_table_shows_net_cs_refined_pointer_on_request(make_napari_viewer: MakeViewer,
                                                                small_dataset: SmallDataset, tmp_path: Path,
                                                                sync: None) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    c = widget.controller
    assert widget.reconstruct_volume() is not None
    table = widget.failure_table
    pointer_columns = [FAILURE_COLUMNS.index(column) for column in POINTER_COLUMNS]
    assert all(table.isColumnHidden(i) for i in pointer_columns)  # off: not computed, not shown
    assert {row["pointer in box"] for row in widget.displayed_failures()} == {"–"}
    widget.failure_pointer.setChecked(True)
    assert not any(table.isColumnHidden(i) for i in pointer_columns)
    cases = c.failure_cases("zero-filled", pointer=True)
    assert widget.displayed_failures() == [failure_cells(case) for case in cases]
    assert {row["pointer in box"] for row in widget.displayed_failures()} <= {"yes", "no"}
    saved = widget.export_failure_csv(tmp_path / "failures.csv")
    assert saved is not None
    with saved.open(newline="") as f:
        assert [r["pointer_hit"] for r in csv.DictReader(f)] == [str(case.pointer_hit) for case in cases]
    widget.failure_pointer.setChecked(False)
    assert all(table.isColumnHidden(i) for i in pointer_columns)


def test_exports_write_files(make_napari_viewer: MakeViewer, small_dataset: SmallDataset, tmp_path: Path, sync: None) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    assert widget.reconstruct_volume() is not None

    png = widget.export_png(tmp_path / "view.png")
    assert png == tmp_path / "view.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    table = widget.export_failure_csv(tmp_path / "failures.csv")
    assert table is not None
    with table.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(FailureCase.__dataclass_fields__)
    assert [int(r["slice"]) for r in rows] == [int(r["slice"]) for r in widget.displayed_failures()]

    readouts = widget.export_readouts_csv(tmp_path / "readouts.csv")
    assert readouts is not None
    with readouts.open(newline="") as f:
        rows = list(csv.DictReader(f))
    shown = widget.displayed_readouts()
    assert [r["method"] for r in rows] == [r["method"] for r in shown] == ["zero-filled"]
    assert number(float(rows[0]["lf_psnr"])) == shown[0]["LF-PSNR (dB)"]
    assert list(shown[0]) == list(READOUT_COLUMNS)

    start = len(notification_manager.records)
    occupied = tmp_path / "a_folder.csv"
    occupied.mkdir()
    assert widget.export_failure_csv(occupied) is None
    assert widget.export_png(occupied) is None
    assert len(errors_since(start)) == 2
