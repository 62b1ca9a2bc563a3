"""fastMRI HDF5 volumes: lazy per-slice reading and writing of the same format.

A fastMRI file holds

- ``kspace``: complex64, ``(slices, coils, H, W)`` (multicoil) or ``(slices, H, W)``
  (singlecoil); H is the readout (fully sampled), W the phase encode;
- ``reconstruction_rss`` (and for singlecoil ``reconstruction_esc``): float32
  ``(slices, rh, rw)``, the centre-cropped target (train/val files only);
- ``ismrmrd_header``: ISMRMRD XML (see :mod:`lfmri_core.io.ismrmrd_header`);
- ``mask``: 1-D ``(W,)`` sampling mask, only in test/challenge files whose ``kspace`` is
  already undersampled (attributes ``acceleration``, ``num_low_frequency``);
- attributes ``acquisition``, ``max``, ``norm``, ``patient_id``.

:class:`FastMRIVolume` opens a file read-only and reads one slice at a time through h5py
hyperslabs, so reading slice 7 of a 40-slice volume touches only that slice's bytes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import h5py
import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.atomic import atomic_path
from lfmri_core.io.budget import check_size
from lfmri_core.io.h5volume import HDF5_ERRORS, HDF5Volume, error_reason
from lfmri_core.io.ismrmrd_header import EncodingInfo, build_header, parse_header

TARGET_NAMES = ("reconstruction_rss", "reconstruction_esc")


@dataclass(frozen=True)
class VolumeInfo:
    """What a fastMRI file holds, read from its metadata without touching the k-space data.

    Attributes
    ----------
    name
        File name (``file1000001.h5``); the mask seed convention uses it.
    kspace_shape
        Shape ``(slices, coils, H, W)``; singlecoil files report ``coils == 1``.
    multicoil
        False for singlecoil files (``kspace`` of rank 3).
    encoding
        Geometry from the ISMRMRD header, or one derived from the k-space shape (recon size
        320 x 320 capped to the image) when the file has no header.
    targets
        Names of the reconstruction targets present, shape ``(slices, rh, rw)`` each.
    mask
        The stored ``(W,)`` sampling mask of an undersampled (test) file, else None.
    attrs
        The file's attributes (``acquisition``, ``max``, ``norm``, ``patient_id``, ...).
    """

    name: str
    kspace_shape: tuple[int, int, int, int]
    multicoil: bool
    encoding: EncodingInfo
    has_header: bool
    targets: tuple[str, ...]
    target_shape: tuple[int, int] | None
    mask: np.ndarray | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def num_slices(self) -> int:
        return self.kspace_shape[0]

    @property
    def num_coils(self) -> int:
        return self.kspace_shape[1]

    @property
    def image_shape(self) -> tuple[int, int]:
        """k-space / full-FOV image shape ``(H, W)``."""
        return self.kspace_shape[2], self.kspace_shape[3]

    @property
    def recon_shape(self) -> tuple[int, int]:
        """Shape of the final (cropped) image: the stored target's, else the header's."""
        return self.target_shape or self.encoding.recon_shape

    @property
    def acquisition(self) -> str | None:
        value = self.attrs.get("acquisition")
        return None if value is None else str(value)

    @property
    def undersampled(self) -> bool:
        """True for test/challenge files whose k-space is already masked."""
        return self.mask is not None


def _attr_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _number_attr(value: Any) -> float | None:
    """A scalar attribute as a float, None when it is not one number (text, an array of several)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    array = np.asarray(value)
    if array.size != 1 or not (np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array)):
        return None
    return float(array.reshape(-1)[0])


