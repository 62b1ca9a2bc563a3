"""NIfTI and DICOM export: geometry from the ISMRMRD header, pixel data, the boxes SR, and the
HDF5 export keeping the header; read back with the formats' own libraries (nibabel, pydicom,
highdicom)."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom import config as dicom_config
from pydicom.pixels import apply_modality_lut

from lfmri_core.errors import InputError, InputWarning
from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.dicom import write_boxes_sr, write_dicom_series
from lfmri_core.io.export import ExportVolumes, export_format, export_volumes
from lfmri_core.io.geometry import DEFAULT_SPACING_MM, ImageGeometry
from lfmri_core.io.ismrmrd_header import EncodingInfo, build_header
from lfmri_core.io.nifti import nifti_sibling, write_nifti
from lfmri_core.io.protected import protect_inputs

# Anisotropic on purpose (rows 0.5 mm, columns 0.75 mm, 3.5 mm slices) and not square (32 x 24),
# so that a swap of rows and columns anywhere shows.
ENCODING = EncodingInfo(encoded_shape=(64, 48), recon_shape=(32, 24), encoded_fov_mm=(32.0, 36.0, 4.0),
                        recon_fov_mm=(16.0, 18.0, 3.5), kspace_center=23, kspace_maximum=45)
SHAPE = (5, 32, 24)


@pytest.fixture
def geometry() -> ImageGeometry:
    return ImageGeometry.from_header_xml(build_header(ENCODING, num_coils=4))


@pytest.fixture
def volume(rng: np.random.Generator) -> np.ndarray:
    return (rng.random(SHAPE, dtype=np.float32) * 7.5).astype(np.float32)


@pytest.fixture(autouse=True)
def strict_dicom(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydicom checks every value it writes against its VR (length, characters) and raises."""
    monkeypatch.setattr(dicom_config.settings, "writing_validation_mode", dicom_config.RAISE)


def test_geometry_from_header(geometry: ImageGeometry) -> None:
    assert geometry.pixel_spacing_mm == (0.5, 0.75)  # reconSpace fov / matrix: x (rows), y (columns)
    assert geometry.slice_thickness_mm == geometry.slice_spacing_mm == 3.5
    assert geometry.from_header
    lps = geometry.voxel_to_patient(SHAPE)
    # One step along each index moves by that axis' spacing; the volume is centred on the isocentre.
    assert np.allclose(np.linalg.norm(lps[:3, :3], axis=0), [3.5, 0.5, 0.75])
    centre = lps @ np.array([(SHAPE[0] - 1) / 2, (SHAPE[1] - 1) / 2, (SHAPE[2] - 1) / 2, 1.0])
    assert np.allclose(centre[:3], 0.0)


def test_geometry_falls_back_to_the_encoded_fov() -> None:
    encoding = EncodingInfo((64, 48), (32, 24), encoded_fov_mm=(32.0, 36.0, 4.0))
    geometry = ImageGeometry.from_encoding(encoding)
    assert geometry.pixel_spacing_mm == (0.5, 0.75) and geometry.slice_thickness_mm == 4.0


@pytest.mark.parametrize("encoding", [None, EncodingInfo((64, 48), (32, 24))], ids=["no header", "no fov"])
def test_geometry_without_header_is_1mm_with_a_warning(encoding: EncodingInfo | None) -> None:
    with pytest.warns(InputWarning, match="default geometry"):
        geometry = ImageGeometry.from_encoding(encoding, source="x.cfl")
    assert geometry.pixel_spacing_mm == (DEFAULT_SPACING_MM, DEFAULT_SPACING_MM)
    assert geometry.slice_spacing_mm == DEFAULT_SPACING_MM and not geometry.from_header


