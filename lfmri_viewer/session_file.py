"""Saving and reopening a viewing session: the volume, its annotations, the slice and the settings.

A session file is JSON (never a pickle)::

    {"format": "lfmri-viewer-session", "version": 1,
     "volume": "/data/file1000001.h5", "annotations": null, "slice": 17,
     "settings": {"acceleration": 4.0, "mask": "random", ..., "drawn_mask": {"name": "drawn", ...}}}

``settings`` is :meth:`ReconSettings.to_dict`, so a drawn mask
(:class:`~lfmri_core.masks.DrawnMaskSpec`) is saved with its pattern and comes back exactly.
``annotations`` is the CSV the boxes were loaded from (None: found beside the volume, or
none); box edits are saved with *Save annotations*, not here. The file is written atomically
and never over one of the session's inputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lfmri_core.errors import InputError
from lfmri_core.io.atomic import atomic_write_text
from lfmri_core.io.protected import protect_inputs
from lfmri_viewer.controller import SessionController
from lfmri_viewer.settings import ReconSettings

SESSION_FORMAT = "lfmri-viewer-session"
SESSION_VERSION = 1


def session_dict(session: SessionController) -> dict[str, Any]:
    """What :func:`save_session` writes, as a JSON-able dict."""
    if not session.is_open or session.path is None:
        raise InputError("no volume is open: open one before saving the session")
    source = session.annotations_source
    return {
        "format": SESSION_FORMAT,
        "version": SESSION_VERSION,
        "volume": str(session.path.resolve()),
        "annotations": None if source is None else str(Path(source).resolve()),
        "slice": session.slice_index,
        "settings": session.settings.to_dict(),
    }


def save_session(session: SessionController, path: str | os.PathLike[str]) -> Path:
    """Write the session (volume, annotations CSV, slice, settings with any drawn mask) as JSON."""
    data = session_dict(session)
    path = Path(path)
    with protect_inputs(*session.inputs):
        atomic_write_text(path, json.dumps(data, indent=1, allow_nan=False) + "\n")
    return path


def read_session(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A session file's contents, checked; :class:`InputError` (one line) for anything else."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path.name} is not a session file ({type(error).__name__}: {error})") from None
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise InputError(f"{path.name} is not an LF-MRI Viewer session file (format {SESSION_FORMAT!r})")
    if data.get("version") != SESSION_VERSION:
        raise InputError(f"{path.name}: session version {data.get('version')!r} is not supported (only {SESSION_VERSION})")
    for key, kind in (("volume", str), ("slice", int), ("settings", dict)):
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            raise InputError(f"{path.name}: {key!r} is missing or not a {kind.__name__}")
    if data.get("annotations") is not None and not isinstance(data["annotations"], str):
        raise InputError(f"{path.name}: 'annotations' must be a CSV path or null")
    data["settings"] = ReconSettings.from_dict(data["settings"])
    return data


def open_session(session: SessionController, path: str | os.PathLike[str]) -> ReconSettings:
    """Reopen a saved session in ``session``: its volume (and annotations CSV), slice and
    settings, drawn mask included. The file is checked before the current volume is replaced;
    a saved mask that does not fit the volume (drawn on another k-space size) raises
    :class:`InputError` once the volume is open, the preset mask then in force. With
    auto-update on, one reconstruction starts, for the restored settings."""
    data = read_session(path)
    settings: ReconSettings = data["settings"]
    auto = session.auto_update
    if auto:
        session.set_auto_update(False)
    try:
        session.open(data["volume"], annotations=data["annotations"])
        session.update(**{name: getattr(settings, name) for name in ReconSettings.__dataclass_fields__})
        session.set_slice(data["slice"])
    finally:
        if auto:
            session.set_auto_update(True)
    return session.settings


__all__ = ["SESSION_FORMAT", "SESSION_VERSION", "open_session", "read_session", "save_session", "session_dict"]
