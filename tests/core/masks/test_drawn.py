"""Drawn masks: the ``"drawn"`` MaskSpec kind (pattern held exactly, JSON round trip, checks,
acceleration), applied with exact +0.0 zeros and used by the reconstruction pipeline."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from fastmri.data import transforms

from lfmri_core.errors import InputError
from lfmri_core.masks import DRAWN, DrawnMaskSpec, MaskSpec, make_mask, register_mask
from lfmri_core.masks.drawn import POINTS_ENCODING, centre_side
from tests.tolerances import assert_close_in_norm, rounding_rtol


def _line_pattern(width: int = 48, lines: tuple[int, ...] = (0, 5, 22, 23, 24, 25, 40)) -> np.ndarray:
    pattern = np.zeros(width, dtype=bool)
    pattern[list(lines)] = True
    return pattern


@pytest.mark.parametrize("name, shape", [("random", (64, 48)), ("equispaced", (64, 48)), ("poisson", (64, 48)),
                                         ("gaussian", (40, 56))])
def test_json_round_trip_is_exact(name: str, shape: tuple[int, int]) -> None:
    preset = make_mask(name, shape, acceleration=4, center_fraction=0.1, seed=3)
    spec = DrawnMaskSpec(preset.pattern)
    text = json.dumps(spec.to_dict())
    back = MaskSpec.from_dict(json.loads(text))
    assert isinstance(back, DrawnMaskSpec) and back == spec and hash(back) == hash(spec)
    np.testing.assert_array_equal(back.pattern, preset.pattern)
    built = back.build((2, *shape))
    np.testing.assert_array_equal(built.pattern, preset.pattern)
    assert built.name == DRAWN
    assert built.achieved_acceleration == preset.achieved_acceleration == spec.acceleration


def test_line_masks_are_stored_as_their_lines() -> None:
    spec = DrawnMaskSpec(_line_pattern())
    data = spec.to_dict()
    assert data["name"] == DRAWN and data["shape"] == [48] and data["lines"] == [0, 5, 22, 23, 24, 25, 40]
    assert "points" not in data
    assert spec.lines == (0, 5, 22, 23, 24, 25, 40)
    assert spec.acceleration == 48 / 7 == data["acceleration"]


def test_points_are_stored_compactly() -> None:
    # a painted 2-D mask: a square centre and a few points; the packed form stays far below H * W
    pattern = np.zeros((320, 368), dtype=bool)
    pattern[140:180, 164:204] = True
    pattern[::37, ::41] = True
    data = DrawnMaskSpec(pattern).to_dict()
    assert data["encoding"] == POINTS_ENCODING and data["shape"] == [320, 368]
    assert len(data["points"]) < pattern.size / 8  # under the packed size: zlib shrinks painted regions
    np.testing.assert_array_equal(DrawnMaskSpec.from_dict(data).pattern, pattern)


def test_centre_side_follows_fastmri_placement() -> None:
    # fastMRI puts a centre of n_low lines at (n - n_low + 1) // 2 (SamplingMask.center)
    preset = make_mask("equispaced", (64, 48), acceleration=4, center_fraction=0.25, seed=0)
    assert centre_side(preset.pattern) >= preset.num_low_frequencies
    assert DrawnMaskSpec(_line_pattern()).num_low_frequencies == 4  # 22..25 around column 24
    unsampled_centre = _line_pattern(lines=(0, 1))
    assert DrawnMaskSpec(unsampled_centre).num_low_frequencies == 0
    assert DrawnMaskSpec(unsampled_centre).center_fraction == 0.0


def test_the_spec_is_frozen_and_copies_its_input() -> None:
    pattern = _line_pattern()
    spec = DrawnMaskSpec(pattern)
    pattern[:] = True  # the caller's array changing later changes nothing
    assert spec.lines == (0, 5, 22, 23, 24, 25, 40)
    spec.pattern[:] = False  # nor does writing to the copy it hands out
    assert spec.num_sampled == 7
    with pytest.raises(AttributeError):
        spec.shape = (12,)  # type: ignore[misc]
    assert spec != MaskSpec("random", spec.acceleration, 0.08)


def test_applied_kspace_has_positive_zeros_and_matches_fastmri(rng: np.random.Generator) -> None:
    spec = DrawnMaskSpec(_line_pattern())
    kspace = (-rng.random((3, 16, 48)) - 1j * rng.random((3, 16, 48))).astype(np.complex64)
    masked = spec.build(kspace.shape).apply(kspace)
    outside = ~_line_pattern()
    assert (masked[..., outside] == 0).all() and not np.signbit(masked[..., outside].real).any()
    assert not np.signbit(masked[..., outside].imag).any()
    # fastMRI's apply_mask with the same mask (its (..., W, 2) real view, mask over W)
    real_view = torch.view_as_real(torch.from_numpy(kspace))
    fastmri_mask = torch.from_numpy(_line_pattern().astype(np.float32)).reshape(1, 1, 48, 1)
    expected = transforms.apply_mask(real_view, lambda *_: (fastmri_mask, 4))[0]
    np.testing.assert_array_equal(torch.view_as_real(torch.from_numpy(masked)).numpy(), expected.numpy())


@pytest.mark.parametrize("pattern, match", [
    (np.zeros(16, dtype=bool), "samples nothing: draw at least one phase-encode line"),
    (np.zeros((8, 8), dtype=bool), "samples nothing: draw at least one k-space point"),
    (np.full(8, 2), "only 0 and 1"),
    (np.ones((2, 2, 2), dtype=bool), r"shape \(W,\) or \(H, W\)"),
    (np.ones(0, dtype=bool), r"shape \(W,\) or \(H, W\)"),
])
def test_bad_patterns_are_refused(pattern: np.ndarray, match: str) -> None:
    with pytest.raises(InputError, match=match):
        DrawnMaskSpec(pattern)


@pytest.mark.parametrize("shape, pattern, match", [
    ((4, 16, 40), _line_pattern(), "drawn on 48 phase-encode columns; this k-space .* has 40 columns"),
    ((4, 64, 50), np.ones((64, 48), bool), "drawn on 64 x 48 k-space; this k-space .* has 64 x 50"),
    ((4, 60, 48), np.ones((64, 48), bool), "drawn on 64 x 48 k-space"),
])
def test_kspace_of_another_shape_is_refused(shape: tuple[int, ...], pattern: np.ndarray, match: str) -> None:
    with pytest.raises(InputError, match=match):
        DrawnMaskSpec(pattern).build(shape)


@pytest.mark.parametrize("change, match", [
    ({"lines": [0, 48]}, "drawn line 48 lies outside the 48 phase-encode columns"),
    ({"lines": [3, 3]}, "lists a line twice"),
    ({"lines": "0,1"}, "needs 'lines'"),
    ({"lines": [1.5]}, "must be integers"),
    ({"shape": [0]}, "shape must be"),
    ({"shape": [2, 3, 4]}, "shape must be"),
    ({"acceleration": 2.0}, "states acceleration 2.0 but its pattern has"),
    ({"colour": "red"}, "unknown drawn mask key"),
    ({"shape": [4, 4], "points": "not base64!"}, "cannot be decoded"),
    ({"shape": [4, 4], "points": "eJwDAAAAAAE=", "encoding": "png"}, "unknown drawn mask encoding"),
])
def test_bad_json_is_refused_with_one_line(change: dict[str, Any], match: str) -> None:
    data = {**DrawnMaskSpec(_line_pattern()).to_dict(), **change}
    with pytest.raises(InputError, match=match) as info:
        MaskSpec.from_dict(data)
    assert "\n" not in str(info.value)


def test_points_of_the_wrong_size_are_refused() -> None:
    data = DrawnMaskSpec(np.ones((8, 8), dtype=bool)).to_dict()
    data["shape"] = [8, 16]
    with pytest.raises(InputError, match="hold 8 bytes; a 8 x 16 mask needs 16"):
        MaskSpec.from_dict(data)


def test_drawn_is_not_a_registered_builder() -> None:
    with pytest.raises(InputError, match="unknown mask 'drawn'"):
        MaskSpec(DRAWN, 4, 0.08)
    with pytest.raises(InputError, match="reserved for masks drawn by hand"):
        register_mask(DRAWN)


def test_with_seed_keeps_the_drawn_pattern() -> None:
    spec = DrawnMaskSpec(_line_pattern())
    assert spec.with_seed((1, 2, 3)) is spec
    preset = MaskSpec("random", 4, 0.08)
    assert preset.with_seed(7) == MaskSpec("random", 4, 0.08, seed=7)


def test_the_pipeline_reconstructs_with_a_drawn_mask(tmp_path: Any) -> None:
    from lfmri_core.io.volume import open_volume
    from lfmri_core.physics import center_crop, ifft2c, rss
    from lfmri_core.recon.pipeline import reconstruct_volume
    from lfmri_core.synthetic import SyntheticConfig, generate_volume
    from lfmri_core.synthetic.export import write_dataset

    volume = generate_volume(SyntheticConfig(num_slices=2, num_coils=2, seed=4))
    path = write_dataset(tmp_path, [("drawn", volume)])[0]
    width = volume.kspace.shape[-1]
    pattern = np.zeros(width, dtype=bool)
    pattern[width // 2 - 12 : width // 2 + 12] = True
    pattern[::5] = True
    spec = DrawnMaskSpec(pattern)
    with open_volume(path) as vol:
        result = reconstruct_volume(vol, method="zero-filled", mask_spec=MaskSpec.from_dict(spec.to_dict()), slices=[1],
                                    device="cpu")
        preset = reconstruct_volume(vol, method="zero-filled", mask_spec=MaskSpec("random", 4, 0.08), slices=[1],
                                    device="cpu")
        kspace = vol.kspace(1)
        recon_shape = vol.info.recon_shape
    np.testing.assert_array_equal(result.mask.pattern, pattern)  # no padding in the synthetic header
    masked = torch.from_numpy(np.where(pattern, kspace, 0).astype(np.complex64))
    expected = center_crop(rss(ifft2c(masked), dim=0), recon_shape).numpy()
    # two float32 computations of one RSS image: an inverse FFT each, a sum over the coils
    rtol = rounding_rtol(np.complex64, fft_points=kspace.shape[-2] * kspace.shape[-1], fft_passes=2, terms=kspace.shape[0])
    assert_close_in_norm(result.images[0], expected, rtol)
    assert not np.allclose(result.images[0], preset.images[0])
