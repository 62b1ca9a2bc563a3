"""DICOM export: an MR image series per reconstruction and the lesion boxes as a DICOM SR.

:func:`write_dicom_series` writes a volume ``(slices, rows, cols)`` as classic MR Image
Storage, one file per slice (``MR_0000.dcm``, ...), in a new study, series and frame of
reference (fresh UIDs on every export), as a derived image (``ImageType DERIVED\\SECONDARY``,
a derivation description naming the method, acceleration and mask):

- geometry from :class:`~lfmri_core.io.geometry.ImageGeometry`: Pixel Spacing, Slice Thickness,
  Spacing Between Slices, Image Orientation (Patient), Image Position (Patient) per slice;
- pixels: unsigned 16-bit integers, ``value = stored * RescaleSlope + RescaleIntercept`` with
  one slope per series (the volume's range over 65535 steps), so the values come back within
  half a slope; a window per slice;
- Series Description ``"<method> <acceleration>x <mask>"`` (for example ``"lfmri 4.00x random"``).

:func:`write_boxes_sr` writes the lesion boxes as a Comprehensive 3D SR document holding a
TID 1500 Measurement Report (highdicom): one TID 1410 planar ROI per box, a closed polyline in
the pixel matrix of the MR image of its slice (the stored frame, not the flipped fastMRI+
labelling frame: DICOM pixel coordinates put the top-left corner of the first pixel at
``(0, 0)``, so the box rows ``[row0, row1)`` and columns ``[col0, col1)`` are the corners
``(col0, row0)`` to ``(col1, row1)``), its label as the tracking identifier and finding type
"Lesion" (SNOMED CT 52988006). The SR references the image series, so a PACS viewer shows the
boxes on it.

pydicom and highdicom are optional dependencies (``pip install "lfmri-viewer[dicom]"``).
Every file is written atomically (:func:`~lfmri_core.io.atomic.atomic_path`), never over a
protected input.
"""

from __future__ import annotations

import datetime
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lfmri_core.errors import InputError, InputWarning
from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.atomic import atomic_path
from lfmri_core.io.geometry import ImageGeometry
from lfmri_core.io.protected import check_output

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
MANUFACTURER = "LF-MRI Viewer"
STORED_MAX = 65535
"""Largest stored pixel value (16 bits)."""

SR_FILE = "SR_boxes.dcm"


def _pydicom():
    try:
        import pydicom
    except ImportError:
        raise InputError('DICOM export needs pydicom and highdicom: pip install "lfmri-viewer[dicom]"') from None
    return pydicom


def _highdicom():
    try:
        import highdicom
    except ImportError:
        raise InputError('DICOM export needs pydicom and highdicom: pip install "lfmri-viewer[dicom]"') from None
    return highdicom


def new_uid() -> str:
    """A new DICOM UID (pydicom's generator)."""
    return _pydicom().uid.generate_uid()


@dataclass(frozen=True)
class DicomSeries:
    """What :func:`write_dicom_series` wrote.

    Attributes
    ----------
    files
        One file per slice, in slice order.
    slices
        The volume's slice index of each file (the source's numbering).
    study_uid, series_uid, frame_of_reference_uid
        The new UIDs of this export.
    datasets
        The written datasets (with pixel data), for an SR that references them.
    """

    files: tuple[Path, ...]
    slices: tuple[int, ...]
    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    datasets: tuple[Any, ...]


def series_description(method: str, acceleration: float | None, mask: str | None) -> str:
    """``"<method> <acceleration>x <mask>"``, cut to DICOM's 64 characters."""
    parts = [method]
    if acceleration is not None:
        parts.append(f"{acceleration:.2f}x")
    if mask:
        parts.append(mask)
    return " ".join(parts)[:64]


def _ds(value: float) -> str:
    """A decimal string (DICOM DS: at most 16 characters)."""
    text = f"{value:.10g}"
    return text if len(text) <= 16 else f"{value:.6g}"


def _scale(volume: np.ndarray) -> tuple[float, float]:
    """``(slope, intercept)`` mapping ``[0, 65535]`` onto the volume's range (0 included)."""
    low = min(float(volume.min()), 0.0)
    high = float(volume.max())
    slope = (high - low) / STORED_MAX if high > low else 1.0
    # Quantised with the values as written (DS keeps at most 16 characters), so that reading
    # applies exactly the scale the pixels were made with.
    return float(_ds(slope)), float(_ds(low))


