"""Parameter checks shared by every mask builder.

Each check returns the value in canonical form (plain ``int``/``float``/``tuple``) or raises
:class:`~lfmri_core.errors.InputError` with a one-line message naming the parameter and the
offending value, so the CLI and the viewers can show it as is.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from lfmri_core.errors import InputError

Seed = int | tuple[int, ...]
"""A seed: one integer, or a sequence of them (fastMRI's per-file ``tuple(map(ord, fname))``)."""

_MAX_SEED = 2**32  # np.random.RandomState only takes 32-bit seed words


def check_shape(shape: Any, *, min_ndim: int = 2) -> tuple[int, ...]:
    """``shape`` as a tuple of positive ints, at least ``min_ndim`` long (``(..., H, W)``)."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise InputError(f"shape must be a sequence of positive integers (..., H, W), got {shape!r}") from None
    if len(dims) < min_ndim or not all(_is_int(d) and d > 0 for d in dims):
        raise InputError(f"shape must be {min_ndim} or more positive integers (..., H, W), got {shape!r}")
    return tuple(int(d) for d in dims)


def check_acceleration(acceleration: Any) -> float:
    """A finite acceleration >= 1 as a float."""
    if not _is_real(acceleration) or not math.isfinite(acceleration) or acceleration < 1:
        raise InputError(f"acceleration must be a finite number >= 1, got {acceleration!r}")
    return float(acceleration)


def check_integer_acceleration(acceleration: float, mask_name: str) -> int:
    """``acceleration`` as an int, for masks that use it as a line spacing."""
    if not float(acceleration).is_integer():
        raise InputError(f"acceleration must be a whole number for the {mask_name} mask (it is the line spacing), got {acceleration!r}")
    return int(acceleration)


def check_acceleration_fits(acceleration: float, num_samples: int, what: str, shape: tuple[int, ...]) -> None:
    """Refuse an acceleration that would keep less than one of ``num_samples`` samples."""
    if acceleration > num_samples:
        hint = " (k-space is complex (..., H, W), not fastMRI's real (..., W, 2) view)" if shape[-1] == 2 else ""
        raise InputError(f"acceleration {acceleration:g} exceeds the {num_samples} {what} of shape {shape}{hint}")


def check_center_fraction(center_fraction: Any) -> float:
    """A center fraction in the open interval (0, 1) as a float."""
    if not _is_real(center_fraction) or not 0 < center_fraction < 1:
        raise InputError(f"center_fraction must be in the open interval (0, 1), got {center_fraction!r}")
    return float(center_fraction)


def check_offset(offset: Any) -> int | None:
    """None or a non-negative int."""
    if offset is None:
        return None
    if not _is_int(offset) or offset < 0:
        raise InputError(f"offset must be None or an integer >= 0, got {offset!r}")
    return int(offset)


def check_seed(seed: Any) -> Seed | None:
    """None, an int, or a non-empty sequence of ints, each in ``[0, 2**32)``.

    A list (what JSON gives back for a tuple) becomes a tuple, so equal seeds compare equal.
    """
    if seed is None:
        return None
    if _is_int(seed):
        words: tuple[Any, ...] = (seed,)
    elif isinstance(seed, Sequence) and not isinstance(seed, str | bytes):
        words = tuple(seed)
    else:
        raise InputError(f"seed must be None, an integer or a sequence of integers, got {seed!r}")
    if not words or not all(_is_int(w) and 0 <= w < _MAX_SEED for w in words):
        raise InputError(f"seed must be an integer in [0, 2**32) or a non-empty sequence of them, got {seed!r}")
    return int(seed) if _is_int(seed) else tuple(int(w) for w in words)


def check_positive(value: Any, name: str) -> float:
    """A finite number > 0 as a float (tuning knobs such as ``sigma``)."""
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    # NaN fails every comparison, so it is caught by the range checks that follow
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
