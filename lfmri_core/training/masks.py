"""Sampling masks drawn during training: fastMRI "random" masks, 4x or 8x per batch.

As in fastMRI's training recipe (``RandomMaskFunc([0.08, 0.04], [4, 8])``), each batch gets
acceleration 4 with centre fraction 0.08 or acceleration 8 with centre fraction 0.04, with
equal probability. The choice and the mask's seed come from an explicit
:class:`torch.Generator`, so a run (and a resumed run) sees the same masks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lfmri_core.errors import InputError
from lfmri_core.masks import MaskSpec

AccelerationChoice = tuple[float, float]
"""``(acceleration, centre fraction)``."""

DEFAULT_ACCELERATIONS: tuple[AccelerationChoice, ...] = ((4.0, 0.08), (8.0, 0.04))
"""fastMRI's training choices."""

TRAINING_MASK = "random"
"""Mask type of training batches."""

_SEED_LIMIT = 2**31


def check_accelerations(choices: Sequence[Sequence[float]]) -> tuple[AccelerationChoice, ...]:
    """``choices`` as a tuple of ``(acceleration, centre fraction)`` float pairs, checked."""
    try:
        pairs = tuple((float(a), float(cf)) for a, cf in choices)
    except (TypeError, ValueError):
        raise InputError(f"accelerations must be (acceleration, centre fraction) pairs, got {choices!r}") from None
    if not pairs:
        raise InputError("accelerations must hold at least one (acceleration, centre fraction) pair")
    for acceleration, center_fraction in pairs:
        MaskSpec(TRAINING_MASK, acceleration, center_fraction)  # checks both values
    return pairs


def draw_mask_spec(
    generator: torch.Generator,
    choices: Sequence[AccelerationChoice] = DEFAULT_ACCELERATIONS,
    name: str = TRAINING_MASK,
) -> MaskSpec:
    """Draw the mask of one batch: an acceleration choice and a mask seed.

    Parameters
    ----------
    generator
        CPU generator; two draws are taken from it (choice, then seed).
    choices
        ``(acceleration, centre fraction)`` pairs, chosen with equal probability.
    name
        Registered mask type.

    Returns
    -------
    MaskSpec
        With an explicit integer seed: ``spec.build(shape)`` gives the same pattern every time
        (for k-space of any height, and every batch item of a width shares it).
    """
    index = int(torch.randint(len(choices), (1,), generator=generator))
    seed = int(torch.randint(_SEED_LIMIT, (1,), generator=generator))
    acceleration, center_fraction = choices[index]
    return MaskSpec(name, acceleration, center_fraction, seed=seed)