def write_dicom_series(
    folder: str | os.PathLike[str],
    volume: np.ndarray,
    geometry: ImageGeometry,
    *,
    description: str,
    slices: Sequence[int] | None = None,
    derivation: str = "",
    attrs: Mapping[str, Any] | None = None,
    series_number: int = 1,
    study_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    prefix: str = "MR",
) -> DicomSeries:
    """Write ``volume`` ``(slices, rows, cols)`` as an MR image series in ``folder``.

    Parameters
    ----------
    folder
        Output folder (made if missing); files ``<prefix>_0000.dcm`` ... one per slice.
    volume
        Real, finite values (magnitudes), stored as scaled unsigned 16-bit integers.
    geometry
        Pixel spacing, slice spacing and orientation.
    description
        Series Description (see :func:`series_description`).
    slices
        The source's slice index of each plane (default ``0 .. n-1``): Instance Number is
        index + 1 and the positions are those of the full volume's slices.
    derivation
        Derivation Description: how the images were made.
    attrs
        Source attributes: ``patient_id`` and ``acquisition`` (Protocol Name) are used.
    series_number, study_uid, frame_of_reference_uid
        To put several series (reconstruction, error map) into one study and frame; new
        UIDs when None.
    prefix
        File name prefix.
    """
    _pydicom()
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid

    volume = np.asarray(volume)
    if volume.ndim != 3 or np.iscomplexobj(volume) or volume.size == 0:
        raise InputError(f"a DICOM export takes a real (slices, rows, cols) volume, got shape {volume.shape}")
    if not np.isfinite(volume).all():
        raise InputError("the volume to export as DICOM holds NaN or Inf")
    n = volume.shape[0]
    indices = tuple(range(n)) if slices is None else tuple(int(s) for s in slices)
    if len(indices) != n:
        raise InputError(f"{len(indices)} slice indices for a volume of {n} slices")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file; a DICOM export needs a folder")
    targets = [folder / f"{prefix}_{i:04d}.dcm" for i in range(n)]
    for target in targets:
        check_output(target)
    attrs = dict(attrs or {})
    full_shape = (max(indices) + 1, volume.shape[1], volume.shape[2])

    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    frame_uid = frame_of_reference_uid or generate_uid()
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    slope, intercept = _scale(volume)
    stored = np.clip(np.rint((volume - intercept) / slope), 0, STORED_MAX).astype(np.uint16)
    orientation = [_ds(v) for v in (*geometry.row_direction, *geometry.column_direction)]
    patient_id = str(attrs.get("patient_id") or "anonymous")[:64]

    datasets = []
    for plane, (index, target) in enumerate(zip(indices, targets, strict=True)):
        ds = Dataset()
        sop_uid = generate_uid()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.SOPClassUID = MR_IMAGE_STORAGE
        ds.SOPInstanceUID = sop_uid
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
        # Patient and study: anonymous unless the source names a patient id.
        ds.PatientName = "Anonymous^"
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = ""
        ds.StudyInstanceUID = study_uid
        ds.StudyDate, ds.StudyTime = date, time
        ds.ReferringPhysicianName = ""
        ds.StudyID = "1"
        ds.AccessionNumber = ""
        ds.StudyDescription = "LF-MRI reconstruction"
        ds.Modality = "MR"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description[:64]
        ds.SeriesDate, ds.SeriesTime = date, time
        ds.ContentDate, ds.ContentTime = date, time
        ds.Manufacturer = MANUFACTURER
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        if attrs.get("acquisition"):
            ds.ProtocolName = str(attrs["acquisition"])[:64]
        if derivation:
            ds.DerivationDescription = derivation[:1024]
        # MR Image module (type 1 and 2 attributes; the acquisition parameters are not known here).
        ds.ScanningSequence = "RM"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = ""
        ds.EchoTime = ""
        ds.EchoTrainLength = ""
        # Image plane.
        ds.PixelSpacing = [_ds(v) for v in geometry.pixel_spacing_mm]
        ds.SliceThickness = _ds(geometry.slice_thickness_mm)
        ds.SpacingBetweenSlices = _ds(geometry.slice_spacing_mm)
        ds.ImageOrientationPatient = orientation
        position = geometry.slice_position(index, full_shape)
        ds.ImagePositionPatient = [_ds(v) for v in position]
        ds.SliceLocation = _ds(float(position @ geometry.slice_direction))
        ds.InstanceNumber = index + 1
        # Pixels.
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleSlope = _ds(slope)
        ds.RescaleIntercept = _ds(intercept)
        ds.RescaleType = "US"
        low, high = float(volume[plane].min()), float(volume[plane].max())
        ds.WindowCenter = _ds((low + high) / 2)
        ds.WindowWidth = _ds(max(high - low, slope))
        ds.PixelData = stored[plane].tobytes()
        with atomic_path(target) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
        datasets.append(ds)
    return DicomSeries(tuple(targets), indices, study_uid, series_uid, frame_uid, tuple(datasets))


def write_boxes_sr(
    path: str | os.PathLike[str],
    series: DicomSeries,
    boxes: Sequence[LesionBox],
    *,
    series_number: int = 99,
) -> Path | None:
    """Write the lesion boxes on ``series`` as a Comprehensive 3D SR (TID 1500 planar ROIs).

    Boxes on slices the series lacks, and empty boxes (no pixel), are left out with an
    :class:`InputWarning`. Returns None (and writes nothing) when no box is left.
    """
    hd = _highdicom()
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code
    from pydicom.uid import generate_uid

    check_output(path)
    by_slice = dict(zip(series.slices, series.datasets, strict=True))
    groups = []
    for box in boxes:
        image = by_slice.get(box.slice)
        if image is None or box.is_empty:
            why = "covers no pixel" if image is not None else f"is on slice {box.slice}, which was not exported"
            warnings.warn(f"lesion box {box.label!r} on slice {box.slice} {why}: not in the DICOM SR",
                          InputWarning, stacklevel=2)
            continue
        corners = np.array([[box.col0, box.row0], [box.col1, box.row0], [box.col1, box.row1],
                            [box.col0, box.row1], [box.col0, box.row0]], dtype=np.float32)
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            graphic_data=corners,
            source_image=hd.sr.SourceImageForRegion(image.SOPClassUID, image.SOPInstanceUID),
        )
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=box.label[:64]),
            referenced_region=region,
            finding_type=Code("52988006", "SCT", "Lesion"),
        ))
    if not groups:
        return None
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(uid=generate_uid(), name=MANUFACTURER),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=Code("25056-3", "LN", "MR unspecified body region"),
        imaging_measurements=groups,
    )
    document = hd.sr.Comprehensive3DSR(
        evidence=list(series.datasets),
        content=report,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        series_description="lesion boxes",
    )
    with atomic_path(path) as tmp:
        document.save_as(tmp, enforce_file_format=True)
    return Path(path)


__all__ = ["MR_IMAGE_STORAGE", "SR_FILE", "DicomSeries", "new_uid", "series_description", "write_boxes_sr", "write_dicom_series"]
