"""Movie frames: images of a sweep drawn as the viewers draw them, written as MP4 or GIF.

The drawing half of the viewers' movies (:mod:`lfmri_viewer.animation` makes the frames from a
session): :class:`FrameRenderer` draws a :class:`Movie`'s frames into RGB arrays with
matplotlib's Agg canvas (imported inside, as in :mod:`lfmri_core.figures`), in the display
orientation and pixel spacing of :class:`~lfmri_core.display.DisplayFrame`, with the colormaps
of :mod:`lfmri_core.display`, one window per movie, the lesion boxes and a label per panel
(method, acceleration, PSNR, LF-PSNR); :func:`write_movie` writes them atomically as MP4
(H.264 by imageio-ffmpeg's ffmpeg) or a looping GIF (Pillow): the optional ``animation`` extra.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lfmri_core.display import ERROR_COLORMAP, IMAGE_COLORMAP, DisplayFrame
from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.atomic import atomic_path

FORMATS = {".mp4": "MP4", ".gif": "GIF"}
"""File suffixes the writer understands."""
INSTALL_HINT = 'pip install "lfmri-viewer[animation]" (imageio, imageio-ffmpeg and Pillow)'

PANEL_INCHES = 3.2
"""Width of one panel; at :data:`DPI` every frame is a multiple of 16 pixels wide and high
(what H.264 encoders want, so no frame is rescaled)."""
FRAME_HEIGHT_INCHES = 4.0
DPI = 100
BOX_COLOR = "yellow"


@dataclass(frozen=True)
class Panel:
    """One method's image in a frame (stored frame, recon size)."""

    method: str
    image: np.ndarray
    """Magnitude, float32 ``(rh, rw)``."""
    psnr: float
    """Whole-slice PSNR in dB; NaN without a reference."""
    lf_psnr: float
    """PSNR inside the slice's lesion boxes in dB; NaN without boxes or reference."""
    error: np.ndarray | None = field(default=None, repr=False)
    """``|image - reference|``, float32 ``(rh, rw)``; None without a reference."""


@dataclass(frozen=True)
class Frame:
    """One frame of a movie: a caption and a panel per method."""

    caption: str
    panels: tuple[Panel, ...]
    slice: int
    boxes: tuple[LesionBox, ...] = ()
    acceleration: float = math.nan
    """The requested acceleration of the frame's mask."""


@dataclass(frozen=True)
class Movie:
    """Frames and what is needed to draw them alike."""

    sweep: Any
    """What was swept (:class:`lfmri_viewer.animation.Sweep`)."""
    frames: tuple[Frame, ...]
    display: DisplayFrame
    window: tuple[float, float]
    """Contrast limits of every image panel."""
    error_window: tuple[float, float]


def label(panel: Panel, acceleration: float) -> str:
    """The text over a panel: method, acceleration, PSNR and LF-PSNR (as the readout table
    rounds them, 0.01 dB)."""
    text = f"{panel.method}  {acceleration:g}x" if math.isfinite(acceleration) else panel.method
    if math.isfinite(panel.psnr):
        text += f"\nPSNR {panel.psnr:.2f} dB"
        text += f", LF-PSNR {panel.lf_psnr:.2f} dB" if math.isfinite(panel.lf_psnr) else ", no lesion boxes"
    return text


