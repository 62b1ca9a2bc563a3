"""One display frame everywhere: a lesion box in the stored frame lands on the same anatomy, at
the same place and size in mm, in napari, in the Jupyter widget and in the demo figures; units
from the header; window presets, linked contrast and grid mode in napari.

What each front end shows is read back from what it draws with (layer data and transforms,
image arrays and extents, outline rectangles), not from screenshots: the content inside each
displayed outline is sampled from the displayed image and compared with the stored pixels.
"""

from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np
import pytest
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from lfmri_core.display import WINDOW_PRESETS, DisplayFrame, window_presets
from lfmri_core.figures import panels_figure
from lfmri_core.io.annotations import LesionBox
from lfmri_viewer.controller import SessionController
from lfmri_viewer.formatting import (
    FAILURE_COLUMNS,
    FAILURE_KEY_COLUMNS,
    POINTER_COLUMNS,
    READOUT_COLUMNS,
    READOUT_KEY_COLUMNS,
    peak,
)
from lfmri_viewer.jobs import SYNC_ENV
from lfmri_viewer.jupyter import LFMRIWidget
from lfmri_viewer.napari_plugin._widget import ReconstructionWidget
from lfmri_viewer.review import peak_distance
from tests.viewer.conftest import SmallDataset

PLUGIN = "lfmri-viewer"
WIDGET = "LF-MRI reconstruction"
MakeViewer = Callable[..., Any]
Outline = tuple[float, float, float, float]
"""``(top, bottom, left, right)`` of a drawn box in display coordinates (y downwards)."""