class FastMRIVolume(HDF5Volume):
    """A fastMRI HDF5 file opened read-only, with lazy per-slice access.

    Use as a context manager::

        with FastMRIVolume("file1000001.h5") as vol:
            kspace = vol.kspace(7)            # (coils, H, W) complex64, only slice 7 read
            target = vol.target(7)            # (320, 320) float32 or None

    Opening checks what every later read relies on, so that a malformed or damaged file is
    one :class:`~lfmri_core.errors.InputError` (naming the file and the problem) here or at the
    read that meets the damage, never an h5py or numpy exception: the datasets' kinds, ranks
    and dtypes, the header, a stored mask and its attributes, and the declared sizes against
    the memory budget (:mod:`lfmri_core.io.budget`).

    Parameters
    ----------
    source
        Path of the file, or a binary file object (read through h5py's file-object driver).
    """

    def __init__(self, source: str | os.PathLike[str] | IO[bytes]) -> None:
        if hasattr(source, "read"):
            self.path = Path(getattr(source, "name", "volume.h5"))
            try:
                self._file = h5py.File(source, "r")
            except HDF5_ERRORS as exc:
                raise InputError(f"{self.path} cannot be read as HDF5 ({error_reason(exc)})") from None
        else:
            self.path = Path(source)
            if not self.path.exists():
                raise InputError(f"{self.path} does not exist")
            if self.path.is_dir():
                raise InputError(f"{self.path} is a folder, not a fastMRI .h5 file")
            if not h5py.is_hdf5(self.path):
                from lfmri_core.io.sniff import image_format, not_kspace_message

                kind = image_format(self.path)
                raise InputError(not_kspace_message(self.path, kind) if kind else f"{self.path} is not an HDF5 file")
            try:
                self._file = h5py.File(self.path, "r")
            except HDF5_ERRORS as exc:  # a truncated or damaged file: h5py's message names no file
                raise InputError(f"{self.path} cannot be read as HDF5 ({error_reason(exc)})") from None
        try:
            with self._reading("its structure"):
                self.info = self._read_info()
        except BaseException:
            self._file.close()
            raise

    def _dataset(self, name: str) -> h5py.Dataset | None:
        """The dataset ``name``, None when absent; InputError when it is a group."""
        if name not in self._file:
            return None
        node = self._file[name]
        if not isinstance(node, h5py.Dataset):
            raise InputError(f"{self.path.name}: '{name}' is a group, not a dataset")
        return node

    def _read_info(self) -> VolumeInfo:
        f, where = self._file, self.path.name
        if "kspace" not in f:
            from lfmri_core.io.sniff import mrd_group

            if mrd_group(f) is not None:
                raise InputError(f"{where} is ISMRMRD/MRD raw data, not a fastMRI file: open it with "
                                 "lfmri_core.io.volume.open_volume (as every lfmri command does)")
            raise InputError(f"{where} has no 'kspace' dataset (found: {', '.join(f.keys()) or 'nothing'})")
        ks = self._dataset("kspace")
        assert ks is not None
        if ks.ndim not in (3, 4):
            raise InputError(
                f"{where}: 'kspace' has shape {ks.shape} (rank {ks.ndim}); expected "
                "(slices, coils, H, W) or (slices, H, W)"
            )
        if not np.issubdtype(ks.dtype, np.complexfloating):
            raise InputError(f"{where}: 'kspace' has dtype {ks.dtype}; expected complex64")
        if min(ks.shape) < 1:
            raise InputError(f"{where}: 'kspace' is empty, shape {ks.shape}")
        multicoil = ks.ndim == 4
        shape = tuple(ks.shape) if multicoil else (ks.shape[0], 1, ks.shape[1], ks.shape[2])
        check_size(shape[1:], np.complex64, what=f"{where}: one k-space slice")

        # fastMRI's default target: RSS for multicoil, ESC for singlecoil.
        order = TARGET_NAMES if multicoil else TARGET_NAMES[::-1]
        targets = tuple(n for n in order if n in f)
        target_shape = None
        for name in targets:
            t = self._dataset(name)
            assert t is not None
            if t.ndim != 3 or t.shape[0] != shape[0] or min(t.shape) < 1:
                raise InputError(
                    f"{where}: '{name}' has shape {t.shape}; expected ({shape[0]}, rh, rw)"
                )
            if not (np.issubdtype(t.dtype, np.floating) or np.issubdtype(t.dtype, np.integer)):
                raise InputError(f"{where}: '{name}' has dtype {t.dtype}; expected float32 magnitudes")
            target_shape = target_shape or (t.shape[1], t.shape[2])

        header = self._dataset("ismrmrd_header")
        has_header = header is not None
        if header is not None:
            raw = header[()]
            if isinstance(raw, np.ndarray) and raw.size == 1:  # a one-element array of text
                raw = raw.reshape(-1)[0]
            encoding = parse_header(raw, source=where)
            if tuple(encoding.encoded_shape) != shape[2:]:
                # Some public files list an encoded matrix other than the stored grid: trust
                # the data and keep only the recon size and limits that still fit.
                encoding = EncodingInfo(
                    encoded_shape=shape[2:],
                    recon_shape=encoding.recon_shape,
                    encoded_fov_mm=encoding.encoded_fov_mm,
                    recon_fov_mm=encoding.recon_fov_mm,
                )
            left, right = encoding.padding
            if left >= right:
                raise InputError(
                    f"{where}: the ISMRMRD header's kspace_encoding_step_1 limits (center {encoding.kspace_center}, "
                    f"maximum {encoding.kspace_maximum}) leave no acquired column of {shape[3]}"
                )
        else:
            h, w = shape[2:]
            encoding = EncodingInfo(encoded_shape=(h, w), recon_shape=target_shape or (min(h, 320), min(w, 320)))
        recon_shape = target_shape or encoding.recon_shape
        check_size((shape[0], *recon_shape), np.float32, what=f"{where}: the images at the recon size")

        attrs = {}
        for key in f.attrs:
            try:
                attrs[key] = _attr_value(f.attrs[key])
            except (OSError, TypeError, ValueError):  # a type h5py cannot read: not one we use
                continue
        mask = None
        stored = self._dataset("mask")
        if stored is not None:
            if not (stored.dtype == bool or np.issubdtype(stored.dtype, np.integer)
                    or np.issubdtype(stored.dtype, np.floating)):
                raise InputError(f"{where}: 'mask' has dtype {stored.dtype}; expected a boolean (W,) mask")
            check_size((stored.size,), stored.dtype, what=f"{where}: 'mask'")
            mask = np.asarray(stored[()]).astype(bool).reshape(-1)
            if mask.shape[0] != shape[3]:
                raise InputError(
                    f"{where}: 'mask' has {mask.shape[0]} entries but k-space has {shape[3]} columns"
                )
            if not mask.any():
                raise InputError(f"{where}: the stored 'mask' samples no k-space column (all zero)")
            self._check_mask_attrs(attrs, shape[3])
        return VolumeInfo(
            name=self.path.name,
            kspace_shape=shape,  # type: ignore[arg-type]
            multicoil=multicoil,
            encoding=encoding,
            has_header=has_header,
            targets=targets,
            target_shape=target_shape,
            mask=mask,
            attrs=attrs,
        )

    def _check_mask_attrs(self, attrs: Mapping[str, Any], width: int) -> None:
        """The attributes that describe a stored mask, when present: ``acceleration`` >= 1 and
        ``num_low_frequency`` a whole number of columns."""
        where = self.path.name
        if "acceleration" in attrs:
            value = _number_attr(attrs["acceleration"])
            if value is None or not math.isfinite(value) or value < 1:
                raise InputError(f"{where}: attribute 'acceleration' is {attrs['acceleration']!r}; "
                                 "expected a number of at least 1")
        if "num_low_frequency" in attrs:
            value = _number_attr(attrs["num_low_frequency"])
            if value is None or not value.is_integer() or not 0 <= value <= width:
                raise InputError(f"{where}: attribute 'num_low_frequency' is {attrs['num_low_frequency']!r}; "
                                 f"expected a whole number of columns from 0 to {width}")

    def kspace(self, index: int) -> np.ndarray:
        """k-space of one slice, shape ``(coils, H, W)`` complex64 (coils = 1 for singlecoil)."""
        index = self._check_index(index)
        with self._reading(f"the k-space of slice {index}"):
            data = np.asarray(self._file["kspace"][index], dtype=np.complex64)
        if not self.info.multicoil:
            data = data[None]
        if not np.isfinite(data).all():
            raise InputError(f"{self.path.name}: k-space of slice {index} contains NaN or Inf")
        return data

    def target(self, index: int, name: str | None = None) -> np.ndarray | None:
        """Reference image of one slice, ``(rh, rw)`` float32, or None if the file has none.

        ``name`` picks ``reconstruction_rss`` or ``reconstruction_esc``; by default the first
        present (RSS for multicoil files).
        """
        index = self._check_index(index)
        name = name or (self.info.targets[0] if self.info.targets else None)
        if name is None:
            return None
        if name not in self.info.targets:
            raise InputError(f"{self.path.name} has no '{name}' dataset")
        with self._reading(f"'{name}' of slice {index}"):
            return np.asarray(self._file[name][index], dtype=np.float32)

    def target_volume(self, name: str | None = None) -> np.ndarray | None:
        """All reference slices, ``(slices, rh, rw)`` float32 (reads the whole target)."""
        name = name or (self.info.targets[0] if self.info.targets else None)
        if name is None:
            return None
        if name not in self.info.targets:
            raise InputError(f"{self.path.name} has no '{name}' dataset")
        with self._reading(f"'{name}'"):
            return np.asarray(self._file[name][()], dtype=np.float32)

    @property
    def header_xml(self) -> str | None:
        if not self.info.has_header:
            return None
        with self._reading("'ismrmrd_header'"):
            raw = self._file["ismrmrd_header"][()]
        if isinstance(raw, np.ndarray) and raw.size == 1:
            raw = raw.reshape(-1)[0]
        return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)


