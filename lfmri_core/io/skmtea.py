"""SKM-TEA raw-data-track files (``files_recon_calib-24/*.h5``) read slice by slice.

A file holds (all complex64)

- ``kspace`` ``(Nx, Ny, Nz, echoes, coils)``: *hybrid* k-space of a 3-D qDESS scan, already
  inverse transformed along the readout ``x``; each ``x`` position is a 2-D k-space slice in
  the ``(ky, kz)`` plane;
- ``maps`` ``(Nx, Ny, Nz, coils, maps)``: JSENSE sensitivity maps (not read here);
- ``target`` ``(Nx, Ny, Nz, echoes, maps)``: the complex SENSE reconstruction.

:class:`SKMTEAVolume` offers the interface of :class:`~lfmri_core.io.fastmri_h5.FastMRIVolume`
with slices along ``x``: :meth:`~SKMTEAVolume.kspace` gives ``(coils, Ny, Nz)`` (``H = ky``,
``W = kz``: the masks of this program undersample ``kz``), :meth:`~SKMTEAVolume.target` the
magnitude of ``target`` for the chosen echo and the first map.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.budget import check_size
from lfmri_core.io.h5volume import HDF5_ERRORS, HDF5Volume
from lfmri_core.io.ismrmrd_header import EncodingInfo


def is_skmtea(file: h5py.File) -> bool:
    """True for an open HDF5 file laid out as SKM-TEA: a rank-5 ``kspace`` dataset beside
    ``maps`` or ``target`` (a rank-5 ``kspace`` alone is a malformed fastMRI file)."""
    node = file.get("kspace")
    return isinstance(node, h5py.Dataset) and node.ndim == 5 and ("maps" in file or "target" in file)


class SKMTEAVolume(HDF5Volume):
    """An SKM-TEA ``.h5`` file opened read-only, one ``x`` position per slice.

    Parameters
    ----------
    path
        The file.
    echo
        Which qDESS echo to read (0 or 1; default 0).
    """

    def __init__(self, path: str | os.PathLike[str], *, echo: int = 0) -> None:
        self.path = Path(path)
        where = self.path.name
        try:
            self._file = h5py.File(self.path, "r")
        except HDF5_ERRORS as exc:
            raise InputError(f"{self.path} cannot be read as HDF5 ({exc})") from None
        try:
            with self._reading("its structure"):
                kspace = self._file["kspace"]
                if not isinstance(kspace, h5py.Dataset) or kspace.ndim != 5:
                    raise InputError(f"{where}: 'kspace' is not an SKM-TEA array (Nx, Ny, Nz, echoes, coils)")
                if not np.issubdtype(kspace.dtype, np.complexfloating):
                    raise InputError(f"{where}: 'kspace' has dtype {kspace.dtype}; expected complex64")
                nx, ny, nz, echoes, coils = kspace.shape
                if min(kspace.shape) < 1:
                    raise InputError(f"{where}: 'kspace' is empty, shape {kspace.shape}")
                if not 0 <= echo < echoes:
                    raise InputError(f"{where}: echo {echo} does not exist (the file has {echoes} echoes)")
                check_size((coils, ny, nz), np.complex64, what=f"{where}: one k-space slice")
                check_size((nx, ny, nz), np.float32, what=f"{where}: the images")
                targets: tuple[str, ...] = ()
                target = self._file.get("target")
                if target is not None:
                    if (not isinstance(target, h5py.Dataset) or target.ndim != 5
                            or tuple(target.shape[:4]) != (nx, ny, nz, echoes) or target.shape[4] < 1):
                        raise InputError(f"{where}: 'target' has shape {getattr(target, 'shape', None)}; expected "
                                         f"({nx}, {ny}, {nz}, {echoes}, maps)")
                    targets = ("target",)
        except BaseException:
            self._file.close()
            raise
        self.echo = echo
        from lfmri_core.io.fastmri_h5 import VolumeInfo

        self.info = VolumeInfo(
            name=where,
            kspace_shape=(nx, coils, ny, nz),
            multicoil=coils > 1,
            encoding=EncodingInfo(encoded_shape=(ny, nz), recon_shape=(ny, nz), kspace_center=nz // 2,
                                  kspace_maximum=nz - 1),
            has_header=False,
            targets=targets,
            target_shape=(ny, nz) if targets else None,
            attrs={"format": "skm-tea", "echo": echo},
        )

    def kspace(self, index: int) -> np.ndarray:
        """k-space of the ``x = index`` plane, ``(coils, Ny, Nz)`` complex64."""
        index = self._check_index(index)
        with self._reading(f"the k-space of slice {index}"):
            plane = np.asarray(self._file["kspace"][index, :, :, self.echo, :], dtype=np.complex64)
        data = np.ascontiguousarray(np.moveaxis(plane, -1, 0))
        if not np.isfinite(data).all():
            raise InputError(f"{self.path.name}: k-space of slice {index} contains NaN or Inf")
        return data

    def _target_name(self, name: str | None) -> str | None:
        if name is None:
            return self.info.targets[0] if self.info.targets else None
        if name not in self.info.targets:
            raise InputError(f"{self.path.name} has no '{name}' dataset")
        return name

    def target(self, index: int, name: str | None = None) -> np.ndarray | None:
        """``|target|`` of the ``x = index`` plane (chosen echo, first map), ``(Ny, Nz)`` float32."""
        index = self._check_index(index)
        name = self._target_name(name)
        if name is None:
            return None
        with self._reading(f"'{name}' of slice {index}"):
            return np.abs(np.asarray(self._file[name][index, :, :, self.echo, 0])).astype(np.float32)

    def target_volume(self, name: str | None = None) -> np.ndarray | None:
        """``|target|`` of every plane, ``(Nx, Ny, Nz)`` float32."""
        name = self._target_name(name)
        if name is None:
            return None
        with self._reading(f"'{name}'"):
            return np.abs(np.asarray(self._file[name][:, :, :, self.echo, 0])).astype(np.float32)


__all__ = ["SKMTEAVolume", "is_skmtea"]