def header_spacing(path: Any) -> tuple[float, float]:
    """The recon pixel spacing read straight from the ISMRMRD XML (not through our parser)."""
    with h5py.File(path, "r") as f:
        root = ET.fromstring(bytes(f["ismrmrd_header"][()]))
    ns = {"m": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {"m": ""}
    prefix = "m:" if ns["m"] else ""

    def value(path: str) -> float:
        node = root.find("/".join(prefix + p for p in path.split("/")), ns)
        assert node is not None, path
        return float(node.text)

    fov = [value(f"encoding/reconSpace/fieldOfView_mm/{a}") for a in "xy"]
    matrix = [value(f"encoding/reconSpace/matrixSize/{a}") for a in "xy"]
    return fov[0] / matrix[0], fov[1] / matrix[1]


def sample_axes_image(artist: AxesImage, y: float, x: float) -> float:
    """The value matplotlib draws at display point ``(y, x)`` of an ``origin="upper"`` image."""
    array = np.ma.getdata(artist.get_array())
    left, right, bottom, top = artist.get_extent()
    assert artist.origin == "upper"
    row = math.floor((y - top) / (bottom - top) * array.shape[0])
    col = math.floor((x - left) / (right - left) * array.shape[1])
    return float(array[row, col])


def content(sample: Callable[[float, float], float], outline: Outline, spacing: tuple[float, float]) -> np.ndarray:
    """The values shown at the pixel centres inside ``outline``, row by row from the top."""
    top, bottom, left, right = outline
    sr, sc = spacing
    rows, cols = round((bottom - top) / sr), round((right - left) / sc)
    return np.array([[sample(top + (i + 0.5) * sr, left + (j + 0.5) * sc) for j in range(cols)] for i in range(rows)])


def rectangle_outline(patch: Rectangle) -> Outline:
    x, y = patch.get_xy()
    w, h = patch.get_width(), patch.get_height()
    top, bottom = sorted((y, y + h))
    left, right = sorted((x, x + w))
    return top, bottom, left, right


def an_annotated_box(controller: SessionController) -> LesionBox:
    return next(b for b in controller.all_boxes() if not b.is_empty)


def expected_shown(controller: SessionController, box: LesionBox) -> tuple[np.ndarray, Outline]:
    """What the radiological display convention puts inside the box: the stored pixels flipped
    up/down, at the fastMRI+ labelling-frame position (``x``, ``y`` of the CSV) in mm."""
    reference = controller.reference(box.slice)
    assert reference is not None
    pixels = reference[box.row0:box.row1, box.col0:box.col1][::-1]
    x, y, w, h = box.to_labelling_frame(reference.shape[0])
    sr, sc = header_spacing(controller.path)
    return pixels, ((y - 0.5) * sr, (y + h - 0.5) * sr, (x - 0.5) * sc, (x + w - 0.5) * sc)


# --- the frame itself ---------------------------------------------------------------------------

def test_the_frame_maps_points_boxes_and_arrays_consistently() -> None:
    frame = DisplayFrame((40, 30), (0.5, 0.7))
    assert frame.to_display(0, 0) == (39 * 0.5, 0.0)  # stored row 0 at the bottom
    assert frame.from_display(*frame.to_display(7, 11)) == pytest.approx((7, 11))
    image = np.arange(40 * 30).reshape(40, 30)
    shown = frame.display_array(image)
    y, x = frame.to_display(7, 11)
    assert shown[round(y / 0.5), round(x / 0.7)] == image[7, 11]
    box = LesionBox(0, "x", row0=5, row1=9, col0=2, col1=6)
    top, bottom, left, right = frame.box_edges(box)
    # The outline runs half a pixel outside the centres of the box's extreme pixels.
    assert top == pytest.approx(frame.to_display(8, 2)[0] - 0.25) and bottom == pytest.approx(frame.to_display(5, 2)[0] + 0.25)
    assert left == pytest.approx(-0.35 + 2 * 0.7) and right == pytest.approx(-0.35 + 6 * 0.7)
    # Pixel units without geometry, no flip when asked.
    assert DisplayFrame((4, 4)).unit == "pixel" and DisplayFrame((4, 4), flip_rows=False).to_display(1, 2) == (1, 2)
    assert frame.scale_bar_length() == 2.0  # 20 % of 21 mm, rounded down to 1-2-5


def test_peak_distance_in_mm_follows_the_pixel_spacing() -> None:
    box = LesionBox(0, "x", row0=10, row1=13, col0=10, col1=13)
    cam = np.zeros((40, 40), np.float32)
    cam[20, 11] = 1.0  # 8 rows below the box's last row
    assert peak_distance(cam, [box]) == 8.0
    assert peak_distance(cam, [box], (0.5, 2.0)) == 4.0
    cam[:] = 0.0
    cam[11, 20] = 1.0  # 8 columns right of the last column
    assert peak_distance(cam, [box], (0.5, 2.0)) == 16.0
    assert peak(8.0, 16.0) == "8.0 px · 16.0 mm" and peak(8.0, math.nan) == "8.0 px" and peak(math.nan, math.nan) == "–"


def test_window_presets_are_ordered_windows_of_the_volume() -> None:
    rng = np.random.default_rng(0)
    volume = np.concatenate([np.zeros(1000), rng.uniform(10.0, 100.0, 4000)]).reshape(5, 10, 100)
    presets = window_presets(volume)
    assert list(presets) == list(WINDOW_PRESETS)
    assert presets["full range"] == (0.0, float(volume.max()))
    for low, high in presets.values():
        assert 0.0 <= low < high <= volume.max()
    # Taken over the foreground: the zero background does not pull the auto window to zero.
    assert presets["auto (0.5-99.5 %)"][0] == pytest.approx(np.percentile(volume[volume > 0], 0.5))
    assert presets["soft tissue"][1] < presets["full range"][1]


# --- the controller: geometry from the header ---------------------------------------------------

def test_units_come_from_the_header_and_bart_arrays_are_in_pixels(small_dataset: SmallDataset) -> None:
    session = SessionController(classifier=None)
    session.open(small_dataset.h5)
    assert session.display_frame.pixel_mm == pytest.approx(header_spacing(small_dataset.h5))
    assert session.display_frame.unit == "mm"
    session.open(small_dataset.cfl)
    assert session.display_frame.pixel_mm is None and session.display_frame.unit == "pixel"
    session.close()


# --- the same anatomy in every front end --------------------------------------------------------

def test_a_box_shows_the_same_anatomy_in_the_jupyter_widget_and_the_demo_figure(small_dataset: SmallDataset) -> None:
    widget = LFMRIWidget(small_dataset.h5, methods=("zero-filled",), sync=True, interactive=False, classifier=None)
    c = widget.controller
    box = an_annotated_box(c)
    c.set_slice(box.slice)
    pixels, outline = expected_shown(c, box)
    spacing = header_spacing(c.path)
    assert not np.array_equal(pixels, pixels[::-1]), "the box must tell up from down"

    # Jupyter: every panel of the slice (reference, reconstruction, error, CAM) in one frame.
    ax = widget.axes["reference"]
    ((patch,),) = [[p for p in ax.patches if isinstance(p, Rectangle)]]
    assert rectangle_outline(patch) == pytest.approx(outline)
    shown = content(lambda y, x: sample_axes_image(widget.images["reference"], y, x), outline, spacing)
    np.testing.assert_array_equal(shown, pixels)
    assert ax.get_ylim()[0] > ax.get_ylim()[1], "display y runs downwards, as in napari"
    assert widget.images["reconstruction"].get_visible() and widget.images["error"].get_visible()
    for name in ("reconstruction", "error", "cam"):  # the CAM panel: empty without a classifier
        if widget.images[name].get_visible():
            assert widget.images[name].get_extent() == widget.images["reference"].get_extent()
        assert widget.axes[name].get_ylim() == ax.get_ylim()
    result, error = c.result("zero-filled"), c.error_map("zero-filled")
    assert result is not None and error is not None
    recon_shown = content(lambda y, x: sample_axes_image(widget.images["reconstruction"], y, x), outline, spacing)
    np.testing.assert_array_equal(recon_shown, result.image[box.row0:box.row1, box.col0:box.col1][::-1])
    error_shown = content(lambda y, x: sample_axes_image(widget.images["error"], y, x), outline, spacing)
    np.testing.assert_array_equal(error_shown, error[box.row0:box.row1, box.col0:box.col1][::-1])

    # The demo and docs figures (lfmri_core.figures) in the same frame.
    reference = c.reference()
    assert reference is not None
    figure = panels_figure({"reference": reference, "zero-filled": result.image}, boxes=[box], reference=reference,
                           frame=c.display_frame)
    for axes in (figure.axes[0], figure.axes[1]):
        ((fig_patch,),) = [[p for p in axes.patches if isinstance(p, Rectangle)]]
        assert rectangle_outline(fig_patch) == pytest.approx(outline)
    (fig_image,) = figure.axes[0].images
    np.testing.assert_array_equal(content(lambda y, x: sample_axes_image(fig_image, y, x), outline, spacing), pixels)
    widget.close()


@pytest.mark.gui
def test_a_box_shows_the_same_anatomy_in_napari(
    make_napari_viewer: MakeViewer, small_dataset: SmallDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SYNC_ENV, "1")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert isinstance(widget, ReconstructionWidget)
    widget.set_methods(("zero-filled",))
    viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    c, scene = widget.controller, widget.scene
    box = an_annotated_box(c)
    c.set_slice(box.slice)
    c.reconstruct_slice()
    pixels, outline = expected_shown(c, box)
    spacing = header_spacing(c.path)
    assert scene.reference is not None and scene.boxes is not None and scene.cam is not None

    # The outline: the box's rectangle taken to the world by the boxes layer's transform.
    (shape,) = [s for s in scene.boxes.data if round(s[0, 0]) == box.slice]
    corners = np.array([scene.boxes.data_to_world(v) for v in shape])
    drawn = (corners[:, 1].min(), corners[:, 1].max(), corners[:, 2].min(), corners[:, 2].max())
    assert drawn == pytest.approx(outline)

    def sampler(layer: Any) -> Callable[[float, float], float]:
        def sample(y: float, x: float) -> float:
            index = np.round(layer.world_to_data((box.slice, y, x))).astype(int)
            return float(layer.data[tuple(index)])
        return sample

    np.testing.assert_array_equal(content(sampler(scene.reference), outline, spacing), pixels)
    result, error = c.result("zero-filled"), c.error_map("zero-filled")
    assert result is not None and error is not None
    np.testing.assert_array_equal(content(sampler(scene.reconstructions["zero-filled"]), outline, spacing),
                                  result.image[box.row0:box.row1, box.col0:box.col1][::-1])
    np.testing.assert_array_equal(content(sampler(scene.errors["zero-filled"]), outline, spacing),
                                  error[box.row0:box.row1, box.col0:box.col1][::-1])
    # CAM and error maps carry the image's transform exactly (no classifier here: the CAM is 0).
    for layer in (scene.cam, scene.errors["zero-filled"], scene.reconstructions["zero-filled"]):
        np.testing.assert_array_equal(layer.affine.affine_matrix, scene.reference.affine.affine_matrix)
        np.testing.assert_array_equal(layer.scale, scene.reference.scale)
    # Units and the scale bar.
    assert [str(u) for u in scene.reference.units] == ["pixel", "millimeter", "millimeter"]
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)  # napari >= 0.9
    assert (overlays.scale_bar if hasattr(overlays, "scale_bar") else viewer.scale_bar).visible
    assert tuple(viewer.dims.axis_labels) == ("slice", "y", "x")
    # A label sits at the box's top left on screen: the anchor is the shape's top in world y.
    assert scene.boxes.text.anchor == "lower_left"