def test_nifti_round_trip(tmp_path: Path, volume: np.ndarray, geometry: ImageGeometry) -> None:
    path = write_nifti(tmp_path / "r.nii.gz", volume, geometry, description="zero-filled 4.00x random")
    image = nib.load(path)
    assert image.header.get_zooms() == pytest.approx((0.5, 0.75, 3.5))
    assert image.header.get_xyzt_units() == ("mm", "unknown")
    assert image.get_data_dtype() == np.float32
    data = np.asarray(image.dataobj)
    assert data.shape == (32, 24, 5)
    assert np.array_equal(data.transpose(2, 0, 1), volume)
    assert np.allclose(image.affine, image.get_qform()) and image.header["qform_code"] == 1
    # Voxel (row, col, slice) lies where the DICOM geometry puts it (RAS = LPS with x, y negated).
    for k, r, c in [(0, 0, 0), (4, 31, 23), (2, 5, 17)]:
        ras = image.affine @ np.array([r, c, k, 1.0])
        lps = geometry.voxel_to_patient(SHAPE) @ np.array([k, r, c, 1.0])
        assert np.allclose(ras[:3], lps[:3] * [-1, -1, 1])
    assert image.header["descrip"].tobytes().startswith(b"zero-filled 4.00x random")


def test_nifti_of_some_slices_sits_where_they_lie(tmp_path: Path, volume: np.ndarray, geometry: ImageGeometry) -> None:
    whole = nib.load(write_nifti(tmp_path / "all.nii", volume, geometry))
    part = nib.load(write_nifti(tmp_path / "part.nii", volume[1:5:2], geometry, slices=[1, 3], num_slices=5))
    assert part.header.get_zooms() == pytest.approx((0.5, 0.75, 7.0))
    assert np.allclose(part.affine @ [3, 4, 1, 1], whole.affine @ [3, 4, 3, 1])
    with pytest.raises(InputError, match="evenly spaced"):
        write_nifti(tmp_path / "bad.nii", volume[:3], geometry, slices=[0, 1, 4])


def test_nifti_needs_a_nifti_name_and_nibabel(tmp_path: Path, volume: np.ndarray, geometry: ImageGeometry,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match=r"\.nii\.gz"):
        write_nifti(tmp_path / "r.h5", volume, geometry)
    assert nifti_sibling(tmp_path / "r.nii.gz", "cam") == tmp_path / "r_cam.nii.gz"
    monkeypatch.setitem(sys.modules, "nibabel", None)
    with pytest.raises(InputError, match="pip install"):
        write_nifti(tmp_path / "r.nii.gz", volume, geometry)


def test_dicom_series_geometry_and_pixels(tmp_path: Path, volume: np.ndarray, geometry: ImageGeometry) -> None:
    series = write_dicom_series(tmp_path / "dcm", volume, geometry, description="lfmri 4.00x random",
                                derivation="test", attrs={"patient_id": "p1", "acquisition": "CORPD_FBK"})
    assert len(series.files) == 5
    read = [pydicom.dcmread(f) for f in series.files]
    slope = float(read[0].RescaleSlope)
    assert slope == pytest.approx(volume.max() / 65535, rel=1e-9)
    for k, ds in enumerate(read):
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4" and ds.Modality == "MR"
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
        assert ds.SeriesDescription == "lfmri 4.00x random" and ds.ProtocolName == "CORPD_FBK"
        assert ds.PatientID == "p1" and ds.SeriesInstanceUID == series.series_uid
        assert [float(v) for v in ds.PixelSpacing] == [0.5, 0.75]
        assert float(ds.SliceThickness) == 3.5 and float(ds.SpacingBetweenSlices) == 3.5
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert np.allclose([float(v) for v in ds.ImagePositionPatient], geometry.slice_position(k, SHAPE))
        assert (ds.Rows, ds.Columns) == (32, 24) and ds.InstanceNumber == k + 1
        values = apply_modality_lut(ds.pixel_array, ds)
        # Half a quantisation step, plus the float32 rounding of the values compared.
        assert np.abs(values - volume[k]).max() <= slope / 2 + np.finfo(np.float32).eps * volume.max()
    # Adjacent slices are one slice spacing apart along the normal of the orientation.
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in read])
    assert np.allclose(np.diff(positions, axis=0), [0.0, 0.0, 3.5])
    assert len({ds.SOPInstanceUID for ds in read}) == 5
    # highdicom accepts the series as one consistent MR acquisition (its legacy conversion checks
    # the modules, the geometry and the pixel description of every instance).
    enhanced = hd.legacy.LegacyConvertedEnhancedMRImage(
        read, series_instance_uid=pydicom.uid.generate_uid(), series_number=9,
        sop_instance_uid=pydicom.uid.generate_uid(), instance_number=1)
    assert int(enhanced.NumberOfFrames) == 5
    # A second export gets new UIDs.
    again = write_dicom_series(tmp_path / "dcm2", volume, geometry, description="lfmri")
    assert {again.study_uid, again.series_uid, again.frame_of_reference_uid}.isdisjoint(
        {series.study_uid, series.series_uid, series.frame_of_reference_uid})


