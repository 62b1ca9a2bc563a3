"""Sampling masks: the :class:`SamplingMask` value, the mask registry and :class:`MaskSpec`.

Conventions
-----------
Complex k-space has shape ``(..., H, W)``: ``H`` is the fully sampled readout axis and ``W``
(the last axis) the phase-encode axis, with DC at ``(H // 2, W // 2)`` (centered FFT).
A 1-D line mask selects phase-encode columns and has shape ``(W,)``; a 2-D mask selects
individual k-space samples and has shape ``(H, W)``.

Masks are built by name through :data:`MASK_REGISTRY` (:func:`make_mask`, or a
:class:`MaskSpec` that the CLI and the viewers store as JSON), so a mask registered here or by
a plugin shows up in every front end.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Protocol, TypeVar, overload

import numpy as np
import torch

from lfmri_core.errors import InputError
from lfmri_core.masks._checks import (
    Seed,
    check_acceleration,
    check_center_fraction,
    check_offset,
    check_seed,
    check_shape,
)

__all__ = [
    "MASK_REGISTRY",
    "SPEC_KINDS",
    "MaskBuilder",
    "MaskSpec",
    "SamplingMask",
    "Seed",
    "available_masks",
    "make_mask",
    "register_mask",
    "seed_from_filename",
]


@dataclass(frozen=True, eq=False, repr=False)
class SamplingMask:
    """A k-space sampling pattern and how it was made.

    The pattern is stored as a read-only boolean copy, so a mask can be shared between the
    session, the viewers and worker threads without anyone changing it under the others.

    Parameters
    ----------
    pattern
        Boolean sampling pattern (0/1 numbers are accepted and converted). Shape ``(W,)``
        for a 1-D mask over phase-encode columns, ``(H, W)`` for a 2-D mask.
    name
        Registry name of the mask type (``"random"``, ``"poisson"``, ...; ``"stored"`` for a
        mask read from a file).
    nominal_acceleration
        The acceleration that was requested; see :attr:`achieved_acceleration` for the one
        the pattern really has.
    num_low_frequencies
        Size of the fully sampled center: the number of center lines for a 1-D mask, the
        side of the calibration square for a 2-D mask. ``0`` when there is none.
    """

    pattern: np.ndarray
    name: str
    nominal_acceleration: float
    num_low_frequencies: int

    def __post_init__(self) -> None:
        pattern = np.asarray(self.pattern)
        if pattern.ndim not in (1, 2) or pattern.size == 0:
            raise InputError(f"mask pattern must have shape (W,) or (H, W), got {pattern.shape}")
        if pattern.dtype != np.bool_:
            if not np.isin(pattern, (0, 1)).all():
                raise InputError(f"mask pattern must be boolean or hold only 0 and 1, got dtype {pattern.dtype} with other values")
        pattern = np.array(pattern, dtype=bool, copy=True)
        pattern.flags.writeable = False
        num_low = self.num_low_frequencies
        if not isinstance(num_low, int | np.integer) or not 0 <= num_low <= min(pattern.shape):
            raise InputError(f"num_low_frequencies must be an integer in [0, {min(pattern.shape)}], got {num_low!r}")
        # frozen dataclass: the canonical values replace the given ones once, here
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "nominal_acceleration", check_acceleration(self.nominal_acceleration))
        object.__setattr__(self, "num_low_frequencies", int(num_low))

    # -- what the pattern is -------------------------------------------------------------

    @property
    def is_1d(self) -> bool:
        """True for a line mask over phase-encode columns (pattern shape ``(W,)``)."""
        return self.pattern.ndim == 1

    @property
    def num_sampled(self) -> int:
        """Number of sampled columns (1-D) or k-space samples (2-D)."""
        return int(np.count_nonzero(self.pattern))

    @property
    def sampled_fraction(self) -> float:
        """Fraction of columns (1-D) or samples (2-D) that are sampled, in ``[0, 1]``."""
        return self.num_sampled / self.pattern.size

    @property
    def achieved_acceleration(self) -> float:
        """``pattern.size / number sampled``; ``inf`` for an empty pattern."""
        sampled = self.num_sampled
        return self.pattern.size / sampled if sampled else float("inf")

    @property
    def center(self) -> tuple[slice, ...]:
        """The fully sampled center region as slices into :attr:`pattern`.

        One slice (columns) for a 1-D mask, two (rows, columns) for a 2-D mask. The region
        starts at ``(n - num_low_frequencies + 1) // 2`` along each axis of length ``n``,
        fastMRI's placement. ``kspace[(..., *mask.center)]`` selects it in k-space of shape
        ``(..., H, W)`` for both kinds.
        """
        side = self.num_low_frequencies
        return tuple(slice((n - side + 1) // 2, (n - side + 1) // 2 + side) for n in self.pattern.shape)

    # -- using it on k-space -------------------------------------------------------------

    def to_tensor(self, shape: Sequence[int], device: torch.device | str | None = None) -> torch.Tensor:
        """The pattern as a boolean tensor broadcastable to k-space of ``shape``.

        Parameters
        ----------
        shape
            Shape of the k-space ``(..., H, W)`` the mask will be applied to; its last one
            (1-D) or two (2-D) sizes must match the pattern.
        device
            Device of the returned tensor (default: CPU).

        Returns
        -------
        torch.Tensor
            ``torch.bool``, shape ``(1, W)`` for a 1-D mask, ``(H, W)`` for a 2-D mask.
        """
        self._check_kspace_shape(check_shape(shape))
        # copy: torch.from_numpy warns on (and would alias) the read-only pattern
        tensor = torch.from_numpy(self.pattern.copy())
        if self.is_1d:
            tensor = tensor[None, :]
        return tensor.to(device) if device is not None else tensor

    @overload
    def apply(self, kspace: np.ndarray) -> np.ndarray: ...

    @overload
    def apply(self, kspace: torch.Tensor) -> torch.Tensor: ...

    def apply(self, kspace: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Masked k-space, unsampled entries set to exactly ``+0.0``.

        The zeros are written with ``where`` rather than by multiplying: ``-3.0 * 0`` is
        ``-0.0``, and that sign bit leaked the hidden samples of an early fastMRI test set.

        Parameters
        ----------
        kspace
            numpy array or torch tensor, shape ``(..., H, W)``, complex or real.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            Same type, shape, dtype (and device) as ``kspace``.
        """
        if isinstance(kspace, torch.Tensor):
            keep = self.to_tensor(kspace.shape, device=kspace.device)
            return torch.where(keep, kspace, torch.zeros((), dtype=kspace.dtype, device=kspace.device))
        array = np.asarray(kspace)
        self._check_kspace_shape(check_shape(array.shape))
        # a (W,) pattern broadcasts along the last axis of (..., H, W) as it is
        return np.where(self.pattern, array, np.zeros((), dtype=array.dtype))

    def with_padding(self, left: int, right: int) -> SamplingMask:
        """This 1-D mask with the columns outside ``[left, right)`` unsampled.

        fastMRI k-space carries no data outside the acquired phase-encode range given by the
        ISMRMRD header (``padding_left``, ``padding_right``); like the ``padding`` argument
        of ``fastmri.data.transforms.apply_mask``, those columns are removed from the mask.

        Parameters
        ----------
        left, right
            Half-open range of acquired columns, ``0 <= left < right <= W``.
        """
        if not self.is_1d:
            raise InputError(f"padding applies to 1-D line masks only, not to the 2-D {self.name} mask")
        width = self.pattern.shape[0]
        if not all(isinstance(v, int | np.integer) for v in (left, right)) or not 0 <= left < right <= width:
            raise InputError(f"padding must satisfy 0 <= left < right <= {width}, got left={left!r}, right={right!r}")
        pattern = self.pattern.copy()
        pattern[:left] = False
        pattern[right:] = False
        return dataclasses.replace(self, pattern=pattern)

    def _check_kspace_shape(self, shape: tuple[int, ...]) -> None:
        if shape[-self.pattern.ndim :] != self.pattern.shape:
            dims = "W" if self.is_1d else "(H, W)"
            raise InputError(f"k-space shape {shape} does not match the {self.name} mask: its {dims} must be {self.pattern.shape}")

    # -- value semantics (the pattern is an array, so the generated ones would not work) --

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SamplingMask):
            return NotImplemented
        return (
            self.name == other.name
            and self.nominal_acceleration == other.nominal_acceleration
            and self.num_low_frequencies == other.num_low_frequencies
            and self.pattern.shape == other.pattern.shape
            and bool(np.array_equal(self.pattern, other.pattern))
        )

    def __hash__(self) -> int:
        return hash((self.name, self.nominal_acceleration, self.num_low_frequencies, self.pattern.shape, self.pattern.tobytes()))

    def __repr__(self) -> str:
        return (
            f"SamplingMask(name={self.name!r}, shape={self.pattern.shape}, "
            f"nominal_acceleration={self.nominal_acceleration:g}, "
            f"achieved_acceleration={self.achieved_acceleration:.3f}, "
            f"num_low_frequencies={self.num_low_frequencies})"
        )