# --- napari: windows, linked contrast, grid, table ----------------------------------------------

@pytest.mark.gui
def test_window_presets_linked_contrast_and_grid(
    make_napari_viewer: MakeViewer, small_dataset: SmallDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SYNC_ENV, "1")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert isinstance(widget, ReconstructionWidget)
    widget.set_methods(("zero-filled", "zero-filled-sense"))
    widget.open_file(small_dataset.h5)
    c, scene = widget.controller, widget.scene
    windowed = scene.windowed_layers()
    assert len(windowed) == 3 and scene.reference in windowed

    presets = c.window_presets()
    widget.apply_window("soft tissue")
    assert all(tuple(layer.contrast_limits) == pytest.approx(presets["soft tissue"]) for layer in windowed)

    # Linked: moving one reconstruction's contrast moves the reference and the other one.
    scene.reconstructions["zero-filled-sense"].contrast_limits = (1e-5, 2e-4)
    assert all(tuple(layer.contrast_limits) == pytest.approx((1e-5, 2e-4)) for layer in windowed)
    assert widget.window_preset.currentText() == "custom"
    widget.set_link_contrast(False)
    scene.reference.contrast_limits = (0.0, 3e-4)
    assert tuple(scene.reconstructions["zero-filled"].contrast_limits) == pytest.approx((1e-5, 2e-4))
    widget.set_link_contrast(True)  # relinking gives everything the reference's window
    assert all(tuple(layer.contrast_limits) == pytest.approx((0.0, 3e-4)) for layer in windowed)

    # Grid: the reference and each reconstruction in its own panel, overlays hidden; back after.
    before = {layer.name: layer.visible for layer in viewer.layers}
    widget.grid_mode.setChecked(True)
    grid = viewer.canvas.grid if hasattr(viewer, "canvas") else viewer.grid
    assert grid.enabled
    assert {layer.name for layer in viewer.layers if layer.visible} == {layer.name for layer in windowed}
    assert grid.actual_shape(list(viewer.layers)) in ((2, 2), (1, 3), (3, 1))
    positions = {grid.position(i, list(viewer.layers)) for i, layer in enumerate(viewer.layers) if layer.visible}
    assert len(positions) == 3
    widget.grid_mode.setChecked(False)
    assert not grid.enabled
    assert {layer.name: layer.visible for layer in viewer.layers} == before


