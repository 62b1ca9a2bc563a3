"""Drawing the mask in napari: the editable sampling layer drives the session (toggled lines,
painted points, back to the preset), and a session with a drawn mask is saved and reopened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from napari.utils._proxies import ReadOnlyWrapper
from napari.utils.interactions import (
    mouse_move_callbacks,
    mouse_press_callbacks,
    mouse_release_callbacks,
)

from lfmri_viewer.jobs import SYNC_ENV
from lfmri_viewer.napari_plugin._mask_editor import POINTS, SAMPLING_ROLE
from lfmri_viewer.napari_plugin._widget import ReconstructionWidget
from tests.viewer.conftest import SmallDataset
from tests.viewer.test_napari_widget import (
    MakeViewer,
    dock,
    errors_since,
    layers_with_role,
)

pytestmark = pytest.mark.gui


@pytest.fixture
def sync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs run on the GUI thread: every action has finished when its call returns."""
    monkeypatch.setenv(SYNC_ENV, "1")


def _unsampled(widget: ReconstructionWidget, count: int) -> list[int]:
    pattern = widget.controller.mask().pattern
    width = pattern.shape[-1]
    return [c for c in range(width) if not pattern[c] and abs(c - width // 2) > width // 8][:count]


def _mouse(mouse_event: Any, kind: str, layer: Any, row: float, column: float, viewer: Any) -> Any:
    """A mouse event over stored k-space point ``(row, column)`` of ``layer``, in world coordinates
    of the viewer (its slice axis first)."""
    world = tuple(layer.data_to_world((row, column)))
    position = (*viewer.dims.point[: viewer.dims.ndim - 2], *world)
    return ReadOnlyWrapper(mouse_event(type=kind, position=position, is_dragging=kind == "mouse_move",
                                       dims_displayed=(viewer.dims.ndim - 2, viewer.dims.ndim - 1)))


def test_a_click_on_the_sampling_layer_toggles_a_line_and_the_result_follows(
        make_napari_viewer: MakeViewer, small_dataset: SmallDataset, sync: None, qtbot: Any, MouseEvent: Any) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    assert widget.open_file(small_dataset.h5)
    c = widget.controller
    before = c.result("zero-filled")
    assert before is not None
    rows_before = widget.displayed_readouts()
    preset = c.mask()
    editor = widget.mask_editor

    editor.edit.setChecked(True)  # the dock's checkbox
    layer = editor.layer
    assert layer is not None and layers_with_role(viewer, SAMPLING_ROLE) == [layer]
    np.testing.assert_array_equal(layer.data, c.mask_image().astype(np.uint8))
    assert widget.scene.kspace is not None and widget.scene.kspace.visible  # the log k-space under it

    column = _unsampled(widget, 1)[0]
    mouse_press_callbacks(layer, _mouse(MouseEvent, "mouse_press", layer, 7, column, viewer))
    mouse_release_callbacks(layer, _mouse(MouseEvent, "mouse_release", layer, 7, column, viewer))
    assert layer.data[:, column].all()  # shown at once
    assert not c.settings.is_drawn  # the session gets it after the pause in the edits
    qtbot.waitUntil(lambda: c.settings.is_drawn, timeout=5_000)
    assert c.mask().pattern[column] and c.mask().num_sampled == preset.num_sampled + 1

    after = c.result("zero-filled")  # auto-update, synchronous here: reconstructed already
    assert after is not None and not np.array_equal(after.image, before.image)
    recon = widget.scene.reconstructions["zero-filled"]
    np.testing.assert_array_equal(recon.data[c.slice_index], after.image)
    error = widget.scene.errors["zero-filled"]
    np.testing.assert_array_equal(error.data[c.slice_index], c.error_map("zero-filled"))
    assert widget.displayed_readouts() != rows_before
    assert "mask (drawn)" in widget.mask_label.text()
    np.testing.assert_array_equal(widget.scene.mask.data, c.mask_image())

    # a drag over three more lines: one commit, the three lines sampled
    commits: list[Any] = []
    c.events.settings_changed.connect(commits.append)
    more = _unsampled(widget, 3)
    mouse_press_callbacks(layer, _mouse(MouseEvent, "mouse_press", layer, 7, more[0], viewer))
    for col in more[1:]:
        mouse_move_callbacks(layer, _mouse(MouseEvent, "mouse_move", layer, 7, col, viewer))
    mouse_release_callbacks(layer, _mouse(MouseEvent, "mouse_release", layer, 7, more[-1], viewer))
    qtbot.waitUntil(lambda: len(commits) == 1, timeout=5_000)
    assert all(c.mask().pattern[col] for col in more)

    # back to the preset: the layer shows it again
    editor.reset_button.click()
    assert not c.settings.is_drawn and c.mask() == preset
    np.testing.assert_array_equal(layer.data, c.mask_image().astype(np.uint8))
    editor.edit.setChecked(False)
    assert editor.layer is None and not layers_with_role(viewer, SAMPLING_ROLE)


def test_painting_points_makes_a_2d_mask(make_napari_viewer: MakeViewer, small_dataset: SmallDataset, sync: None,
                                        qtbot: Any) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    assert widget.open_file(small_dataset.h5)
    c = widget.controller
    editor = widget.mask_editor
    assert editor.set_editing(True)
    editor.set_mode(POINTS)
    layer = editor.layer
    assert layer is not None and layer.mode == "paint"
    column = _unsampled(widget, 1)[0]
    preset = c.mask_image() > 0
    layer.brush_size = 10
    layer.paint((20, column), 1)  # what napari's brush does: paint, then the layer's paint event
    qtbot.waitUntil(lambda: c.settings.is_drawn, timeout=5_000)
    pattern = c.mask().pattern
    assert pattern.shape == c.info.image_shape
    painted = np.argwhere(pattern & ~preset)
    assert [20, column] in painted.tolist()  # a blob of points around the brush, nothing elsewhere
    # the brush's size is in data pixels or in world units (mm here): either way within this reach
    reach = layer.brush_size / min(1.0, float(np.min(np.abs(layer.scale))))
    assert (np.abs(painted - [20, column]).max(axis=0) <= reach).all() and not (~pattern & preset).any()
    result = c.result("zero-filled")
    assert result is not None and result.mask_key == ("drawn", c.settings.drawn_mask)


def test_a_file_with_its_own_mask_refuses_the_editor(make_napari_viewer: MakeViewer, tmp_path: Path, sync: None) -> None:
    from tests.viewer.test_mask_drawing import _write_undersampled

    viewer = make_napari_viewer()
    widget = dock(viewer)
    assert widget.open_file(_write_undersampled(tmp_path))
    start = len(errors_since(0))
    widget.mask_editor.edit.setChecked(True)
    assert not widget.mask_editor.edit.isChecked() and widget.mask_editor.layer is None
    assert any("its own mask is used" in m for m in errors_since(0)[start:])


def test_save_and_reopen_a_session_with_a_drawn_mask(make_napari_viewer: MakeViewer, small_dataset: SmallDataset,
                                                     sync: None, tmp_path: Path) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    assert widget.open_file(small_dataset.h5)
    editor = widget.mask_editor
    assert editor.set_editing(True)
    editor.toggle_line(_unsampled(widget, 1)[0])
    editor.commit()
    drawn = widget.controller.mask()
    saved = widget.save_session(tmp_path / "napari_session.json")
    assert saved is not None and saved.is_file()

    other_viewer = make_napari_viewer()
    other = dock(other_viewer)
    assert other.open_session(saved)
    assert other.controller.mask() == drawn and other.controller.settings.is_drawn
    result = other.controller.result("zero-filled")
    assert result is not None
    np.testing.assert_array_equal(other.scene.reconstructions["zero-filled"].data[other.controller.slice_index],
                                  result.image)
    assert "mask (drawn)" in other.mask_label.text()
