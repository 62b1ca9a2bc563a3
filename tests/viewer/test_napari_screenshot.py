"""What the viewer draws: the CAM overlay where the CAM is high, yellow box outlines where the
boxes are (pixels of a shown viewer, read back from screenshots)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lfmri_core.io.annotations import LesionBox
from lfmri_viewer.jobs import SYNC_ENV
from lfmri_viewer.napari_plugin._widget import ReconstructionWidget
from tests.viewer.conftest import SmallDataset

PLUGIN = "lfmri-viewer"
WIDGET = "LF-MRI reconstruction"
MakeViewer = Callable[..., Any]


def canvas_position(viewer: Any, shot: np.ndarray, row: float, col: float) -> tuple[int, int]:
    """Canvas pixel ``(y, x)`` of the data point ``(row, col)`` (stored frame) of the 2-D view.

    The layers' transform (the display frame: flipped rows, mm) takes it to the world; the
    camera puts its ``center`` in the middle of the canvas and draws ``zoom`` screen pixels per
    world unit.
    """
    height, width = shot.shape[:2]
    reference = next(layer for layer in viewer.layers if layer.metadata.get("lfmri_role") == "reference")
    world_row, world_col = reference.data_to_world((0, row, col))[-2:]
    # napari 0.9 moved the camera to viewer.scene (viewer.camera is deprecated there).
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    center_row, center_col = camera.center[-2:]
    zoom = camera.zoom
    return round(height / 2 + (world_row - center_row) * zoom), round(width / 2 + (world_col - center_col) * zoom)


def screenshot(viewer: Any) -> np.ndarray:
    return np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3].astype(np.int32)


def is_yellow(rgb: np.ndarray) -> np.ndarray:
    """Yellow over gray: red and green well above blue (the outline is 70 % opaque)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (r > 150) & (g > 150) & (r - b > 80) & (g - b > 80)


def edge_midpoints(box: LesionBox) -> list[tuple[float, float]]:
    """Midpoints of the outline's four sides in data coordinates (pixel edges at k - 0.5)."""
    middle_row, middle_col = (box.row0 + box.row1 - 1) / 2, (box.col0 + box.col1 - 1) / 2
    return [(box.row0 - 0.5, middle_col), (box.row1 - 0.5, middle_col),
            (middle_row, box.col0 - 0.5), (middle_row, box.col1 - 0.5)]


@pytest.mark.gui
def test_cam_overlay_and_box_outlines_are_drawn(
    make_napari_viewer: MakeViewer, small_dataset: SmallDataset, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SYNC_ENV, "1")
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1600, 1000)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert isinstance(widget, ReconstructionWidget)
    widget.set_methods(("zero-filled",))
    viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    c, scene = widget.controller, widget.scene
    index = max(range(c.num_slices), key=lambda i: len(c.boxes(i)))
    c.set_slice(index)
    result = c.result("zero-filled")
    assert result is not None and result.cam is not None and float(result.cam.max()) > 0.5
    widget.set_cam_opacity(1.0)
    assert scene.cam is not None and scene.boxes is not None
    viewer.reset_view()
    qtbot.wait(50)

    with_all = screenshot(viewer)
    scene.cam.visible = False
    without_cam = screenshot(viewer)
    scene.boxes.visible = False
    without_both = screenshot(viewer)
    height, width = with_all.shape[:2]
    assert height > 300 and width > 300

    # The CAM brightens and warms the image where it is high, and leaves it where it is ~0.
    cam = result.cam
    rows, cols = np.nonzero(cam >= 0.8 * cam.max())
    high = np.array([canvas_position(viewer, with_all, r, c_) for r, c_ in zip(rows, cols, strict=True)])
    rows, cols = np.nonzero(cam <= 0.02 * cam.max())
    low = np.array([canvas_position(viewer, with_all, r, c_) for r, c_ in zip(rows, cols, strict=True)])
    assert len(high) > 10 and len(low) > 1000
    gain = (with_all - without_cam).sum(axis=-1)
    warmth = (with_all[..., 0] - with_all[..., 2]) - (without_cam[..., 0] - without_cam[..., 2])
    assert gain[high[:, 0], high[:, 1]].mean() > 100
    assert warmth[high[:, 0], high[:, 1]].mean() > 40
    assert np.abs(gain[low[:, 0], low[:, 1]]).mean() < 10

    # Each box's outline is yellow at its four sides' midpoints (within 3 pixels), and only
    # with the boxes layer shown; the inside stays as it was (transparent face).
    yellow_with, yellow_without = is_yellow(without_cam), is_yellow(without_both)
    boxes = c.boxes(index)
    assert boxes
    for box in boxes:
        for row, col in edge_midpoints(box):
            y, x = canvas_position(viewer, with_all, row, col)
            near = (slice(y - 3, y + 4), slice(x - 3, x + 4))
            assert yellow_with[near].any(), (box, row, col)
            assert not yellow_without[near].any(), (box, row, col)
        y, x = canvas_position(viewer, with_all, (box.row0 + box.row1 - 1) / 2, (box.col0 + box.col1 - 1) / 2)
        np.testing.assert_allclose(without_cam[y, x], without_both[y, x], atol=2)
