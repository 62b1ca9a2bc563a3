"""Per-batch training masks: reproducible from the generator, a mix of 4x and 8x."""

from __future__ import annotations

import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.masks import make_mask
from lfmri_core.training import DEFAULT_ACCELERATIONS, draw_mask_spec
from lfmri_core.training.masks import check_accelerations


def _draws(seed: int, count: int) -> list:
    generator = torch.Generator().manual_seed(seed)
    return [draw_mask_spec(generator) for _ in range(count)]


def test_same_seed_same_masks_and_both_accelerations() -> None:
    first, again, other = _draws(0, 40), _draws(0, 40), _draws(1, 40)
    assert first == again
    assert first != other
    shape = (8, 32, 368)
    assert all((a.build(shape).pattern == b.build(shape).pattern).all() for a, b in zip(first, again))
    chosen = {(spec.acceleration, spec.center_fraction) for spec in first}
    assert chosen == set(DEFAULT_ACCELERATIONS)
    for spec in first:
        assert spec.name == "random" and isinstance(spec.seed, int)
        mask = spec.build(shape)
        # fastMRI's RandomMaskFunc with that seed, bit for bit
        expected = make_mask("random", shape, acceleration=spec.acceleration, center_fraction=spec.center_fraction, seed=spec.seed)
        assert (mask.pattern == expected.pattern).all()
        assert mask.num_low_frequencies == round(368 * spec.center_fraction)


def test_mix_is_balanced() -> None:
    specs = _draws(3, 200)
    fours = sum(spec.acceleration == 4 for spec in specs)
    assert 70 < fours < 130


def test_bad_acceleration_choices() -> None:
    with pytest.raises(InputError, match="acceleration"):
        check_accelerations([(0.5, 0.08)])
    with pytest.raises(InputError, match="at least one"):
        check_accelerations([])