def test_sr_boxes_reference_the_series_in_the_stored_frame(tmp_path: Path, volume: np.ndarray,
                                                           geometry: ImageGeometry) -> None:
    # fastMRI+ boxes live in the up/down flipped frame: (x, y, w, h) = (3, 4, 6, 7) on a
    # 32-row image covers the stored rows 32 - 4 - 7 = 21 to 28.
    flipped = LesionBox.from_labelling_frame(slice=2, label="Meniscus Tear", x=3, y=4, width=6, height=7,
                                             frame_shape=(32, 24))
    assert (flipped.row0, flipped.row1, flipped.col0, flipped.col1) == (21, 28, 3, 9)
    boxes = [flipped, LesionBox(4, "Joint Effusion", 0, 5, 10, 24)]
    series = write_dicom_series(tmp_path / "dcm", volume, geometry, description="zf")
    path = write_boxes_sr(tmp_path / "dcm" / "SR.dcm", series, boxes)
    assert path is not None
    sr = hd.sr.srread(path)
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert sr.StudyInstanceUID == series.study_uid and sr.PatientID == series.datasets[0].PatientID
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.SeriesInstanceUID == series.series_uid
    groups = sr.content.get_planar_roi_measurement_groups()
    assert [str(g.tracking_identifier) for g in groups] == ["Meniscus Tear", "Joint Effusion"]
    images = {ds.SOPInstanceUID: ds for ds in (pydicom.dcmread(f) for f in series.files)}
    for group, box in zip(groups, boxes, strict=True):
        region = group.roi
        assert region.GraphicType == "POLYLINE"
        image = images[region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID]
        assert image.InstanceNumber == box.slice + 1
        corners = np.asarray(region.value)  # (column, row), pixel edges at integers
        assert corners[:, 0].min() == box.col0 and corners[:, 0].max() == box.col1
        assert corners[:, 1].min() == box.row0 and corners[:, 1].max() == box.row1
        # The region outlines the box's pixels on the referenced image, as stored.
        values = apply_modality_lut(image.pixel_array, image)
        inside = values[int(corners[:, 1].min()):int(corners[:, 1].max()), int(corners[:, 0].min()):int(corners[:, 0].max())]
        expected = volume[box.slice, box.row0:box.row1, box.col0:box.col1]
        assert np.abs(inside - expected).max() <= float(image.RescaleSlope)


def test_sr_leaves_out_boxes_it_cannot_place(tmp_path: Path, volume: np.ndarray, geometry: ImageGeometry) -> None:
    series = write_dicom_series(tmp_path / "dcm", volume[:2], geometry, description="zf", slices=[3, 4])
    with pytest.warns(InputWarning, match="not exported"):
        assert write_boxes_sr(tmp_path / "dcm" / "SR.dcm", series, [LesionBox(0, "x", 1, 2, 1, 2)]) is None
    assert not (tmp_path / "dcm" / "SR.dcm").exists()


def _data(volume: np.ndarray, **kwargs) -> ExportVolumes:
    return ExportVolumes(reconstruction=volume, slices=tuple(range(volume.shape[0])), num_slices=volume.shape[0],
                         method="lfmri", acceleration=4.0, mask_name="random", **kwargs)