def write_volume(
    path: str | os.PathLike[str],
    kspace: np.ndarray,
    *,
    encoding: EncodingInfo,
    reconstruction_rss: np.ndarray | None = None,
    reconstruction_esc: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
    header_xml: str | None = None,
) -> Path:
    """Write a fastMRI-format HDF5 file atomically.

    Parameters
    ----------
    path
        Output file; written to a temporary file first, then renamed.
    kspace
        ``(slices, coils, H, W)`` or ``(slices, H, W)`` complex; stored as complex64,
        chunked one slice per chunk so per-slice reads stay cheap.
    encoding
        Geometry written into the ISMRMRD header (unless ``header_xml`` is given).
    reconstruction_rss, reconstruction_esc
        Optional targets ``(slices, rh, rw)``, stored float32.
    mask
        Optional ``(W,)`` mask for undersampled (test-style) files; with it the attributes
        ``acceleration`` and ``num_low_frequency`` should be passed in ``attrs``.
    attrs
        File attributes; ``max`` and ``norm`` are filled from the RSS target when absent.
    header_xml
        A header to store verbatim (for exports of files that had one).
    """
    kspace = np.asarray(kspace)
    if kspace.ndim not in (3, 4):
        raise InputError(f"k-space to write has rank {kspace.ndim}; expected 3 or 4")
    attrs = dict(attrs or {})
    if reconstruction_rss is not None:
        rss = np.asarray(reconstruction_rss, dtype=np.float32)
        attrs.setdefault("max", float(rss.max()))
        attrs.setdefault("norm", float(np.linalg.norm(rss)))
    num_coils = kspace.shape[1] if kspace.ndim == 4 else 1
    header_xml = header_xml or build_header(
        encoding, num_coils=num_coils, protocol_name=str(attrs.get("acquisition", ""))
    )
    chunks = (1, *kspace.shape[1:])
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("kspace", data=kspace.astype(np.complex64, copy=False), chunks=chunks)
            f.create_dataset("ismrmrd_header", data=np.bytes_(header_xml.encode("utf-8")))
            for name, target in (("reconstruction_rss", reconstruction_rss), ("reconstruction_esc", reconstruction_esc)):
                if target is not None:
                    t = np.asarray(target, dtype=np.float32)
                    f.create_dataset(name, data=t, chunks=(1, *t.shape[1:]))
            if mask is not None:
                f.create_dataset("mask", data=np.asarray(mask).astype(bool).reshape(-1))
            for key, value in attrs.items():
                f.attrs[key] = value
    return Path(path)


