"""Open any supported k-space file behind one interface.

- fastMRI HDF5 (``kspace`` ``(slices, coils, H, W)``; M4Raw files share this layout);
- ISMRMRD/MRD raw data (an HDF5 ``dataset`` group with ``xml`` and ``data``;
  :mod:`lfmri_core.io.mrd`, needs the optional ``ismrmrd`` package);
- SKM-TEA raw-data-track files (rank-5 hybrid ``kspace``; :mod:`lfmri_core.io.skmtea`);
- BART ``.cfl``/``.hdr`` arrays.

Every volume has ``info`` (:class:`~lfmri_core.io.fastmri_h5.VolumeInfo`), ``kspace(index)``
``(coils, H, W)`` complex64, ``target(index)``, ``target_volume()``, ``close()`` and is a
context manager. An image file (DICOM, NIfTI, PNG, ...) given instead is refused with one line
naming its format (:mod:`lfmri_core.io.sniff`).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from lfmri_core.errors import InputError
from lfmri_core.io.bart_cfl import BartVolume
from lfmri_core.io.fastmri_h5 import FastMRIVolume
from lfmri_core.io.mrd import MRDVolume, mrd_group
from lfmri_core.io.skmtea import SKMTEAVolume, is_skmtea
from lfmri_core.io.sniff import image_format, not_kspace_message

KSpaceVolume = FastMRIVolume | BartVolume | MRDVolume | SKMTEAVolume

FORMATS = ("fastmri", "mrd", "skm-tea", "bart")
"""The k-space formats :func:`volume_format` tells apart (M4Raw files are ``fastmri``)."""


def _analyze_pair(path: Path) -> bool:
    """True when ``path``'s ``.hdr`` is a binary Analyze/NIfTI-pair header, not BART's text."""
    return image_format(path.with_suffix(".hdr")) is not None


def volume_format(path: str | os.PathLike[str]) -> str:
    """Which reader :func:`open_volume` uses for ``path`` (one of :data:`FORMATS`).

    Raises
    ------
    InputError
        ``path`` is an image (DICOM, NIfTI, PNG, ...) rather than raw k-space; the message names
        the format. Other problems are left to the reader, which names them.
    """
    path = Path(path)
    if path.suffix in (".cfl", ".hdr"):
        if path.with_suffix(".hdr").is_file() and _analyze_pair(path):
            raise InputError(not_kspace_message(path.with_suffix(".hdr"), image_format(path.with_suffix(".hdr")) or ""))
        return "bart"
    if path.is_file():
        kind = image_format(path)
        if kind is not None:
            raise InputError(not_kspace_message(path, kind))
        try:
            if h5py.is_hdf5(path):
                with h5py.File(path, "r") as f:
                    if "kspace" not in f and mrd_group(f) is not None:
                        return "mrd"
                    if is_skmtea(f):
                        return "skm-tea"
        except (OSError, RuntimeError, KeyError, ValueError):
            pass  # a damaged file: FastMRIVolume names the damage
    return "fastmri"


def open_volume(path: str | os.PathLike[str], *, average: int | None = None,
                repetition: int | None = None, echo: int | None = None) -> KSpaceVolume:
    """Open ``path`` read-only with the reader its content asks for (:func:`volume_format`).

    Parameters
    ----------
    path
        The k-space file (a BART array by its ``.cfl`` or ``.hdr``).
    average, repetition
        MRD files only: keep this average / repetition instead of averaging all of them.
    echo
        SKM-TEA files only: which echo to read (default 0).
    """
    kind = volume_format(path)
    if kind != "mrd" and (average is not None or repetition is not None):
        raise InputError(f"{Path(path).name}: --average/--repetition select lines of ISMRMRD/MRD raw data; "
                         f"this is a {kind} file")
    if kind != "skm-tea" and echo is not None:
        raise InputError(f"{Path(path).name}: --echo selects an echo of an SKM-TEA file; this is a {kind} file")
    if kind == "bart":
        return BartVolume(path)
    if kind == "mrd":
        return MRDVolume(path, average=average, repetition=repetition)
    if kind == "skm-tea":
        return SKMTEAVolume(path, echo=echo or 0)
    return FastMRIVolume(path)


def volume_files(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The files :func:`open_volume` reads for ``path``: both ``.cfl`` and ``.hdr`` of a BART
    array, else ``path`` itself (the inputs to protect, :mod:`lfmri_core.io.protected`)."""
    path = Path(path)
    if path.suffix in (".cfl", ".hdr"):
        return (path.with_suffix(".cfl"), path.with_suffix(".hdr"))
    return (path,)
