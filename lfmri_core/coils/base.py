"""Coil-sensitivity estimates, the registry of estimation methods and the entry point
:func:`estimate_sensitivities`.

A method is registered with its frozen configuration dataclass; every front end lists the
methods with :func:`available_sensitivity_methods` and builds one by name, so a method
registered here or by a plugin shows up everywhere.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import torch

from lfmri_core.coils.calibration import CalibrationRegion, MaskLike, as_kspace_batch
from lfmri_core.coils.checks import CalibrationWarning
from lfmri_core.errors import InputError

__all__ = [
    "SENSITIVITY_METHODS",
    "SensitivityEstimate",
    "SensitivityMethod",
    "available_sensitivity_methods",
    "estimate_sensitivities",
    "register_sensitivity_method",
]


@dataclass(frozen=True, eq=False)
class SensitivityEstimate:
    """Coil sensitivity maps and how they were made.

    Attributes
    ----------
    maps
        complex64, on the device of the k-space. Shape ``(slices, coils, H, W)`` for one map
        per slice, ``(slices, maps, coils, H, W)`` for several; without the ``slices`` axis
        when the k-space had none. Unit norm over coils where kept, exactly 0 where cropped.
    eigenvalues
        float32 ESPIRiT eigenvalue maps, the shape of ``maps`` without the coil axis (not
        cropped); None for methods without eigenvalues.
    calibration
        The k-space block the maps were calibrated from.
    method
        Registry name of the method that made the maps.
    config
        The method's configuration (a frozen dataclass).
    requested
        The method asked for when the checks of :func:`estimate_sensitivities` replaced its
        maps (another kernel, or another method); None when the maps are what was asked for.
    warnings
        What the checks found, one line each (also issued as
        :class:`~lfmri_core.coils.checks.CalibrationWarning`); empty when nothing.
    coverage
        float64 ``(slices,)``: the share of the calibration energy the maps explain
        (:func:`~lfmri_core.coils.checks.map_coverage`), where it was checked; else None.
    """

    maps: torch.Tensor
    eigenvalues: torch.Tensor | None
    calibration: CalibrationRegion
    method: str
    config: Any
    requested: str | None = None
    warnings: tuple[str, ...] = ()
    coverage: torch.Tensor | None = None


class SensitivityFunction(Protocol):
    """A method: checked k-space ``(slices, coils, H, W)`` (complex64), its configuration and
    an optional sampling mask -> maps ``(slices, maps, coils, H, W)``, eigenvalues
    ``(slices, maps, H, W)`` or None, and the calibration region."""

    def __call__(
        self, kspace: torch.Tensor, config: Any, mask: MaskLike | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, CalibrationRegion]: ...


@dataclass(frozen=True)
class SensitivityMethod:
    """A registered method: its name, configuration type and function."""

    name: str
    config_type: type
    function: SensitivityFunction

    def estimate(self, kspace: Any, config: Any = None, *, mask: MaskLike | None = None) -> SensitivityEstimate:
        """Run the method on complex k-space ``(coils, H, W)`` or ``(slices, coils, H, W)``."""
        config = self.checked_config(config)
        batch, has_slices = as_kspace_batch(kspace)
        maps, eigenvalues, region = self.function(batch, config, mask)
        return self.package(maps, eigenvalues, region, config, has_slices)

    def checked_config(self, config: Any) -> Any:
        """``config``, or the defaults for None; a configuration of another type is an error."""
        if config is None:
            return self.config_type()
        if not isinstance(config, self.config_type):
            raise InputError(f"the {self.name} method takes a {self.config_type.__name__}, got {type(config).__name__}")
        return config

    def package(
        self,
        maps: torch.Tensor,
        eigenvalues: torch.Tensor | None,
        region: CalibrationRegion,
        config: Any,
        has_slices: bool,
        **extra: Any,
    ) -> SensitivityEstimate:
        """The function's output ``(slices, maps, coils, H, W)`` as an estimate: the ``maps`` axis
        dropped when there is one map, the ``slices`` axis when the k-space had none; ``extra``
        fills the other fields of :class:`SensitivityEstimate`."""
        if maps.shape[1] == 1:
            maps = maps[:, 0]
            eigenvalues = None if eigenvalues is None else eigenvalues[:, 0]
        if not has_slices:
            maps = maps[0]
            eigenvalues = None if eigenvalues is None else eigenvalues[0]
        return SensitivityEstimate(maps, eigenvalues, region, self.name, config, **extra)


SENSITIVITY_METHODS: dict[str, SensitivityMethod] = {}
"""Method name -> :class:`SensitivityMethod`, in registration order."""

_F = TypeVar("_F", bound=Callable[..., Any])


def register_sensitivity_method(name: str, config_type: type) -> Callable[[_F], _F]:
    """Decorator registering a method under ``name`` with its configuration dataclass.

    The function takes ``(kspace, config, mask)`` with checked complex64 k-space
    ``(slices, coils, H, W)`` and returns ``(maps, eigenvalues_or_None, calibration)``, maps
    ``(slices, maps, coils, H, W)``.
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise InputError(f"method name must be a non-empty string without surrounding spaces, got {name!r}")
    if not dataclasses.is_dataclass(config_type):
        raise InputError(f"the configuration of method {name!r} must be a dataclass, got {config_type!r}")

    def decorate(function: _F) -> _F:
        if name in SENSITIVITY_METHODS:
            raise InputError(f"coil sensitivity method {name!r} is already registered")
        SENSITIVITY_METHODS[name] = SensitivityMethod(name, config_type, function)
        return function

    return decorate


