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


def bart_nlinv(kspace: np.ndarray, folder: Path, *options: str) -> np.ndarray:
    """``bart nlinv [options]`` on our k-space ``(coils, H, W)`` in ``folder``: its coil maps,
    complex64 ``(coils, H, W)`` as BART returns them (not normalised)."""
    exe = require_bart()
    coils, height, width = kspace.shape
    write_cfl(folder / "nlinv_kspace", np.transpose(kspace, (1, 2, 0))[:, :, None, :])
    subprocess.run([exe, "nlinv", *options, "nlinv_kspace", "nlinv_image", "nlinv_maps"], cwd=folder, check=True,
                   capture_output=True, text=True)
    maps = np.asarray(read_cfl(folder / "nlinv_maps")).reshape(height, width, coils, order="F")
    return np.ascontiguousarray(np.transpose(maps, (2, 0, 1))).astype(np.complex64)


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


@dataclass(frozen=True)
class FewLinesCase:
    """A synthetic knee slice with few fully sampled centre lines.

    Attributes
    ----------
    full
        Fully sampled k-space, complex64 ``(coils, H, W)`` (the centre of the 320 x 320 slice's
        k-space: a lower-resolution image of the same knee).
    kspace
        The undersampled k-space ``(1, coils, H, W)`` (torch).
    mask
        The :class:`~lfmri_core.masks.SamplingMask`.
    pattern
        Boolean ``(H, W)`` (torch).
    reference
        Root-sum-of-squares of the fully sampled coil images ``(1, H, W)``.
    zero_filled
        PSNR (dB) of the zero-filled RSS image against ``reference``.
    """

    full: np.ndarray
    kspace: torch.Tensor
    mask: object
    pattern: torch.Tensor
    reference: np.ndarray
    zero_filled: float

    def psnr(self, image: torch.Tensor | np.ndarray) -> float:
        """PSNR (dB) of a magnitude or complex image ``(1, H, W)`` against the reference (its maximum)."""
        from lfmri_core.metrics.image import psnr

        magnitude = np.abs(image.detach().numpy() if isinstance(image, torch.Tensor) else image)
        return psnr(self.reference, magnitude, float(self.reference.max()))


_KNEES: dict[int, np.ndarray] = {}


def few_lines_case(seed: int, lines: int, *, mask_name: str = "equispaced", shape: tuple[int, int] = (128, 96),
                   acceleration: int = 8) -> FewLinesCase:
    """The synthetic knee of ``seed`` (PD for even seeds, PDFS for odd; 8 coils) cropped in
    k-space to ``shape``, undersampled ``acceleration``-fold with exactly ``lines`` centre lines
    (fastMRI's mask functions, seeded with ``seed``)."""
    from lfmri_core.masks import make_mask
    from lfmri_core.metrics.image import psnr
    from lfmri_core.physics import ifft2c
    from lfmri_core.synthetic import SyntheticConfig, generate_volume

    if seed not in _KNEES:
        volume = generate_volume(SyntheticConfig(num_slices=1, seed=seed, contrast="PD" if seed % 2 == 0 else "PDFS"))
        _KNEES[seed] = volume.kspace[0]
    knee = _KNEES[seed]
    height, width = shape
    top, left = knee.shape[-2] // 2 - height // 2, knee.shape[-1] // 2 - width // 2
    full = np.ascontiguousarray(knee[:, top : top + height, left : left + width])
    mask = make_mask(mask_name, full.shape, acceleration=acceleration, center_fraction=(lines - 0.4) / width, seed=seed)
    assert mask.num_low_frequencies == lines
    kspace = torch.from_numpy(np.ascontiguousarray(mask.apply(full)))[None]
    pattern = torch.from_numpy(np.array(np.broadcast_to(mask.pattern, full.shape[-2:]), dtype=bool))
    reference = ifft2c(torch.from_numpy(full)[None]).abs().square().sum(1).sqrt().numpy()
    zero_filled = ifft2c(kspace).abs().square().sum(1).sqrt().numpy()
    return FewLinesCase(full, kspace, mask, pattern, reference, psnr(reference, zero_filled, float(reference.max())))