def uncut_columns(table: Any) -> None:
    """Every shown column of ``table`` is whole on screen: the header's length plus the vertical
    header (when shown) fits the table's viewport, no horizontal scroll bar is needed, and the
    table's right edge lies inside the window."""
    from qtpy.QtWidgets import QApplication

    for _ in range(25):  # the dock is widened from a timer, then laid out
        QApplication.processEvents()
        time.sleep(0.02)
    header = table.horizontalHeader()
    vertical = table.verticalHeader().width() if table.verticalHeader().isVisible() else 0
    shown = [c for c in range(table.columnCount()) if not table.isColumnHidden(c)]
    assert header.length() == sum(table.columnWidth(c) for c in shown)
    # The width each column's contents and title ask for: a column narrower than that is cut.
    for c in shown:
        assert table.columnWidth(c) >= max(header.sectionSizeHint(c), table.sizeHintForColumn(c)), \
            table.horizontalHeaderItem(c).text()
    assert header.length() + vertical <= table.viewport().width(), (
        f"the columns need {header.length() + vertical} px, the table shows {table.viewport().width()} px")
    assert not table.horizontalScrollBar().isVisible()
    assert table.horizontalScrollBar().maximum() == 0
    window = table.window()
    right = table.mapTo(window, table.rect().topRight()).x()
    assert right < window.width(), f"the table ends at x = {right}, the window at {window.width()}"


