"""Movies for slides: a sweep of a session (accelerations, slices, or the iterations of one
method) rendered frame by frame and written as MP4 or GIF. No GUI.

Both front ends (the napari dock's "Animation" tab, the notebook widget's movie controls) and
scripts call the same functions on a :class:`~lfmri_viewer.controller.SessionController`:

>>> movie = sweep_frames(session, Sweep("acceleration", (2, 4, 6, 8, 10, 12)))   # doctest: +SKIP
>>> export_animation(session, "sweep.mp4", Sweep("iterations", method="cg-sense"))  # doctest: +SKIP

- ``"acceleration"``: the session's methods on the current slice at each acceleration (the
  mask type, centre fraction and seed stay), through the controller, so every frame shows
  the numbers the viewers show for that setting (cached results are reused);
- ``"slices"``: the session's methods at the current settings on each slice;
- ``"iterations"``: one iterative method (``cg-sense``, ``cs-wavelet``, ``cs-tv``) on the current
  slice, the image after each iteration (:mod:`lfmri_core.iterations`; the last frame is the
  method's result).

Every frame is rendered the way the viewers show images: the display orientation and pixel
spacing of :class:`~lfmri_core.display.DisplayFrame`, the colormaps of
:mod:`lfmri_core.display`, one fixed window per movie (the reference volume's full range),
the lesion boxes, and a label per panel with the method, acceleration, PSNR and LF-PSNR.
The session's settings, slice, auto-update and runner are restored afterwards.

Writing needs the optional ``animation`` extra (``pip install "lfmri-viewer[animation]"``:
imageio with imageio-ffmpeg for MP4, Pillow for GIF); files are written atomically and never
over one of the session's inputs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lfmri_core.display import ERROR_COLORMAP, IMAGE_COLORMAP, DisplayFrame
from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.atomic import atomic_path
from lfmri_core.io.protected import protect_inputs
from lfmri_core.metrics import lf_psnr_slice, psnr
from lfmri_viewer.controller import SessionController
from lfmri_viewer.jobs import Progress, run_sync

SWEEPS = ("acceleration", "slices", "iterations")
"""What a movie can sweep."""

FORMATS = {".mp4": "MP4", ".gif": "GIF"}
"""File suffixes the writer understands."""

DEFAULT_ACCELERATIONS = (2.0, 4.0, 6.0, 8.0, 10.0, 12.0)
DEFAULT_ITERATIVE_METHOD = "cg-sense"
INSTALL_HINT = 'pip install "lfmri-viewer[animation]" (imageio, imageio-ffmpeg and Pillow)'

PANEL_INCHES = 3.2
"""Width of one panel; at :data:`DPI` every frame is a multiple of 16 pixels wide and high
(what H.264 encoders want, so no frame is rescaled)."""
FRAME_HEIGHT_INCHES = 4.0
DPI = 100
BOX_COLOR = "yellow"


@dataclass(frozen=True)
class Sweep:
    """What a movie sweeps.

    Attributes
    ----------
    kind
        One of :data:`SWEEPS`.
    values
        Accelerations (``"acceleration"``, default :data:`DEFAULT_ACCELERATIONS`) or slice
        indices (``"slices"``, default every slice); ignored for ``"iterations"``.
    method
        The iterative method of an ``"iterations"`` movie (default
        :data:`DEFAULT_ITERATIVE_METHOD`); for the other kinds, show only this method
        (default: the session's methods).
    every
        ``"iterations"``: keep one iteration in ``every`` (the last is always kept).
    """

    kind: str
    values: tuple[float, ...] = ()
    method: str | None = None
    every: int = 1

    def __post_init__(self) -> None:
        if self.kind not in SWEEPS:
            raise InputError(f"unknown sweep {self.kind!r}; choose one of {', '.join(SWEEPS)}")
        object.__setattr__(self, "values", tuple(self.values))
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise InputError(f"every must be an integer >= 1, got {self.every!r}")


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

    sweep: Sweep
    frames: tuple[Frame, ...]
    display: DisplayFrame
    window: tuple[float, float]
    """Contrast limits of every image panel."""
    error_window: tuple[float, float]


def parse_values(text: str) -> tuple[float, ...]:
    """The values of a sweep typed in a control: numbers separated by spaces or commas, and
    ranges ``a..b`` (step 1) or ``a..b/step``; ``""`` gives ``()`` (the sweep's default).

    >>> parse_values("2..12/2")
    (2.0, 4.0, 6.0, 8.0, 10.0, 12.0)
    """
    values: list[float] = []
    for token in text.replace(",", " ").split():
        try:
            if ".." in token:
                span, _, step_text = token.partition("/")
                low, high = (float(v) for v in span.split("..", 1))
                step = float(step_text) if step_text else 1.0
                if not step > 0 or high < low:
                    raise ValueError
                count = int(math.floor((high - low) / step + 1e-9)) + 1
                values.extend(low + i * step for i in range(count))
            else:
                values.append(float(token))
        except ValueError:
            raise InputError(f"cannot read {token!r} as a sweep value: give numbers (2 4 8) or a range (2..12/2)") from None
    return tuple(values)


def run_to_end(generator: Generator[Progress, None, Any], progress: Callable[[Progress], None] | None = None) -> Any:
    """Drive a generator of :class:`Progress` to its end on this thread; its return value."""
    while True:
        try:
            report = next(generator)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(report)


# ----------------------------------------------------------------------------------------------
# frames from the session
def sweep_frames(session: SessionController, sweep: Sweep, *,
                 cancel: Callable[[], bool] | None = None) -> Generator[Progress, None, Movie]:
    """Drive ``session`` through ``sweep``; yields :class:`Progress` and returns the :class:`Movie`.

    Runs on the session's thread (the controller's jobs run in place meanwhile); ``cancel``
    is polled between frames and raises :class:`~lfmri_core.recon.Cancelled`. The session's
    settings, slice, auto-update and runner come back as they were, also on an error.
    """
    from lfmri_core.recon.registry import Cancelled

    session.info  # noqa: B018 - InputError when no volume is open
    frames: list[Frame] = []
    with _sweeping(session):
        steps = _steps(session, sweep)
        for n, step in enumerate(steps):
            if cancel is not None and cancel():
                raise Cancelled(f"{sweep.kind} movie cancelled after {n} frames")
            frames.append(step)
            yield Progress(n + 1, steps.total, frames[-1].caption)
    if not frames:
        raise InputError(f"the {sweep.kind} sweep has no frames")
    reference = session.reference_volume()
    top = float(reference.max()) if reference is not None else max(float(p.image.max()) for f in frames for p in f.panels)
    return Movie(sweep, tuple(frames), session.display_frame, (0.0, top or 1.0), session.error_limits())


class _Steps:
    """The frames of a sweep as an iterator, with their count known in advance (for progress)."""

    def __init__(self, total: int, frames: Iterator[Frame]) -> None:
        self.total = total
        self._frames = frames

    def __iter__(self) -> Iterator[Frame]:
        return self._frames


def _steps(session: SessionController, sweep: Sweep) -> _Steps:
    methods = _methods(session, sweep)
    if sweep.kind == "acceleration":
        if session.is_undersampled_file:
            raise InputError(f"{session.info.name} is already undersampled: its acceleration cannot be swept")
        values = sweep.values or DEFAULT_ACCELERATIONS
        for value in values:  # every value checked before the first frame
            session.settings.updated(acceleration=value)
        return _Steps(len(values), (_settings_frame(session, methods, acceleration=float(v)) for v in values))
    if sweep.kind == "slices":
        indices = [session.check_slice(int(v)) for v in sweep.values] if sweep.values else list(range(session.num_slices))
        return _Steps(len(indices), (_settings_frame(session, methods, index=i) for i in indices))
    method = sweep.method or DEFAULT_ITERATIVE_METHOD
    generator = session.iterations(method, every=sweep.every)
    first = next(generator)  # a method that does not iterate fails here, before anything is drawn
    total = len(range(sweep.every, first.total + 1, sweep.every)) + (first.total % sweep.every != 0)
    return _Steps(total, _iteration_frames(session, method, first, generator))


def _methods(session: SessionController, sweep: Sweep) -> tuple[str, ...]:
    if sweep.kind == "iterations" or sweep.method is None:
        return session.settings.methods
    return (sweep.method,)


def _settings_frame(session: SessionController, methods: tuple[str, ...], *, acceleration: float | None = None,
                    index: int | None = None) -> Frame:
    if acceleration is not None:
        session.update(acceleration=acceleration)
    if index is not None:
        session.set_slice(index)
    job = session.reconstruct_slice(methods=methods)
    if job is not None and job.error is not None:
        raise InputError(f"{job.name} failed: {job.error}")
    readouts = session.readouts(methods=methods)
    panels = []
    for method in methods:
        result, readout = session.result(method), readouts.get(method)
        if result is None or readout is None:
            raise InputError(f"{method} gave no result on slice {session.slice_index}")
        panels.append(Panel(method, result.image, readout.psnr, readout.lf_psnr, session.error_map(method)))
    settings = session.settings
    caption = (f"slice {session.slice_index}, {settings.mask} mask {settings.acceleration:g}x\n"
               f"(achieved {session.mask().achieved_acceleration:.2f}x)")
    return Frame(caption, tuple(panels), session.slice_index, session.boxes(), settings.acceleration)


def _iteration_frames(session: SessionController, method: str, first: Any, rest: Iterator[Any]) -> Iterator[Frame]:
    reference, maxval, boxes = session.reference(), session.maxval, session.boxes()
    settings = session.settings
    for iterate in _chain(first, rest):
        image = iterate.image[0]
        value = lf = math.nan
        error = None
        if reference is not None and maxval is not None:
            value = psnr(reference[None], image[None], maxval)
            lf = lf_psnr_slice(reference, image, boxes, maxval) if boxes else math.nan
            error = np.abs(image - reference).astype(np.float32)
        caption = (f"{method}: iteration {iterate.iteration} of {iterate.total}\n"
                   f"slice {session.slice_index}, {settings.mask} mask {settings.acceleration:g}x")
        yield Frame(caption, (Panel(method, image, value, lf, error),), session.slice_index, boxes,
                    settings.acceleration)


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


@contextlib.contextmanager
def _sweeping(session: SessionController) -> Iterator[None]:
    """Jobs in place and no auto-update while sweeping; everything back afterwards."""
    settings, index, auto, runner = session.settings, session.slice_index, session.auto_update, session.runner
    session.cancel()
    session.runner = run_sync
    session.set_auto_update(False)
    try:
        yield
    finally:
        session.update(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)})
        session.set_slice(index)
        session.runner = runner
        session.set_auto_update(auto)


# ----------------------------------------------------------------------------------------------
# drawing
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


# ----------------------------------------------------------------------------------------------
# writing
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


def export_animation(session: SessionController, path: str | os.PathLike[str], sweep: Sweep, *, fps: float = 4.0,
                     errors: bool = False, progress: Callable[[Progress], None] | None = None,
                     cancel: Callable[[], bool] | None = None) -> Path:
    """Sweep ``session`` (:func:`sweep_frames`), draw the frames (:class:`FrameRenderer`) and
    write them to ``path`` (``.mp4`` or ``.gif``, :func:`write_movie`), never over one of the
    session's :attr:`~lfmri_viewer.controller.SessionController.inputs`.

    The path, the format's writer and the sweep are checked before any reconstruction runs.
    """
    with protect_inputs(*session.inputs):
        session.check_output(path)
    check_writer(movie_format(path))
    movie: Movie = run_to_end(sweep_frames(session, sweep, cancel=cancel), progress)
    renderer = FrameRenderer(movie, errors=errors)
    images = [renderer.render(frame) for frame in movie.frames]
    with protect_inputs(*session.inputs):
        return write_movie(path, images, fps)


__all__ = [
    "DEFAULT_ACCELERATIONS",
    "DEFAULT_ITERATIVE_METHOD",
    "FORMATS",
    "SWEEPS",
    "Frame",
    "FrameRenderer",
    "Movie",
    "Panel",
    "Sweep",
    "export_animation",
    "label",
    "movie_format",
    "parse_values",
    "run_to_end",
    "sweep_frames",
    "write_movie",
]
