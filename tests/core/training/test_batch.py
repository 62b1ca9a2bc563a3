"""Batch preparation: the readout crop keeps target and k-space consistent; the target is fastMRI's RSS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lfmri_core.io.volume import open_volume
from lfmri_core.masks import MaskSpec
from lfmri_core.physics import SenseOperator, center_crop, ifft2c, rss
from lfmri_core.training import (
    coil_images,
    crops_readout,
    recon_batch,
    rss_target,
    zero_filled,
)
from lfmri_core.training.batch import crop_offsets
from tests.tolerances import assert_close_in_norm, rounding_rtol


def _kspace(folder: Path, name: str = "tiny_10000.h5") -> tuple[torch.Tensor, np.ndarray]:
    with open_volume(folder / name) as vol:
        return torch.from_numpy(np.stack([vol.kspace(s) for s in range(2)])), vol.target_volume()


def _fft_rtol(kspace: torch.Tensor) -> float:
    """Two computations of an RSS image, each through one float32 inverse FFT and a sum over coils."""
    return rounding_rtol(torch.complex64, fft_points=kspace.shape[-2] * kspace.shape[-1], fft_passes=2,
                         terms=kspace.shape[-3])


def test_uncropped_target_is_the_stored_reconstruction_rss(tiny_data: Path) -> None:
    kspace, stored = _kspace(tiny_data)
    target = rss_target(coil_images(kspace), (160, 160))
    assert_close_in_norm(target, stored, _fft_rtol(kspace))


def test_readout_crop_equals_cropping_rss_rows(tiny_data: Path) -> None:
    kspace, _ = _kspace(tiny_data)
    spec = MaskSpec("random", 4, 0.08, seed=5)
    fractions = [0.0, 0.73]
    batch = recon_batch(kspace, (160, 160), spec, crop_rows=32, crop_fractions=fractions)
    offsets = crop_offsets(fractions, 160, 32)
    assert offsets[0] == 0 and 0 < offsets[1] <= 128
    full_rss = rss(ifft2c(kspace))
    for i, offset in enumerate(offsets):
        assert_close_in_norm(batch.target[i], full_rss[i, offset : offset + 32], _fft_rtol(kspace))
    assert batch.crop_shape == (32, 160)
    # the mask is the batch's (same columns as for the uncropped k-space) and zeroes the rest
    pattern = torch.from_numpy(spec.build((160, 160)).pattern.copy())
    assert batch.mask.shape == (1, 160) and torch.equal(batch.mask[0], pattern)
    assert (batch.kspace[..., ~pattern] == 0).all() and (batch.kspace[..., pattern] != 0).all()
    assert batch.sensitivities.shape == batch.kspace.shape
    assert zero_filled(batch).shape == (2, 32, 160)


def test_crop_only_where_image_equals_recon_size() -> None:
    assert crops_readout((320, 320), (320, 320), 160)
    assert not crops_readout((640, 368), (320, 320), 160)
    assert not crops_readout((320, 320), (320, 320), None)
    assert not crops_readout((320, 320), (320, 320), 320)
    kspace = torch.randn(1, 2, 64, 48, dtype=torch.complex64)
    batch = recon_batch(kspace, (32, 32), MaskSpec("random", 4, 0.08, seed=1), crop_rows=16, crop_fractions=[0.5])
    assert batch.kspace.shape == (1, 2, 64, 48) and batch.target.shape == (1, 32, 32)


def test_columns_outside_the_encoding_limits_stay_unsampled() -> None:
    kspace = torch.randn(1, 2, 32, 40, dtype=torch.complex64)
    spec = MaskSpec("random", 2, 0.2, seed=3)
    batch = recon_batch(kspace, (16, 16), spec, padding=(4, 36))
    expected = spec.build((32, 40)).with_padding(4, 36).pattern
    assert (batch.mask[0].numpy() == expected).all() and not batch.mask[0, :4].any() and not batch.mask[0, 36:].any()
    assert (batch.kspace[..., :4] == 0).all()


def test_oversampled_readouts_train_on_the_inference_window() -> None:
    """320 readout rows, a 160-row recon: a line mask's batch holds rows 16..304 (the window
    inference runs the models on), with the same target and, the readout being fully sampled,
    the same zero-filled image as the whole readout; a 2-D mask keeps every row."""
    generator = torch.Generator().manual_seed(4)
    kspace = torch.randn(2, 3, 320, 48, dtype=torch.complex64, generator=generator)
    line = MaskSpec("random", 4, 0.08, seed=2)
    batch = recon_batch(kspace, (160, 48), line)
    assert batch.kspace.shape == (2, 3, 288, 48) and batch.sensitivities.shape == batch.kspace.shape
    assert batch.crop_shape == (160, 48)
    whole = rss(ifft2c(kspace))[:, 80:240]
    assert_close_in_norm(batch.target, whole, _fft_rtol(kspace))
    pattern = torch.from_numpy(line.build((320, 48)).pattern.copy())
    assert torch.equal(batch.mask[0], pattern) and (batch.kspace[..., ~pattern] == 0).all()
    # with the same (uniform) coil maps, the window's zero-filled image is the whole readout's
    masked = torch.where(pattern, kspace, torch.zeros((), dtype=kspace.dtype))
    whole_zero_filled = SenseOperator(torch.full_like(kspace, 3 ** -0.5), pattern[None]).adjoint(masked)
    cut_zero_filled = SenseOperator(torch.full_like(batch.kspace, 3 ** -0.5), batch.mask).adjoint(batch.kspace)
    assert_close_in_norm(center_crop(cut_zero_filled, (160, 48)), center_crop(whole_zero_filled, (160, 48)),
                         2 * _fft_rtol(kspace))
    assert recon_batch(kspace, (160, 48), MaskSpec("poisson", 4, 0.08, seed=2)).kspace.shape == (2, 3, 320, 48)


def test_a_recon_size_above_the_image_is_clipped_without_a_window() -> None:
    """A header's recon size may exceed the image (the target's crop clips it): no window, no error."""
    kspace = torch.randn(1, 2, 64, 48, dtype=torch.complex64, generator=torch.Generator().manual_seed(1))
    batch = recon_batch(kspace, (80, 48), MaskSpec("random", 4, 0.08, seed=1))
    assert batch.kspace.shape == (1, 2, 64, 48) and batch.target.shape == (1, 64, 48)
