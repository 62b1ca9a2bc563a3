"""fastMRI's five line masks, bit for bit against ``fastmri.data.subsample`` (the reference).

fastMRI builds masks for its real ``(..., W, 2)`` view; ours take complex ``(..., H, W)``, so
the reference is called with ``(1, H, W, 2)`` and ours with ``(H, W)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastmri.data import subsample
from hypothesis import given, settings
from hypothesis import strategies as st

from lfmri_core.errors import InputError
from lfmri_core.masks import LINE_MASKS, LineMaskSampler, SamplingMask, make_mask, seed_from_filename

HEIGHT = 7  # the readout size plays no part in a line mask
WIDTHS = [320, 368, 372, 640, 33, 101]
CENTER_FRACTIONS = [0.04, 0.08, 0.16, 0.25]
ACCELERATIONS = [2, 4, 5, 8, 12]
OFFSETS = [None, 0, 1, 3]
SEEDS: list[int | tuple[int, ...]] = [
    0,
    1234,
    2**32 - 1,
    seed_from_filename("file1000001.h5"),
    seed_from_filename("file_brain_AXT2_200_2000019.h5"),
]
REFERENCE_CLASSES = {
    "random": "RandomMaskFunc",
    "equispaced": "EquiSpacedMaskFunc",
    "equispaced_fraction": "EquispacedMaskFractionFunc",
    "magic": "MagicMaskFunc",
    "magic_fraction": "MagicMaskFractionFunc",
}


def _reference(
    name: str, width: int, cf: float, acc: int, offset: int | None, seed: int | tuple[int, ...]
) -> tuple[np.ndarray, int] | None:
    """fastMRI's mask and center count, or None where fastMRI itself fails."""
    func = subsample.create_mask_for_mask_type(name, [cf], [acc])
    try:
        mask, num_low = func((1, HEIGHT, width, 2), offset=offset, seed=seed)
    except (ValueError, ZeroDivisionError, IndexError):
        return None
    return mask.numpy().reshape(-1).astype(bool), num_low


def _assert_same(ours: SamplingMask, reference: tuple[np.ndarray, int], context: str) -> None:
    pattern, num_low = reference
    assert ours.pattern.shape == pattern.shape, context
    assert np.array_equal(ours.pattern, pattern), f"{context}: differs at columns {np.flatnonzero(ours.pattern != pattern)}"
    assert ours.num_low_frequencies == num_low, context


def _cases(name: str, width: int) -> Iterator[tuple[float, int, int | None, int | tuple[int, ...]]]:
    for cf in CENTER_FRACTIONS:
        for acc in ACCELERATIONS:
            if acc > width:
                continue
            for offset in OFFSETS:
                for seed in SEEDS:
                    yield cf, acc, offset, seed


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", LINE_MASKS)
def test_make_mask_matches_fastmri(name: str, width: int) -> None:
    compared = 0
    for cf, acc, offset, seed in _cases(name, width):
        reference = _reference(name, width, cf, acc, offset, seed)
        if reference is None:
            continue  # covered by test_where_fastmri_fails_the_fraction_masks_keep_the_center
        ours = make_mask(name, (HEIGHT, width), acceleration=acc, center_fraction=cf, offset=offset, seed=seed)
        _assert_same(ours, reference, f"{name} W={width} cf={cf} acc={acc} offset={offset} seed={seed!r:.20}")
        assert ours.name == name and ours.nominal_acceleration == acc
        compared += 1
    assert compared > 100  # the grid must not silently shrink to nothing


@pytest.mark.parametrize(("width", "cf", "num_low"), [(50, 0.05, 2), (90, 0.05, 4)])
@pytest.mark.parametrize("name", LINE_MASKS)
def test_a_tied_center_rounds_half_to_even_as_fastmri(name: str, width: int, cf: float, num_low: int) -> None:
    """``W * center_fraction`` exactly halfway: fastMRI keeps ``round(2.5) = 2`` (and
    ``round(4.5) = 4``) lines, Python's half-to-even rounding; half-up would keep 3 (and 5)."""
    assert width * cf == num_low + 0.5  # an exact tie in binary floating point
    for acc, offset, seed in [(4, None, 0), (4, 1, 1234), (5, 0, 7), (2, None, seed_from_filename("file1000001.h5"))]:
        reference = _reference(name, width, cf, acc, offset, seed)
        assert reference is not None, f"fastMRI fails on {name} W={width} cf={cf} acc={acc}"
        ours = make_mask(name, (HEIGHT, width), acceleration=acc, center_fraction=cf, offset=offset, seed=seed)
        _assert_same(ours, reference, f"{name} W={width} cf={cf} acc={acc} offset={offset}")
        assert ours.num_low_frequencies == reference[1] == num_low


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(LINE_MASKS),
    width=st.integers(4, 700),
    cf=st.floats(0.01, 0.3),
    acc=st.integers(1, 16),
    offset=st.none() | st.integers(0, 20),
    seed=st.integers(0, 2**32 - 1)
    | st.text(st.characters(categories=("L", "N")), min_size=1, max_size=30).map(lambda t: seed_from_filename(f"file{t}.h5")),
)
def test_matches_fastmri_on_random_parameters(
    name: str, width: int, cf: float, acc: int, offset: int | None, seed: int | tuple[int, ...]
) -> None:
    if acc > width:
        with pytest.raises(InputError, match="acceleration"):
            make_mask(name, (HEIGHT, width), acceleration=acc, center_fraction=cf, offset=offset, seed=seed)
        return
    reference = _reference(name, width, cf, acc, offset, seed)
    ours = make_mask(name, (HEIGHT, width), acceleration=acc, center_fraction=cf, offset=offset, seed=seed)
    if reference is not None:
        _assert_same(ours, reference, f"{name} W={width} cf={cf} acc={acc} offset={offset}")


