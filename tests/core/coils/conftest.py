"""Fixtures of the coil-sensitivity tests: a synthetic multi-coil object with known maps, and
``bart ecalib`` run on our k-space.

The ``bart`` marker is registered here too, so these tests run under ``--strict-markers``
whether or not the project configuration lists it. Tests marked ``bart`` fail, never skip,
when the ``bart`` command is missing: CI installs it.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import expit

from lfmri_core.io.bart_cfl import read_cfl, write_cfl
from lfmri_core.physics import fft2c
from tests.conftest import require_bart
from tests.tolerances import rounding_rtol


@dataclass(frozen=True)
class BartMaps:
    """``bart ecalib`` output in our layout.

    Attributes
    ----------
    maps
        complex64 ``(maps, coils, H, W)``.
    eigenvalues
        float32 ``(maps, H, W)``.
    calib_start, calib_size
        The calibration block BART used, ``(row, column)`` and ``(rows, columns)``.
    """

    maps: np.ndarray
    eigenvalues: np.ndarray
    calib_start: tuple[int, int]
    calib_size: tuple[int, int]


def bart_ecalib(kspace: np.ndarray, folder: Path, *options: str) -> BartMaps:
    """Run ``bart ecalib [options]`` on our k-space ``(coils, H, W)`` in ``folder``."""
    exe = require_bart()
    coils, height, width = kspace.shape
    write_cfl(folder / "kspace", np.transpose(kspace, (1, 2, 0))[:, :, None, :])
    done = subprocess.run(
        [exe, "ecalib", "-d4", *options, "kspace", "maps", "values"], cwd=folder, check=True, capture_output=True, text=True
    )
    found = re.search(r"Calibration region.*size: (\d+)x(\d+)x\d+, pos: (\d+)x(\d+)x\d+", done.stdout + done.stderr)
    assert found, done.stdout
    maps = np.asarray(read_cfl(folder / "maps")).reshape(height, width, coils, -1, order="F")
    values = np.asarray(read_cfl(folder / "values")).reshape(height, width, -1, order="F")
    return BartMaps(
        np.ascontiguousarray(np.transpose(maps, (3, 2, 0, 1))),
        np.ascontiguousarray(np.transpose(values.real, (2, 0, 1))).astype(np.float32),
        (int(found[3]), int(found[4])),
        (int(found[1]), int(found[2])),
    )


@dataclass(frozen=True)
class CoilData:
    """A multi-coil object with known smooth sensitivities.

    Attributes
    ----------
    kspace
        complex64 ``(coils, H, W)``, fully sampled, with a little noise.
    sensitivities
        The true maps, complex64 ``(coils, H, W)`` (not normalised).
    image
        The complex object ``(H, W)``.
    support
        Boolean ``(H, W)``: inside the object.
    """

    kspace: np.ndarray
    sensitivities: np.ndarray
    image: np.ndarray
    support: np.ndarray


def make_coil_data(shape: tuple[int, int] = (96, 80), coils: int = 6, seed: int = 0, noise: float = 1e-3) -> CoilData:
    """A smooth-edged textured ellipse with smooth phase, seen by ``coils`` Gaussian coils
    around it with smooth phases; noise with standard deviation ``noise`` times the peak."""
    rng = np.random.default_rng(seed)
    height, width = shape
    yy, xx = np.mgrid[:height, :width]
    y = (yy - height // 2) / height
    x = (xx - width // 2) / width
    radius = (y / 0.36) ** 2 + (x / 0.3) ** 2
    inner = ((y - 0.08) / 0.12) ** 2 + ((x + 0.05) / 0.1) ** 2
    magnitude = expit(-(radius - 1) * 25) * (1 + 0.25 * np.cos(2 * np.pi * 4 * y) * np.sin(2 * np.pi * 3 * x))
    magnitude *= 1 - 0.6 * expit(-(inner - 1) * 20)
    image = magnitude * np.exp(1j * np.pi * (0.4 * x + 0.2 * y))
    angles = 2 * np.pi * (np.arange(coils) / coils) + rng.uniform(-0.2, 0.2, coils)
    sens = []
    for c, angle in enumerate(angles):
        cy, cx = 0.55 * np.sin(angle), 0.55 * np.cos(angle)
        profile = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 0.35**2))
        phase = rng.uniform(-np.pi, np.pi) + 2 * np.pi * (rng.uniform(-0.3, 0.3) * y + rng.uniform(-0.3, 0.3) * x)
        sens.append(profile * np.exp(1j * phase))
    sensitivities = np.stack(sens).astype(np.complex64)
    coil_images = torch.from_numpy((sensitivities * image).astype(np.complex64))
    kspace = fft2c(coil_images).numpy()
    scale = noise * np.abs(coil_images.numpy()).max()
    kspace = kspace + scale * (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape))
    return CoilData(kspace.astype(np.complex64), sensitivities, image.astype(np.complex64), magnitude > 0.3 * magnitude.max())


@pytest.fixture(scope="session")
def coil_data() -> CoilData:
    return make_coil_data()


@pytest.fixture(scope="session")
def bart_phantom(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """``bart phantom -k -s 8 -x 128``: our k-space ``(coils, H, W)``."""
    exe = require_bart()
    folder = tmp_path_factory.mktemp("bart-phantom")
    subprocess.run([exe, "phantom", "-k", "-s", "8", "-x", "128", "kspace"], cwd=folder, check=True, capture_output=True)
    kspace = np.asarray(read_cfl(folder / "kspace")).reshape(128, 128, 8, order="F")
    return np.ascontiguousarray(np.transpose(kspace, (2, 0, 1)))


def map_atol(kspace_shape: tuple[int, ...]) -> float:
    """Rounding of unit-norm coil maps (absolute, as ``|S| <= 1``): per-pixel vectors made from
    FFTs of the calibration data over the image, with sums over the coils."""
    return rounding_rtol(torch.complex64, fft_points=kspace_shape[-2] * kspace_shape[-1], fft_passes=2,
                         terms=kspace_shape[-3])


def coil_correlation(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """Per-pixel ``|<a, b>| / (|a| |b|)`` over the coil axis (-3): 1 where the maps agree up
    to a phase, float ``(..., H, W)`` (0 where either vanishes)."""
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    inner = np.abs(np.sum(a * np.conj(b), axis=-3))
    norms = np.linalg.norm(a, axis=-3) * np.linalg.norm(b, axis=-3)
    return np.where(norms > 0, inner / np.maximum(norms, 1e-30), 0.0)
