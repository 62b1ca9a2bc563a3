"""Drawing the sampling mask in a notebook: click the mask (or k-space) panel to toggle a line.

With the interactive figure (``%matplotlib widget``, ipympl) a click on the *mask* or the
*k-space* panel toggles the phase-encode line under the pointer (a 2-D mask: the whole
column); the session gets the drawn mask at once
(:class:`~lfmri_viewer.mask_drawing.MaskDrawing`) and the figure and the table follow. The
static figure (``%matplotlib inline``) takes no clicks: there the *line* box and *Toggle line*
button do the same, and *Back to preset* drops the drawing in both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lfmri_core.errors import InputError
from lfmri_viewer.controller import SessionController
from lfmri_viewer.mask_drawing import MaskDrawing, column_at

CLICKABLE_PANELS = ("mask", "kspace")
"""Panels whose clicks toggle a phase-encode line (both show k-space columns as x)."""


class MaskClicks:
    """The clickable mask of :class:`~._widget.LFMRIWidget`.

    Parameters
    ----------
    controller
        The session whose mask is drawn.
    figure, axes
        The widget's figure and its panels by name (:data:`~._panels.PANELS`).
    apply
        Runs a session action the widget's way (one redraw; an :class:`InputError` becomes the
        widget's notice).
    """

    def __init__(self, controller: SessionController, figure: Figure, axes: dict[str, Axes],
                 apply: Callable[[Callable[[], Any]], None]) -> None:
        self.controller = controller
        self.drawing = MaskDrawing(controller)
        self.axes = axes
        self._apply = apply
        self.line_input = widgets.BoundedIntText(value=0, min=0, max=0, description="line",
                                                 tooltip="phase-encode column to toggle",
                                                 layout=widgets.Layout(width="150px"))
        self.toggle_button = widgets.Button(description="Toggle line", icon="pencil", layout=widgets.Layout(width="auto"),
                                            tooltip="toggle the phase-encode line on the left (or click the mask panel)")
        self.reset_button = widgets.Button(description="Back to preset", icon="undo", layout=widgets.Layout(width="auto"),
                                           tooltip="drop the drawn mask: the preset is in force again")
        self.hint = widgets.HTML("<small>draw the mask: click the mask or k-space panel to toggle a line</small>")
        self.box = widgets.HBox([self.line_input, self.toggle_button, self.reset_button, self.hint])
        self.toggle_button.on_click(lambda _: self.toggle_line(int(self.line_input.value)))
        self.reset_button.on_click(lambda _: self.reset())
        self._connection = figure.canvas.mpl_connect("button_press_event", self.on_click)
        self._figure = figure

    def close(self) -> None:
        self._figure.canvas.mpl_disconnect(self._connection)

    def volume_opened(self) -> None:
        """A new volume: the line box spans its columns; edits of the last one are forgotten."""
        self.drawing.discard()
        self.line_input.max = max(self.controller.info.image_shape[1] - 1, 0)
        self.line_input.value = self.controller.info.image_shape[1] // 2

    def on_click(self, event: Any) -> None:
        """A matplotlib ``button_press_event``: a click on the mask or k-space panel toggles
        the line under it; clicks elsewhere (or with a toolbar tool active) do nothing."""
        panel = next((name for name in CLICKABLE_PANELS if event.inaxes is self.axes.get(name)), None)
        if panel is None or event.xdata is None or not self.controller.is_open:
            return
        toolbar = getattr(getattr(event, "canvas", None), "toolbar", None)
        if getattr(toolbar, "mode", "") not in ("", None):  # zooming or panning, not drawing
            return
        column = column_at(event.xdata, self.controller.info.image_shape[1])
        if column is not None:
            self.toggle_line(column)

    def toggle_line(self, column: int) -> None:
        """Toggle phase-encode line ``column`` and give the session the drawn mask."""
        def act() -> None:
            try:
                self.drawing.toggle_line(column)
                self.drawing.commit()
            except InputError:
                self.drawing.discard()
                raise
        self._apply(act)

    def reset(self) -> None:
        """Back to the preset mask."""
        self._apply(self.drawing.reset)


__all__ = ["CLICKABLE_PANELS", "MaskClicks"]
