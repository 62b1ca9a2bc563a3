"""Shared test fixtures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

# The suite tests the built-in methods whatever method plugins are installed (the BART plugin
# of this repository included); the plugin tests load plugins themselves.
os.environ.setdefault("LFMRI_DISABLE_PLUGINS", "1")

# Property tests check values, never speed: no per-example deadline (hypothesis' default of
# 200 ms is exceeded on a slower or busy machine). Timings belong in benchmarks/.
settings.register_profile("lfmri", deadline=None)
settings.load_profile("lfmri")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def devices() -> list[str]:
    """Every torch device present, so operator tests run on the GPU too when there is one."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    return found


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def random_complex(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def require_bart() -> str:
    """Path of the ``bart`` command; fails (never skips) the test without it: CI installs BART."""
    exe = shutil.which("bart")
    if exe is None:
        pytest.fail("the bart command is not installed; the bart-marked tests need it (CI installs BART)")
    return exe


def write_small_knee(path: Path, *, seed: int = 4, slices: int = 2, coils: int = 4,
                     shape: tuple[int, int] = (128, 96)) -> Path:
    """A small fully sampled fastMRI-format knee: the synthetic knee of ``seed`` with its
    k-space cropped to ``shape`` (a lower-resolution image of the same field of view; few
    phase-encode columns, so fastMRI's centre fractions leave few centre lines), with
    ``reconstruction_rss`` of the whole crop and PD's acquisition attribute."""
    from lfmri_core.io.fastmri_h5 import write_volume
    from lfmri_core.io.ismrmrd_header import EncodingInfo
    from lfmri_core.physics import ifft2c, rss
    from lfmri_core.synthetic import SyntheticConfig, generate_volume

    volume = generate_volume(SyntheticConfig(num_slices=slices, num_coils=coils, seed=seed))
    height, width = shape
    top = volume.kspace.shape[-2] // 2 - height // 2
    left = volume.kspace.shape[-1] // 2 - width // 2
    kspace = np.ascontiguousarray(volume.kspace[..., top : top + height, left : left + width])
    target = rss(ifft2c(torch.from_numpy(kspace)), dim=1).numpy().astype(np.float32)
    return write_volume(path, kspace, encoding=EncodingInfo(encoded_shape=shape, recon_shape=shape),
                        reconstruction_rss=target, attrs={"acquisition": "CORPD_FBK"})
