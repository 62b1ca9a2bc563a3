"""BART ``.cfl`` / ``.hdr`` arrays.

``name.hdr`` is a text file: a comment line (``# Dimensions``) then the dimensions separated by
spaces; ``name.cfl`` holds complex64 values in Fortran (column-major) order. BART's dimension
order is ``read, phase1, phase2, coils, maps, ...``, so a 2-D multi-coil k-space is
``(H, W, 1, C)``. :func:`cfl_to_kspace` turns that into our ``(slices, coils, H, W)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.atomic import atomic_path, atomic_write_text

#: BART dimension indices used here.
READ_DIM, PHASE1_DIM, PHASE2_DIM, COIL_DIM, MAPS_DIM = 0, 1, 2, 3, 4


def _base(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".cfl", ".hdr") else path


def read_cfl_dims(path: str | os.PathLike[str]) -> tuple[int, ...]:
    """Dimensions from ``name.hdr`` (trailing singleton dimensions dropped)."""
    hdr = _base(path).with_suffix(".hdr")
    if not hdr.is_file():
        raise InputError(f"{hdr} does not exist (a BART array needs both .hdr and .cfl)")
    lines = [ln.strip() for ln in hdr.read_text(errors="replace").splitlines()]
    data_lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not data_lines:
        raise InputError(f"{hdr} has no dimension line")
    try:
        dims = [int(v) for v in data_lines[0].split()]
    except ValueError:
        raise InputError(f"{hdr}: dimension line {data_lines[0]!r} is not a list of integers") from None
    if not dims or any(d < 1 for d in dims):
        raise InputError(f"{hdr}: dimensions {dims} must all be positive")
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    return tuple(dims)


def read_cfl(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a BART array as complex64 with BART's dimension order (memory-mapped, read-only)."""
    dims = read_cfl_dims(path)
    cfl = _base(path).with_suffix(".cfl")
    if not cfl.is_file():
        raise InputError(f"{cfl} does not exist (a BART array needs both .hdr and .cfl)")
    count = int(np.prod(dims))
    expected = count * np.dtype(np.complex64).itemsize
    actual = cfl.stat().st_size
    if actual != expected:
        raise InputError(f"{cfl} holds {actual} bytes but its header {dims} needs {expected}")
    return np.memmap(cfl, dtype=np.complex64, mode="r", shape=dims, order="F")


def write_cfl(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write a BART array (``.hdr`` + ``.cfl``), each atomically."""
    base = _base(path)
    array = np.asarray(array, dtype=np.complex64)
    dims = list(array.shape) + [1] * max(0, 16 - array.ndim)
    atomic_write_text(base.with_suffix(".hdr"), "# Dimensions\n" + " ".join(map(str, dims)) + "\n")
    with atomic_path(base.with_suffix(".cfl")) as tmp:
        array.ravel(order="F").tofile(tmp)


def cfl_to_kspace(array: np.ndarray) -> np.ndarray:
    """BART k-space ``(read, phase1[, phase2[, coils]])`` -> ours ``(slices, coils, H, W)``.

    Each ``phase2`` plane becomes one slice: right for 2-D acquisitions (``phase2 == 1``) and
    for 3-D data already inverse transformed along ``phase2``.
    """
    dims = list(array.shape) + [1] * max(0, 5 - array.ndim)
    if any(d != 1 for d in dims[MAPS_DIM:]):
        raise InputError(f"BART array with dimensions {tuple(array.shape)} has more than k-space and coil dimensions")
    data = np.asarray(array).reshape(dims[:4], order="F")
    # (read, phase1, phase2, coils) -> (phase2, coils, read, phase1)
    return np.ascontiguousarray(np.transpose(data, (2, 3, 0, 1))).astype(np.complex64, copy=False)
