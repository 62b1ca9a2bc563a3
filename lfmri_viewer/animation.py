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
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.protected import protect_inputs
from lfmri_core.metrics import lf_psnr_slice, psnr
from lfmri_core.movie import (
    FORMATS,
    Frame,
    FrameRenderer,
    Movie,
    Panel,
    check_writer,
    label,
    movie_format,
    write_movie,
)
from lfmri_viewer.controller import SessionController
from lfmri_viewer.jobs import Progress, run_sync

SWEEPS = ("acceleration", "slices", "iterations")
"""What a movie can sweep."""

DEFAULT_ACCELERATIONS = (2.0, 4.0, 6.0, 8.0, 10.0, 12.0)
DEFAULT_ITERATIVE_METHOD = "cg-sense"


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
                count = math.floor((high - low) / step + 1e-9) + 1
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
