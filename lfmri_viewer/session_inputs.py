"""How the session reads a user's files: every failure one :class:`InputError` line, every
:class:`InputWarning` a notice (a CSV skipped, a box dropped), and the file list beside a CSV."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from lfmri_core.errors import InputError, InputWarning


def file_list_beside(csv_path: str | os.PathLike[str]) -> Path | None:
    """``<name>_file_list.csv`` beside an annotation CSV, when there is one."""
    beside = Path(csv_path).with_name(f"{Path(csv_path).stem}_file_list.csv")
    return beside if beside.is_file() else None


READ_ERRORS = (OSError, RuntimeError, ValueError, MemoryError, KeyError, TypeError)
"""What reading a user's file can raise beyond InputError, should a reader miss a case: the
front ends show an InputError and go on, where anything else would end the session."""


@contextlib.contextmanager
def as_input_error(what: str) -> Iterator[None]:
    """Errors of reading a user's file as one InputError line (``what: Kind: message``)."""
    try:
        yield
    except InputError:
        raise
    except READ_ERRORS as error:
        lines = str(error).strip().splitlines()
        detail = f"{type(error).__name__}: {lines[0]}" if lines and lines[0] else type(error).__name__
        raise InputError(f"{what} cannot be read ({detail})") from error


@contextlib.contextmanager
def input_warnings() -> Iterator[list[str]]:
    """Collect the :class:`InputWarning` lines raised inside (a CSV skipped, a box dropped), for
    the session to send as notices; other warnings go on as they would have."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputWarning)
        try:
            yield messages
        finally:
            mine = [w for w in caught if issubclass(w.category, InputWarning)]
            others = [w for w in caught if not issubclass(w.category, InputWarning)]
    messages.extend(str(w.message) for w in mine)
    for warning in others:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)



__all__ = ["READ_ERRORS", "as_input_error", "file_list_beside", "input_warnings"]
