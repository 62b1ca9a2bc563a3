"""The movie controls of both front ends: a click exports a playable movie of the expected
frame count, and the iteration slider shows each kept iterate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from lfmri_viewer.jobs import SYNC_ENV
from lfmri_viewer.jupyter import LFMRIWidget
from lfmri_viewer.napari_plugin._widget import ReconstructionWidget
from tests.viewer.conftest import SmallDataset
from tests.viewer.test_animation import mp4_frames

MakeViewer = Callable[..., Any]


@pytest.mark.gui
def test_napari_movie_tab_exports_and_steps_through_iterations(
    make_napari_viewer: MakeViewer, small_dataset: SmallDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SYNC_ENV, "1")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("lfmri-viewer", "LF-MRI reconstruction")
    assert isinstance(widget, ReconstructionWidget)
    widget.set_methods(("zero-filled",))
    widget.open_file(small_dataset.h5)
    panel = widget.animation
    assert widget.results_tabs.tabText(widget.results_tabs.indexOf(panel)) == "Movie"

    panel.sweep.setCurrentText("acceleration")
    panel.values.setText("2 4 8")
    out = tmp_path / "sweep.gif"
    monkeypatch.setattr("lfmri_viewer.napari_plugin._animation.QFileDialog.getSaveFileName",
                        lambda *_: (str(out), ""))
    QTest.mouseClick(panel.export_button, Qt.LeftButton)
    assert iio.imread(out, index=None).shape[0] == 3
    assert widget.controller.settings.acceleration == 4.0

    panel.method.setCurrentText("cg-sense")
    panel.every.setValue(10)
    QTest.mouseClick(panel.iterations_button, Qt.LeftButton)
    movie = panel.movie
    assert movie is not None and len(movie.frames) == 3  # iterations 10, 20 and 30
    layer = viewer.layers["cg-sense iterations"]
    index = widget.controller.slice_index
    np.testing.assert_array_equal(layer.data[index], movie.frames[-1].panels[0].image)
    panel.iteration.setValue(0)
    np.testing.assert_array_equal(layer.data[index], movie.frames[0].panels[0].image)
    assert "iteration 10 of 30" in panel.iteration_label.text()
    assert layer.scale[-2] < 0  # the display orientation of every other layer


def test_jupyter_movie_controls_export_and_slide(small_dataset: SmallDataset, tmp_path: Path) -> None:
    widget = LFMRIWidget(small_dataset.h5, methods=("zero-filled",), sync=True, interactive=False)
    controls = widget.movie_controls
    assert controls in widget.children
    controls.sweep_dropdown.value = "slices"
    controls.path_input.value = str(tmp_path / "slices.mp4")
    controls.export_button.click()
    assert controls.saved == tmp_path / "slices.mp4", controls.status_html.value
    assert len(mp4_frames(controls.saved, 400, 320)) == widget.controller.num_slices

    controls.path_input.value = str(tmp_path / "movie.avi")
    controls.export_button.click()
    assert "written as .mp4 or .gif" in controls.status_html.value
    assert "written as .mp4 or .gif" in widget.notice_html.value

    controls.method_dropdown.value = "cg-sense"
    controls.every_input.value = 15
    controls.iterations_button.click()
    assert controls.movie is not None and controls.iteration_slider.max == 1  # iterations 15 and 30
    controls.iteration_slider.value = 0
    np.testing.assert_array_equal(controls._image.get_array(), controls.movie.frames[0].panels[0].image)
    assert "iteration 15 of 30" in controls._axes.get_title()
    widget.close()