# -- registry ------------------------------------------------------------------------------


class MaskBuilder(Protocol):
    """What a registered mask builder looks like.

    ``shape`` is the k-space shape ``(..., H, W)`` (already checked by :func:`make_mask`);
    builders check what only they know (integer spacing, compatible center fraction, ...)
    and raise :class:`~lfmri_core.errors.InputError`. Extra keyword arguments are the
    builder's own tuning knobs.
    """

    def __call__(
        self,
        shape: Sequence[int],
        *,
        acceleration: float,
        center_fraction: float,
        offset: int | None = None,
        seed: Seed | None = None,
        **kwargs: Any,
    ) -> SamplingMask: ...


MASK_REGISTRY: dict[str, MaskBuilder] = {}
"""Mask name -> builder, in registration order (fastMRI's line masks first)."""

_B = TypeVar("_B", bound=Callable[..., SamplingMask])


def register_mask(name: str) -> Callable[[_B], _B]:
    """Decorator registering a mask builder under ``name``.

    Examples
    --------
    >>> @register_mask("my_mask")
    ... def my_mask(shape, *, acceleration, center_fraction, offset=None, seed=None):
    ...     ...
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise InputError(f"mask name must be a non-empty string without surrounding spaces, got {name!r}")
    if name in SPEC_KINDS:
        raise InputError(f"mask name {name!r} is reserved for masks drawn by hand (lfmri_core.masks.DrawnMaskSpec)")

    def decorate(builder: _B) -> _B:
        if name in MASK_REGISTRY:
            raise InputError(f"mask name {name!r} is already registered")
        MASK_REGISTRY[name] = builder
        return builder

    return decorate


def available_masks() -> tuple[str, ...]:
    """Names of the registered masks, in registration order."""
    return tuple(MASK_REGISTRY)


def _builder(name: Any) -> MaskBuilder:
    try:
        return MASK_REGISTRY[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown mask {name!r}; known masks: {', '.join(available_masks())}") from None


def make_mask(
    name: str,
    shape: Sequence[int],
    *,
    acceleration: float,
    center_fraction: float,
    offset: int | None = None,
    seed: Seed | None = None,
    **kwargs: Any,
) -> SamplingMask:
    """Build a registered mask for k-space of ``shape``.

    Parameters
    ----------
    name
        Registered mask name (see :func:`available_masks`).
    shape
        k-space shape ``(..., H, W)``; line masks use ``W`` only.
    acceleration
        Requested acceleration, >= 1 (whole number for ``equispaced`` and ``magic``).
    center_fraction
        Fraction of the columns (1-D) or of ``min(H, W)`` (2-D) fully sampled at the center,
        in ``(0, 1)``.
    offset
        First line of the equispaced/magic patterns; None draws it from the seed. Only line
        masks take it.
    seed
        Integer or tuple of integers; the same seed gives the same mask. None draws fresh
        entropy from the OS (never numpy's global state).
    **kwargs
        Tuning knobs of the builder (e.g. ``sigma`` for ``gaussian``).

    Returns
    -------
    SamplingMask
        Pattern of shape ``(W,)`` (line masks) or ``(H, W)`` (2-D masks).
    """
    builder = _builder(name)
    _check_options(name, builder, kwargs)
    return builder(
        check_shape(shape),
        acceleration=check_acceleration(acceleration),
        center_fraction=check_center_fraction(center_fraction),
        offset=check_offset(offset),
        seed=check_seed(seed),
        **kwargs,
    )


_COMMON_PARAMETERS = frozenset({"shape", "acceleration", "center_fraction", "offset", "seed"})


def _check_options(name: str, builder: MaskBuilder, options: Mapping[str, Any]) -> None:
    """Refuse tuning options the builder does not take, naming the ones it does."""
    if not options:
        return
    parameters = inspect.signature(builder).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    known = [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in _COMMON_PARAMETERS]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InputError(f"the {name} mask has no option {', '.join(unknown)}; its options: {', '.join(known) or 'none'}")


SPEC_KINDS: dict[str, Callable[[Mapping[str, Any]], MaskSpec]] = {}
"""Mask names whose specs are not a registered builder's parameters -> the reader of their
dict (``"drawn"``: :meth:`lfmri_core.masks.drawn.DrawnMaskSpec.from_dict`, registered there)."""


@dataclass(frozen=True)
class MaskSpec:
    """A mask choice without a shape: what a user picks and what gets saved.

    Parameters are checked on construction, so a bad choice fails where it is made.
    ``seed`` lists (from JSON) become tuples.

    Parameters
    ----------
    name
        Registered mask name.
    acceleration
        Requested acceleration, >= 1.
    center_fraction
        Fully sampled center fraction, in ``(0, 1)``.
    offset
        Line offset for equispaced/magic masks; None draws it from the seed.
    seed
        Integer or tuple of integers; None for fresh entropy (or, in the reconstruction
        pipeline, fastMRI's per-file seed from :func:`seed_from_filename`).
    """

    name: str
    acceleration: float
    center_fraction: float
    offset: int | None = None
    seed: Seed | None = None

    def __post_init__(self) -> None:
        _builder(self.name)
        object.__setattr__(self, "acceleration", check_acceleration(self.acceleration))
        object.__setattr__(self, "center_fraction", check_center_fraction(self.center_fraction))
        object.__setattr__(self, "offset", check_offset(self.offset))
        object.__setattr__(self, "seed", check_seed(self.seed))

    def build(self, shape: Sequence[int]) -> SamplingMask:
        """The mask for k-space of ``shape`` ``(..., H, W)`` (see :func:`make_mask`)."""
        return make_mask(
            self.name, shape, acceleration=self.acceleration, center_fraction=self.center_fraction, offset=self.offset, seed=self.seed
        )

    def with_seed(self, seed: Seed | None) -> MaskSpec:
        """This spec with ``seed`` (a drawn mask, which has no randomness, stays as it is)."""
        return dataclasses.replace(self, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (a tuple seed becomes a list); inverse of :meth:`from_dict`."""
        seed = list(self.seed) if isinstance(self.seed, tuple) else self.seed
        return {
            "name": self.name,
            "acceleration": self.acceleration,
            "center_fraction": self.center_fraction,
            "offset": self.offset,
            "seed": seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MaskSpec:
        """Rebuild a spec from :meth:`to_dict`'s output (e.g. after a JSON round trip).

        A drawn mask's dict (name ``"drawn"``) gives a
        :class:`~lfmri_core.masks.drawn.DrawnMaskSpec`.
        """
        if not isinstance(data, Mapping):
            raise InputError(f"mask spec must be a mapping, got {type(data).__name__}")
        reader = SPEC_KINDS.get(data.get("name"))  # type: ignore[arg-type]
        if reader is not None:
            return reader(data)
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise InputError(f"unknown mask spec key(s) {', '.join(map(repr, unknown))}; expected {', '.join(fields)}")
        missing = [key for key in ("name", "acceleration", "center_fraction") if key not in data]
        if missing:
            raise InputError(f"mask spec is missing {', '.join(missing)}")
        return cls(**data)


def seed_from_filename(fname: str | os.PathLike[str]) -> tuple[int, ...]:
    """fastMRI's per-file mask seed, ``tuple(map(ord, fname))``.

    fastMRI's data transforms receive the file's base name (``SliceDataset`` passes
    ``fname.name``) and seed the mask with it, so a file always gets the same mask and every
    slice of a volume shares it. Directories are dropped here for the same reason: the
    mask must not depend on where the file lives.

    Parameters
    ----------
    fname
        File name or path, e.g. ``"file1000001.h5"``.

    Returns
    -------
    tuple of int
        The code points of the base name.
    """
    name = PurePath(os.fspath(fname)).name
    if not name:
        raise InputError(f"fname must name a file, got {fname!r}")
    return tuple(map(ord, name))