class FrameRenderer:
    """Draws frames of one movie into RGB arrays of one size (matplotlib's Agg canvas, no GUI).

    Parameters
    ----------
    movie
        Its display frame and windows are used for every frame.
    errors
        A second row with each method's error map (``|recon - reference|``, the viewers' error
        colormap and fixed per-volume contrast).
    """

    def __init__(self, movie: Movie, *, errors: bool = False) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.movie = movie
        count = max(len(f.panels) for f in movie.frames)
        self.errors = errors and all(p.error is not None for f in movie.frames for p in f.panels)
        rows = 2 if self.errors else 1
        self.figure = Figure(figsize=(PANEL_INCHES * count, FRAME_HEIGHT_INCHES * rows), dpi=DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.86 / (FRAME_HEIGHT_INCHES * rows),
                                    wspace=0.03, hspace=0.2)
        self.caption = self.figure.suptitle("", fontsize=8.5, y=0.997, va="top")
        display = movie.display
        grid = self.figure.subplots(rows, count, squeeze=False)
        self.axes = list(grid[0])
        empty = np.zeros(display.shape, np.float32)
        self.images = [ax.imshow(empty, cmap=IMAGE_COLORMAP, vmin=movie.window[0], vmax=movie.window[1],
                                 extent=display.extent(), interpolation="nearest") for ax in self.axes]
        self.error_images = [ax.imshow(empty, cmap=ERROR_COLORMAP, vmin=movie.error_window[0],
                                       vmax=movie.error_window[1], extent=display.extent(), interpolation="nearest")
                             for ax in grid[1]] if self.errors else []
        for ax in grid.ravel():
            xlim, ylim = display.limits()
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            ax.set_axis_off()
        self.titles = [ax.set_title("", fontsize=8) for ax in self.axes]
        self._boxes: list[Any] = []

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of every frame in pixels."""
        width, height = self.canvas.get_width_height()
        return height, width

    def render(self, frame: Frame) -> np.ndarray:
        """``frame`` as uint8 RGB ``(height, width, 3)``."""
        from matplotlib.patches import Rectangle

        for patch in self._boxes:
            patch.remove()
        self._boxes = []
        self.caption.set_text(frame.caption)
        for i, ax in enumerate(self.axes):
            panel = frame.panels[i] if i < len(frame.panels) else None
            self.images[i].set_data(panel.image if panel is not None else np.zeros(self.movie.display.shape))
            self.titles[i].set_text(label(panel, frame.acceleration) if panel is not None else "")
            if self.errors:
                error = panel.error if panel is not None and panel.error is not None else None
                self.error_images[i].set_data(error if error is not None else np.zeros(self.movie.display.shape))
            targets = [ax, *([self.error_images[i].axes] if self.errors else [])]
            for target in targets if panel is not None else []:
                for box in frame.boxes:
                    top, bottom, left, right = self.movie.display.box_edges(box)
                    patch = Rectangle((left, top), right - left, bottom - top, fill=False, edgecolor=BOX_COLOR,
                                      linewidth=0.8)
                    target.add_patch(patch)
                    self._boxes.append(patch)
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def movie_format(path: str | os.PathLike[str]) -> str:
    """``"MP4"`` or ``"GIF"`` from the suffix of ``path``; :class:`InputError` for another one."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{path}: a movie is written as {' or '.join(FORMATS)}; got {suffix or 'no suffix'}")
    return FORMATS[suffix]


def check_writer(fmt: str) -> None:
    """:class:`InputError` (one line with the install command) when ``fmt``'s writer is missing."""
    try:
        if fmt == "MP4":
            import imageio_ffmpeg  # noqa: F401
        else:
            import PIL  # noqa: F401
    except ImportError:
        raise InputError(f"{fmt} export needs the animation extra: {INSTALL_HINT}") from None


def write_movie(path: str | os.PathLike[str], frames: Sequence[np.ndarray], fps: float = 4.0) -> Path:
    """Write uint8 RGB frames ``(height, width, 3)`` as MP4 (H.264, yuv420p) or GIF (looping),
    chosen by the suffix; atomically (never a half-written file at ``path``)."""
    fmt = movie_format(path)
    if not frames:
        raise InputError("a movie needs at least one frame")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError(f"frames per second must be a number > 0, got {fps!r}")
    check_writer(fmt)
    with atomic_path(path) as tmp:
        if fmt == "MP4":
            import imageio_ffmpeg

            height, width = np.asarray(frames[0]).shape[:2]
            # imageio-ffmpeg directly: imageio's plugin will not write to the temporary name,
            # which has no .mp4 suffix (the container is named for ffmpeg instead).
            writer = imageio_ffmpeg.write_frames(str(tmp), (width, height), fps=float(fps), codec="libx264",
                                                 pix_fmt_in="rgb24", pix_fmt_out="yuv420p", quality=8,
                                                 macro_block_size=16, output_params=["-f", "mp4"],
                                                 ffmpeg_log_level="error")
            writer.send(None)
            try:
                for frame in frames:
                    writer.send(np.ascontiguousarray(frame, dtype=np.uint8))
            finally:
                writer.close()
        else:
            from PIL import Image

            images = [Image.fromarray(np.asarray(frame, dtype=np.uint8)) for frame in frames]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=round(1000 / fps), loop=0, optimize=False)
    return Path(path)


__all__ = ["FORMATS", "INSTALL_HINT", "Frame", "FrameRenderer", "Movie", "Panel", "check_writer", "label", "movie_format",
           "write_movie"]
