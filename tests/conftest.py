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
