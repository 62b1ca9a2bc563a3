"""Progress bars of the command line (tqdm on stderr).

tqdm's convention decides when a bar is drawn: ``disable=None`` draws it only when the stream
is a terminal, so a log file or a pipe gets no carriage-return noise. ``--quiet`` turns every
bar off; the environment variable ``LFMRI_PROGRESS`` overrides the terminal check, ``1`` (or
``always``) drawing the bars into any stream (a CI log that wants them, a test) and ``0``
(``never``) leaving them out everywhere.

The long loops of the core take a ``progress(done, total)`` callback (:data:`Progress`) and
poll a ``cancel()`` callback (:data:`Cancel`): the one definition of both types, used by every
method, pipeline and trainer. :func:`progress_bar` gives a bar and :func:`bar_callback` the
callback that drives it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called as long work advances (iterations, stages, slices, steps)."""

Cancel = Callable[[], bool]
"""``cancel()``: polled between steps; True asks the work to stop (it then raises
:class:`~lfmri_core.recon.Cancelled`)."""

PROGRESS_ENV = "LFMRI_PROGRESS"
"""Environment variable that forces the bars on (``1``, ``always``) or off (``0``, ``never``)."""

_ON = ("1", "always", "yes", "true", "on")
_OFF = ("0", "never", "no", "false", "off")


def bars_disabled(quiet: bool = False) -> bool | None:
    """tqdm's ``disable`` for a bar: True with ``quiet`` or ``LFMRI_PROGRESS=0``, False with
    ``LFMRI_PROGRESS=1``, else None (tqdm's own rule: a bar only on a terminal)."""
    if quiet:
        return True
    forced = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if forced in _ON:
        return False
    if forced in _OFF:
        return True
    return None


def progress_bar(*, quiet: bool = False, **kwargs: Any) -> Any:
    """A tqdm bar on the current ``sys.stderr`` (keyword arguments go to tqdm), drawn as
    :func:`bars_disabled` says."""
    from tqdm import tqdm

    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(file=sys.stderr, disable=bars_disabled(quiet), **kwargs)


def bar_callback(bar: Any, description: str | None = None) -> Progress:
    """A ``progress(done, total)`` callback that moves ``bar`` to ``done`` of ``total``
    (``description`` replaces the bar's label first, when given)."""

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        if description is not None and getattr(bar, "desc", None) != description:
            bar.set_description_str(description, refresh=False)
        bar.update(done - bar.n)

    return update


@contextmanager
def bar_on_first_step(*, quiet: bool = False, **kwargs: Any) -> Iterator[Progress]:
    """A ``progress(done, total)`` callback whose bar opens at its first call, closed on exit:
    a stage that turns out to have nothing to do (cached data) draws nothing."""
    bars: list[Any] = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(progress_bar(quiet=quiet, total=total, **kwargs))
        bar_callback(bars[0])(done, total)

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()
