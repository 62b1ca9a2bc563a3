"""Matplotlib figures in a notebook: ipympl's live canvas, or a PNG re-shown on every update.

Which one follows the matplotlib backend the notebook chose: ``%matplotlib widget`` (ipympl)
gives an interactive canvas widget that redraws in place (zoom, pan, live updates);
``%matplotlib inline`` and every other backend give a static PNG inside an ``Output`` widget,
replaced on each update (an inline figure is a picture: it cannot redraw itself).

Figures are made with :class:`matplotlib.figure.Figure` rather than ``pyplot``, so the inline
backend never shows them a second time at the end of a cell and no global figure list grows.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import ipywidgets as widgets
import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from lfmri_core.display import DisplayFrame
from lfmri_core.io.annotations import LesionBox

BOX_COLOR = "yellow"
"""Lesion boxes are drawn in the colour the napari plugin uses."""

CAM_FLOOR = 0.2
"""CAM values below this (the CAM lies in ``[0, 1]``) stay transparent when drawn over an image."""

PNG_DPI = 80
"""Resolution of the static figure: 80 dpi keeps a 6-panel figure near 150 kB per update."""

_IPYMPL_BACKENDS = ("module://ipympl.backend_nbagg", "ipympl", "widget")


def interactive_backend() -> bool:
    """Whether the notebook selected ipympl (``%matplotlib widget`` / ``%matplotlib ipympl``).

    The backend is read without resolving matplotlib's automatic choice: asking would import
    a GUI toolkit (Qt, Tk) just to learn that the answer is "not ipympl".
    """
    try:
        backend = matplotlib.get_backend(auto_select=False)
    except TypeError:  # matplotlib < 3.10: no auto_select; rcParams hold the name as chosen
        backend = matplotlib.rcParams._get_backend_or_none()
    return backend is not None and backend.lower() in _IPYMPL_BACKENDS


class FigureHost:
    """A figure and the widget that shows it.

    Parameters
    ----------
    figsize
        ``(width, height)`` in inches.
    interactive
        True: ipympl canvas widget; False: static PNG in an ``Output`` widget; None: follow the
        backend (:func:`interactive_backend`).
    """

    def __init__(self, figsize: tuple[float, float], interactive: bool | None = None) -> None:
        self.interactive = interactive_backend() if interactive is None else bool(interactive)
        self.figure = Figure(figsize=figsize, layout="constrained")
        self.widget: widgets.DOMWidget
        if self.interactive:
            from ipympl.backend_nbagg import Canvas, FigureManager

            canvas = Canvas(self.figure)
            # The manager routes draw requests to the canvas widget; the figure stays out of
            # pyplot's registry, so ipympl's end-of-cell flush never shows it twice. ipympl's
            # toolbar passes its canvas on to a traitlets constructor, which traitlets deprecates
            # (matplotlib/ipympl#488, #611): not ours to fix, and not the user's to see.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", r"Passing unrecognized arguments to super\(Toolbar\)",
                                        DeprecationWarning)
                FigureManager(canvas, id(self.figure))
            canvas.header_visible = False
            canvas.toolbar_position = "right"
            self.widget = canvas
        else:
            FigureCanvasAgg(self.figure)
            self.widget = widgets.Output()
        self.renders = 0
        """How many times the figure was sent to the front end."""
        self.png: bytes | None = None
        """The last static PNG (None for the interactive canvas)."""

    def refresh(self) -> None:
        """Send the figure's current state to the front end."""
        if self.interactive:
            self.figure.canvas.draw_idle()
        else:
            buffer = io.BytesIO()
            self.figure.savefig(buffer, format="png", dpi=PNG_DPI)
            self.png = buffer.getvalue()
            # Replacing the Output's record in one assignment (what ``display`` inside the Output
            # would append) avoids a blank flash, and works outside a kernel too (tests).
            self.widget.outputs = ({
                "output_type": "display_data",
                "data": {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": "<LF-MRI figure>"},
                "metadata": {},
            },)
        self.renders += 1

    def close(self) -> None:
        self.widget.close()


def image_panel(ax: Axes, shape: tuple[int, int], cmap: str = "gray") -> AxesImage:
    """An empty image artist of ``shape = (rows, cols)`` on ``ax``, axes off, rows downwards."""
    ax.set_axis_off()
    return ax.imshow(np.zeros(shape, dtype=np.float32), cmap=cmap, interpolation="nearest", vmin=0.0, vmax=1.0)


def show_image(artist: AxesImage, image: np.ndarray | None, limits: tuple[float, float] | None = None,
               frame: DisplayFrame | None = None) -> None:
    """Put ``image`` ``(rows, cols)`` (stored frame) into ``artist`` with contrast ``limits``
    (default ``[0, max]``), placed by ``frame``'s display transform (default: as stored, in
    pixels; see :mod:`lfmri_core.display`); None hides the artist."""
    if image is None:
        artist.set_visible(False)
        return
    artist.set_data(image)
    if limits is None:
        top = float(np.nanmax(image)) if image.size else 0.0
        limits = (0.0, top if np.isfinite(top) and top > 0 else 1.0)
    artist.set_clim(*limits)
    artist.set_extent((frame or DisplayFrame(image.shape, flip_rows=False)).extent())
    artist.set_visible(True)


def imshow_display(ax: Axes, image: np.ndarray, frame: DisplayFrame, **kwargs: Any) -> AxesImage:
    """``ax.imshow`` of a stored-frame ``image`` in ``frame``'s display frame, whole slice in view."""
    artist = ax.imshow(image, extent=frame.extent(), interpolation="nearest", **kwargs)
    zoom_to(ax, None, frame.shape, frame)
    return artist


def cam_overlay(cam: np.ndarray) -> np.ma.MaskedArray:
    """The CAM ``(rows, cols)`` with its cold part masked, to draw over an image: a full-frame
    colour wash would hide the anatomy the CAM is meant to point into."""
    return np.ma.masked_less(cam, CAM_FLOOR)


def draw_boxes(ax: Axes, boxes: Iterable[LesionBox], *, labels: bool = False,
               frame: DisplayFrame | None = None) -> list[Any]:
    """Outline each box's pixels (``rows row0:row1``, ``cols col0:col1``, stored frame) on
    ``ax`` in ``frame``'s display coordinates (default: as stored, in pixels).

    The outline runs along the pixel edges, half a pixel outside the box's first and last
    pixel centres. Returns the artists drawn (rectangles and labels).
    """
    artists: list[Any] = []
    for box in boxes:
        if box.is_empty:
            continue
        box_frame = frame or DisplayFrame((box.row1, box.col1), flip_rows=False)
        top, bottom, left, right = box_frame.box_edges(box)
        rectangle = Rectangle((left, top), right - left, bottom - top, fill=False, edgecolor=BOX_COLOR, linewidth=1.2)
        ax.add_patch(rectangle)
        artists.append(rectangle)
        if labels:
            gap = 1.5 * box_frame.spacing[0]
            artists.append(ax.text(left, top - gap, box.label, color=BOX_COLOR, fontsize=7, va="bottom", clip_on=True))
    return artists


def scale_bar(ax: Axes, frame: DisplayFrame) -> Any | None:
    """A scale bar in mm at the lower right of ``ax`` (napari shows one too); None (nothing
    drawn) for a frame in pixel units."""
    if frame.unit != "mm":
        return None
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    length = frame.scale_bar_length()
    bar = AnchoredSizeBar(ax.transData, length, f"{length:g} mm", "lower right", color="white", frameon=False,
                          size_vertical=0, fontproperties={"size": 7})
    ax.add_artist(bar)
    return bar


def box_window(boxes: Sequence[LesionBox], shape: tuple[int, int], margin: int = 24) -> tuple[slice, slice] | None:
    """The rows and columns around the union of ``boxes`` plus ``margin`` pixels, made square
    and clipped to ``shape``; None without a non-empty box."""
    boxes = [b for b in boxes if not b.is_empty]
    if not boxes:
        return None
    row0, row1 = min(b.row0 for b in boxes) - margin, max(b.row1 for b in boxes) + margin
    col0, col1 = min(b.col0 for b in boxes) - margin, max(b.col1 for b in boxes) + margin
    side = max(row1 - row0, col1 - col0)
    row0 -= (side - (row1 - row0)) // 2
    col0 -= (side - (col1 - col0)) // 2
    row0, col0 = min(max(row0, 0), max(shape[0] - side, 0)), min(max(col0, 0), max(shape[1] - side, 0))
    return slice(row0, min(row0 + side, shape[0])), slice(col0, min(col0 + side, shape[1]))


def zoom_to(ax: Axes, window: tuple[slice, slice] | None, shape: tuple[int, int],
            frame: DisplayFrame | None = None) -> None:
    """Show only ``window`` (stored rows, cols) of an image of ``shape`` on ``ax``, in
    ``frame``'s display coordinates (default: as stored, in pixels); None shows all."""
    frame = frame or DisplayFrame(shape, flip_rows=False)
    xlim, ylim = frame.limits(*(window or (None, None)))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)


__all__ = [
    "BOX_COLOR",
    "CAM_FLOOR",
    "FigureHost",
    "box_window",
    "cam_overlay",
    "draw_boxes",
    "image_panel",
    "imshow_display",
    "interactive_backend",
    "scale_bar",
    "show_image",
    "zoom_to",
]
