"""What the notebook views share: the session they show, opening a source, batched redraws."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from lfmri_core.errors import InputError
from lfmri_core.io.fastmri_h5 import VolumeInfo
from lfmri_viewer.controller import SessionController

Source = str | os.PathLike[str]
"""A volume file (fastMRI ``.h5``, BART ``.cfl``), or ``"PD"`` / ``"PDFS"`` for the embedded sample."""

SAMPLE_NAMES = ("PD", "PDFS")


def session_of(session: SessionController | Any) -> SessionController:
    """The controller of ``session``: a :class:`SessionController`, or a view holding one."""
    if isinstance(session, SessionController):
        return session
    controller = getattr(session, "controller", None)
    if not isinstance(controller, SessionController):
        raise InputError(f"expected a SessionController or a viewer holding one, got {type(session).__name__}")
    return controller


def open_source(controller: SessionController, source: Source) -> VolumeInfo:
    """Open a file, or the embedded sample for ``"PD"`` / ``"PDFS"`` (unless a file has that name)."""
    if isinstance(source, str) and source.upper() in SAMPLE_NAMES and not Path(source).exists():
        return controller.open_sample(source)
    return controller.open(source)


def close_tree(children: tuple[widgets.Widget, ...]) -> None:
    """Close widgets and their descendants (a closed box leaves its children open)."""
    for child in children:
        close_tree(getattr(child, "children", ()))
        child.close()


class BatchedRedraw:
    """Redraw once per user action: events that arrive inside :meth:`_batch` only mark the
    view dirty. Subclasses set ``_depth = 0`` and ``_dirty = False`` and define ``refresh()``
    (which clears ``_dirty``); :meth:`_may_refresh` can hold a dirty view back for longer (it is
    then redrawn by the next ``_changed()`` that it allows)."""

    _depth: int
    _dirty: bool

    def refresh(self) -> None:
        raise NotImplementedError

    def _may_refresh(self) -> bool:
        """Whether a dirty view may be redrawn now (default: always)."""
        return True

    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        """Collect the redraws that events ask for while a control's action runs into one."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._dirty and self._may_refresh():
                self.refresh()

    def _changed(self) -> None:
        if self._depth or not self._may_refresh():
            self._dirty = True
        else:
            self.refresh()



__all__ = ["SAMPLE_NAMES", "BatchedRedraw", "Source", "close_tree", "open_source", "session_of"]
