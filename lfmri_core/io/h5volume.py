"""What the HDF5-backed k-space volumes share (fastMRI and M4Raw, ISMRMRD/MRD, SKM-TEA).

:class:`HDF5Volume` gives them closing (also as a context manager), the slice count, the check
of a slice index, and :meth:`HDF5Volume._reading`, which turns h5py's errors on a damaged file
into one :class:`~lfmri_core.errors.InputError` naming the file and what was being read. A
subclass opens ``_file`` and sets ``path`` and ``info`` (a
:class:`~lfmri_core.io.fastmri_h5.VolumeInfo`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import h5py

from lfmri_core.errors import InputError

__all__ = ["HDF5_ERRORS", "HDF5Volume", "error_reason"]

HDF5_ERRORS: tuple[type[BaseException], ...] = (OSError, RuntimeError, KeyError)
"""What h5py raises for a damaged file: a bad heap or B-tree signature (RuntimeError), a chunk
that does not decompress (OSError), a link to nowhere (KeyError)."""

_V = TypeVar("_V", bound="HDF5Volume")


def error_reason(error: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(error).strip().splitlines()
    return text[0] if text and text[0] else type(error).__name__


class HDF5Volume:
    """Base of the k-space volumes read from an open HDF5 file (see the module docstring)."""

    path: Path
    info: Any
    _file: h5py.File
    _read_errors: tuple[type[BaseException], ...] = HDF5_ERRORS
    """The errors :meth:`_reading` turns into an InputError (a reader adds its library's)."""

    @contextlib.contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """h5py's errors on a damaged file, as one InputError naming the file and ``what`` was read."""
        try:
            yield
        except InputError:
            raise
        except self._read_errors as exc:
            raise InputError(f"{self.path.name} is damaged: HDF5 cannot read {what} ({error_reason(exc)})") from None

    def __enter__(self: _V) -> _V:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        return int(self.info.num_slices)

    def _check_index(self, index: int) -> int:
        """``index`` as ``0 <= index < slices`` (negative counts from the end); InputError outside."""
        n = self.info.num_slices
        if not -n <= index < n:
            raise InputError(f"{self.path.name}: slice {index} does not exist (volume has {n} slices)")
        return index % n
