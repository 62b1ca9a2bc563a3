"""Image files given where k-space is expected are named by their format, from real files
written by the formats' own libraries (Pillow, nibabel, pydicom)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lfmri_core.errors import InputError
from lfmri_core.io.fastmri_h5 import write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from lfmri_core.io.sniff import image_format
from lfmri_core.io.volume import open_volume, volume_format

PIXELS = (np.arange(16 * 16).reshape(16, 16) % 251).astype(np.uint8)


@pytest.mark.parametrize(("name", "fmt", "expected"), [
    ("slice.png", "PNG", "a PNG image"),
    ("slice.jpg", "JPEG", "a JPEG image"),
    ("slice.tif", "TIFF", "a TIFF image"),
    ("slice.gif", "GIF", "a GIF image"),
    ("slice.bmp", "BMP", "a BMP image"),
    ("slice.h5", "PNG", "a PNG image"),  # by content, whatever the name says
])
def test_pillow_images(tmp_path: Path, name: str, fmt: str, expected: str) -> None:
    path = tmp_path / name
    Image.fromarray(PIXELS).save(path, format=fmt)
    assert image_format(path) == expected
    with pytest.raises(InputError) as refused:
        open_volume(path)
    message = str(refused.value)
    assert message == (f"{name} is {expected}, not raw k-space: k-space cannot be recovered from reconstructed "
                       "images (open the raw data: fastMRI or ISMRMRD/MRD .h5, SKM-TEA/M4Raw .h5, BART .cfl/.hdr)")
    assert "\n" not in message


def test_nifti_files(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    volume = nib.Nifti1Image(np.zeros((8, 8, 3), np.float32), np.eye(4))
    nib.save(volume, tmp_path / "t1.nii")
    nib.save(volume, tmp_path / "t1.nii.gz")
    nib.save(nib.Nifti2Image(np.zeros((8, 8, 3), np.float32), np.eye(4)), tmp_path / "t2.nii")
    nib.save(nib.Nifti1Pair(np.zeros((8, 8, 3), np.float32), np.eye(4)), tmp_path / "pair.img")
    assert image_format(tmp_path / "t1.nii") == "a NIfTI-1 image"
    assert image_format(tmp_path / "t1.nii.gz") == "a NIfTI-1 image (gzip)"
    assert image_format(tmp_path / "t2.nii") == "a NIfTI-2 image"
    assert image_format(tmp_path / "pair.hdr") == "a NIfTI-1 image"
    for name in ("t1.nii", "t1.nii.gz", "t2.nii"):
        with pytest.raises(InputError, match=f"{name} is a NIfTI-.* image.*k-space cannot be recovered"):
            open_volume(tmp_path / name)
    # A NIfTI pair's .hdr is no BART header: named as the image it is.
    with pytest.raises(InputError, match=r"pair\.hdr is a NIfTI-1 image, not raw k-space"):
        open_volume(tmp_path / "pair.hdr")


def test_dicom_file(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = MRImageStorage, meta.MediaStorageSOPInstanceUID, "MR"
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 8, 8, 7
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, "MONOCHROME2", 0
    ds.PixelData = PIXELS.tobytes()
    ds.save_as(tmp_path / "IM0001", enforce_file_format=True)
    assert image_format(tmp_path / "IM0001") == "a DICOM image"
    with pytest.raises(InputError, match=r"IM0001 is a DICOM image, not raw k-space"):
        open_volume(tmp_path / "IM0001")


def test_kspace_files_are_not_images(tmp_path: Path) -> None:
    path = write_volume(tmp_path / "k.h5", np.ones((1, 2, 8, 8), np.complex64), encoding=EncodingInfo.for_shape((8, 8)))
    assert image_format(path) is None and volume_format(path) == "fastmri"
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert image_format(text) is None and image_format(tmp_path / "missing") is None
