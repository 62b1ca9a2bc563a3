"""NIfTI-1 export of reconstructed volumes (``.nii`` / ``.nii.gz``) through nibabel.

A volume ``(slices, rows, cols)`` in the stored frame is written as the NIfTI array
``(rows, cols, slices)`` (``volume.transpose(1, 2, 0)``), float32, with the affine of
:meth:`~lfmri_core.io.geometry.ImageGeometry.nifti_affine` as both qform and sform (scanner
coordinates, RAS mm): the voxel sizes are the header's pixel spacing and slice spacing.

nibabel is an optional dependency (``pip install "lfmri-viewer[nifti]"``). Files are written
atomically (:func:`~lfmri_core.io.atomic.atomic_path`), never over a protected input.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.atomic import atomic_path
from lfmri_core.io.geometry import ImageGeometry
from lfmri_core.io.protected import check_output

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def _nibabel():
    try:
        import nibabel
    except ImportError:
        raise InputError('NIfTI export needs nibabel: pip install "lfmri-viewer[nifti]" (or pip install nibabel)') from None
    return nibabel


def is_nifti_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` ends in ``.nii`` or ``.nii.gz``."""
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def nifti_sibling(path: str | os.PathLike[str], suffix: str) -> Path:
    """``recon.nii.gz`` -> ``recon_<suffix>.nii.gz`` (the extra volumes of one export)."""
    path = Path(path)
    name = path.name
    for ending in NIFTI_SUFFIXES:
        if name.lower().endswith(ending):
            return path.with_name(f"{name[: -len(ending)]}_{suffix}{name[-len(ending):]}")
    raise InputError(f"{path} is not a NIfTI file name: it must end in .nii.gz or .nii")


def check_slice_steps(slices: Sequence[int]) -> None:
    """:class:`InputError` unless ``slices`` are increasing and evenly spaced: a NIfTI volume
    has one slice step."""
    chosen = [int(s) for s in slices]
    steps = {b - a for a, b in zip(chosen, chosen[1:])}
    if not chosen or len(steps) > 1 or (steps and min(steps) <= 0):
        raise InputError(f"a NIfTI volume needs evenly spaced, increasing slices; got {chosen} "
                         "(export every slice, a range START:STOP, or use --format h5 or dicom)")


def write_nifti(
    path: str | os.PathLike[str],
    volume: np.ndarray,
    geometry: ImageGeometry,
    *,
    description: str = "",
    slices: Sequence[int] | None = None,
    num_slices: int | None = None,
) -> Path:
    """Write ``volume`` ``(slices, rows, cols)`` as a NIfTI-1 file, atomically.

    Parameters
    ----------
    path
        Ends in ``.nii.gz`` (gzip-compressed) or ``.nii``.
    volume
        Real values (magnitudes, an error map, a CAM), stored float32.
    geometry
        Where the voxels lie (:class:`~lfmri_core.io.geometry.ImageGeometry`).
    description
        Up to 80 characters kept in the header's ``descrip`` field (longer is cut).
    slices, num_slices
        The source's slice index of each plane (evenly spaced; default ``0 .. n-1``) and the
        source's slice count (default: just enough for them): the planes are placed where they
        lie in the whole volume.
    """
    nib = _nibabel()
    path = Path(path)
    if not is_nifti_path(path):
        raise InputError(f"{path} is not a NIfTI file name: it must end in .nii.gz or .nii")
    volume = np.asarray(volume)
    if volume.ndim != 3 or np.iscomplexobj(volume):
        raise InputError(f"a NIfTI export takes a real (slices, rows, cols) volume, got shape {volume.shape} "
                         f"dtype {volume.dtype}")
    data = np.ascontiguousarray(volume.transpose(1, 2, 0), dtype=np.float32)
    chosen = list(range(volume.shape[0])) if slices is None else [int(i) for i in slices]
    if len(chosen) != volume.shape[0]:
        raise InputError(f"{len(chosen)} slice indices for a volume of {volume.shape[0]} slices")
    total = max(num_slices or 0, max(chosen) + 1)
    affine = geometry.nifti_affine((total, volume.shape[1], volume.shape[2]), chosen)
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code="scanner")
    image.set_sform(affine, code="scanner")
    image.header["descrip"] = description.encode("ascii", errors="replace")[:79]
    payload = image.to_bytes()
    if str(path).lower().endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    return path


def write_nifti_set(
    path: str | os.PathLike[str],
    volumes: Mapping[str, np.ndarray | None],
    geometry: ImageGeometry,
    *,
    description: str = "",
    slices: Sequence[int] | None = None,
    num_slices: int | None = None,
) -> list[Path]:
    """Write several volumes of one export: the first under ``path``, each other ``name`` as
    :func:`nifti_sibling` ``(path, name)``; ``None`` volumes are skipped. Every target is
    checked before anything is written. ``slices``, ``num_slices``: as :func:`write_nifti`."""
    targets = []
    for n, (name, volume) in enumerate(volumes.items()):
        if volume is not None:
            targets.append((Path(path) if n == 0 else nifti_sibling(path, name), name, volume))
    for target, _, _ in targets:
        check_output(target)
    return [write_nifti(target, volume, geometry, description=f"{description} {name}".strip(), slices=slices,
                        num_slices=num_slices)
            for target, name, volume in targets]


__all__ = ["NIFTI_SUFFIXES", "check_slice_steps", "is_nifti_path", "nifti_sibling", "write_nifti", "write_nifti_set"]
