"""Atomic output: write to a temporary file beside the target, then rename over it.

A crash or an error mid-write leaves the previous file (or nothing) in place, never a
truncated one. Every writer of the package goes through :func:`atomic_path`, which first
refuses a target that is a protected input (:mod:`lfmri_core.io.protected`).

The temporary file is ``.<name>.<host>-<pid>-<random>.part``. A writer killed outright
(``kill -9``, a power cut) cannot remove it, so the next write of the same target removes the
orphans of writers that are gone: a process of this machine that no longer runs, a file of
another machine untouched for :data:`STALE_SECONDS`, or one in the older format without a
pid written before this process started. Errors name the target, never the temporary file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from lfmri_core.errors import InputError
from lfmri_core.io.protected import check_output

STALE_SECONDS = 24 * 3600.0
"""Age after which a temporary file of another machine (whose pid cannot be checked) is an orphan."""

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_STARTED = time.time()  # about when this process started: it imports this module before writing
_PART = re.compile(r"(?:(?P<host>[0-9a-f]{6})-(?P<pid>[0-9]+)-[0-9a-f]+|(?P<legacy>[0-9a-f]{12}))")


def _process_gone(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it runs, as another user
        return False
    return False


def _remove_orphans(target: Path) -> None:
    """Remove the temporary files of ``target`` left by writers that are gone."""
    prefix = f".{target.name}."
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".part")):
            continue
        found = _PART.fullmatch(entry.name[len(prefix):-len(".part")])
        if found is None:  # the temporary file of another target whose name starts like this one
            continue
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if found["legacy"] is not None:
            stale = mtime < _STARTED
        elif found["host"] == _HOST:
            pid = int(found["pid"])
            stale = pid != os.getpid() and _process_gone(pid)
        else:
            stale = now - mtime > STALE_SECONDS
        if stale:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _naming_target(error: BaseException, tmp: Path, target: Path) -> BaseException:
    """``error`` with the temporary path replaced by the target; itself when it does not name it."""
    part = str(tmp)

    def swap(value: object) -> object:
        text = os.fspath(value) if isinstance(value, os.PathLike) else value
        return text.replace(part, str(target)) if isinstance(text, str) else text

    if isinstance(error, InputError):
        return InputError(str(error).replace(part, str(target))) if part in str(error) else error
    if not isinstance(error, OSError) or part not in f"{error} {error.filename} {error.filename2}":
        return error
    if error.errno is None or not error.strerror:
        return OSError(swap(str(error)))
    filename = swap(error.filename) if error.filename is not None else str(target)
    other = swap(error.filename2)
    # OSError(errno, ...) gives the subclass of that errno (FileNotFoundError, ...), as raised.
    return OSError(error.errno, swap(error.strerror), filename, None, other if other != filename else None)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``target``.

    Raises :class:`~lfmri_core.errors.InputError` before anything is written when ``target``
    is a protected input (:func:`~lfmri_core.io.protected.protect_inputs`).
    """
    target = Path(target)
    check_output(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(target)
    tmp = target.with_name(f".{target.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.part")
    created = False
    try:
        # Created like any new file (mode 0o666 less the umask), unlike mkstemp's private 0o600.
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        created = True
        mode = tmp.stat().st_mode & 0o777
        yield tmp
        # Some writers (safetensors) replace the file with a private (0o600) one: restore.
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except (OSError, InputError) as error:
        renamed = _naming_target(error, tmp, target)
        if renamed is error:
            raise
        raise renamed from error
    finally:
        if created:
            tmp.unlink(missing_ok=True)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
