"""Export a reconstructed volume (and its error map and CAM) as HDF5, NIfTI or DICOM.

One entry point for ``lfmri recon --out`` and the viewers' "Export volumes":

- ``h5``: fastMRI's ``reconstruction`` format, plus ``error_map`` and ``cam`` datasets when
  given, the sampling mask, the source's ``ismrmrd_header`` kept verbatim and the source's
  attributes (``acquisition``, ``max``, ``norm``, ``patient_id``...) beside ours (``method``,
  ``acceleration``, ``mask``, ``slices``, ``source``);
- ``nifti``: ``<name>.nii.gz`` (reconstruction), ``<name>_error.nii.gz``, ``<name>_cam.nii.gz``
  (:mod:`lfmri_core.io.nifti`);
- ``dicom``: a folder with one MR series per volume (``MR_*.dcm`` the reconstruction,
  ``ERROR_*.dcm``, ``CAM_*.dcm``) in one study and frame of reference, and the lesion boxes as
  an SR (``SR_boxes.dcm``) on the reconstruction series (:mod:`lfmri_core.io.dicom`).

The format follows ``fmt`` or else the name: ``.nii`` / ``.nii.gz`` is NIfTI, anything else
HDF5 (DICOM is asked for by name: its output is a folder). Geometry for NIfTI and DICOM comes
from the ISMRMRD header (:mod:`lfmri_core.io.geometry`); a volume without one is exported
with 1 mm defaults and an :class:`~lfmri_core.errors.InputWarning`. Every target is checked
(:func:`~lfmri_core.io.protected.check_output`) before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.geometry import ImageGeometry
from lfmri_core.io.nifti import is_nifti_path, nifti_sibling
from lfmri_core.io.protected import check_output

FORMATS = ("h5", "nifti", "dicom")

_DICOM_PREFIXES = {"reconstruction": "MR", "error": "ERROR", "cam": "CAM"}


def export_format(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """The format of an export to ``path``: ``fmt`` when given (checked against the name),
    else ``"nifti"`` for ``.nii``/``.nii.gz``, else ``"h5"``."""
    if fmt is None:
        return "nifti" if is_nifti_path(path) else "h5"
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "nifti" and not is_nifti_path(path):
        raise InputError(f"{path}: a NIfTI export needs a name ending in .nii.gz or .nii")
    if fmt != "nifti" and is_nifti_path(path):
        raise InputError(f"{path} ends in .nii(.gz), but the format asked for is {fmt}")
    if fmt == "dicom" and Path(path).is_file():
        raise InputError(f"{path} is a file; a DICOM export writes a folder of files")
    return fmt


@dataclass(frozen=True)
class ExportVolumes:
    """What to export: a reconstruction and what goes with it.

    Attributes
    ----------
    reconstruction
        Magnitudes ``(n, rh, rw)`` at the recon size, in the stored frame.
    slices
        The source's slice index of each plane.
    num_slices
        The source's slice count (positions of the planes within it).
    method, acceleration, mask_name
        For the description (DICOM Series Description, NIfTI ``descrip``, HDF5 attributes).
    error, cam
        ``|reconstruction - reference|`` and Net_c's CAM, ``(n, rh, rw)``, or None.
    boxes
        Lesion boxes (stored frame) for the DICOM SR.
    mask_pattern
        The sampling mask (stored in the HDF5 export).
    header_xml
        The source's ISMRMRD header (None: none, defaults with a warning for NIfTI/DICOM).
    source_attrs
        The source file's attributes.
    source
        The source file's name.
    extra_attrs
        More attributes for the HDF5 export (``weights``...).
    """

    reconstruction: np.ndarray
    slices: tuple[int, ...]
    num_slices: int
    method: str
    acceleration: float | None = None
    mask_name: str | None = None
    error: np.ndarray | None = None
    cam: np.ndarray | None = None
    boxes: tuple[LesionBox, ...] = ()
    mask_pattern: np.ndarray | None = None
    header_xml: str | None = None
    source_attrs: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    extra_attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        from lfmri_core.io.dicom import series_description

        return series_description(self.method, self.acceleration, self.mask_name)

    def volumes(self) -> dict[str, np.ndarray | None]:
        return {"reconstruction": self.reconstruction, "error": self.error, "cam": self.cam}


def export_targets(path: str | os.PathLike[str], fmt: str, *, num_planes: int, error: bool = True,
                   cam: bool = True, boxes: bool = True) -> list[Path]:
    """Every file an export of ``num_planes`` planes to ``path`` in ``fmt`` may write."""
    path = Path(path)
    if fmt == "h5":
        return [path]
    if fmt == "nifti":
        wanted = {"error": error, "cam": cam}
        return [path, *(nifti_sibling(path, name) for name, on in wanted.items() if on)]
    wanted = {"reconstruction": True, "error": error, "cam": cam}
    files = [path / f"{_DICOM_PREFIXES[name]}_{i:04d}.dcm" for name, on in wanted.items() if on
             for i in range(num_planes)]
    if boxes:
        from lfmri_core.io.dicom import SR_FILE

        files.append(path / SR_FILE)
    return files


def check_export(path: str | os.PathLike[str], fmt: str, *, num_planes: int, option: str | None = None,
                 **wanted: bool) -> None:
    """Refuse (:class:`InputError`) an export any of whose files would be a protected input;
    call it before the work whose result is exported."""
    for target in export_targets(path, fmt, num_planes=num_planes, **wanted):
        check_output(target, option=option)


def _h5_attrs(data: ExportVolumes) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in data.source_attrs.items():
        if isinstance(value, (str, bool, int, float, np.integer, np.floating)):
            kept[key] = value
    ours = {"method": data.method, "source": data.source, "slices": list(data.slices),
            "acceleration": data.acceleration, "mask": data.mask_name, **data.extra_attrs}
    kept.update({k: v for k, v in ours.items() if v is not None})
    return kept


def export_volumes(path: str | os.PathLike[str], data: ExportVolumes, fmt: str | None = None,
                   geometry: ImageGeometry | None = None) -> list[Path]:
    """Export ``data`` to ``path`` (see the module docstring); returns the files written.

    ``geometry`` overrides the header's (a reader that knows the scanner geometry).
    """
    fmt = export_format(path, fmt)
    n = data.reconstruction.shape[0]
    for name, volume in data.volumes().items():
        if volume is not None and np.shape(volume) != data.reconstruction.shape:
            raise InputError(f"the {name} volume has shape {np.shape(volume)}, the reconstruction "
                             f"{data.reconstruction.shape}")
    if len(data.slices) != n:
        raise InputError(f"{len(data.slices)} slice indices for {n} reconstructed slices")
    check_export(path, fmt, num_planes=n, error=data.error is not None, cam=data.cam is not None,
                 boxes=bool(data.boxes))
    if fmt == "h5":
        from lfmri_core.io.fastmri_h5 import write_reconstruction

        write_reconstruction(path, data.reconstruction, attrs=_h5_attrs(data), mask=data.mask_pattern,
                             header_xml=data.header_xml, extra={"error_map": data.error, "cam": data.cam})
        return [Path(path)]
    if geometry is None:
        geometry = ImageGeometry.from_header_xml(data.header_xml, source=data.source or "the volume")
    if fmt == "nifti":
        from lfmri_core.io.nifti import write_nifti_set

        return write_nifti_set(path, data.volumes(), geometry, description=data.description,
                               slices=data.slices, num_slices=data.num_slices)
    from lfmri_core.io.dicom import SR_FILE, new_uid, write_boxes_sr, write_dicom_series

    study, frame = new_uid(), new_uid()
    derivation = (f"{data.method} reconstruction of {data.source or 'k-space'}"
                  + (f", undersampled {data.acceleration:.2f}x" if data.acceleration is not None else "")
                  + (f" with a {data.mask_name} mask" if data.mask_name else "") + " (LF-MRI Viewer)")
    written: list[Path] = []
    recon_series = None
    for number, (name, volume) in enumerate(data.volumes().items(), start=1):
        if volume is None:
            continue
        label = {"reconstruction": "", "error": " error", "cam": " CAM"}[name]
        series = write_dicom_series(
            path, volume, geometry, description=f"{data.description}{label}"[:64], slices=data.slices,
            derivation=derivation + ("" if name == "reconstruction" else f": {name} map"), attrs=data.source_attrs,
            series_number=number, study_uid=study, frame_of_reference_uid=frame, prefix=_DICOM_PREFIXES[name])
        recon_series = recon_series or series
        written.extend(series.files)
    if data.boxes and recon_series is not None:
        sr = write_boxes_sr(Path(path) / SR_FILE, recon_series, data.boxes)
        if sr is not None:
            written.append(sr)
    return written


__all__ = ["FORMATS", "ExportVolumes", "check_export", "export_format", "export_targets", "export_volumes"]
