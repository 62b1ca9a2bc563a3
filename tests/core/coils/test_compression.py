"""Coil compression against ``bart cc -S`` and against the physics it must keep."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from lfmri_core.coils.compression import DEFAULT_CALIBRATION, compress_coils, virtual_coil_count
from lfmri_core.errors import InputError
from lfmri_core.io.bart_cfl import read_cfl, write_cfl
from lfmri_core.physics import ifft2c
from tests.conftest import require_bart
from tests.core.coils.conftest import CoilData
from tests.tolerances import assert_close_in_norm, rounding_rtol


def _bart_cc(kspace: np.ndarray, folder: Path, virtual: int) -> np.ndarray:
    """``bart cc -p virtual -S`` on our k-space ``(coils, H, W)``, back in our layout."""
    exe = require_bart()
    coils, height, width = kspace.shape
    write_cfl(folder / "kspace", np.transpose(kspace, (1, 2, 0))[:, :, None, :])
    subprocess.run([exe, "cc", "-p", str(virtual), "-S", "kspace", "compressed"], cwd=folder, check=True, capture_output=True)
    out = np.asarray(read_cfl(folder / "compressed")).reshape(height, width, virtual, order="F")
    return np.ascontiguousarray(np.transpose(out, (2, 0, 1)))


def _cc_rtol(coils: int) -> float:
    """Rounding of the virtual coils, relative in norm: both sides sum the calibration
    covariance over ``coils`` x at most 24 x 24 samples in float32 (and apply ``coils``-term
    combinations). Measured against BART: 3e-7 to 1e-6."""
    return rounding_rtol(np.complex64, terms=coils * DEFAULT_CALIBRATION**2)


def _align_phase(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``ours`` with each virtual coil (axis 0) turned by the unit phase that best matches ``reference``."""
    inner = np.sum(np.conj(ours) * reference, axis=(-2, -1), keepdims=True)
    return ours * inner / np.abs(inner)


@pytest.mark.bart
@pytest.mark.parametrize("virtual", [1, 4, 8])
def test_matches_bart_cc_up_to_a_phase_per_virtual_coil(bart_phantom: np.ndarray, virtual: int, tmp_path: Path) -> None:
    """Same calibration region, same principal components, same virtual coils as BART (each
    eigenvector is defined up to a unit phase, and the two conventions for it differ)."""
    reference = _bart_cc(bart_phantom, tmp_path, virtual)
    out = compress_coils(bart_phantom, virtual)
    ours = out.kspace.numpy()
    assert ours.shape == reference.shape == (virtual, 128, 128)
    aligned = _align_phase(ours, reference)
    assert_close_in_norm(aligned, reference, _cc_rtol(bart_phantom.shape[0]))


@pytest.mark.bart
def test_matches_bart_on_undersampled_knee_k_space(coil_data: CoilData, tmp_path: Path) -> None:
    """An undersampled (4x, 16-line centre) k-space: both find the calibration block from the
    sampled centre; the unsampled lines stay exactly +0.0."""
    rng = np.random.default_rng(0)
    width = coil_data.kspace.shape[-1]
    lines = rng.random(width) < 0.2
    lines[width // 2 - 8 : width // 2 + 8] = True
    kspace = coil_data.kspace * lines
    reference = _bart_cc(kspace, tmp_path, 3)
    out = compress_coils(kspace, 3, mask=torch.from_numpy(lines))
    aligned = _align_phase(out.kspace.numpy(), reference)
    assert_close_in_norm(aligned, reference, _cc_rtol(kspace.shape[0]))
    unsampled = out.kspace[..., torch.from_numpy(~lines)]
    assert torch.all(unsampled == 0) and not torch.signbit(torch.view_as_real(unsampled)).any()


def test_all_virtual_coils_are_a_unitary_change_of_coils(coil_data: CoilData) -> None:
    """Keeping every component loses nothing: the root-sum-of-squares image is unchanged and
    the matrix is unitary."""
    kspace = torch.from_numpy(coil_data.kspace)
    out = compress_coils(kspace, kspace.shape[0])
    coils = kspace.shape[0]
    eye = torch.eye(coils, dtype=torch.complex64)
    # inner products of unit vectors of `coils` entries
    torch.testing.assert_close(out.matrix[0].mH @ out.matrix[0], eye, atol=rounding_rtol(torch.complex64, terms=coils), rtol=0)
    rss = ifft2c(kspace).abs().square().sum(0).sqrt()
    rss_virtual = ifft2c(out.kspace).abs().square().sum(0).sqrt()
    rtol = rounding_rtol(torch.complex64, fft_points=kspace.shape[-2] * kspace.shape[-1], fft_passes=2, terms=coils)
    assert_close_in_norm(rss_virtual, rss, rtol)
    assert float(out.energy[0]) == 1.0  # every component kept: the kept share is the whole


def test_fewer_virtual_coils_keep_the_stated_energy(coil_data: CoilData) -> None:
    """The kept share of the calibration energy is what the dropped components miss, it grows
    with the number of virtual coils, and the leading components hold most of the image."""
    kspace = torch.from_numpy(coil_data.kspace)
    energies = [float(compress_coils(kspace, v).energy[0]) for v in range(1, kspace.shape[0] + 1)]
    assert all(b >= a for a, b in zip(energies, energies[1:])) and energies[-1] == 1.0
    out = compress_coils(kspace, 3)
    kept = float(out.kspace.abs().square().sum() / kspace.abs().square().sum())
    assert energies[2] > 0.9 and kept == pytest.approx(energies[2], abs=0.02)


def test_batches_compress_each_slice_on_its_own(coil_data: CoilData) -> None:
    kspace = torch.from_numpy(coil_data.kspace)
    other = torch.roll(kspace, 1, dims=0) * 2  # the same object seen by the coils in another order
    out = compress_coils(torch.stack([kspace, other]), 2)
    assert out.kspace.shape == (2, 2, *kspace.shape[1:]) and out.matrix.shape == (2, kspace.shape[0], 2)
    assert_close_in_norm(out.kspace[0], compress_coils(kspace, 2).kspace, _cc_rtol(kspace.shape[0]))
    assert_close_in_norm(out.kspace[1], compress_coils(other, 2).kspace, _cc_rtol(kspace.shape[0]))


@pytest.mark.parametrize("virtual", [0, 7, 2.5, True])
def test_bad_virtual_coil_counts_are_refused(coil_data: CoilData, virtual: object) -> None:
    with pytest.raises(InputError, match="coil compression needs 1 to 6 virtual coils"):
        compress_coils(coil_data.kspace, virtual)  # type: ignore[arg-type]


@pytest.mark.parametrize(("requested", "expected"), [(None, None), (15, None), (20, None), (8, 8), (0, 0)])
def test_virtual_coil_count_keeps_every_coil_only_for_none_or_too_many(requested: int | None, expected: int | None) -> None:
    # 0 passes through, so compress_coils refuses it instead of it silently meaning "all coils"
    assert virtual_coil_count(requested, 15) == expected


def test_no_sampled_centre_is_refused(coil_data: CoilData) -> None:
    kspace = coil_data.kspace.copy()
    width = kspace.shape[-1]
    kspace[..., width // 2 - 2 : width // 2 + 2] = 0
    with pytest.raises(InputError, match="centre is not sampled"):
        compress_coils(kspace, 2)
