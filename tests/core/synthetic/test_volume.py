"""The public API of the synthetic knee generator: configuration, shapes, determinism,
orientation and the fastMRI acquisition physics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.physics.fft import fft2c, ifft2c
from lfmri_core.synthetic import (
    LESION_LABELS,
    SyntheticConfig,
    SyntheticVolume,
    available_geometries,
    generate_volume,
    get_geometry,
    render_tissue_fractions,
    subject_for,
)
from lfmri_core.synthetic.anatomy import SliceAnatomy
from lfmri_core.synthetic.contrast import Tissue
from lfmri_core.synthetic.raster import fft2c_numpy, ifft2c_numpy
from tests.tolerances import assert_close_in_norm, relative_error, rounding_rtol


def test_geometries_are_registered_with_fastmri_encoding_limits() -> None:
    assert {"compact", "fastmri-knee"} <= set(available_geometries())
    knee = get_geometry("fastmri-knee")
    assert knee.encoded_shape == (640, 368) and knee.recon_shape == (320, 320) and knee.num_coils == 15
    assert (knee.kspace_center, knee.kspace_maximum) == (183, 365)
    assert knee.padding == (1, 367)
    assert knee.crop == (slice(160, 480), slice(24, 344))
    assert knee.fov_mm == (320.0, 184.0)
    compact = get_geometry("compact")
    assert compact.padding == (0, 320) and compact.num_coils == 8


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"geometry": "brain"}, "geometry"),
        ({"contrast": "T2"}, "contrast"),
        ({"num_slices": 0}, "num_slices"),
        ({"num_slices": 2.5}, "num_slices"),
        ({"num_coils": 0}, "num_coils"),
        ({"num_coils": 33}, "num_coils"),
        ({"snr": 0.0}, "snr"),
        ({"snr": -3.0}, "snr"),
        ({"snr": float("nan")}, "snr"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_parameters_raise_input_error_naming_them(kwargs: dict, name: str) -> None:
    with pytest.raises(InputError, match=name) as err:
        SyntheticConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_labels_are_spelled_like_fastmri_plus() -> None:
    assert LESION_LABELS == (
        "Meniscus Tear",
        "Cartilage - Partial Thickness loss/defect",
        "Bone- Subchondral edema",
        "Joint Effusion",
        "Periarticular cysts",
    )


def _check_shapes(volume: SyntheticVolume, slices: int, coils: int, encoded: tuple[int, int]) -> None:
    assert volume.kspace.shape == (slices, coils, *encoded) and volume.kspace.dtype == np.complex64
    assert volume.sensitivities.shape == volume.kspace.shape and volume.sensitivities.dtype == np.complex64
    assert volume.image.shape == (slices, *encoded) and volume.image.dtype == np.complex64
    assert volume.lesion_free_image is not None and volume.lesion_free_image.shape == volume.image.shape
    assert volume.reconstruction_rss.shape == (slices, 320, 320) and volume.reconstruction_rss.dtype == np.float32
    assert volume.encoded_shape == encoded and volume.recon_shape == (320, 320)
    assert np.isfinite(volume.kspace).all() and np.isfinite(volume.reconstruction_rss).all()
    assert volume.noise_correlation is not None and volume.noise_correlation.shape == (coils, coils)


def test_compact_shapes_and_metadata(pd_volume: SyntheticVolume, pdfs_volume: SyntheticVolume) -> None:
    _check_shapes(pd_volume, 16, 8, (320, 320))
    assert pd_volume.acquisition == "CORPD_FBK" and pdfs_volume.acquisition == "CORPDFS_FBK"
    assert (pd_volume.kspace_center, pd_volume.kspace_maximum) == (160, 319)
    assert pd_volume.fov_mm == (160.0, 160.0)
    assert pd_volume.patient_id == pdfs_volume.patient_id  # one subject, two contrasts
    assert pd_volume.patient_id != generate_volume(SyntheticConfig(num_slices=1, seed=5)).patient_id


def test_fastmri_knee_shapes_and_empty_columns(fastmri_volume: SyntheticVolume) -> None:
    _check_shapes(fastmri_volume, 3, 15, (640, 368))
    assert (fastmri_volume.kspace_center, fastmri_volume.kspace_maximum) == (183, 365)
    assert fastmri_volume.padding == (1, 367)
    k = fastmri_volume.kspace
    for column in (0, 367):
        assert np.all(k[..., column] == 0)
        # +0.0, never -0.0: the sign bit must not leak anything.
        assert not np.signbit(k[..., column].real).any() and not np.signbit(k[..., column].imag).any()
    assert np.all(np.abs(k[..., 1:367]) > 0)


def test_num_coils_and_progress() -> None:
    calls = []
    volume = generate_volume(SyntheticConfig(num_slices=2, num_coils=3, seed=2), progress=lambda i, n: calls.append((i, n)))
    assert volume.kspace.shape == (2, 3, 320, 320)
    assert calls == [(1, 2), (2, 2)]


def test_same_config_is_byte_identical_and_seeds_differ() -> None:
    config = SyntheticConfig(num_slices=3, seed=11)
    a, b = generate_volume(config), generate_volume(config)
    assert a.kspace.tobytes() == b.kspace.tobytes()
    assert a.reconstruction_rss.tobytes() == b.reconstruction_rss.tobytes()
    assert a.boxes == b.boxes
    c = generate_volume(SyntheticConfig(num_slices=3, seed=12))
    assert subject_for(11) != subject_for(12)
    assert relative_error(np.abs(c.image), np.abs(a.image)) > 0.1  # another knee, not rounding


def test_recon_is_fastmri_rss_of_the_kspace(pd_volume: SyntheticVolume, fastmri_volume: SyntheticVolume) -> None:
    for volume in (pd_volume, fastmri_volume):
        rows, cols = get_geometry(volume.config.geometry).crop
        coil_images = ifft2c(torch.from_numpy(volume.kspace[:3]))
        rss = torch.sqrt(torch.sum(coil_images.abs() ** 2, dim=1))[:, rows, cols].numpy()
        # two float32 inverse FFTs (scipy's and torch's), each summed over the coils
        rtol = rounding_rtol(np.complex64, fft_points=volume.kspace.shape[-2] * volume.kspace.shape[-1], fft_passes=2,
                             terms=volume.kspace.shape[1])
        assert_close_in_norm(volume.reconstruction_rss[:3], rss, rtol)


def test_fast_fft_matches_the_project_fft() -> None:
    rng = np.random.default_rng(0)
    for shape in [(2, 320, 320), (1, 640, 368), (3, 6, 10), (2, 4, 6), (1, 5, 7)]:
        x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
        rtol = rounding_rtol(np.complex64, fft_points=shape[-2] * shape[-1], fft_passes=2)  # one FFT on each side
        assert_close_in_norm(fft2c_numpy(x), fft2c(torch.from_numpy(x)), rtol)
        assert_close_in_norm(ifft2c_numpy(x), ifft2c(torch.from_numpy(x)), rtol)


def test_kspace_is_coil_images_plus_noise_of_the_requested_level(pd_volume: SyntheticVolume, fastmri_volume: SyntheticVolume) -> None:
    for volume in (pd_volume, fastmri_volume):
        left, right = volume.padding
        clean = fft2c(torch.from_numpy(volume.sensitivities[:3] * volume.image[:3, None])).numpy()
        residual = (volume.kspace[:3] - clean)[..., left:right]
        assert np.all(volume.kspace[..., :left] == 0) and np.all(volume.kspace[..., right:] == 0)
        measured = np.sqrt(np.mean(np.abs(residual) ** 2))
        assert measured == pytest.approx(volume.noise_std, rel=0.02)
        # Real and imaginary parts share the variance, mean zero.
        assert np.var(residual.real) == pytest.approx(np.var(residual.imag), rel=0.05)
        assert abs(np.mean(residual)) < 0.01 * volume.noise_std


def test_snr_matches_the_definition_estimated_from_the_background(pd_volume: SyntheticVolume) -> None:
    volume = pd_volume
    rows, cols = get_geometry(volume.config.geometry).crop
    coils = volume.kspace.shape[1]
    clean = (np.abs(volume.image) * np.sqrt(np.sum(np.abs(volume.sensitivities) ** 2, axis=1)))[:, rows, cols]
    # Noise-only pixels: air far from the leg (RSS of pure noise: E[rss^2] = coils * sigma^2).
    sigma_guess = np.mean(clean[clean > 0.1 * np.percentile(clean, 99)]) / volume.config.snr
    air = clean < 0.02 * sigma_guess
    assert air.sum() > 10_000
    sigma = np.sqrt(np.mean(volume.reconstruction_rss[air] ** 2) / coils)
    obj = clean > 0.1 * np.percentile(clean, 99)
    snr = np.mean(clean[obj]) / sigma
    assert snr == pytest.approx(volume.config.snr, rel=0.1)
    assert sigma == pytest.approx(volume.noise_std, rel=0.1)


def test_higher_snr_means_less_noise() -> None:
    low = generate_volume(SyntheticConfig(num_slices=1, snr=10.0, seed=3))
    high = generate_volume(SyntheticConfig(num_slices=1, snr=40.0, seed=3))
    # the same knee, so the same mean signal divided by 10 and by 40 (one rounding each)
    assert low.noise_std == pytest.approx(4.0 * high.noise_std, rel=rounding_rtol(np.float64))


def test_sensitivities_are_smooth_and_flat_over_the_knee(pd_volume: SyntheticVolume) -> None:
    maps = pd_volume.sensitivities
    h, w = maps.shape[-2:]
    # A window removes the jump between opposite edges that a non-periodic map has for the FFT.
    window = (np.hanning(h)[:, None] * np.hanning(w)[None, :]).astype(np.float32)
    for index in (2, 8, 13):
        spectrum = np.abs(fft2c_numpy(maps[index] * window)) ** 2
        central = spectrum[:, h // 2 - h // 16 : h // 2 + h // 16, w // 2 - w // 16 : w // 2 + w // 16]
        # Almost all the energy within 1/8 of the k-space extent.
        assert np.all(central.sum(axis=(-2, -1)) > 0.999 * spectrum.sum(axis=(-2, -1)))
    rss = np.sqrt(np.sum(np.abs(maps) ** 2, axis=1))
    magnitude = np.abs(pd_volume.lesion_free_image)
    knee = magnitude > 0.1 * np.percentile(magnitude, 99)
    assert np.median(rss[knee]) == pytest.approx(1.0, abs=0.02)
    assert np.mean((rss[knee] > 0.7) & (rss[knee] < 1.3)) > 0.9
    # Coil maps differ: every coil sees the knee from its own side.
    corr = np.abs(np.corrcoef(np.abs(maps[8]).reshape(maps.shape[1], -1)))
    assert corr[~np.eye(len(corr), dtype=bool)].min() < 0.5


def test_lesions_false_renders_the_same_subject_without_boxes(pd_volume: SyntheticVolume) -> None:
    free = generate_volume(SyntheticConfig(contrast="PD", seed=pd_volume.config.seed, lesions=False))
    assert free.boxes == ()
    assert free.image.tobytes() == pd_volume.lesion_free_image.tobytes()
    assert free.sensitivities.tobytes() == pd_volume.sensitivities.tobytes()
    assert not np.array_equal(free.image, pd_volume.image)


def test_stored_frame_is_the_display_frame_flipped_up_down() -> None:
    config = SyntheticConfig(seed=4)
    index = 8
    fractions = render_tissue_fractions(config, index)
    marrow = fractions[Tissue.MARROW]
    anatomy = SliceAnatomy(subject_for(config.seed), 0.0625)
    h, w = marrow.shape
    # The patella lies above the joint (superior: top of the display) and anteriorly (left).
    pu, pv = anatomy.patella_center
    display_row, col = int(round(h // 2 - pv / 0.5)), int(round(pu / 0.5 + w // 2))
    assert display_row < h // 2 and col < w // 2
    assert marrow[h - 1 - display_row, col] > 0.99  # stored = display[::-1]
    assert marrow[display_row, col] < 0.01
    # Air outside the leg is exactly zero.
    assert sum(f[:, 0].sum() for f in fractions.values()) == 0


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_the_leg_fits_the_compact_field_of_view(seed: int) -> None:
    # No wrap-around along the phase-encode axis: the outermost columns are air.
    fractions = render_tissue_fractions(SyntheticConfig(seed=seed), 8)
    tissue = sum(fractions.values())
    assert tissue[:, :5].sum() == 0 and tissue[:, -5:].sum() == 0
