from __future__ import annotations

import hashlib
import io
from pathlib import Path

import h5py
import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.io.fastmri_h5 import FastMRIVolume, write_reconstruction, write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from tests.conftest import random_complex

ENCODING = EncodingInfo(
    encoded_shape=(64, 48),
    recon_shape=(32, 32),
    encoded_fov_mm=(32.0, 24.0, 3.0),
    recon_fov_mm=(16.0, 16.0, 3.0),
    kspace_center=23,
    kspace_maximum=45,
)


def _write(path: Path, rng: np.random.Generator, slices: int = 5, coils: int = 4, **kwargs) -> np.ndarray:
    kspace = random_complex(rng, (slices, coils, 64, 48))
    target = rng.random((slices, 32, 32), dtype=np.float32)
    write_volume(path, kspace, encoding=ENCODING, reconstruction_rss=target,
                 attrs={"acquisition": "CORPD_FBK", "patient_id": "p1"}, **kwargs)
    return kspace


def test_round_trip_multicoil(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "file_a.h5"
    kspace = _write(path, rng)
    with FastMRIVolume(path) as vol:
        info = vol.info
        assert info.kspace_shape == (5, 4, 64, 48)
        assert info.multicoil and info.targets == ("reconstruction_rss",)
        assert info.encoding == ENCODING and info.encoding.padding == (1, 47)
        assert info.recon_shape == (32, 32)
        assert info.acquisition == "CORPD_FBK" and info.attrs["patient_id"] == "p1"
        assert not info.undersampled
        np.testing.assert_array_equal(vol.kspace(3), kspace[3])
        np.testing.assert_array_equal(vol.kspace(-1), kspace[4])
        assert vol.target(2).shape == (32, 32)
    with h5py.File(path, "r") as f:
        assert f.attrs["max"] == float(f["reconstruction_rss"][()].max())  # the stored maximum itself


def test_singlecoil_and_test_file_mask(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "single.h5"
    kspace = random_complex(rng, (3, 64, 48))
    mask = np.zeros(48, bool)
    mask[::4] = True
    write_volume(path, kspace, encoding=ENCODING, reconstruction_esc=np.ones((3, 32, 32)),
                 reconstruction_rss=np.zeros((3, 32, 32)), mask=mask,
                 attrs={"acceleration": 4, "num_low_frequency": 0})
    with FastMRIVolume(path) as vol:
        assert not vol.info.multicoil and vol.info.kspace_shape == (3, 1, 64, 48)
        assert vol.info.targets[0] == "reconstruction_esc"  # fastMRI's singlecoil target
        assert vol.kspace(0).shape == (1, 64, 48)
        assert vol.info.undersampled
        np.testing.assert_array_equal(vol.info.mask, mask)
        assert vol.target(0).max() == 1.0


def test_fastmri_slice_dataset_reads_our_files(tmp_path: Path, rng: np.random.Generator) -> None:
    """fastMRI's own loader parses our header to the same padding, encoding and recon size."""
    from fastmri.data.mri_data import SliceDataset

    kspace = _write(tmp_path / "file_b.h5", rng)
    dataset = SliceDataset(root=tmp_path, challenge="multicoil", use_dataset_cache=False)
    assert len(dataset) == 5
    ks, mask, target, attrs, fname, slice_num = dataset[3]
    np.testing.assert_array_equal(ks, kspace[3])
    assert mask is None and fname == "file_b.h5" and slice_num == 3
    assert (attrs["padding_left"], attrs["padding_right"]) == ENCODING.padding
    assert attrs["encoding_size"][:2] == (64, 48) and attrs["recon_size"][:2] == (32, 32)


class CountingReader(io.RawIOBase):
    """A file object that counts the bytes h5py reads through it."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb")
        self.bytes_read = 0
        self.name = str(path)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = self._f.readinto(buffer)
        self.bytes_read += n or 0
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def test_reading_one_slice_reads_only_that_slice(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "big.h5"
    kspace = _write(path, rng, slices=40)
    slice_bytes = kspace[0].nbytes
    reader = CountingReader(path)
    with FastMRIVolume(reader) as vol:
        after_open = reader.bytes_read
        np.testing.assert_array_equal(vol.kspace(7), kspace[7])
        slice_read = reader.bytes_read - after_open
    assert after_open < 2 * slice_bytes  # opening reads metadata, not data
    assert slice_bytes <= slice_read < 2 * slice_bytes
    assert path.stat().st_size > 40 * slice_bytes


def test_input_file_is_never_modified(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "file_c.h5"
    _write(path, rng)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with FastMRIVolume(path) as vol:
        for i in range(len(vol)):
            vol.kspace(i)
            vol.target(i)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_text("not hdf5"), "is not an HDF5 file"),
        (lambda p: h5py.File(p, "w").create_dataset("image", data=np.zeros(3)), "has no 'kspace' dataset"),
        (lambda p: h5py.File(p, "w").create_dataset("kspace", data=np.zeros((2, 3), np.complex64)), "rank 2"),
        (lambda p: h5py.File(p, "w").create_dataset("kspace", data=np.zeros((2, 3, 4), np.float32)), "dtype float32"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.h5"
    handle = make(path)
    if hasattr(handle, "file"):
        handle.file.close()
    with pytest.raises(InputError, match=message) as err:
        FastMRIVolume(path)
    assert "\n" not in str(err.value)


def test_truncated_file_names_the_file(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "cut.h5"
    write_volume(path, random_complex(rng, (2, 2, 32, 32)), encoding=EncodingInfo.for_shape((32, 32)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.h5 cannot be read as HDF5") as err:
        FastMRIVolume(path)
    assert "\n" not in str(err.value)


def test_nan_slice_and_bad_index(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "nan.h5"
    kspace = random_complex(rng, (3, 2, 8, 8))
    kspace[1, 0, 2, 2] = np.nan
    write_volume(path, kspace, encoding=EncodingInfo.for_shape((8, 8)))
    with FastMRIVolume(path) as vol:
        vol.kspace(0)
        with pytest.raises(InputError, match="slice 1 contains NaN or Inf"):
            vol.kspace(1)
        with pytest.raises(InputError, match="slice 3 does not exist"):
            vol.kspace(3)
        assert vol.target(0) is None


def test_write_reconstruction_is_atomic(tmp_path: Path) -> None:
    out = tmp_path / "recon.h5"
    write_reconstruction(out, np.ones((2, 4, 4)), attrs={"method": "zero-filled"})
    with pytest.raises(TypeError):
        write_reconstruction(out, np.ones((2, 4, 4)), attrs={"bad": object()})
    with h5py.File(out, "r") as f:  # the failed write left the earlier file intact
        assert f["reconstruction"].shape == (2, 4, 4) and f.attrs["method"] == "zero-filled"
    assert [p.name for p in tmp_path.iterdir()] == ["recon.h5"]
