"""ISMRMRD/MRD raw data against the fastMRI path: files written by the ``ismrmrd`` package from
a known phantom k-space must give the same k-space and the same image as the fastMRI file of
that k-space."""

from __future__ import annotations

import hashlib
from pathlib import Path

import ismrmrd
import numpy as np
import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.io.fastmri_h5 import FastMRIVolume, write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from lfmri_core.io.mrd import MRDVolume
from lfmri_core.io.volume import open_volume, volume_format
from lfmri_core.physics import as_complex_tensor, center_crop, ifft2c, rss
from lfmri_core.synthetic.raster import ifft2c_numpy
from tests.core.io.mrd_files import kspace_lines, mrd_header, phantom_kspace, write_mrd
from tests.tolerances import rounding_rtol

SLICES, COILS = 3, 4


def _image(kspace: np.ndarray, recon: tuple[int, int]) -> np.ndarray:
    """fastMRI's image of one slice: centred orthonormal IFFT, RSS, centre crop."""
    return center_crop(rss(ifft2c(as_complex_tensor(kspace))), recon).to(torch.float32).numpy()


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_same_kspace_and_image_as_the_fastmri_file(tmp_path: Path) -> None:
    kspace = phantom_kspace(SLICES, COILS, 32, 24)
    encoding = EncodingInfo(encoded_shape=(32, 24), recon_shape=(24, 24), encoded_fov_mm=(64.0, 48.0, 3.0),
                            recon_fov_mm=(64.0, 48.0, 3.0), kspace_center=12, kspace_maximum=23)
    write_volume(tmp_path / "fastmri.h5", kspace, encoding=encoding)
    xml = mrd_header(encoded=(32, 24), recon=(24, 24), encoded_fov=(64, 48), recon_fov=(64, 48), slices=SLICES)
    mrd = write_mrd(tmp_path / "raw.h5", xml, kspace_lines(kspace))
    digest = hashlib.sha256(mrd.read_bytes()).hexdigest()

    assert volume_format(mrd) == "mrd"
    with open_volume(mrd) as vol, FastMRIVolume(tmp_path / "fastmri.h5") as ref:
        assert isinstance(vol, MRDVolume)
        info = vol.info
        assert info.kspace_shape == ref.info.kspace_shape == (SLICES, COILS, 32, 24)
        assert info.recon_shape == ref.info.recon_shape == (24, 24)
        assert info.encoding.padding == ref.info.encoding.padding == (0, 24)
        assert info.acquisition == "AXT2" and info.attrs["patient_id"] == "mrd-test"
        assert vol.target(0) is None and vol.target_volume() is None
        assert "encodedSpace" in vol.header_xml
        for s in range(SLICES):
            np.testing.assert_array_equal(vol.kspace(s), ref.kspace(s))  # the samples themselves
            np.testing.assert_array_equal(_image(vol.kspace(s), info.recon_shape),
                                          _image(ref.kspace(s), ref.info.recon_shape))
    assert hashlib.sha256(mrd.read_bytes()).hexdigest() == digest  # opened read-only, never changed


def test_readout_oversampling_is_removed_as_the_header_says(tmp_path: Path) -> None:
    """Encoded FOV x twice the recon FOV x (fastMRI knee: 640 -> 320): the k-space has half the
    rows and its image is the centre crop of the oversampled image, as fastMRI crops it."""
    kspace = phantom_kspace(2, COILS, 64, 24)
    xml = mrd_header(encoded=(64, 24), recon=(32, 24), encoded_fov=(128, 48), recon_fov=(64, 48), slices=2)
    path = write_mrd(tmp_path / "os.h5", xml, kspace_lines(kspace))
    with MRDVolume(path) as vol:
        assert vol.info.kspace_shape == (2, COILS, 32, 24)
        assert vol.info.encoding.encoded_fov_mm[0] == 64.0
        for s in range(2):
            full = _image(kspace[s], (32, 24))  # fastMRI: image of 64 rows, centre-cropped to 32
            mine = _image(vol.kspace(s), (32, 24))
            assert _rel(mine, full) <= rounding_rtol(np.complex64, fft_points=64 * 24, fft_passes=4)
            # The complex coil images too, not only their RSS.
            coil = ifft2c_numpy(vol.kspace(s))
            ref = ifft2c_numpy(kspace[s])[:, 16:48]
            assert _rel(coil, ref) <= rounding_rtol(np.complex64, fft_points=64 * 24, fft_passes=4)
    with MRDVolume(path, remove_oversampling=False) as vol:
        assert vol.info.kspace_shape == (2, COILS, 64, 24)
        np.testing.assert_array_equal(vol.kspace(1), kspace[1])


def test_partial_fourier_and_asymmetric_echo_placed_by_the_limits(tmp_path: Path) -> None:
    """Lines counted from 0 with the centre line at 5 (partial Fourier: 6 lines missing at the
    start) and readouts missing their first 8 samples (centre_sample = X//2 - 8): each sample
    lands where fastMRI's padding formula puts it; the rest is zero."""
    kspace = phantom_kspace(2, COILS, 32, 24)
    acquired = range(6, 24)  # columns 6..23: ky counters 0..17, centre line 12 -> counter 6
    xml = mrd_header(encoded=(32, 24), recon=(32, 24), step1=(0, 17, 6), slices=2)
    lines = kspace_lines(kspace, center=6, columns=acquired, rows=(8, 32))
    path = write_mrd(tmp_path / "pf.h5", xml, lines)
    expected = np.zeros_like(kspace)
    expected[:, :, 8:, 6:] = kspace[:, :, 8:, 6:]
    with MRDVolume(path) as vol:
        assert vol.info.encoding.padding == (6, 24)  # fastMRI: left = 24//2 - 6, right = left + 17 + 1
        for s in range(2):
            np.testing.assert_array_equal(vol.kspace(s), expected[s])
    # The fastMRI file of that k-space with those limits gives the same image.
    encoding = EncodingInfo(encoded_shape=(32, 24), recon_shape=(32, 24), kspace_center=6, kspace_maximum=17)
    write_volume(tmp_path / "pf_fastmri.h5", expected, encoding=encoding)
    with MRDVolume(path) as vol, FastMRIVolume(tmp_path / "pf_fastmri.h5") as ref:
        assert ref.info.encoding.padding == vol.info.encoding.padding
        np.testing.assert_array_equal(_image(vol.kspace(1), (32, 24)), _image(ref.kspace(1), (32, 24)))