@pytest.mark.parametrize(
    ("name", "width", "cf", "acc"),
    [
        ("equispaced_fraction", 320, 0.25, 4),  # center == W / acc: fastMRI divides by zero
        ("equispaced_fraction", 320, 0.16, 8),  # center > W / acc: fastMRI draws from an empty range
        ("magic_fraction", 320, 0.16, 8),  # fastMRI: zero spacing
        ("magic_fraction", 33, 0.16, 12),
    ],
)
def test_where_fastmri_fails_the_fraction_masks_keep_the_center(name: str, width: int, cf: float, acc: int) -> None:
    assert _reference(name, width, cf, acc, None, 0) is None
    mask = make_mask(name, (HEIGHT, width), acceleration=acc, center_fraction=cf, seed=0)
    center = np.zeros(width, dtype=bool)
    center[mask.center] = True
    assert np.array_equal(mask.pattern, center)
    assert mask.num_low_frequencies >= width / acc - 0.5


def _reference_func(name: str, cfs: list[float], accs: list[int], seed: int, allow_any: bool = False) -> object:
    return getattr(subsample, REFERENCE_CLASSES[name])(cfs, accs, allow_any_combination=allow_any, seed=seed)


@pytest.mark.parametrize("name", LINE_MASKS)
def test_sampler_follows_a_fastmri_maskfunc_over_many_calls(name: str) -> None:
    cfs, accs = [0.08, 0.04], [4, 8]
    ours = LineMaskSampler(name, cfs, accs, seed=2024)
    reference = _reference_func(name, cfs, accs, seed=2024)
    # persistent draws interleaved with temporary reseeds (which must not disturb the state)
    calls: list[tuple[int, int | None, int | tuple[int, ...] | None]] = [
        (368, None, None), (368, None, None), (320, None, 5), (368, None, None), (640, 2, None),
        (372, None, seed_from_filename("file1000001.h5")), (101, None, None), (368, 1, 7), (368, None, None),
    ] * 4  # fmt: skip
    chosen = set()
    for i, (width, offset, seed) in enumerate(calls):
        mask, num_low = reference((1, HEIGHT, width, 2), offset=offset, seed=seed)
        got = ours((HEIGHT, width), offset=offset, seed=seed)
        _assert_same(got, (mask.numpy().reshape(-1).astype(bool), num_low), f"{name} call {i}")
        chosen.add(got.nominal_acceleration)
    assert chosen == {4.0, 8.0}  # both settings were drawn


@pytest.mark.parametrize("name", ["random", "equispaced_fraction", "magic"])
def test_sampler_with_any_combination_follows_fastmri(name: str) -> None:
    cfs, accs = [0.08, 0.04], [2, 4, 8]
    ours = LineMaskSampler(name, cfs, accs, allow_any_combination=True, seed=7)
    reference = _reference_func(name, cfs, accs, seed=7, allow_any=True)
    for i in range(40):
        seed = i if i % 5 == 0 else None
        mask, num_low = reference((1, HEIGHT, 368, 2), seed=seed)
        _assert_same(ours((HEIGHT, 368), seed=seed), (mask.numpy().reshape(-1).astype(bool), num_low), f"{name} call {i}")


def test_a_refused_call_leaves_the_sampler_state_alone() -> None:
    ours = LineMaskSampler("random", [0.08, 0.04], [4, 8], seed=3)
    reference = _reference_func("random", [0.08, 0.04], [4, 8], seed=3)
    with pytest.raises(InputError, match="acceleration 8 exceeds"):
        ours((HEIGHT, 6))
    mask, _ = reference((1, HEIGHT, 368, 2))
    assert np.array_equal(ours((HEIGHT, 368)).pattern, mask.numpy().reshape(-1).astype(bool))


def test_make_mask_is_a_fresh_maskfunc_per_call() -> None:
    seed = seed_from_filename("file1000001.h5")
    for name in LINE_MASKS:
        first = make_mask(name, (640, 368), acceleration=4, center_fraction=0.08, seed=seed)
        again = make_mask(name, (640, 368), acceleration=4, center_fraction=0.08, seed=seed)
        assert first == again
    # no seed: fresh OS entropy, so two calls almost surely differ
    draws = {make_mask("random", (640, 368), acceleration=4, center_fraction=0.08).pattern.tobytes() for _ in range(5)}
    assert len(draws) > 1
