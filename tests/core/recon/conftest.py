"""Fixtures of the reconstruction tests: BART's phantom and the synthetic knee, undersampled.

The ``bart`` marker (conformance with ``bart pics``) is registered here too, so these tests run
under ``--strict-markers`` whether or not the project configuration lists it. Tests marked
``bart`` fail, never skip, when the ``bart`` command is missing: CI installs it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from lfmri_core.io.bart_cfl import read_cfl
from lfmri_core.masks import make_mask
from lfmri_core.physics import ifft2c, sensitivity_combine
from tests.conftest import require_bart


@dataclass(frozen=True)
class Case:
    """One undersampled slice with maps and its fully sampled reference.

    Attributes
    ----------
    name
        Data and mask, for test ids and messages.
    kspace
        Masked k-space, complex64 ``(1, coils, H, W)``.
    mask
        Boolean ``(H, W)`` tensor.
    pattern
        The same mask as numpy ``(H, W)``.
    sensitivities
        Normalised maps, complex64 ``(1, coils, H, W)``.
    reference
        ``|sensitivity_combine(ifft2c(full k-space))|``, float ``(H, W)``.
    """

    name: str
    kspace: torch.Tensor
    mask: torch.Tensor
    pattern: np.ndarray
    sensitivities: torch.Tensor
    reference: np.ndarray


def make_case(name: str, full: np.ndarray, maps: np.ndarray, mask_name: str) -> Case:
    """Undersample ``full`` (coils, H, W) with our ``mask_name`` mask, 4x, seed 0."""
    mask = make_mask(mask_name, full.shape, acceleration=4, center_fraction=0.08, seed=0)
    pattern = np.array(np.broadcast_to(mask.pattern, full.shape[-2:]), dtype=bool, copy=True)
    kspace = torch.from_numpy(np.ascontiguousarray(mask.apply(full)))[None]
    maps_t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.complex64))[None]
    reference = sensitivity_combine(ifft2c(torch.from_numpy(full)), maps_t[0]).abs().numpy()
    return Case(f"{name}-{mask_name}", kspace, torch.from_numpy(pattern), pattern, maps_t, reference)


@pytest.fixture(scope="session")
def bart_phantom(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    """``bart phantom -k -s 8 -x 128`` and its ``bart ecalib -m1`` maps, ours ``(coils, H, W)``."""
    exe = require_bart()
    folder: Path = tmp_path_factory.mktemp("bart-phantom")
    subprocess.run([exe, "phantom", "-k", "-s", "8", "-x", "128", "kspace"], cwd=folder, check=True, capture_output=True)
    subprocess.run([exe, "ecalib", "-m1", "kspace", "maps"], cwd=folder, check=True, capture_output=True)
    kspace = np.asarray(read_cfl(folder / "kspace")).reshape(128, 128, 8)
    maps = np.asarray(read_cfl(folder / "maps")).reshape(128, 128, 8)
    as_ours = lambda a: np.ascontiguousarray(np.transpose(a, (2, 0, 1)), dtype=np.complex64)  # noqa: E731
    return as_ours(kspace), as_ours(maps)


@pytest.fixture(scope="session")
def synthetic_knee() -> tuple[np.ndarray, np.ndarray]:
    """One slice of the synthetic knee (320 x 320, 8 coils), true maps normalised to rss 1."""
    from lfmri_core.synthetic import SyntheticConfig, generate_volume

    volume = generate_volume(SyntheticConfig(num_slices=1, seed=0))
    maps = volume.sensitivities[0]
    rss = np.sqrt(np.sum(np.abs(maps) ** 2, axis=0))
    return np.ascontiguousarray(volume.kspace[0]), (maps / np.maximum(rss, 1e-12)).astype(np.complex64)