def write_reconstruction(
    path: str | os.PathLike[str],
    reconstruction: np.ndarray,
    *,
    attrs: Mapping[str, Any] | None = None,
    mask: np.ndarray | None = None,
    header_xml: str | None = None,
    extra: Mapping[str, np.ndarray | None] | None = None,
) -> Path:
    """Write reconstructions as fastMRI's submission format: dataset ``reconstruction``
    ``(slices, rh, rw)`` float32 (plus the mask used and attributes), atomically.

    ``header_xml``: the source's ISMRMRD header, kept verbatim as ``ismrmrd_header`` so the
    geometry survives. ``extra``: more ``(slices, rh, rw)`` volumes by dataset name (an
    ``error_map``, a ``cam``), stored float32; None entries are skipped.
    """
    recon = np.asarray(reconstruction, dtype=np.float32)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("reconstruction", data=recon, chunks=(1, *recon.shape[1:]))
            for name, volume in (extra or {}).items():
                if volume is not None:
                    data = np.asarray(volume, dtype=np.float32)
                    f.create_dataset(name, data=data, chunks=(1, *data.shape[1:]))
            if mask is not None:
                f.create_dataset("mask", data=np.asarray(mask).astype(bool))
            if header_xml is not None:
                f.create_dataset("ismrmrd_header", data=np.bytes_(header_xml.encode("utf-8")))
            for key, value in (attrs or {}).items():
                f.attrs[key] = value
    return Path(path)
