"""``lfmri recon --out`` in every format: the header's geometry reaches the files, the HDF5 keeps
the source's header and attributes, a volume without a header gets 1 mm with a warning."""

from __future__ import annotations

from pathlib import Path

import h5py
import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest

from lfmri_core.cli import main
from lfmri_core.inference import cam_volume
from lfmri_core.io.annotations import FileAnnotations, LesionBox, write_annotations
from lfmri_core.io.fastmri_h5 import write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from tests.conftest import random_complex

# Rows 16 / 32 = 0.5 mm, columns 24 / 32 = 0.75 mm, 3 mm slices.
ENCODING = EncodingInfo(encoded_shape=(48, 40), recon_shape=(32, 32), encoded_fov_mm=(24.0, 30.0, 3.0),
                        recon_fov_mm=(16.0, 24.0, 3.0), kspace_center=19, kspace_maximum=37)


@pytest.fixture
def volume(tmp_path: Path, rng: np.random.Generator) -> Path:
    path = tmp_path / "file_out.h5"
    kspace = random_complex(rng, (4, 3, 48, 40))
    image = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    target = np.sqrt((np.abs(image) ** 2).sum(1))[:, 8:40, 4:36].astype(np.float32)
    write_volume(path, kspace, encoding=ENCODING, reconstruction_rss=target,
                 attrs={"acquisition": "CORPD_FBK", "patient_id": "p42"})
    boxes = (LesionBox(slice=1, label="Meniscus Tear", row0=5, row1=12, col0=3, col1=9),)
    write_annotations(tmp_path / "ann.csv", [FileAnnotations("file_out", boxes, reviewed=True)], frame_height=32)
    return path


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _recon(volume: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run(["recon", str(volume), "--seed", "3", "--quiet", "--out", str(out), *extra], capsys)


def test_h5_keeps_the_source_header_and_attributes(volume: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert _recon(volume, tmp_path / "r.h5", capsys)[0] == 0
    with h5py.File(volume) as source, h5py.File(tmp_path / "r.h5") as out:
        assert out["ismrmrd_header"][()] == source["ismrmrd_header"][()]
        assert out.attrs["acquisition"] == "CORPD_FBK" and out.attrs["patient_id"] == "p42"
        assert out.attrs["method"] == "zero-filled" and out.attrs["source"] == "file_out.h5"
        target = source["reconstruction_rss"][()]
        assert np.array_equal(out["error_map"][()], np.abs(out["reconstruction"][()] - target))


def test_nifti_volumes_with_the_header_geometry(volume: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _recon(volume, tmp_path / "r.nii.gz", capsys, "--cam")
    assert code == 0 and "wrote" in out and "as nifti (3 files)" in out
    assert _recon(volume, tmp_path / "r.h5", capsys)[0] == 0
    with h5py.File(tmp_path / "r.h5") as f:
        recon, error = f["reconstruction"][()], f["error_map"][()]
    images = {name: nib.load(tmp_path / f"r{name}.nii.gz") for name in ("", "_error", "_cam")}
    for image in images.values():
        assert image.header.get_zooms() == pytest.approx((0.5, 0.75, 3.0))
        assert np.array_equal(image.affine, images[""].affine)
    assert np.array_equal(np.asarray(images[""].dataobj).transpose(2, 0, 1), recon)
    assert np.array_equal(np.asarray(images["_error"].dataobj).transpose(2, 0, 1), error)
    cam = np.asarray(images["_cam"].dataobj).transpose(2, 0, 1)
    expected = cam_volume(recon)
    assert expected is not None and cam.shape == recon.shape
    np.testing.assert_allclose(cam, expected, atol=1e-5)  # the same float32 network on the same input


def test_dicom_series_and_boxes_sr(volume: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _recon(volume, tmp_path / "dicom", capsys, "--format", "dicom", "--accel", "4")
    assert code == 0, out
    files = sorted((tmp_path / "dicom").iterdir())
    assert [f.name for f in files] == [*(f"ERROR_{i:04d}.dcm" for i in range(4)), *(f"MR_{i:04d}.dcm" for i in range(4)),
                                       "SR_boxes.dcm"]
    mr = pydicom.dcmread(tmp_path / "dicom" / "MR_0001.dcm")
    assert [float(v) for v in mr.PixelSpacing] == [0.5, 0.75] and float(mr.SliceThickness) == 3.0
    assert mr.SeriesDescription.startswith("zero-filled ") and mr.SeriesDescription.endswith("x random")
    assert mr.PatientID == "p42" and mr.ProtocolName == "CORPD_FBK"
    sr = hd.sr.srread(tmp_path / "dicom" / "SR_boxes.dcm")
    (group,) = sr.content.get_planar_roi_measurement_groups()
    assert str(group.tracking_identifier) == "Meniscus Tear"
    assert group.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == mr.SOPInstanceUID
    corners = np.asarray(group.roi.value)
    assert (corners[:, 1].min(), corners[:, 1].max(), corners[:, 0].min(), corners[:, 0].max()) == (5, 12, 3, 9)


def test_bad_export_requests_are_one_line(volume: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _recon(volume, tmp_path / "r.h5", capsys, "--format", "nifti")
    assert code == 2 and out == "" and ".nii.gz" in err and len(err.strip().splitlines()) == 1
    code, _, err = _recon(volume, tmp_path / "r.nii.gz", capsys, "--report", str(tmp_path / "r_error.nii.gz"))
    assert code == 2 and "same file" in err
    assert not (tmp_path / "r.nii.gz").exists()
    code, _, err = _recon(volume, tmp_path / "dcm", capsys, "--format", "dicom", "--report",
                          str(tmp_path / "dcm" / "MR_0002.dcm"))
    assert code == 2 and "same file" in err and not (tmp_path / "dcm").exists()
    code, _, err = _recon(volume, tmp_path / "r.nii.gz", capsys, "--slices", "0,1,3")
    assert code == 2 and "evenly spaced" in err
    code, _, err = _recon(volume, tmp_path / "r.nii.gz", capsys, "--classifier", str(tmp_path / "none.safetensors"))
    assert code == 2 and "give --cam too" in err
    code, _, err = run(["recon", str(volume), "--format", "dicom"], capsys)
    assert code == 2 and "--format needs --out" in err
    code, _, err = _recon(volume, tmp_path / "ann.csv", capsys, "--format", "dicom")
    assert code == 2 and "ann.csv is a file" in err


def test_volume_without_header_gets_1mm_with_a_warning(tmp_path: Path, rng: np.random.Generator,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from lfmri_core.io.bart_cfl import write_cfl

    write_cfl(tmp_path / "phantom", random_complex(rng, (32, 24, 1, 2)))
    code, _, err = run(["recon", str(tmp_path / "phantom.cfl"), "--accel", "2", "--center-fraction", "0.2",
                        "--quiet", "--out", str(tmp_path / "p.nii.gz")], capsys)
    assert code == 0
    assert "lfmri: warning: phantom.cfl has no ISMRMRD header: exported with the default geometry (1 mm" in err
    assert nib.load(tmp_path / "p.nii.gz").header.get_zooms() == (1.0, 1.0, 1.0)