def test_export_formats(tmp_path: Path, volume: np.ndarray) -> None:
    assert export_format("a.nii.gz") == export_format("a.NII") == "nifti"
    assert export_format("a.h5") == export_format("a") == "h5"
    assert export_format(tmp_path / "folder", "dicom") == "dicom"
    with pytest.raises(InputError, match="format"):
        export_format("a.h5", "png")
    with pytest.raises(InputError, match=r"\.nii"):
        export_format("a.h5", "nifti")
    header = build_header(ENCODING, num_coils=4)
    data = _data(volume, error=volume / 3, cam=np.clip(volume / 8, 0, 1), header_xml=header,
                 source_attrs={"acquisition": "CORPD_FBK", "max": 7.5, "patient_id": "p1"},
                 boxes=(LesionBox(1, "Meniscus Tear", 2, 6, 3, 9),), mask_pattern=np.ones(48, bool))
    h5_files = export_volumes(tmp_path / "r.h5", data)
    with h5py.File(h5_files[0]) as f:
        assert set(f) == {"reconstruction", "error_map", "cam", "mask", "ismrmrd_header"}
        assert f["ismrmrd_header"][()].decode() == header  # kept verbatim: the geometry survives
        assert f.attrs["acquisition"] == "CORPD_FBK" and f.attrs["patient_id"] == "p1"
        assert f.attrs["method"] == "lfmri" and f.attrs["acceleration"] == 4.0
        assert np.array_equal(f["error_map"][()], volume / 3)
    nifti = export_volumes(tmp_path / "r.nii.gz", data)
    assert [p.name for p in nifti] == ["r.nii.gz", "r_error.nii.gz", "r_cam.nii.gz"]
    assert np.allclose(np.asarray(nib.load(nifti[2]).dataobj).transpose(2, 0, 1), np.clip(volume / 8, 0, 1))
    dicom = export_volumes(tmp_path / "dcm", data, "dicom")
    names = sorted(p.name for p in dicom)
    assert names[:5] == [f"CAM_{i:04d}.dcm" for i in range(5)] and names[-1] == "SR_boxes.dcm"
    read = {p.name: pydicom.dcmread(p) for p in dicom}
    assert len({read[n].SeriesInstanceUID for n in ("MR_0000.dcm", "ERROR_0000.dcm", "CAM_0000.dcm")}) == 3
    assert len({read[n].StudyInstanceUID for n in read}) == 1
    assert read["MR_0000.dcm"].SeriesDescription == "lfmri 4.00x random"
    assert read["CAM_0000.dcm"].SeriesDescription == "lfmri 4.00x random CAM"


def test_export_without_header_warns(tmp_path: Path, volume: np.ndarray) -> None:
    with pytest.warns(InputWarning, match="x.cfl has no ISMRMRD header.*1 mm"):
        files = export_volumes(tmp_path / "r.nii.gz", ExportVolumes(volume, tuple(range(5)), 5, "zf", source="x.cfl"))
    assert nib.load(files[0]).header.get_zooms() == (1.0, 1.0, 1.0)


def test_export_never_over_an_input(tmp_path: Path, volume: np.ndarray) -> None:
    source = tmp_path / "r_error.nii.gz"
    source.write_bytes(b"input")
    with protect_inputs(source), pytest.raises(InputError, match="input file"):
        export_volumes(tmp_path / "r.nii.gz", _data(volume, error=volume))
    assert source.read_bytes() == b"input" and not (tmp_path / "r.nii.gz").exists()  # nothing written
    dicom_input = tmp_path / "dcm" / "MR_0003.dcm"
    dicom_input.parent.mkdir()
    dicom_input.write_bytes(b"input")
    with protect_inputs(dicom_input), pytest.raises(InputError, match="input file"):
        export_volumes(tmp_path / "dcm", _data(volume), "dicom")
    assert sorted(p.name for p in dicom_input.parent.iterdir()) == ["MR_0003.dcm"]


def test_h5_export_reopens_with_geometry(tmp_path: Path, volume: np.ndarray) -> None:
    """The kept header is the one the reader parses: the recon file carries the source's geometry."""
    export_volumes(tmp_path / "r.h5", _data(volume, header_xml=build_header(ENCODING, num_coils=4)))
    with h5py.File(tmp_path / "r.h5") as f:
        header = f["ismrmrd_header"][()]
    assert ImageGeometry.from_header_xml(header).pixel_spacing_mm == (0.5, 0.75)
