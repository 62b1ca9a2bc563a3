"""The calibration block: BART's growth from the centre, the readout search, fixed blocks and
blocks read from a mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lfmri_core.coils import find_calibration_region, sampling_pattern
from lfmri_core.coils.calibration import extract_calibration, rotate_phase
from lfmri_core.errors import InputError
from lfmri_core.masks import make_mask
from tests.tolerances import rounding_rtol


def _kspace(shape: tuple[int, ...] = (2, 3, 64, 48), seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))


def test_full_data_gives_the_centred_limit_without_search() -> None:
    kspace = _kspace()
    region = find_calibration_region(kspace, (24, 24), search_readout=False)
    assert region.size == (24, 24) and region.starts == ((20, 12), (20, 12))
    assert extract_calibration(kspace, region).shape == (2, 3, 24, 24)


def test_limit_larger_than_the_data_is_clipped() -> None:
    region = find_calibration_region(_kspace((1, 2, 16, 20)), (24, 24), search_readout=False)
    assert region.size == (16, 20) and region.starts == ((0, 0),)


def test_readout_search_finds_the_largest_energy() -> None:
    kspace = _kspace((2, 3, 64, 48)) * 0.01
    kspace[0, :, 40, 20:28] += 100  # an echo off centre in slice 0 only
    region = find_calibration_region(kspace, (8, 8))
    assert region.size == (8, 8)
    (row0, col0), (row1, col1) = region.starts
    assert col0 == col1 == 20
    assert 33 <= row0 <= 40  # a window holding the echo
    assert torch.equal(extract_calibration(kspace, region)[0], kspace[0, :, row0 : row0 + 8, 20:28])  # a copy
    assert torch.equal(extract_calibration(kspace, region)[1], kspace[1, :, row1 : row1 + 8, 20:28])


@pytest.mark.parametrize("lines", [10, 16, 30])
def test_line_mask_limits_the_columns(lines: int) -> None:
    kspace = _kspace((1, 2, 64, 96))
    pattern = np.zeros(96, dtype=bool)
    pattern[48 - lines // 2 : 48 - lines // 2 + lines] = True
    pattern[::3] = True
    masked = torch.where(torch.from_numpy(pattern), kspace, torch.zeros(()))
    from_data = find_calibration_region(masked, (24, 24), search_readout=False)
    from_mask = find_calibration_region(kspace, (24, 24), mask=pattern, search_readout=False)
    assert from_data == from_mask
    assert from_data.size[0] == 24
    width = from_data.size[1]
    start = from_data.starts[0][1]
    assert pattern[start : start + width].all() and width <= 24
    assert width >= min(lines, 24) - 1


def test_two_dimensional_mask() -> None:
    mask = make_mask("poisson", (64, 64), acceleration=4, center_fraction=0.25, seed=0)
    kspace = mask.apply(_kspace((1, 2, 64, 64)))
    region = find_calibration_region(kspace, (24, 24), search_readout=False)
    rows, cols = region.slices(0)
    assert np.asarray(mask.pattern)[rows, cols].all()
    assert min(region.size) >= 12


def test_sampling_pattern_forms() -> None:
    kspace = _kspace((1, 2, 8, 6))
    line = np.array([1, 0, 1, 1, 0, 1], dtype=np.int64)
    assert sampling_pattern(kspace, line).shape == (8, 6)
    assert sampling_pattern(kspace, torch.ones(8, 6, dtype=torch.bool)).all()
    assert sampling_pattern(kspace).all()
    with pytest.raises(InputError, match="does not fit"):
        sampling_pattern(kspace, np.ones(5, dtype=bool))
    with pytest.raises(InputError, match="only 0 and 1"):
        sampling_pattern(kspace, np.full(6, 2))


def test_fixed_block_must_be_fully_sampled() -> None:
    kspace = _kspace((1, 2, 64, 48))
    region = find_calibration_region(kspace, (10, 12), auto=False)
    assert region.size == (10, 12) and region.starts == ((27, 18),)
    kspace[..., 20] = 0
    with pytest.raises(InputError, match="not fully sampled"):
        find_calibration_region(kspace, (10, 12), auto=False)


def test_unsampled_centre_and_zero_data() -> None:
    kspace = _kspace((1, 2, 32, 32))
    kspace[..., 15:17] = 0
    with pytest.raises(InputError, match="centre is not sampled"):
        find_calibration_region(kspace, (24, 24))
    with pytest.raises(InputError, match="all zero"):
        find_calibration_region(torch.zeros(1, 2, 32, 32, dtype=torch.complex64), (24, 24))


def test_rotate_phase_makes_the_inner_product_real() -> None:
    vectors = _kspace((4, 5))
    reference = _kspace((1, 5), seed=1)
    rotated = rotate_phase(vectors, reference, dim=1)
    inner = (rotated * reference.conj()).sum(dim=1)
    # real up to the rounding of a sum of 5 products, relative to the sum of their magnitudes
    magnitudes = (rotated.abs() * reference.abs()).sum(dim=1)
    assert bool((inner.imag.abs() <= rounding_rtol(torch.complex64, terms=5) * magnitudes).all())
    assert bool((inner.real > 0).all())
    # a unit phase factor: each magnitude rounds a few times
    torch.testing.assert_close(rotated.abs(), vectors.abs(), rtol=rounding_rtol(torch.complex64), atol=0)
    zero = rotate_phase(torch.zeros(1, 5, dtype=torch.complex64), reference, dim=1)
    assert bool((zero == 0).all())


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(8, 80),
    width=st.integers(8, 80),
    lines=st.integers(1, 40),
    limit=st.tuples(st.integers(1, 30), st.integers(1, 30)),
    every=st.integers(2, 5),
)
def test_found_block_is_fully_sampled_and_within_the_limit(
    height: int, width: int, lines: int, limit: tuple[int, int], every: int
) -> None:
    pattern = np.zeros(width, dtype=bool)
    lines = min(lines, width)
    pattern[width // 2 - lines // 2 : width // 2 - lines // 2 + lines] = True
    pattern[::every] = True
    kspace = torch.ones(1, 1, height, width, dtype=torch.complex64)
    try:
        region = find_calibration_region(kspace, limit, mask=pattern)
    except InputError as err:
        assert "centre is not sampled" in str(err)
        return
    rows, cols = region.slices(0)
    assert 1 <= region.size[0] <= min(limit[0], height) and 1 <= region.size[1] <= min(limit[1], width)
    assert rows.stop <= height and cols.stop <= width
    assert pattern[cols].all()
