"""The two public raw datasets besides fastMRI, on small files built here to their documented
layouts (/work/shared/FORMATS.md; SKM-TEA: StanfordMIMI/skm-tea DATASET.md; M4Raw: the
dataset's tutorial, which makes its images with ``fastmri.ifft2c`` and ``fastmri.rss``)."""

from __future__ import annotations

from pathlib import Path

import fastmri
import h5py
import numpy as np
import pytest
import torch

from lfmri_core.cli import main
from lfmri_core.errors import InputError
from lfmri_core.io.fastmri_h5 import FastMRIVolume
from lfmri_core.io.ismrmrd_header import EncodingInfo, build_header
from lfmri_core.io.skmtea import SKMTEAVolume
from lfmri_core.io.volume import open_volume, volume_format
from lfmri_core.recon.reference import reference_image
from lfmri_core.synthetic.raster import fft2c_numpy
from tests.core.io.mrd_files import phantom_kspace
from tests.tolerances import rounding_rtol


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# --- M4Raw: fastMRI-style HDF5, kspace (18, 4, 256, 256) --------------------------------------
def write_m4raw(path: Path) -> np.ndarray:
    """An M4Raw file: ``kspace`` (18, 4, 256, 256) complex64, ``reconstruction_rss`` (18, 256,
    256) made as the M4Raw tutorial makes it (fastmri.ifft2c, complex_abs, rss over coils),
    ``ismrmrd_header`` and the attributes acquisition / max / norm / patient_id."""
    kspace = phantom_kspace(18, 4, 256, 256)
    images = fastmri.ifft2c(torch.view_as_real(torch.from_numpy(kspace)))
    rss = fastmri.rss(fastmri.complex_abs(images), dim=1).numpy().astype(np.float32)
    header = build_header(EncodingInfo.for_shape((256, 256)), num_coils=4, field_strength_t=0.3,
                          protocol_name="T102")
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace)
        f.create_dataset("reconstruction_rss", data=rss)
        f.create_dataset("ismrmrd_header", data=np.bytes_(header.encode()))
        f.attrs.update({"acquisition": "AXT2", "max": float(rss.max()), "norm": float(np.linalg.norm(rss)),
                        "patient_id": "2022061003"})
    return rss


def test_m4raw_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "2022061003_T102.h5"
    rss = write_m4raw(path)
    assert volume_format(path) == "fastmri"
    with open_volume(path) as vol:
        assert isinstance(vol, FastMRIVolume)
        assert vol.info.kspace_shape == (18, 4, 256, 256) and vol.info.recon_shape == (256, 256)
        assert vol.info.targets == ("reconstruction_rss",) and vol.info.acquisition == "AXT2"
        np.testing.assert_array_equal(vol.target(9), rss[9])
        # Our image of the fully sampled k-space is the tutorial's (fastmri's) image.
        vol.target_volume = lambda name=None: None  # type: ignore[method-assign]  # force the k-space path
        mine, from_target = reference_image(vol)
        assert not from_target
        assert _rel(mine, rss) <= rounding_rtol(np.complex64, fft_points=256 * 256, fft_passes=2, terms=4)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "18 slices x 4 coils x 256 x 256" in out and "recon matrix    256 x 256" in out


# --- SKM-TEA: hybrid kspace (Nx, Ny, Nz, echoes, coils), slices along x -----------------------
NX, NY, NZ, COILS = 5, 32, 20, 4


def write_skmtea(path: Path) -> np.ndarray:
    """An SKM-TEA raw-data-track file: per ``x`` a complex image per echo seen by coil maps with
    ``sum |S|^2 = 1``; ``kspace[x, :, :, e, c] = fft2c(image * S_c)`` (hybrid: the readout
    already in image space), ``maps`` (Nx, Ny, Nz, coils, 1), ``target`` (Nx, Ny, Nz, 2, 1).
    Returns the complex images ``(Nx, Ny, Nz, 2)``."""
    rows, cols = np.mgrid[0:NY, 0:NZ] / np.array([NY, NZ])[:, None, None]
    smooth = np.stack([np.exp(-((rows - 0.5 - 0.3 * np.sin(c)) ** 2 + (cols - 0.5 - 0.3 * np.cos(c)) ** 2))
                       * np.exp(1j * (c + rows - 2 * cols)) for c in range(COILS)])
    maps = np.broadcast_to(smooth / np.sqrt((np.abs(smooth) ** 2).sum(0)), (NX, COILS, NY, NZ))
    magnitude = np.abs(np.fft.ifft2(phantom_kspace(NX, 1, NY, NZ)[:, 0]))  # a phantom-like image per x
    images = np.stack([magnitude, magnitude * 0.5 * np.exp(0.3j)], axis=-1).astype(np.complex64)
    kspace = np.empty((NX, NY, NZ, 2, COILS), np.complex64)
    for x in range(NX):
        for e in range(2):
            for c in range(COILS):
                kspace[x, :, :, e, c] = fft2c_numpy(images[x, :, :, e] * maps[x, c])
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace)
        f.create_dataset("maps", data=np.moveaxis(maps, 1, -1)[..., None].astype(np.complex64))
        f.create_dataset("target", data=images[..., None])
    return images


def test_skmtea_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "MTR_005.h5"
    images = write_skmtea(path)
    assert volume_format(path) == "skm-tea"
    with h5py.File(path, "r") as f:
        stored = f["kspace"][()]
    for echo in (0, 1):
        with open_volume(path, echo=echo if echo else None) as vol:
            assert isinstance(vol, SKMTEAVolume)
            assert vol.info.kspace_shape == (NX, COILS, NY, NZ) and vol.info.recon_shape == (NY, NZ)
            np.testing.assert_array_equal(vol.kspace(3), np.moveaxis(stored[3, :, :, echo, :], -1, 0))
            np.testing.assert_array_equal(vol.target(2), np.abs(images[2, :, :, echo]).astype(np.float32))
            # The coil-combined image of each slice's k-space is |target| (maps with sum |S|^2 = 1).
            vol.target_volume = lambda name=None: None  # type: ignore[method-assign]
            mine, _ = reference_image(vol)
            tol = rounding_rtol(np.complex64, fft_points=NY * NZ, fft_passes=2, terms=COILS)
            assert _rel(mine, np.abs(images[..., echo])) <= tol
    with pytest.raises(InputError, match=r"MTR_005\.h5: echo 2 does not exist \(the file has 2 echoes\)"):
        open_volume(path, echo=2)
    assert main(["info", str(path), "--echo", "1"]) == 0
    out = capsys.readouterr().out
    assert f"{NX} slices x {COILS} coils x {NY} x {NZ}" in out and "SKM-TEA hybrid k-space" in out and "echo 1" in out
