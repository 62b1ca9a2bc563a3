"""Movie controls of the notebook viewer: export a sweep as MP4 / GIF, and an iteration slider.

A thin ipywidgets view of :mod:`lfmri_viewer.animation` on the session's controller, the
counterpart of the napari dock's "Movie" tab (same choices, same names). The iterations of one
method are computed once ("Show iterations") and the slider steps through them in a small
figure of their own, labelled with PSNR and LF-PSNR per iteration. Work runs in the cell's
thread: the sweep drives the controller, whose state that thread owns.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import ipywidgets as widgets

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
from lfmri_viewer.controller import SessionController
from lfmri_viewer.jobs import Progress
from lfmri_viewer.jupyter._figure import (
    FigureHost,
    draw_boxes,
    image_panel,
    show_image,
    zoom_to,
)

T = TypeVar("T")

_WIDE = {"description_width": "initial"}


class MovieControls(widgets.VBox):
    """Export a movie of the session, or step through one method's iterations.

    Parameters
    ----------
    controller
        The session (an :class:`~lfmri_viewer.jupyter.LFMRIWidget`'s ``controller``).
    interactive
        ipympl canvas or static PNG for the iteration figure (see :class:`FigureHost`).

    Attributes
    ----------
    movie
        The iterations last computed, or None.
    saved
        The last movie written, or None.
    """

    def __init__(self, controller: SessionController, *, interactive: bool | None = None) -> None:
        super().__init__()
        self.controller = controller
        self.movie: Movie | None = None
        self.saved: Path | None = None
        fit = widgets.Layout(width="auto")
        self.sweep_dropdown = widgets.Dropdown(options=SWEEPS, value=SWEEPS[0], description="sweep")
        self.values_input = widgets.Text(value="", placeholder="2..12/2, or slices 0 4 8", description="values",
                                         tooltip="accelerations or slices: numbers (2 4 8) or a range (2..12/2)")
        methods = iterative_methods()
        self.method_dropdown = widgets.Dropdown(
            options=methods, value=DEFAULT_ITERATIVE_METHOD if DEFAULT_ITERATIVE_METHOD in methods else methods[0],
            description="iterative method", style=_WIDE)
        self.every_input = widgets.BoundedIntText(value=1, min=1, max=100, description="every", style=_WIDE,
                                                  layout=widgets.Layout(width="130px"))
        self.fps_input = widgets.BoundedFloatText(value=4.0, min=0.5, max=30.0, description="frames/s", style=_WIDE,
                                                  layout=widgets.Layout(width="150px"))
        self.errors_checkbox = widgets.Checkbox(value=False, description="error maps under the images", indent=False)
        self.path_input = widgets.Text(value="", placeholder="sweep.mp4 or sweep.gif", description="movie file",
                                       style=_WIDE, layout=widgets.Layout(width="320px"))
        self.export_button = widgets.Button(description="Export movie", icon="film", layout=fit,
                                            tooltip="sweep the session and write the movie (MP4 or GIF) at the path")
        self.iterations_button = widgets.Button(description="Show iterations", icon="step-forward", layout=fit,
                                                tooltip="the image after every iteration of the method on this slice")
        self.iteration_slider = widgets.IntSlider(value=0, min=0, max=0, description="iteration", disabled=True,
                                                  continuous_update=True)
        self.progress_bar = widgets.IntProgress(value=0, min=0, max=1)
        self.status_html = widgets.HTML()
        self._host = FigureHost((4.2, 4.6), interactive)
        ax = self._host.figure.subplots()
        self._axes = ax
        self._image = image_panel(ax, (1, 1), cmap=IMAGE_COLORMAP)
        self._boxes: list[Any] = []
        self._host.widget.layout.display = "none"
        self.children = [
            widgets.HTML("<b>Movie</b>"),
            widgets.HBox([self.sweep_dropdown, self.values_input, self.method_dropdown, self.every_input]),
            widgets.HBox([self.fps_input, self.errors_checkbox, self.path_input, self.export_button]),
            widgets.HBox([self.iterations_button, self.iteration_slider, self.progress_bar]),
            self.status_html,
            self._host.widget,
        ]
        self.export_button.on_click(lambda _: self.export_movie(self.path_input.value))
        self.iterations_button.on_click(lambda _: self.show_iterations())
        self.iteration_slider.observe(lambda change: self.show_iteration(int(change["new"])), names="value")

    def current_sweep(self) -> Sweep:
        kind = self.sweep_dropdown.value
        method = self.method_dropdown.value if kind == "iterations" else None
        return Sweep(kind, parse_values(self.values_input.value), method=method, every=int(self.every_input.value))

    def _say(self, level: str, message: str) -> None:
        color = {"info": "#333", "error": "#b00"}.get(level, "#333")
        self.status_html.value = f'<span style="color:{color}">{html.escape(message)}</span>'
        if level == "error":
            self.controller.events.notice.emit("error", message)

    def _try(self, action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return action(*args, **kwargs)
        except (InputError, OSError) as error:
            text = str(error).strip()
            self._say("error", text.splitlines()[0] if text else type(error).__name__)
            return None

    def _progress(self, report: Progress) -> None:
        self.progress_bar.max = max(report.total, 1)
        self.progress_bar.value = report.done
        self.status_html.value = html.escape(report.message.replace("\n", "; "))

    def export_movie(self, path: str) -> Path | None:
        """Sweep the session and write the movie at ``path`` (``.mp4`` or ``.gif``)."""
        if not str(path).strip():
            self._say("error", "give the movie's file name (.mp4 or .gif) first")
            return None
        sweep = self._try(self.current_sweep)
        if sweep is None:
            return None
        saved = self._try(export_animation, self.controller, str(path).strip(), sweep, fps=float(self.fps_input.value),
                          errors=bool(self.errors_checkbox.value), progress=self._progress)
        if saved is not None:
            self.saved = saved
            self._say("info", f"movie saved to {saved}")
        return saved

    def show_iterations(self) -> Movie | None:
        """Compute the chosen method's iterations on the current slice; the slider shows them."""
        sweep = Sweep("iterations", method=self.method_dropdown.value, every=int(self.every_input.value))
        if not self.controller.is_open:
            self._say("error", "no volume is open")
            return None
        movie = self._try(run_to_end, sweep_frames(self.controller, sweep), self._progress)
        if movie is None:
            return None
        self.movie = movie
        last = len(movie.frames) - 1
        self._host.widget.layout.display = None
        with self.iteration_slider.hold_trait_notifications():
            self.iteration_slider.max = last
            self.iteration_slider.disabled = False
        if self.iteration_slider.value == last:
            self.show_iteration(last)
        else:
            self.iteration_slider.value = last
        return movie

    def show_iteration(self, position: int) -> None:
        """Draw the ``position``-th kept iterate with its label."""
        if self.movie is None or not 0 <= position < len(self.movie.frames):
            return
        frame = self.movie.frames[position]
        panel = frame.panels[0]
        show_image(self._image, panel.image, self.movie.window, self.movie.display)
        zoom_to(self._axes, None, self.movie.display.shape, self.movie.display)
        for patch in self._boxes:
            patch.remove()
        self._boxes = draw_boxes(self._axes, frame.boxes, frame=self.movie.display) or []
        self._axes.set_title(f"{frame.caption.splitlines()[0]}\n{label(panel, frame.acceleration)}", fontsize=8)
        self._host.refresh()

    def close(self) -> None:
        self._host.close()
        for child in self.children:
            for grandchild in getattr(child, "children", ()):
                grandchild.close()
            child.close()
        super().close()


__all__ = ["MovieControls"]
