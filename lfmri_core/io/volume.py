"""Open any supported k-space file: fastMRI HDF5 (``.h5``) or BART (``.cfl``/``.hdr``)."""

from __future__ import annotations

import os
from pathlib import Path

from lfmri_core.io.bart_cfl import BartVolume
from lfmri_core.io.fastmri_h5 import FastMRIVolume

KSpaceVolume = FastMRIVolume | BartVolume


def open_volume(path: str | os.PathLike[str]) -> KSpaceVolume:
    """Open ``path`` read-only by its suffix: ``.cfl``/``.hdr`` as BART, anything else as
    fastMRI HDF5 (which checks the file really is HDF5)."""
    if Path(path).suffix in (".cfl", ".hdr"):
        return BartVolume(path)
    return FastMRIVolume(path)


def volume_files(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The files :func:`open_volume` reads for ``path``: both ``.cfl`` and ``.hdr`` of a BART
    array, else ``path`` itself (the inputs to protect, :mod:`lfmri_core.io.protected`)."""
    path = Path(path)
    if path.suffix in (".cfl", ".hdr"):
        return (path.with_suffix(".cfl"), path.with_suffix(".hdr"))
    return (path,)
