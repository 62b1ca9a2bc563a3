"""The dock's "Movie" tab: export a sweep as MP4 / GIF, and step through a solver's iterations.

A thin Qt view of :mod:`lfmri_viewer.animation` (the napari-animation pattern: the model has no
Qt import). The iterations of one method are shown in an image layer, ``<method> iterations``,
with the viewer's display transform; the tab's slider picks the iteration shown on the current
slice (the layer holds one iterate at a time, so the slice slider keeps its meaning).

Export runs on the GUI thread (the sweep drives the session's own controller, whose state the
GUI thread owns); the session's settings come back when it ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from lfmri_core.display import IMAGE_COLORMAP
from lfmri_core.errors import InputError
from lfmri_core.iterations import iterative_methods
from lfmri_viewer.animation import (
    DEFAULT_ITERATIVE_METHOD,
    SWEEPS,
    Movie,
    Sweep,
    export_animation,
    label,
    parse_values,
    run_to_end,
    sweep_frames,
)
from lfmri_viewer.napari_plugin._layers import frame_kwargs

if TYPE_CHECKING:
    from napari.layers import Image

    from lfmri_viewer.napari_plugin._widget import ReconstructionWidget

T = TypeVar("T")

MOVIE_FILTER = "MP4 video (*.mp4);;GIF animation (*.gif)"
ITERATIONS_ROLE = "iterations"


class AnimationPanel(QWidget):
    """The "Movie" tab of :class:`~lfmri_viewer.napari_plugin._widget.ReconstructionWidget`.

    Attributes
    ----------
    movie
        The iterations last computed (:meth:`show_iterations`), or None.
    layer
        The ``<method> iterations`` image layer, or None.
    """

    def __init__(self, owner: ReconstructionWidget) -> None:
        super().__init__()
        self.owner = owner
        self.controller = owner.controller
        self.viewer = owner.viewer
        self.movie: Movie | None = None
        self.layer: Image | None = None

        form = QFormLayout(self)
        self.sweep = QComboBox()
        self.sweep.addItems(SWEEPS)
        self.values = QLineEdit()
        self.values.setPlaceholderText("default: 2..12/2 (accelerations), every slice")
        self.values.setToolTip("accelerations or slices: numbers (2 4 8) or a range (2..12/2)")
        self.method = QComboBox()
        self.method.addItems(iterative_methods())
        self.method.setCurrentText(DEFAULT_ITERATIVE_METHOD)
        self.every = QSpinBox()
        self.every.setRange(1, 100)
        self.every.setToolTip("keep one iteration in this many (the last is always kept)")
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.5, 30.0)
        self.fps.setValue(4.0)
        self.fps.setSuffix(" frames/s")
        self.errors = QCheckBox("error maps under the images")
        self.export_button = QPushButton("Export movie (MP4 / GIF)…")
        self.export_button.setToolTip("sweep the session and write a movie with PSNR / LF-PSNR per frame")
        self.iterations_button = QPushButton("Show iterations")
        self.iterations_button.setToolTip("run the iterative method on this slice and keep the image of every iteration")
        self.iteration = QSlider(Qt.Horizontal)
        self.iteration.setRange(0, 0)
        self.iteration.setEnabled(False)
        self.iteration_label = QLabel("iterations: none computed")
        self.iteration_label.setWordWrap(True)
        form.addRow("sweep", self.sweep)
        form.addRow("values", self.values)
        form.addRow("iterative method", self.method)
        form.addRow("every", self.every)
        form.addRow("speed", self.fps)
        form.addRow(self.errors)
        form.addRow(self.export_button)
        form.addRow(self.iterations_button)
        form.addRow("iteration", self.iteration)
        form.addRow(self.iteration_label)

        self.export_button.clicked.connect(lambda: self.export_movie())
        self.iterations_button.clicked.connect(lambda: self.show_iterations())
        self.iteration.valueChanged.connect(self.show_iteration)

    def current_sweep(self) -> Sweep:
        """The sweep the controls describe (:class:`InputError` for unreadable values)."""
        kind = self.sweep.currentText()
        method = self.method.currentText() if kind == "iterations" else None
        return Sweep(kind, parse_values(self.values.text()), method=method, every=int(self.every.value()))

    def _try(self, action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return action(*args, **kwargs)
        except (InputError, OSError) as error:
            text = str(error).strip()
            show_error(text.splitlines()[0] if text else type(error).__name__)
            return None

    def export_movie(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Sweep the session and write the movie (asks for the path without one)."""
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export movie", "lfmri_sweep.mp4", MOVIE_FILTER)
            if not chosen:
                return None
            path = chosen
        sweep = self._try(self.current_sweep)
        if sweep is None:
            return None
        saved = self._try(export_animation, self.controller, path, sweep, fps=float(self.fps.value()),
                          errors=self.errors.isChecked())
        if saved is not None:
            show_info(f"movie saved to {saved}")
        return saved

    def show_iterations(self) -> Movie | None:
        """Compute the iterations of the chosen method on the current slice into the layer."""
        if not self.controller.is_open:
            show_error("no volume is open; open a fastMRI .h5 or BART .cfl file, or a sample")
            return None
        sweep = Sweep("iterations", method=self.method.currentText(), every=int(self.every.value()))
        movie = self._try(run_to_end, sweep_frames(self.controller, sweep))
        if movie is None:
            return None
        self.movie = movie
        name = f"{sweep.method} iterations"
        shape = (self.controller.num_slices, *self.controller.recon_shape)
        transform = frame_kwargs(self.controller.display_frame)
        if self.layer is None or self.layer not in self.viewer.layers:
            self.layer = self.viewer.add_image(np.zeros(shape, np.float32), name=name, colormap=IMAGE_COLORMAP,
                                               contrast_limits=movie.window, metadata={"lfmri_role": ITERATIONS_ROLE},
                                               **transform)
        else:
            self.layer.data = np.zeros(shape, np.float32)
            self.layer.name = name
            self.layer.contrast_limits = movie.window
        self.iteration.setEnabled(True)
        self.iteration.setRange(0, len(movie.frames) - 1)
        last = len(movie.frames) - 1
        if self.iteration.value() == last:
            self.show_iteration(last)
        else:
            self.iteration.setValue(last)
        return movie

    def show_iteration(self, position: int) -> None:
        """Show the ``position``-th kept iterate in the layer (on the slice it was computed on)."""
        if self.movie is None or self.layer is None or not 0 <= position < len(self.movie.frames):
            return
        frame = self.movie.frames[position]
        self.layer.data[frame.slice] = frame.panels[0].image
        self.layer.refresh()
        self.iteration_label.setText(f"{frame.caption.splitlines()[0]}\n{label(frame.panels[0], frame.acceleration)}")


def add_animation_tab(owner: ReconstructionWidget) -> AnimationPanel:
    """Add the "Movie" tab to the dock's result tabs; returns it."""
    panel = AnimationPanel(owner)
    owner.results_tabs.addTab(panel, "Movie")
    return panel


__all__ = ["AnimationPanel", "add_animation_tab"]