def available_sensitivity_methods() -> tuple[str, ...]:
    """Names of the registered coil sensitivity methods."""
    return tuple(SENSITIVITY_METHODS)


_CHECKED_ESTIMATES: dict[str, Callable[..., SensitivityEstimate]] = {}
"""Methods whose maps :func:`estimate_sensitivities` checks, with the function that runs the
method, checks its maps and falls back (``function(entry, kspace, config, mask, *, fallback)``);
:mod:`lfmri_core.coils.fallback` registers ESPIRiT's when the package is imported."""


def register_checked_estimate(name: str, function: Callable[..., SensitivityEstimate]) -> None:
    """Have :func:`estimate_sensitivities` run ``function`` for the method ``name`` (its checks
    and fallback) instead of the method itself."""
    _CHECKED_ESTIMATES[name] = function


def estimate_sensitivities(
    kspace: np.ndarray | torch.Tensor,
    method: str = "espirit",
    calib_size: int | tuple[int, int] | None = None,
    *,
    mask: MaskLike | None = None,
    fallback: bool = True,
    warn: bool = True,
    **params: Any,
) -> SensitivityEstimate:
    """Coil sensitivity maps from multi-coil k-space with a fully sampled centre.

    ESPIRiT's maps are checked (:mod:`lfmri_core.coils.checks`): on a calibration region too
    small for the kernel (BART's 6 x 6 kernel needs at least 10 centre lines), or when the maps
    explain too little of the calibration data, NLINV maps (``"nlinv"``) replace them. The
    estimate names the method used (``method``, and ``requested`` when it was replaced) and
    carries the ``warnings``, which are also issued as
    :class:`~lfmri_core.coils.checks.CalibrationWarning`. On inputs that pass the checks the
    maps are exactly ESPIRiT's.

    Parameters
    ----------
    kspace
        Complex k-space, ``(coils, H, W)`` or ``(slices, coils, H, W)``, numpy or torch
        (computed on the tensor's device); ``H`` readout, ``W`` phase encode, DC at
        ``(H // 2, W // 2)``; unsampled locations exactly 0 unless ``mask`` says otherwise.
    method
        Registered name: ``"espirit"`` (BART ``ecalib``, checked), ``"lowres"`` (fast preview)
        or ``"nlinv"`` (BART ``nlinv``: joint estimation, for few calibration lines).
    calib_size
        Largest calibration block ``(rows, columns)`` (or one int for both); the largest fully
        sampled centred block up to this size is used (BART's ``-r``). None: the method's
        default (24 x 24).
    mask
        Sampling pattern (:class:`~lfmri_core.masks.SamplingMask`, or boolean ``(W,)`` /
        ``(H, W)``) to find the calibration block from; None reads it from the non-zero data.
    fallback
        Replace maps that fail the checks (the default). False keeps the method's maps (and
        its errors: ESPIRiT on a region smaller than its kernel raises), still warning.
    warn
        Issue the checks' findings as :class:`~lfmri_core.coils.checks.CalibrationWarning`
        (the default); False only records them in ``warnings``, for callers that show them
        themselves.
    **params
        Fields of the method's configuration (e.g. ``kernel_size``, ``threshold``, ``crop``,
        ``num_maps`` for ESPIRiT; see :class:`~lfmri_core.coils.EspiritConfig`).

    Returns
    -------
    SensitivityEstimate
        ``maps`` ``(slices, coils, H, W)`` (``(slices, maps, coils, H, W)`` for several maps;
        no ``slices`` axis for 3-D input), eigenvalues and the calibration region.

    Examples
    --------
    >>> est = estimate_sensitivities(kspace)                      # doctest: +SKIP
    >>> est = estimate_sensitivities(kspace, "lowres", calib_size=(24, 24))  # doctest: +SKIP
    >>> SenseOperator(est.maps, mask)                             # doctest: +SKIP
    """
    try:
        entry = SENSITIVITY_METHODS[method]
    except (KeyError, TypeError):
        raise InputError(f"unknown coil sensitivity method {method!r}; known methods: {', '.join(available_sensitivity_methods())}") from None
    fields = [f.name for f in dataclasses.fields(entry.config_type)]
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise InputError(f"the {method} method has no option {', '.join(unknown)}; its options: {', '.join(fields)}")
    if calib_size is not None:
        if "calib_size" not in fields:
            raise InputError(f"the {method} method takes no calib_size")
        params["calib_size"] = calib_size
    config = entry.config_type(**params)
    checked = _CHECKED_ESTIMATES.get(method)
    if checked is None:
        return entry.estimate(kspace, config, mask=mask)
    estimate = checked(entry, kspace, config, mask, fallback=fallback)
    if warn:
        for message in estimate.warnings:
            warnings.warn(message, CalibrationWarning, stacklevel=2)
    return estimate
