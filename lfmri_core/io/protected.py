"""Protected inputs: the files a command or a viewing session reads are never written over.

A command (``lfmri recon``, ``lfmri-view``...) or a session's save holds its inputs in a
:func:`protect_inputs` scope; every writer goes through :func:`~lfmri_core.io.atomic.atomic_path`,
which calls :func:`check_output` first, so any output that is one of those inputs is refused
with one :class:`~lfmri_core.errors.InputError` line naming the target, whichever writer it is.

A target is an input when it resolves to the same path (symlinks followed) or, when it exists,
is the same file (``(st_dev, st_ino)``: a hard link, or another spelling on a case-insensitive
file system). Scopes are released when they end, so nothing leaks into unrelated writes (a
cache rewriting its own files, a test rewriting a temporary file). The registry is one per
process: a scope protects its inputs from every thread's writers while it lasts.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from lfmri_core.errors import InputError

NEVER_OVERWRITTEN = "input files are never overwritten and never modified: choose another name"

_lock = threading.Lock()
_scopes: dict[int, tuple[tuple[Path, str], ...]] = {}  # scope id -> (input as given, its resolved path)
_ids = itertools.count()


class ProtectedInputs:
    """One scope of protected inputs (see :func:`protect_inputs`); a context manager.

    Inputs can be added while the scope lasts (say, an annotation CSV found after the volume
    was opened); :meth:`release` (or leaving the ``with`` block) ends the protection.
    """

    def __init__(self) -> None:
        self._id = next(_ids)
        self._released = False

    def add(self, *paths: str | os.PathLike[str] | None) -> None:
        """Protect ``paths`` too (None entries are skipped)."""
        if self._released:
            raise RuntimeError("this scope of protected inputs was released")
        new = tuple((Path(p), os.path.realpath(p)) for p in paths if p is not None)
        with _lock:
            _scopes[self._id] = (*_scopes.get(self._id, ()), *new)

    def release(self) -> None:
        """End the protection (idempotent)."""
        self._released = True
        with _lock:
            _scopes.pop(self._id, None)

    def __enter__(self) -> ProtectedInputs:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def protect_inputs(*paths: str | os.PathLike[str] | None) -> ProtectedInputs:
    """Protect ``paths`` from every writer until the returned scope is released.

    >>> with protect_inputs("knee.h5", "knee.csv"):        # doctest: +SKIP
    ...     write_reconstruction("knee.h5", images)        # InputError: knee.h5 is an input file; ...

    A BART input is two files: pass both (:func:`~lfmri_core.io.volume.volume_files`).
    """
    scope = ProtectedInputs()
    scope.add(*paths)
    return scope


def protected_inputs() -> tuple[Path, ...]:
    """Every input protected now, over all scopes (as given)."""
    with _lock:
        return tuple(given for scope in _scopes.values() for given, _ in scope)


def _identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of an existing file (symlinks followed); None when unknown."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if st.st_ino else None  # some file systems report no inode numbers


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    ident = _identity(a)
    return ident is not None and ident == _identity(b)


def check_output(target: str | os.PathLike[str], *, option: str | None = None) -> None:
    """Raise :class:`InputError` when ``target`` is a protected input (see the module docstring),
    or cannot be a file at all: an existing folder, or a path below a file.

    ``option`` (``"--report"``) names where the target came from in the message.
    """
    named = f"{option} {target}" if option else f"{target}"
    if os.path.isdir(target):
        raise InputError(f"{named} is a folder; an output needs a file name")
    for parent in Path(os.path.abspath(target)).parents:
        if os.path.lexists(parent):
            if not os.path.isdir(parent):
                raise InputError(f"{named} lies below {parent}, which is not a folder")
            break
    with _lock:
        inputs = [entry for scope in _scopes.values() for entry in scope]
    if not inputs:
        return
    real = os.path.realpath(target)
    ident = _identity(target)
    for given, resolved in inputs:
        if resolved == real or (ident is not None and ident == _identity(resolved)):
            same = Path(target) == given
            raise InputError(f"{named} is {'an input file' if same else f'the input file {given}'}; {NEVER_OVERWRITTEN}")


def check_distinct_outputs(outputs: Mapping[str, str | os.PathLike[str] | None]) -> None:
    """Raise :class:`InputError` when two outputs (option -> path; None: not asked for) are one file."""
    named = [(option, path) for option, path in outputs.items() if path is not None]
    for i, (option_a, a) in enumerate(named):
        for option_b, b in named[i + 1:]:
            if _same_file(a, b):
                raise InputError(f"{option_a} {a} and {option_b} {b} are the same file: choose two names")


__all__ = ["ProtectedInputs", "check_distinct_outputs", "check_output", "protect_inputs", "protected_inputs"]
