"""The mask registry, make_mask's parameter checks, MaskSpec and fastMRI's per-file seed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.masks import (
    LINE_MASKS,
    MASK_REGISTRY,
    LineMaskSampler,
    MaskSpec,
    SamplingMask,
    available_masks,
    make_mask,
    random_mask,
    register_mask,
    seed_from_filename,
)


def test_every_mask_is_registered_under_its_name() -> None:
    assert available_masks() == (*LINE_MASKS, "poisson", "gaussian")
    assert LINE_MASKS == ("random", "equispaced", "equispaced_fraction", "magic", "magic_fraction")
    assert MASK_REGISTRY["random"] is random_mask
    for name in available_masks():
        mask = make_mask(name, (64, 48), acceleration=4, center_fraction=0.1, seed=0)
        assert isinstance(mask, SamplingMask) and mask.name == name
        assert mask.pattern.shape == ((48,) if name in LINE_MASKS else (64, 48))


@pytest.fixture
def scratch_mask() -> Iterator[str]:
    """A test-only registration, removed afterwards so other tests see the real registry."""
    name = "test_only_full"

    @register_mask(name)
    def full(shape: Any, *, acceleration: float, center_fraction: float, offset: int | None = None, seed: Any = None) -> SamplingMask:
        return SamplingMask(np.ones(shape[-1], dtype=bool), name, acceleration, 0)

    try:
        yield name
    finally:
        del MASK_REGISTRY[name]


def test_registered_masks_are_built_by_name(scratch_mask: str) -> None:
    assert scratch_mask in available_masks()
    assert make_mask(scratch_mask, (4, 6), acceleration=1, center_fraction=0.5).num_sampled == 6
    assert MaskSpec(scratch_mask, 1, 0.5).build((4, 6)).name == scratch_mask
    with pytest.raises(InputError, match="already registered"):
        register_mask(scratch_mask)(random_mask)


@pytest.mark.parametrize("bad", ["", " random", 3])
def test_bad_registration_names_are_refused(bad: Any) -> None:
    with pytest.raises(InputError, match="mask name"):
        register_mask(bad)


def test_unknown_mask_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match="unknown mask 'spiral'; known masks: random, equispaced.*gaussian") as info:
        make_mask("spiral", (640, 368), acceleration=4, center_fraction=0.08)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="unknown mask"):
        MaskSpec("spiral", 4, 0.08)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("random", {"acceleration": 0.5}, "acceleration must be a finite number >= 1, got 0.5"),
        ("random", {"acceleration": float("nan")}, "acceleration must be"),
        ("random", {"acceleration": float("inf")}, "acceleration must be"),
        ("random", {"acceleration": "4"}, "acceleration must be"),
        ("random", {"acceleration": 400}, "acceleration 400 exceeds the 368 phase-encode columns"),
        ("poisson", {"acceleration": 5000, "center_fraction": 0.01}, "acceleration 5000 exceeds the 4096 k-space samples"),
        ("random", {"center_fraction": 0.0}, r"center_fraction must be in the open interval \(0, 1\), got 0.0"),
        ("random", {"center_fraction": 1.0}, "center_fraction must be in the open interval"),
        ("gaussian", {"center_fraction": -0.1}, "center_fraction must be in the open interval"),
        ("magic", {"center_fraction": 1.5}, "center_fraction must be in the open interval"),
        ("random", {"center_fraction": float("nan")}, "center_fraction must be in the open interval"),
        ("equispaced", {"acceleration": 4.5}, "acceleration must be a whole number for the equispaced mask"),
        ("magic", {"acceleration": 2.5}, "acceleration must be a whole number for the magic mask"),
        ("equispaced", {"offset": -1}, "offset must be None or an integer >= 0, got -1"),
        ("equispaced", {"offset": 1.5}, "offset must be"),
        ("poisson", {"offset": 1}, "offset applies to line masks only"),
        ("random", {"seed": -1}, "seed must be an integer in"),
        ("random", {"seed": 2**32}, "seed must be an integer in"),
        ("random", {"seed": ()}, "seed must be"),
        ("random", {"seed": (1, -2)}, "seed must be"),
        ("random", {"seed": "file1.h5"}, "seed must be None, an integer or a sequence"),
        ("gaussian", {"sigma": 0}, "sigma must be a finite number > 0, got 0"),
        ("poisson", {"tolerance": -0.1}, "tolerance must be"),
        ("poisson", {"falloff": 0}, "falloff must be"),
        ("poisson", {"max_iterations": 0}, "max_iterations must be an integer >= 1"),
        ("gaussian", {"acceleration": 8, "center_fraction": 0.5}, "calibration square"),
        ("random", {"sigma": 0.3}, "the random mask has no option sigma; its options: none"),
        ("gaussian", {"falloff": 2}, "the gaussian mask has no option falloff; its options: sigma"),
    ],
)
def test_bad_parameters_name_the_parameter(name: str, kwargs: dict[str, Any], match: str) -> None:
    shape = (64, 64) if name in ("poisson", "gaussian") else (640, 368)
    params = {"acceleration": 4, "center_fraction": 0.08} | kwargs
    with pytest.raises(InputError, match=match) as info:
        make_mask(name, shape, **params)
    assert "\n" not in str(info.value)


def test_input_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="acceleration"):
        make_mask("random", (640, 368), acceleration=0, center_fraction=0.08)


@pytest.mark.parametrize("shape", [(0, 368), (640, -1), (368,), (), (640.0, 368), "640x368", 5])
def test_bad_shapes_are_refused(shape: Any) -> None:
    with pytest.raises(InputError, match="shape"):
        make_mask("random", shape, acceleration=4, center_fraction=0.08)


def test_the_real_fastmri_view_gets_a_hint() -> None:
    with pytest.raises(InputError, match=r"not fastMRI's real \(\.\.\., W, 2\) view"):
        make_mask("random", (1, 640, 368, 2), acceleration=4, center_fraction=0.08)


def test_direct_builders_check_their_parameters_too() -> None:
    with pytest.raises(InputError, match="center_fraction"):
        random_mask((640, 368), acceleration=4, center_fraction=2)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("spiral", [0.08], [4]), {}, "unknown line mask 'spiral'; known line masks: random"),
        (("poisson", [0.08], [4]), {}, "unknown line mask"),
        (("random", [0.08, 0.04], [4]), {}, "same length"),
        (("random", [], []), {}, "at least one"),
        (("random", [0.08], [0.5]), {}, "acceleration"),
        (("random", [1.2], [4]), {}, "center_fraction"),
        (("equispaced", [0.08], [4.5]), {}, "whole number"),
        (("random", [0.08], [4]), {"seed": -3}, "seed"),
    ],
)
def test_line_mask_sampler_checks_its_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        LineMaskSampler(*args, **kwargs)


def test_line_mask_sampler_any_combination_allows_different_lengths() -> None:
    sampler = LineMaskSampler("random", [0.08], [4, 8], allow_any_combination=True, seed=0)
    assert {sampler((640, 368)).nominal_acceleration for _ in range(20)} == {4.0, 8.0}
    assert "LineMaskSampler('random'" in repr(sampler)


# -- MaskSpec ------------------------------------------------------------------------------


def test_mask_spec_builds_what_make_mask_builds() -> None:
    seed = seed_from_filename("file1000001.h5")
    spec = MaskSpec("equispaced_fraction", 4, 0.08, offset=1, seed=seed)
    expected = make_mask("equispaced_fraction", (640, 368), acceleration=4, center_fraction=0.08, offset=1, seed=seed)
    assert spec.build((640, 368)) == expected
    assert spec.build((15, 640, 368)) == expected


@pytest.mark.parametrize(
    "spec",
    [
        MaskSpec("random", 4, 0.08),
        MaskSpec("equispaced", 8, 0.04, offset=3, seed=12),
        MaskSpec("magic_fraction", 4.0, 0.08, seed=seed_from_filename("file1000001.h5")),
        MaskSpec("poisson", 6.5, 0.1, seed=(1, 2, 3)),
    ],
)
def test_mask_spec_round_trips_through_json(spec: MaskSpec) -> None:
    data = json.loads(json.dumps(spec.to_dict()))
    again = MaskSpec.from_dict(data)
    assert again == spec and hash(again) == hash(spec)
    assert set(data) == {"name", "acceleration", "center_fraction", "offset", "seed"}


def test_mask_spec_canonicalises_its_values() -> None:
    spec = MaskSpec("random", 4, 0.08, seed=[1, 2])  # type: ignore[arg-type]
    assert spec.seed == (1, 2) and isinstance(spec.acceleration, float)
    assert spec == MaskSpec("random", 4.0, 0.08, seed=(1, 2))
    assert MaskSpec("random", np.int64(4), np.float32(0.25)).acceleration == 4.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"name": "random", "acceleration": 4, "center_fraction": 0.08, "colour": "red"}, "unknown mask spec key.*'colour'"),
        ({"name": "random", "acceleration": 4}, "missing center_fraction"),
        ({"name": "random", "acceleration": 0, "center_fraction": 0.08}, "acceleration"),
        ({"name": "random", "acceleration": 4, "center_fraction": 0.08, "seed": [-1]}, "seed"),
        ([("name", "random")], "mapping"),
    ],
)
def test_mask_spec_from_bad_dicts(data: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        MaskSpec.from_dict(data)


def test_mask_spec_checks_on_construction() -> None:
    with pytest.raises(InputError, match="center_fraction"):
        MaskSpec("random", 4, 0)
    with pytest.raises(InputError, match="offset"):
        MaskSpec("random", 4, 0.08, offset=-2)


# -- per-file seeds ------------------------------------------------------------------------


def test_seed_from_filename_is_fastmris_convention() -> None:
    assert seed_from_filename("file1000001.h5") == tuple(map(ord, "file1000001.h5"))
    # fastMRI passes the base name, so where the file lives does not change its mask
    assert seed_from_filename(Path("/data/knee/multicoil_val/file1000001.h5")) == seed_from_filename("file1000001.h5")
    assert seed_from_filename("multicoil_val/file1000001.h5") == seed_from_filename("file1000001.h5")
    with pytest.raises(InputError, match="fname"):
        seed_from_filename("")


def test_every_slice_of_a_volume_shares_the_mask() -> None:
    seed = seed_from_filename("file1000001.h5")
    sampler = LineMaskSampler("random", [0.08, 0.04], [4, 8], seed=0)
    masks = [sampler((640, 368), seed=seed) for _ in range(5)]
    assert all(m == masks[0] for m in masks)
    assert masks[0] != sampler((640, 368), seed=seed_from_filename("file1000002.h5"))
