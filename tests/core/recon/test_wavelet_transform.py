"""BART's wavelet transform in torch: perfect reconstruction, levels, shifts, and BART itself."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.io.bart_cfl import read_cfl, write_cfl
from lfmri_core.recon.wavelet_transform import (
    BartShiftSequence,
    WaveletSoftThreshold,
    glibc_rand_r,
    transform_counts,
    wavedec2,
    waverec2,
)
from tests.conftest import devices
from tests.conftest import require_bart
from tests.tolerances import assert_close_in_norm, rounding_rtol


def _wavelet_rtol(shape: tuple[int, ...], passes: int = 2) -> float:
    """float32 rounding of ``passes`` transforms (decomposition, reconstruction): each level
    filters with (at most) 4 taps along each axis."""
    return rounding_rtol(torch.float32, terms=4, steps=passes * 2 * max(1, *transform_counts(shape[-2:])))


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("wavelet", ["haar", "dau2"])
@pytest.mark.parametrize("shape", [(2, 320, 320), (1, 640, 368), (3, 37, 23), (1, 16, 1)])
def test_perfect_reconstruction(shape: tuple[int, ...], wavelet: str, device: str) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, dtype=torch.complex64, generator=gen).to(device)
    assert_close_in_norm(waverec2(wavedec2(x, wavelet), wavelet), x, _wavelet_rtol(shape))
    real = x.real.contiguous()
    assert_close_in_norm(waverec2(wavedec2(real, wavelet), wavelet), real, _wavelet_rtol(shape))


def test_levels_per_axis_follow_bart() -> None:
    """An axis stops when its low band is shorter than 16; the other goes on alone."""
    assert transform_counts((320, 320)) == (5, 5)
    assert transform_counts((640, 368)) == (6, 5)
    coefficients = wavedec2(torch.zeros((640, 368), dtype=torch.complex64))
    assert [level.dims for level in coefficients.levels] == [(-2, -1)] * 5 + [(-2,)]
    assert coefficients.approximation.shape == (12, 14)
    assert set(coefficients.levels[0].bands) == {"lh", "hl", "hh"}
    assert coefficients.levels[0].bands["hh"].shape == (321, 185)  # (N + 3) // 2: symmetric extension


def test_thresholding_at_zero_is_the_identity() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn((2, 64, 48), dtype=torch.complex64, generator=gen)
    prox = WaveletSoftThreshold(0.0, base_shift=(32, 24))
    for _ in range(3):  # three different cycle-spinning shifts
        assert_close_in_norm(prox(x, 1.0), x, _wavelet_rtol(x.shape))


def test_large_threshold_gives_zero() -> None:
    x = torch.randn((1, 32, 32), dtype=torch.complex64, generator=torch.Generator().manual_seed(2))
    assert torch.count_nonzero(WaveletSoftThreshold(1.0)(x, 1e3)) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's rand_r is the reference")
def test_rand_r_is_glibc() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    state_c = ctypes.c_uint(1)
    state = 1
    for _ in range(1000):
        value, state = glibc_rand_r(state)
        assert value == libc.rand_r(ctypes.byref(state_c))
        assert state == state_c.value


def test_shift_sequence_is_deterministic_and_in_range() -> None:
    first = [BartShiftSequence().shifts((320, 320)) for _ in range(1)]
    sequence = BartShiftSequence()
    draws = [sequence.shifts((320, 320)) for _ in range(200)]
    assert draws[0] == first[0]
    assert all(0 <= s <= 64 for pair in draws for s in pair)  # 2 ** (5 transforms + 1)
    assert len(set(draws)) > 150


def test_unknown_wavelet() -> None:
    with pytest.raises(InputError, match="unknown wavelet 'db4'"):
        WaveletSoftThreshold(0.1, "db4")


@pytest.mark.bart
@pytest.mark.parametrize("shape", [(64, 48), (100, 37), (320, 320)])
def test_matches_bart_wavelet_and_threshold(shape: tuple[int, int], tmp_path: Path) -> None:
    """Same coefficients as ``bart wavelet -D 3`` (up to their order) and same ``bart threshold -W``."""
    exe = require_bart()
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    write_cfl(tmp_path / "x", x)
    subprocess.run([exe, "wavelet", "-D", "3", "x", "coefficients"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run([exe, "threshold", "-W", "0.5", "x", "thresholded"], cwd=tmp_path, check=True, capture_output=True)
    theirs = np.asarray(read_cfl(tmp_path / "coefficients")).ravel()
    ours_c = wavedec2(torch.from_numpy(x))
    ours = torch.cat([ours_c.approximation.flatten(), *(b.flatten() for lv in ours_c.levels for b in lv.bands.values())]).numpy()
    assert ours.size == theirs.size
    # each side rounds its own decomposition (and, for the threshold, its reconstruction)
    assert_close_in_norm(np.sort(np.abs(ours)), np.sort(np.abs(theirs)), _wavelet_rtol(shape, passes=2))
    thresholded = WaveletSoftThreshold(0.5, cycle_spinning=False)(torch.from_numpy(x), 1.0).numpy()
    assert_close_in_norm(thresholded, np.asarray(read_cfl(tmp_path / "thresholded")), _wavelet_rtol(shape, passes=4))
