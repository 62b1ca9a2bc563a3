"""What kind of file a path is, by its first bytes (magic numbers) and its name.

Used before a k-space reader opens a file, so that an image file given where raw data is
expected gets one line naming its format instead of "not an HDF5 file": a reconstructed image
(DICOM, NIfTI, PNG, ...) has lost the phase and the coil data, so k-space cannot be recovered
from it.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import h5py

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (128, b"DICM", "a DICOM image"),
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"II*\x00", "a TIFF image"),
    (0, b"MM\x00*", "a TIFF image"),
    (0, b"GIF87a", "a GIF image"),
    (0, b"GIF89a", "a GIF image"),
    (0, b"BM", "a BMP image"),
    (0, b"NRRD000", "an NRRD image"),
    (0, b"\x93NUMPY", "a NumPy array (.npy), not a k-space format this program reads"),
    (0, b"MATLAB 5.0 MAT-file", "a MATLAB 5 .mat file, not a k-space format this program reads"),
)


def _nifti_kind(head: bytes) -> str | None:
    """NIfTI-1 / NIfTI-2 / Analyze 7.5 from the first bytes of a header (either byte order)."""
    if len(head) >= 348:
        for order in "<>":
            (size,) = struct.unpack(order + "i", head[:4])
            if size == 348:
                magic = head[344:348]
                if magic in (b"n+1\x00", b"ni1\x00"):
                    return "a NIfTI-1 image"
                return "an Analyze 7.5 image header"
            if size == 540 and head[4:8] in (b"n+2\x00", b"ni2\x00"):
                return "a NIfTI-2 image"
    return None


def image_format(path: str | os.PathLike[str]) -> str | None:
    """The image format of ``path`` in words (``"a DICOM image"``), None when it is not one of
    the image formats known here (or cannot be read). Never raises."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(544)
    except OSError:
        return None
    if head.startswith(HDF5_SIGNATURE):
        return None
    if head[:2] == b"\x1f\x8b":  # gzip: a .nii.gz (or any gzipped image) is judged by its content
        try:
            with gzip.open(path, "rb") as f:
                inner = f.read(544)
        except (OSError, EOFError, zlib.error):
            inner = b""
        kind = _nifti_kind(inner)
        if kind is not None:
            return kind + " (gzip)"
        return "a gzip-compressed NIfTI image" if path.name.lower().endswith(".nii.gz") else None
    kind = _nifti_kind(head)
    if kind is not None:
        return kind
    for offset, magic, name in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return name
    text = head[:64].lstrip()
    if text.startswith((b"ObjectType", b"NDims")) and path.suffix.lower() in (".mha", ".mhd"):
        return "a MetaImage image"
    if path.suffix.lower() == ".dcm":  # DICOM without the 128-byte preamble
        return "a DICOM image"
    return None


def not_kspace_message(path: str | os.PathLike[str], kind: str) -> str:
    """The one-line error for an image given where k-space is expected."""
    if "not a k-space format" in kind:
        return f"{Path(path).name} is {kind}; open raw k-space (fastMRI or ISMRMRD/MRD .h5, BART .cfl/.hdr)"
    return (f"{Path(path).name} is {kind}, not raw k-space: k-space cannot be recovered from reconstructed images "
            "(open the raw data: fastMRI or ISMRMRD/MRD .h5, SKM-TEA/M4Raw .h5, BART .cfl/.hdr)")


__all__ = ["HDF5_SIGNATURE", "image_format", "mrd_group", "not_kspace_message"]


def mrd_group(file: h5py.File) -> str | None:
    """The name of the MRD dataset group in an open HDF5 file (``dataset`` by convention; else
    the only top-level group holding ``xml`` or ``data``), None when the file is not MRD."""
    candidates = [name for name, node in file.items()
                  if isinstance(node, h5py.Group) and ("xml" in node or "data" in node)]
    if "dataset" in candidates:
        return "dataset"
    return candidates[0] if len(candidates) == 1 else None
