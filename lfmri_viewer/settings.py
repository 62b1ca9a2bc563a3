"""What the user chooses: acceleration, mask (a preset or a drawn one), centre fraction, seed,
methods, device, virtual coils; and what the front ends offer to choose from
(:func:`offered_methods`, :data:`DEVICES`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from lfmri_core.device import DEVICE_CHOICES, check_device
from lfmri_core.errors import InputError
from lfmri_core.masks import DrawnMaskSpec, MaskSpec
from lfmri_core.recon import available_methods, installed_learned_methods, method_info

_PRESET_FIELDS = frozenset({"acceleration", "mask", "center_fraction", "seed"})

DEVICES = DEVICE_CHOICES
"""Device choices the front ends offer (:data:`lfmri_core.device.DEVICE_CHOICES`; ``"cuda:N"``
is accepted too)."""


def offered_methods(chosen: Iterable[str] = ()) -> tuple[str, ...]:
    """The methods a front end offers, in registration order: every classical method (plugins'
    included), the learned ones whose weights are installed, never one that needs the annotated
    boxes (an evaluation experiment); then any of ``chosen`` (the current settings' methods)
    not among them, so a front end can always show what is selected."""
    installed = set(installed_learned_methods())
    runnable = [m for m in available_methods()
                if not method_info(m).needs_boxes and (not method_info(m).learned or m in installed)]
    return tuple(dict.fromkeys((*runnable, *chosen)))


def default_methods() -> tuple[str, ...]:
    """Zero-filled, the best classical baseline and LF-MRI when its weights are installed."""
    chosen = ["zero-filled"]
    if "lfmri" in installed_learned_methods():
        chosen.append("lfmri")
    return tuple(chosen)


@dataclass(frozen=True)
class ReconSettings:
    """One reconstruction setting; checked on construction (a bad choice fails where made).

    Parameters
    ----------
    acceleration
        Requested acceleration, >= 1 (4 and 8 are fastMRI's).
    mask
        Registered mask name (:func:`lfmri_core.masks.available_masks`).
    center_fraction
        Fully sampled centre fraction, in ``(0, 1)`` (fastMRI: 0.08 at 4x, 0.04 at 8x).
    seed
        Mask seed; None uses fastMRI's per-file seed (the file name), so every slice of a
        volume shares one mask, as in fastMRI.
    methods
        Registered method names to reconstruct with, in display order (at least one).
    device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    virtual_coils
        Compress the coils to this many virtual coils before reconstructing
        (:func:`lfmri_core.coils.compress_coils`): faster on many-coil data. None (or at least
        the volume's coil count) keeps all coils.
    drawn_mask
        A mask drawn by hand (:class:`~lfmri_core.masks.DrawnMaskSpec`), in force instead of
        the preset (``mask``, ``acceleration``, ``center_fraction``, ``seed``) when given; the
        preset is kept to go back to. Changing the preset (:meth:`updated`) drops it.
    """

    acceleration: float = 4.0
    mask: str = "random"
    center_fraction: float = 0.08
    seed: int | None = None
    methods: tuple[str, ...] = ("zero-filled",)
    device: str = "auto"
    virtual_coils: int | None = None
    drawn_mask: DrawnMaskSpec | None = None

    def __post_init__(self) -> None:
        spec = MaskSpec(self.mask, self.acceleration, self.center_fraction, seed=self.seed)
        object.__setattr__(self, "acceleration", spec.acceleration)
        object.__setattr__(self, "center_fraction", spec.center_fraction)
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0):
            raise InputError(f"mask seed must be a non-negative integer or None, got {self.seed!r}")
        methods = (self.methods,) if isinstance(self.methods, str) else tuple(self.methods)
        if not methods:
            raise InputError(f"choose at least one method ({', '.join(available_methods())})")
        if len(set(methods)) != len(methods):
            raise InputError(f"a method is listed twice: {', '.join(methods)}")
        for name in methods:
            if method_info(name).needs_boxes:  # method_info raises InputError naming the choices
                raise InputError(f"{name} takes the annotated boxes as its focus: an evaluation experiment "
                                 "(lfmri evaluate --methods ...), not a viewer method")
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "device", check_device(self.device))
        v = self.virtual_coils
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise InputError(f"virtual coils must be a positive integer or None (all coils), got {v!r}")
        if self.drawn_mask is not None and not isinstance(self.drawn_mask, DrawnMaskSpec):
            raise InputError(f"drawn_mask must be a DrawnMaskSpec or None, got {type(self.drawn_mask).__name__}")

    @property
    def is_drawn(self) -> bool:
        """Whether a drawn mask is in force."""
        return self.drawn_mask is not None

    def mask_spec(self) -> MaskSpec:
        """The mask in force: the drawn one, else the preset (seed None: the pipeline uses
        the file's own seed)."""
        if self.drawn_mask is not None:
            return self.drawn_mask
        return MaskSpec(self.mask, self.acceleration, self.center_fraction, seed=self.seed)

    def mask_key(self) -> tuple[Any, ...]:
        """What identifies the sampled k-space: equal keys give the same mask on a volume."""
        if self.drawn_mask is not None:
            return ("drawn", self.drawn_mask)
        return (self.mask, self.acceleration, self.center_fraction, self.seed)

    def updated(self, **changes: Any) -> ReconSettings:
        """A copy with ``changes`` (checked); unknown names are an error.

        A change of the preset mask (``mask``, ``acceleration``, ``center_fraction``, ``seed``)
        without a ``drawn_mask`` drops the drawn mask: the preset chosen is the one in force.
        """
        names = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise InputError(f"unknown setting {unknown[0]!r}; settings are {', '.join(sorted(names))}")
        if "drawn_mask" not in changes and any(changes[n] != getattr(self, n) for n in _PRESET_FIELDS & set(changes)):
            changes["drawn_mask"] = None
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (the drawn mask as :meth:`DrawnMaskSpec.to_dict`); inverse of :meth:`from_dict`."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["methods"] = list(self.methods)
        data["drawn_mask"] = None if self.drawn_mask is None else self.drawn_mask.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ReconSettings:
        """Settings from :meth:`to_dict`'s output (a saved session); :class:`InputError` for
        anything else. Settings left out take their defaults."""
        if not isinstance(data, dict):
            raise InputError(f"settings must be a mapping, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"unknown setting {unknown[0]!r}; settings are {', '.join(sorted(names))}")
        values = dict(data)
        if "methods" in values:
            methods = values["methods"]
            if not isinstance(methods, list | tuple) or not all(isinstance(m, str) for m in methods):
                raise InputError(f"methods must be a list of method names, got {methods!r}")
            values["methods"] = tuple(methods)
        drawn = values.get("drawn_mask")
        if drawn is not None:
            spec = MaskSpec.from_dict(drawn)
            if not isinstance(spec, DrawnMaskSpec):
                raise InputError(f"drawn_mask must be a drawn mask (name 'drawn'), got {spec.name!r}")
            values["drawn_mask"] = spec
        return cls(**values)


__all__ = ["DEVICES", "ReconSettings", "default_methods", "offered_methods"]