@pytest.mark.gui
def test_readout_table_key_columns_fit_a_1600_px_window(
    make_napari_viewer: MakeViewer, small_dataset: SmallDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SYNC_ENV, "1")
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1600, 1000)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert isinstance(widget, ReconstructionWidget)
    widget.set_methods(("zero-filled", "zero-filled-sense"))
    widget.open_file(small_dataset.h5)
    widget.controller.set_slice(an_annotated_box(widget.controller).slice)
    widget.controller.reconstruct_slice()
    viewer.window._qt_window.repaint()
    assert viewer.window._qt_window.width() == 1600
    table = widget.readout_table
    shown = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount()) if not table.isColumnHidden(c)]
    assert [widget.readout_table.horizontalHeaderItem(c).data(0x0100) for c in range(table.columnCount())
            if not table.isColumnHidden(c)] == list(READOUT_KEY_COLUMNS)
    assert len(shown) == len(READOUT_KEY_COLUMNS)
    uncut_columns(table)
    width = sum(table.columnWidth(c) for c in range(table.columnCount()) if not table.isColumnHidden(c))
    assert width <= table.viewport().width(), f"key columns need {width} px, the table shows {table.viewport().width()}"
    # Every column on demand: still whole (the dock widens, the canvas gives way).
    widget.all_columns.setChecked(True)
    assert not any(table.isColumnHidden(c) for c in range(table.columnCount()))
    assert [row for row in widget.displayed_readouts()][0].keys() == set(READOUT_COLUMNS)
    uncut_columns(table)
    widget.all_columns.setChecked(False)
    uncut_columns(table)
    # The failure table and the exports are tabs beside the readouts, outside the scrolling
    # controls: on screen in a 1000 px high window without scrolling.
    tabs = [widget.results_tabs.tabText(i) for i in range(widget.results_tabs.count())]
    assert tabs == ["Readouts (slice)", "Failure cases", "Export", "Movie"]
    assert not widget.controls_scroll.widget().isAncestorOf(widget.results_tabs)
    assert widget.splitter.indexOf(widget.controls_scroll) == 0 and widget.splitter.indexOf(widget.results_tabs) == 1
    # The failure-case table: key columns by default, every column on demand, none cut either way.
    widget.set_methods(("lfmri",))
    widget.controller.reconstruct_slice()
    widget.results_tabs.setCurrentIndex(tabs.index("Failure cases"))
    failures = widget.failure_table
    assert failures.rowCount() >= 1
    assert [failures.horizontalHeaderItem(c).data(0x0100) for c in range(failures.columnCount())
            if not failures.isColumnHidden(c)] == list(FAILURE_KEY_COLUMNS)
    uncut_columns(failures)
    widget.all_failure_columns.setChecked(True)
    hidden = [failures.horizontalHeaderItem(c).data(0x0100) for c in range(failures.columnCount())
              if failures.isColumnHidden(c)]
    assert hidden == list(POINTER_COLUMNS)  # Net_c's refined pointer only when asked for
    assert set(widget.displayed_failures()[0]) == set(FAILURE_COLUMNS)
    uncut_columns(failures)
    widget.failure_pointer.setChecked(True)  # every column, the pointer's too
    assert not any(failures.isColumnHidden(c) for c in range(failures.columnCount()))
    uncut_columns(failures)
    widget.all_failure_columns.setChecked(False)
    uncut_columns(failures)
    widget.failure_pointer.setChecked(False)
    uncut_columns(failures)


def test_layer_names_are_not_cut_in_the_layer_list(
    make_napari_viewer: MakeViewer, small_dataset: SmallDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every layer the plugin adds shows its whole name in napari's layer list at 1600 x 1000
    (the delegate elides a name that does not fit its text rectangle)."""
    from qtpy.QtWidgets import QApplication, QStyle, QStyleOptionViewItem

    monkeypatch.setenv(SYNC_ENV, "1")
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1600, 1000)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.set_methods(("zero-filled", "lfmri"))
    widget.open_file(small_dataset.h5)
    widget.controller.set_slice(an_annotated_box(widget.controller).slice)
    widget.controller.reconstruct_slice()
    for _ in range(10):
        QApplication.processEvents()
    view = viewer.window._qt_viewer.layers
    model, delegate = view.model(), view.itemDelegate()
    names = []
    for row in range(model.rowCount()):
        index = model.index(row, 0)
        option = QStyleOptionViewItem()
        option.rect = view.visualRect(index)
        delegate.initStyleOption(option, index)
        delegate.get_layer_icon(option, index)
        text = view.style().subElementRect(QStyle.SE_ItemViewItemText, option, view)
        needed = option.fontMetrics.horizontalAdvance(option.text)
        assert 0 < needed <= text.width(), f"layer name {option.text!r} needs {needed} px, the list shows {text.width()}"
        names.append(option.text)
    assert len(names) == len(viewer.layers) >= 6
