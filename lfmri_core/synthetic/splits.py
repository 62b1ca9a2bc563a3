"""Seed ranges of the synthetic training, validation and test subjects (disjoint by design).

A synthetic subject is its seed (:class:`~lfmri_core.synthetic.SyntheticConfig`), so keeping
the seed ranges apart keeps the subjects apart: ``lfmri train`` draws only from
:data:`TRAIN_SEEDS` and :data:`VALIDATION_SEEDS`, ``lfmri evaluate`` only from :data:`TEST_SEEDS`
(the embedded sample, seed 4, is a test subject, so the demo never shows a training knee).
"""

from __future__ import annotations

from lfmri_core.errors import InputError

TEST_SEEDS = range(0, 1000)
"""Held-out subjects for evaluation (and the embedded sample)."""

VALIDATION_SEEDS = range(1000, 2000)
"""Subjects for validation during training."""

TRAIN_SEEDS = range(10_000, 1_000_000)
"""Subjects for training."""

SPLITS = {"train": TRAIN_SEEDS, "validation": VALIDATION_SEEDS, "test": TEST_SEEDS}


def split_seeds(split: str, count: int, offset: int = 0) -> list[int]:
    """``count`` consecutive seeds of ``split`` starting ``offset`` into its range."""
    try:
        seeds = SPLITS[split]
    except KeyError:
        raise InputError(f"unknown synthetic split {split!r}; known: {', '.join(SPLITS)}") from None
    if count < 0 or offset < 0 or offset + count > len(seeds):
        raise InputError(f"the {split} split has {len(seeds)} seeds; cannot take {count} from offset {offset}")
    return list(seeds[offset:offset + count])


def split_of(seed: int) -> str | None:
    """The split a seed belongs to, or None."""
    for name, seeds in SPLITS.items():
        if seed in seeds:
            return name
    return None
