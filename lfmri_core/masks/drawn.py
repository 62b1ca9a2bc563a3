"""Drawn masks: a sampling pattern chosen by hand, as a :class:`~lfmri_core.masks.MaskSpec` kind.

A preset :class:`~lfmri_core.masks.MaskSpec` names a registered builder and its parameters;
a :class:`DrawnMaskSpec` holds the pattern itself (a teacher toggled phase-encode lines, or
painted 2-D points, in a viewer). It is a :class:`MaskSpec` (the name ``"drawn"``), so
everything that takes a spec (:func:`lfmri_core.recon.pipeline.reconstruct_volume`, the
viewers' settings, saved sessions and reports) takes a drawn one too, and
:meth:`MaskSpec.from_dict` reads either kind back.

Conventions are those of :mod:`lfmri_core.masks.base`: k-space ``(..., H, W)``, phase encode
on the last axis, DC at ``(H // 2, W // 2)``. A drawn line mask has shape ``(W,)``, a drawn
2-D mask ``(H, W)``.

JSON form (:meth:`DrawnMaskSpec.to_dict`), exact and compact:

- line mask: ``{"name": "drawn", "shape": [W], "lines": [c0, c1, ...]}``, the sampled
  columns in increasing order;
- 2-D mask: ``{"name": "drawn", "shape": [H, W], "points": "<base64>"}``, the row-major
  pattern packed 8 samples a byte (``numpy.packbits``, big-endian bit order), zlib-compressed,
  then base64: at most ``H * W / 6`` characters, far fewer for painted regions.

The achieved acceleration (``"acceleration"``) and the side of the fully sampled centre
(``"num_low_frequencies"``) are written beside them for readers of a report; they are derived
from the pattern, and reading checks that they agree with it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.masks._checks import check_shape
from lfmri_core.masks.base import SPEC_KINDS, MaskSpec, SamplingMask

DRAWN = "drawn"
"""The mask name of drawn masks (not a registered builder: the pattern is the spec)."""

POINTS_ENCODING = "packbits-zlib-base64"
"""How a 2-D pattern is written in JSON (see the module docstring)."""

_KEYS = frozenset({"name", "shape", "lines", "points", "encoding", "acceleration", "num_low_frequencies",
                   "center_fraction", "offset", "seed"})


def centre_side(pattern: np.ndarray) -> int:
    """Side of the largest fully sampled centre of ``pattern``, in fastMRI's placement.

    The centre of side ``s`` starts at ``(n - s + 1) // 2`` along each axis of length ``n``
    (as :attr:`SamplingMask.center`); ``0`` when the centre sample itself is not sampled.

    Parameters
    ----------
    pattern
        Boolean pattern, ``(W,)`` or ``(H, W)``.
    """
    side = 0
    for s in range(1, min(pattern.shape) + 1):
        region = tuple(slice((n - s + 1) // 2, (n - s + 1) // 2 + s) for n in pattern.shape)
        if not pattern[region].all():
            break
        side = s
    return side


class DrawnMaskSpec(MaskSpec):
    """A mask given by its pattern: sampled phase-encode lines (1-D) or k-space points (2-D).

    Parameters
    ----------
    pattern
        Boolean (or 0/1) pattern, ``(W,)`` for a line mask over the phase-encode columns or
        ``(H, W)`` for a 2-D mask; at least one sample. Copied: the spec never changes.

    Attributes
    ----------
    name
        Always :data:`DRAWN`.
    acceleration
        The achieved acceleration, ``pattern.size / number sampled``.
    center_fraction
        Fraction of the columns (1-D) or of ``min(H, W)`` (2-D) in the fully sampled centre
        (:func:`centre_side`); 0 when the centre is not sampled.
    shape
        ``pattern.shape``: ``(W,)`` or ``(H, W)``.
    num_low_frequencies
        Side of the fully sampled centre (:func:`centre_side`).

    Equal patterns give equal (and equally hashed) specs, so a drawn mask can key a cache.
    """

    shape: tuple[int, ...]
    num_low_frequencies: int
    _bits: bytes

    def __init__(self, pattern: np.ndarray | Sequence[Any]) -> None:
        array = np.asarray(pattern)
        if array.ndim not in (1, 2) or array.size == 0:
            raise InputError(f"a drawn mask must have shape (W,) or (H, W), got {array.shape}")
        if array.dtype != np.bool_ and not np.isin(array, (0, 1)).all():
            raise InputError(f"a drawn mask must be boolean or hold only 0 and 1, got dtype {array.dtype} with other values")
        array = array.astype(bool)
        sampled = int(np.count_nonzero(array))
        if sampled == 0:
            kind = "phase-encode line" if array.ndim == 1 else "k-space point"
            raise InputError(f"a drawn mask samples nothing: draw at least one {kind}")
        side = centre_side(array)
        # frozen dataclass fields of MaskSpec, set once here
        object.__setattr__(self, "name", DRAWN)
        object.__setattr__(self, "acceleration", array.size / sampled)
        object.__setattr__(self, "center_fraction", side / min(array.shape))
        object.__setattr__(self, "offset", None)
        object.__setattr__(self, "seed", None)
        object.__setattr__(self, "shape", tuple(int(n) for n in array.shape))
        object.__setattr__(self, "num_low_frequencies", side)
        object.__setattr__(self, "_bits", np.packbits(array).tobytes())

    def __post_init__(self) -> None:  # MaskSpec's checks are for registered builders
        return

    # -- the pattern ----------------------------------------------------------------------

    @property
    def pattern(self) -> np.ndarray:
        """The pattern, a new writable boolean array of :attr:`shape`."""
        count = int(np.prod(self.shape))
        return np.unpackbits(np.frombuffer(self._bits, dtype=np.uint8), count=count).astype(bool).reshape(self.shape)

    @property
    def is_1d(self) -> bool:
        """True for a line mask (pattern ``(W,)``)."""
        return len(self.shape) == 1

    @property
    def lines(self) -> tuple[int, ...]:
        """The sampled phase-encode columns of a line mask, increasing."""
        if not self.is_1d:
            raise InputError("a 2-D drawn mask has points, not lines")
        return tuple(int(c) for c in np.flatnonzero(self.pattern))

    @property
    def num_sampled(self) -> int:
        """Sampled columns (1-D) or points (2-D)."""
        return int(np.count_nonzero(self.pattern))

    # -- MaskSpec -------------------------------------------------------------------------

    def build(self, shape: Sequence[int]) -> SamplingMask:
        """The mask for k-space of ``shape`` ``(..., H, W)``, whose last one (1-D) or two
        (2-D) sizes must be the drawn :attr:`shape`; else :class:`InputError`."""
        kspace = check_shape(shape)
        if kspace[-len(self.shape) :] != self.shape:
            what = f"{self.shape[0]} phase-encode columns" if self.is_1d else f"{self.shape[0]} x {self.shape[1]} k-space"
            got = f"{kspace[-1]} columns" if self.is_1d else f"{kspace[-2]} x {kspace[-1]}"
            raise InputError(f"the drawn mask was drawn on {what}; this k-space {kspace} has {got}")
        return SamplingMask(self.pattern, DRAWN, self.acceleration, self.num_low_frequencies)

    def with_seed(self, seed: Any) -> DrawnMaskSpec:
        """Itself: a drawn pattern has no randomness to seed."""
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (see the module docstring); inverse of :meth:`from_dict`."""
        data: dict[str, Any] = {"name": DRAWN, "shape": list(self.shape)}
        if self.is_1d:
            data["lines"] = list(self.lines)
        else:
            data["encoding"] = POINTS_ENCODING
            data["points"] = base64.b64encode(zlib.compress(self._bits, 9)).decode("ascii")
        data["acceleration"] = self.acceleration
        data["num_low_frequencies"] = self.num_low_frequencies
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrawnMaskSpec:
        """Rebuild a drawn spec from :meth:`to_dict`'s output; :class:`InputError` naming what
        is wrong for anything else."""
        if not isinstance(data, Mapping):
            raise InputError(f"mask spec must be a mapping, got {type(data).__name__}")
        if data.get("name") != DRAWN:
            raise InputError(f"a drawn mask spec has name {DRAWN!r}, got {data.get('name')!r}")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise InputError(f"unknown drawn mask key(s) {', '.join(map(repr, unknown))}")
        shape = data.get("shape")
        if (not isinstance(shape, Sequence) or isinstance(shape, str) or len(shape) not in (1, 2)
                or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
            raise InputError(f"a drawn mask's shape must be [W] or [H, W] of positive integers, got {shape!r}")
        shape = tuple(shape)
        if len(shape) == 1:
            pattern = _lines_pattern(data.get("lines"), shape[0])
        else:
            pattern = _points_pattern(data.get("points"), data.get("encoding", POINTS_ENCODING), shape)
        spec = cls(pattern)
        stated = data.get("acceleration")
        if stated is not None and (not isinstance(stated, int | float) or abs(float(stated) - spec.acceleration) > 1e-9 * spec.acceleration):
            raise InputError(f"the drawn mask states acceleration {stated!r} but its pattern has {spec.acceleration:.6g}")
        return spec

    # -- value semantics -------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DrawnMaskSpec):
            return NotImplemented if not isinstance(other, MaskSpec) else False
        return self.shape == other.shape and self._bits == other._bits

    def __hash__(self) -> int:
        return hash((DRAWN, self.shape, self._bits))

    def __repr__(self) -> str:
        what = f"{len(self.lines)} lines" if self.is_1d else f"{self.num_sampled} points"
        return f"DrawnMaskSpec(shape={self.shape}, {what}, acceleration={self.acceleration:.3f})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


SPEC_KINDS[DRAWN] = DrawnMaskSpec.from_dict


def _lines_pattern(lines: Any, width: int) -> np.ndarray:
    if not isinstance(lines, Sequence) or isinstance(lines, str):
        raise InputError(f"a drawn line mask needs 'lines', a list of column indices, got {lines!r}")
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in lines):
        raise InputError("a drawn line mask's 'lines' must be integers")
    outside = [c for c in lines if not 0 <= c < width]
    if outside:
        raise InputError(f"drawn line {outside[0]} lies outside the {width} phase-encode columns (0..{width - 1})")
    if len(set(lines)) != len(lines):
        raise InputError("a drawn line mask lists a line twice")
    pattern = np.zeros(width, dtype=bool)
    pattern[list(lines)] = True
    return pattern


def _points_pattern(points: Any, encoding: Any, shape: tuple[int, ...]) -> np.ndarray:
    if encoding != POINTS_ENCODING:
        raise InputError(f"unknown drawn mask encoding {encoding!r}; expected {POINTS_ENCODING!r}")
    if not isinstance(points, str):
        raise InputError(f"a drawn 2-D mask needs 'points', a {POINTS_ENCODING} string")
    try:
        packed = zlib.decompress(base64.b64decode(points.encode("ascii"), validate=True))
    except (binascii.Error, zlib.error, UnicodeEncodeError, ValueError) as error:
        raise InputError(f"a drawn 2-D mask's 'points' cannot be decoded ({error})") from None
    count = shape[0] * shape[1]
    if len(packed) != (count + 7) // 8:
        raise InputError(f"a drawn 2-D mask's 'points' hold {len(packed)} bytes; a {shape[0]} x {shape[1]} mask needs {(count + 7) // 8}")
    return np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=count).astype(bool).reshape(shape)


__all__ = ["DRAWN", "POINTS_ENCODING", "DrawnMaskSpec", "centre_side"]
