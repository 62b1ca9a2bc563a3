"""BART ``.cfl`` / ``.hdr`` arrays.

``name.hdr`` is a text file: a comment line (``# Dimensions``) then the dimensions separated by
spaces; ``name.cfl`` holds complex64 values in Fortran (column-major) order. BART's dimension
order is ``read, phase1, phase2, coils, maps, ...``, so a 2-D multi-coil k-space is
``(H, W, 1, C)``. :func:`cfl_to_kspace` turns that into our ``(slices, coils, H, W)``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.atomic import atomic_path, atomic_write_text
from lfmri_core.io.budget import check_size
from lfmri_core.io.protected import check_output

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
    expected = math.prod(dims) * np.dtype(np.complex64).itemsize  # Python integers: no overflow
    actual = cfl.stat().st_size
    if actual != expected:
        raise InputError(f"{cfl} holds {actual} bytes but its header {dims} needs {expected}")
    return np.memmap(cfl, dtype=np.complex64, mode="r", shape=dims, order="F")


def write_cfl(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write a BART array (``.hdr`` + ``.cfl``), each atomically."""
    base = _base(path)
    for part in (".hdr", ".cfl"):  # both refused or neither written
        check_output(base.with_suffix(part))
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


class BartVolume:
    """A BART k-space array opened like a :class:`~lfmri_core.io.fastmri_h5.FastMRIVolume`.

    The array (``read, phase1, phase2, coils``) is memory-mapped read-only; each ``phase2``
    plane is a slice. There is no header or reference image: the recon size is the full
    k-space grid and :meth:`target` returns None.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from lfmri_core.io.fastmri_h5 import VolumeInfo
        from lfmri_core.io.ismrmrd_header import EncodingInfo

        self.path = _base(path)
        self._array = read_cfl(self.path)
        try:
            dims = list(self._array.shape) + [1] * max(0, 5 - self._array.ndim)
            if any(d != 1 for d in dims[MAPS_DIM:]):
                raise InputError(f"{self.path.name}: BART array {tuple(self._array.shape)} has more than k-space and coil dimensions")
            read, phase1, phase2, coils = dims[:4]
            # Memory-mapped, so only what is read counts: one slice, and the images of all of them.
            check_size((coils, read, phase1), np.complex64, what=f"{self.path.name}: one k-space slice")
            check_size((phase2, read, phase1), np.float32, what=f"{self.path.name}: the images")
        except BaseException:
            self.close()
            raise
        self.info = VolumeInfo(
            name=self.path.name,
            kspace_shape=(phase2, coils, read, phase1),
            multicoil=coils > 1,
            encoding=EncodingInfo(encoded_shape=(read, phase1), recon_shape=(read, phase1)),
            has_header=False,
            targets=(),
            target_shape=None,
        )

    def __enter__(self) -> BartVolume:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        mm = getattr(self._array, "_mmap", None)
        if mm is not None:
            mm.close()

    def __len__(self) -> int:
        return self.info.num_slices

    def kspace(self, index: int) -> np.ndarray:
        """k-space of one ``phase2`` plane, ``(coils, read, phase1)`` complex64."""
        n = self.info.num_slices
        if not -n <= index < n:
            raise InputError(f"{self.path.name}: slice {index} does not exist (volume has {n} slices)")
        dims = list(self._array.shape) + [1] * max(0, 4 - self._array.ndim)
        plane = np.asarray(self._array.reshape(dims[:4], order="F")[:, :, index % n, :])
        data = np.ascontiguousarray(np.moveaxis(plane, -1, 0), dtype=np.complex64)
        if not np.isfinite(data).all():
            raise InputError(f"{self.path.name}: k-space of slice {index % n} contains NaN or Inf")
        return data

    def target(self, index: int, name: str | None = None) -> None:
        return None

    def target_volume(self, name: str | None = None) -> None:
        return None
