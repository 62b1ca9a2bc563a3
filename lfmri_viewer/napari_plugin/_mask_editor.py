"""Drawing the sampling mask in napari: an editable k-space sampling layer and its dock section.

:class:`MaskEditor` shows the mask in force as a labels layer (1 = sampled) over the log
k-space layer, in the k-space frame ``(H, W)``, and turns edits in it into a drawn mask of the
session (:class:`~lfmri_viewer.mask_drawing.MaskDrawing`):

- **toggle lines** (line masks): a click toggles the phase-encode line under the pointer; a
  drag sets every line it crosses to the state the first one took;
- **paint points** (2-D): napari's paint brush and eraser on the layer (a line mask becomes
  2-D when painted).

The layer changes at once; the session gets the new mask :data:`DEBOUNCE_MS` after the last
edit (a QTimer), so a drag over many lines reconstructs once, and the reconstructions, error
maps and readouts follow as for any setting change. *Back to preset* drops the drawing.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Labels
from napari.utils.colormaps import DirectLabelColormap
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
)

from lfmri_core.display import DisplayFrame
from lfmri_core.errors import InputError
from lfmri_viewer.controller import SessionController
from lfmri_viewer.mask_drawing import DEBOUNCE_MS, MaskDrawing, column_at
from lfmri_viewer.napari_plugin._layers import ROLE_KEY, frame_kwargs, volume_stem

if TYPE_CHECKING:
    import napari

    from lfmri_viewer.napari_plugin._scene import Scene

SAMPLING_ROLE = "sampling"
LINES, POINTS = "toggle lines (click)", "paint points (2-D)"
MODES = (LINES, POINTS)
SAMPLING_COLORS = {None: "transparent", 0: "transparent", 1: "cyan"}
"""Sampled k-space in cyan over the gray log k-space; unsampled transparent."""


class MaskEditor(QGroupBox):
    """The "Draw the mask" section of the dock and the editable sampling layer it keeps.

    Parameters
    ----------
    viewer
        The viewer that gets the sampling layer.
    controller
        The session whose mask is drawn.
    scene
        The session's layers (its k-space layer is shown under the sampling layer).
    on_error
        Tells the user why an edit was refused (one line).
    """

    def __init__(self, viewer: napari.viewer.Viewer, controller: SessionController, scene: Scene,
                 on_error: Callable[[str], None]) -> None:
        super().__init__("Draw the mask")
        self.viewer, self.controller, self.scene, self.on_error = viewer, controller, scene, on_error
        self.drawing = MaskDrawing(controller)
        self.layer: Labels | None = None
        self._writing = False
        self._painted = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.commit)

        self.edit = QCheckBox("edit the mask on k-space")
        self.edit.setToolTip("a sampling layer over the log k-space: click to toggle phase-encode lines, or paint points")
        self.mode = QComboBox()
        self.mode.addItems(MODES)
        self.reset_button = QPushButton("Back to preset")
        self.reset_button.setToolTip("drop the drawn mask: the preset above is in force again")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow(self.edit)
        form.addRow("tool", self.mode)
        form.addRow(self.reset_button)
        form.addRow(self.summary)

        self.edit.toggled.connect(self.set_editing)
        self.mode.currentTextChanged.connect(self.set_mode)
        self.reset_button.clicked.connect(lambda: self.reset())
        events = controller.events
        events.settings_changed.connect(self._on_settings_changed)
        events.volume_opened.connect(self._on_volume_opened)
        viewer.layers.events.removed.connect(self._on_layer_removed)
        self._show_summary()

    def disconnect_all(self, *_: Any) -> None:
        """Stop following the session and the viewer (the widget is going).

        Safe in every state (called twice, the viewer or Qt objects gone first): it runs in
        a Qt slot, where an exception makes PyQt abort the process.
        """
        events = self.controller.events
        steps: list[Callable[[], Any]] = [
            self._timer.stop,
            lambda: events.settings_changed.disconnect(self._on_settings_changed),
            lambda: events.volume_opened.disconnect(self._on_volume_opened),
            lambda: self.viewer.layers.events.removed.disconnect(self._on_layer_removed),
        ]
        for step in steps:
            try:
                step()
            except Exception:  # noqa: BLE001, S112 - see the docstring: nothing may escape this slot
                continue

    # -- the layer ------------------------------------------------------------------------------
    def set_editing(self, on: bool) -> bool:
        """Show (or remove) the editable sampling layer; False when refused (no volume, a file
        with its own mask)."""
        on = bool(on)
        if not on:
            self._remove_layer()
        elif self.layer is None:
            try:
                image = self.drawing.image()
            except InputError as error:
                self.on_error(str(error))
                on = False
            else:
                self._make_layer(image)
        self.edit.blockSignals(True)
        self.edit.setChecked(on)
        self.edit.blockSignals(False)
        return on

    def _make_layer(self, image: np.ndarray) -> None:
        info = self.controller.info
        path = self.controller.path
        stem = volume_stem(path) if path is not None else "volume"
        layer = Labels(image.astype(np.uint8), name=f"{stem} sampling (edit)", opacity=0.45,
                       metadata={ROLE_KEY: SAMPLING_ROLE},
                       colormap=DirectLabelColormap(color_dict=SAMPLING_COLORS),
                       **frame_kwargs(DisplayFrame.for_kspace(info), leading=0))
        layer.selected_label = 1
        layer.brush_size = 5
        layer.mouse_drag_callbacks.append(self._on_mouse)
        layer.events.paint.connect(self._on_paint)
        self.layer = layer
        if self.scene.kspace is not None:
            self.scene.kspace.visible = True  # the log k-space under the sampling pattern
        self.viewer.layers.append(layer)
        self.set_mode(self.mode.currentText())

    def _remove_layer(self) -> None:
        layer, self.layer = self.layer, None
        if layer is not None and layer in self.viewer.layers:
            self.viewer.layers.remove(layer)

    def _on_layer_removed(self, event: Any) -> None:
        if event.value is self.layer:
            self.layer = None
            self.edit.blockSignals(True)
            self.edit.setChecked(False)
            self.edit.blockSignals(False)

    def set_mode(self, mode: str) -> None:
        """:data:`LINES` (clicks toggle lines, no panning on drag) or :data:`POINTS` (napari's
        paint brush)."""
        if mode not in MODES:
            raise InputError(f"unknown mask tool {mode!r}; choose one of {', '.join(MODES)}")
        if self.mode.currentText() != mode:
            self.mode.setCurrentText(mode)  # calls back here
            return
        if self.layer is not None:
            self.layer.mode = "paint" if mode == POINTS else "pan_zoom"
            self.layer.mouse_pan = False  # a drag draws (lines or points); the wheel still zooms

    def _show_pattern(self) -> None:
        if self.layer is None:
            return
        image = self.drawing.image()
        data = self.layer.data
        writable = isinstance(data, np.ndarray) and data.shape == image.shape and data.flags.writeable
        if writable and np.array_equal(data, image):
            return  # shown already (the commit of an edit shows the pattern the edit drew)
        self._writing = True
        try:
            if writable:
                # In place and one redraw: new data costs napari a full layer update per edit.
                np.copyto(data, image, casting="unsafe")
                self.layer.refresh()
            else:
                self.layer.data = image.astype(np.uint8)
        finally:
            self._writing = False

    # -- edits ----------------------------------------------------------------------------------
    def toggle_line(self, column: int) -> bool | None:
        """Toggle phase-encode line ``column`` (the session gets it after the pause); None if refused."""
        try:
            self._take_painted()  # points painted just before stay
            on = self.drawing.toggle_line(column)
        except InputError as error:
            self.on_error(str(error))
            return None
        self._edited()
        return on

    def _on_mouse(self, layer: Labels, event: Any) -> Generator[None, None, None]:
        if self.mode.currentText() != LINES:
            return
        width = self.controller.info.image_shape[1]
        column = column_at(layer.world_to_data(event.position)[-1], width)
        if column is None:
            return
        on = self.toggle_line(column)
        yield
        while event.type == "mouse_move" and on is not None:
            column = column_at(layer.world_to_data(event.position)[-1], width)
            if column is not None:
                try:
                    self.drawing.set_lines([column], on)
                except InputError:
                    pass  # a column without data: dragging over it leaves it unsampled
                else:
                    self._edited()
            yield

    def _on_paint(self, event: Any = None) -> None:
        # napari may announce a paint before it writes the layer's data (a paint outside a
        # brush stroke): the painted points are read at the commit, after the pause.
        if self._writing or self.layer is None:
            return
        self._painted = True
        self._timer.start()

    def _take_painted(self) -> None:
        if not self._painted or self.layer is None:
            return
        self._painted = False
        self.drawing.set_points(np.asarray(self.layer.data) > 0)

    def _edited(self) -> None:
        self._show_pattern()
        self._show_summary()
        self._timer.start()

    def commit(self) -> None:
        """Give the session the drawn mask now (the timer does it after a pause in the edits)."""
        self._timer.stop()
        try:
            self._take_painted()
            self.drawing.commit()
        except InputError as error:
            self.on_error(str(error))
            self._show_pattern()
            self._show_summary()

    def reset(self) -> None:
        """Back to the preset mask."""
        self._timer.stop()
        self._painted = False
        try:
            self.drawing.reset()
        except InputError as error:
            self.on_error(str(error))

    # -- session events ---------------------------------------------------------------------------
    def _on_settings_changed(self, _: Any = None) -> None:
        if self.drawing.pending or self._painted:
            return  # the edits in progress win; they are committed after the pause
        self._show_pattern()
        self._show_summary()

    def _on_volume_opened(self, _: Any = None) -> None:
        self._timer.stop()
        self._painted = False
        self.drawing.discard()
        self._remove_layer()
        self.edit.blockSignals(True)
        self.edit.setChecked(False)
        self.edit.blockSignals(False)
        self._show_summary()

    def _show_summary(self) -> None:
        settings = self.controller.settings
        if not self.controller.is_open:
            self.summary.setText("open a volume to draw its mask")
            return
        if self.controller.is_undersampled_file:
            self.summary.setText("this file stores undersampled k-space: its own mask is used")
            return
        try:
            pattern = self.drawing.pattern
        except InputError as error:
            self.summary.setText(str(error))
            return
        sampled = int(pattern.sum())
        kind = "lines" if pattern.ndim == 1 else "points"
        state = "drawn" if settings.is_drawn or self.drawing.pending else f"preset ({settings.mask})"
        acceleration = f"{pattern.size / sampled:.2f}x" if sampled else "nothing sampled"
        self.summary.setText(f"{state}: {sampled} {kind} sampled, {acceleration}")


__all__ = ["LINES", "MODES", "POINTS", "SAMPLING_ROLE", "MaskEditor"]