def test_averages_are_averaged_or_selected(tmp_path: Path) -> None:
    kspace = phantom_kspace(2, COILS, 16, 12)
    offsets = {0: 0.5 + 0.25j, 1: -0.5 - 0.25j, 2: 0.0}
    lines = kspace_lines(kspace, averages=3, average_offset=offsets.__getitem__)
    for line in lines[::5]:  # some lines are repetition 1 of the same average: averaged too
        line["idx"]["repetition"] = 1
    path = write_mrd(tmp_path / "avg.h5", mrd_header(encoded=(16, 12), recon=(16, 12), slices=2), lines)
    tol = rounding_rtol(np.complex64, terms=3)
    with MRDVolume(path) as vol:
        assert vol.info.attrs["averages"] == 3 and vol.info.attrs["repetitions"] == 2
        assert _rel(vol.kspace(0), kspace[0]) <= tol
    with open_volume(path, average=1) as vol:
        assert vol.info.attrs["average"] == 1
        np.testing.assert_allclose(vol.kspace(1), kspace[1] + offsets[1], rtol=0, atol=tol * np.abs(kspace).max())
    with pytest.raises(InputError, match=r"average 7 does not exist \(the file has averages 0, 1, 2\)"):
        MRDVolume(path, average=7)


def test_skipped_acquisitions_and_reversed_readouts(tmp_path: Path) -> None:
    kspace = phantom_kspace(1, 2, 16, 12)
    lines = kspace_lines(kspace)
    for line in lines[::3]:  # stored reversed, flagged as such
        line["data"] = line["data"][:, ::-1].copy()
        line["flags"] = [ismrmrd.ACQ_IS_REVERSE]
    extra = [dict(lines[0], data=np.full((2, 16), 99, np.complex64), flags=[flag])
             for flag in (ismrmrd.ACQ_IS_NAVIGATION_DATA, ismrmrd.ACQ_IS_PARALLEL_CALIBRATION,
                          ismrmrd.ACQ_IS_PHASECORR_DATA)]
    path = write_mrd(tmp_path / "mixed.h5", mrd_header(encoded=(16, 12), recon=(16, 12)), extra + lines)
    with MRDVolume(path) as vol:
        np.testing.assert_array_equal(vol.kspace(0), kspace[0])


def test_slices_named_by_their_counters(tmp_path: Path) -> None:
    kspace = phantom_kspace(3, 2, 16, 12)
    lines = kspace_lines(kspace)
    for line in lines:
        line["idx"]["slice"] = {0: 4, 1: 9, 2: 2}[line["idx"]["slice"]]
    path = write_mrd(tmp_path / "slices.h5", mrd_header(encoded=(16, 12), recon=(16, 12), slices=10), lines[::-1])
    with MRDVolume(path) as vol:
        assert vol.slice_numbers == (2, 4, 9) and len(vol) == 3
        np.testing.assert_array_equal(vol.kspace(0), kspace[2])
        np.testing.assert_array_equal(vol.kspace(2), kspace[1])
        with pytest.raises(InputError, match="slice 3 does not exist"):
            vol.kspace(3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"trajectory": "radial"}, "not supported yet: radial trajectory"),
        ({"trajectory": "spiral"}, "not supported yet: spiral trajectory"),
        ({"matrix_z": 8}, r"not supported yet: 3-D encoding \(encoded matrix z = 8\)"),
    ],
)
def test_not_supported_yet(tmp_path: Path, options: dict[str, object], message: str) -> None:
    kspace = phantom_kspace(1, 2, 16, 12)
    path = write_mrd(tmp_path / "x.h5", mrd_header(encoded=(16, 12), recon=(16, 12), **options), kspace_lines(kspace))
    with pytest.raises(InputError, match=message):
        open_volume(path)


def test_missing_ismrmrd_package_names_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kspace = phantom_kspace(1, 2, 16, 12)
    path = write_mrd(tmp_path / "raw.h5", mrd_header(encoded=(16, 12), recon=(16, 12)), kspace_lines(kspace))
    monkeypatch.setitem(__import__("sys").modules, "ismrmrd", None)  # import ismrmrd -> ImportError
    with pytest.raises(InputError, match=r"raw\.h5 is ISMRMRD/MRD raw data; reading it needs the ismrmrd "
                                         r"package: pip install 'lfmri-viewer\[mrd\]'"):
        open_volume(path)


def test_fastmri_reader_points_an_mrd_file_to_the_mrd_reader(tmp_path: Path) -> None:
    kspace = phantom_kspace(1, 2, 16, 12)
    path = write_mrd(tmp_path / "raw.h5", mrd_header(encoded=(16, 12), recon=(16, 12)), kspace_lines(kspace))
    with pytest.raises(InputError, match="ISMRMRD/MRD raw data"):
        FastMRIVolume(path)
