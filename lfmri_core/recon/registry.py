"""Reconstruction methods by name.

A method turns undersampled multi-coil k-space into an image. Every front end (CLI, napari,
Jupyter, evaluation) lists and builds methods from :data:`METHOD_REGISTRY`, so a method added
here (or registered from a plugin) appears everywhere at once.

Plugins: an installed package adds methods through the entry-point group :data:`PLUGIN_GROUP`
(``lfmri.methods``), one entry point per method, named like the method and referring to its
:class:`MethodInfo`::

    [project.entry-points."lfmri.methods"]
    bart-pics = "lfmri_plugins.bart_pics:BART_PICS"

:func:`load_plugins` registers them after the built-in methods when :mod:`lfmri_core.recon` is
imported (``docs/plugins.md``). A plugin that fails to load is left out with a warning naming
it; :data:`DISABLE_PLUGINS_ENV` turns discovery off.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, distributions, entry_points
from typing import Protocol

import torch

from lfmri_core.errors import InputError
from lfmri_core.progress import Cancel, Progress

ProgressCallback = Progress
"""The public name plugins use for :data:`lfmri_core.progress.Progress`, the one callback type
(``progress(done, total)`` while a method works: iterations or stages)."""

CancelCallback = Cancel
"""The public name plugins use for :data:`lfmri_core.progress.Cancel` (True: stop; methods then
raise :class:`Cancelled`)."""


class Cancelled(RuntimeError):
    """Raised by a method (or pipeline) when its cancel callback returned True."""


class ReconMethod(Protocol):
    """What a reconstruction method looks like to its callers."""

    def __call__(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        *,
        sensitivities: torch.Tensor | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> torch.Tensor:
        """Reconstruct.

        Parameters
        ----------
        kspace
            Undersampled k-space, complex64 ``(slices, coils, H, W)``, unsampled entries +0.0.
        mask
            Boolean sampling mask broadcastable to ``kspace`` (``(1, W)`` or ``(H, W)``).
        sensitivities
            Coil maps ``(slices, coils, H, W)`` for methods that need them.

        Returns
        -------
        torch.Tensor
            Full-FOV image ``(slices, H, W)``, complex or magnitude; callers take ``abs`` and
            centre-crop to the recon size.
        """
        ...


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its name, a one-line description and how to build it."""

    name: str
    description: str
    factory: Callable[..., ReconMethod]
    needs_sensitivities: bool = False
    learned: bool = False
    needs_boxes: bool = False
    """The method takes the annotated lesion boxes as a ``focus`` map (an oracle experiment: it
    runs only on annotated data, never on a new scan)."""
    plugin: str | None = None
    """Where a plugin method came from (``"module:attribute (distribution version)"``, set by
    :func:`load_plugins`); None for the built-in methods."""


METHOD_REGISTRY: dict[str, MethodInfo] = {}


def register_method(
    name: str, description: str, *, needs_sensitivities: bool = False, learned: bool = False, needs_boxes: bool = False
) -> Callable[[Callable[..., ReconMethod]], Callable[..., ReconMethod]]:
    """Decorator registering a method factory under ``name``."""

    def decorate(factory: Callable[..., ReconMethod]) -> Callable[..., ReconMethod]:
        if name in METHOD_REGISTRY:
            raise ValueError(f"reconstruction method {name!r} is registered twice")
        METHOD_REGISTRY[name] = MethodInfo(name, description, factory, needs_sensitivities, learned, needs_boxes)
        return factory

    return decorate


def available_methods() -> list[str]:
    """Names of all registered methods, in registration order."""
    return list(METHOD_REGISTRY)


def method_info(name: str) -> MethodInfo:
    try:
        return METHOD_REGISTRY[name]
    except KeyError:
        raise InputError(
            f"unknown reconstruction method {name!r}; available: {', '.join(available_methods())}"
        ) from None


def build_method(name: str, **params: object) -> ReconMethod:
    """Build the method registered as ``name`` with its parameters.

    Parameters its factory's signature does not take (a plugin's plain keyword arguments, say)
    are a one-line :class:`InputError` naming the method.
    """
    info = method_info(name)
    try:
        signature = inspect.signature(info.factory)
    except (TypeError, ValueError):  # no signature to check (a builtin): the factory checks
        signature = None
    if signature is not None:
        try:
            signature.bind(**params)
        except TypeError as err:
            takes = ", ".join(p.name for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD) or "none"
            raise InputError(f"{name}: {err} (its parameters: {takes})") from None
    return info.factory(**params)


PLUGIN_GROUP = "lfmri.methods"
"""Entry-point group through which installed packages add reconstruction methods."""

DISABLE_PLUGINS_ENV = "LFMRI_DISABLE_PLUGINS"
"""Environment variable; set to a non-empty value other than ``0``, no plugin is loaded (the
test suite sets it, so it sees only the built-in methods whatever is installed)."""


class PluginWarning(UserWarning):
    """A method plugin was left out: it failed to import, or declared something unusable."""


def _origin(entry: EntryPoint) -> str:
    dist = entry.dist
    return f"{entry.value} ({dist.name} {dist.version})" if dist is not None else entry.value


def plugins_disabled() -> bool:
    """Whether :data:`DISABLE_PLUGINS_ENV` turns plugin discovery off."""
    return os.environ.get(DISABLE_PLUGINS_ENV, "") not in ("", "0")


def load_plugins(group: str = PLUGIN_GROUP, *, path: Sequence[str] | None = None) -> list[str]:
    """Register the methods that installed packages declare in the entry-point ``group``.

    Each entry point must be named like the method and refer to a :class:`MethodInfo` of that
    name. Entry points are taken in name order; one whose name is registered already (a
    built-in method, or one loaded before) is left alone. Called by :mod:`lfmri_core.recon`
    after the built-in methods are registered; calling it again registers only what is new.

    Parameters
    ----------
    group
        The entry-point group.
    path
        Folders to look for installed distributions in (their ``*.dist-info``); None: all of
        ``sys.path``. The plugin modules are imported the usual way, from ``sys.path``.

    Returns
    -------
    list[str]
        Names of the methods registered by this call.

    Warns
    -----
    PluginWarning
        For each entry point left out: importing it failed (the exception is named), it is not a
        :class:`MethodInfo`, its name differs from the entry point's, or another plugin took the
        name first.
    """
    if plugins_disabled():
        return []
    added: list[str] = []
    if path is None:
        found = list(entry_points(group=group))
    else:
        found = [e for dist in distributions(path=list(path)) for e in dist.entry_points if e.group == group]
    for entry in sorted(found, key=lambda e: (e.name, e.value)):
        origin = _origin(entry)
        known = METHOD_REGISTRY.get(entry.name)
        if known is not None:
            if known.plugin != origin:
                where = "built in" if known.plugin is None else f"from {known.plugin}"
                warnings.warn(f"method plugin {entry.name!r} ({origin}) left out: a method of that name is {where}",
                              PluginWarning, stacklevel=2)
            continue
        try:
            info = entry.load()
        except Exception as err:  # anything a third-party import can raise must not stop lfmri
            warnings.warn(f"method plugin {entry.name!r} ({origin}) failed to load: {type(err).__name__}: {err}",
                          PluginWarning, stacklevel=2)
            continue
        if not isinstance(info, MethodInfo):
            warnings.warn(f"method plugin {entry.name!r} ({origin}) left out: it is a {type(info).__name__}, "
                          "not an lfmri_core.recon.MethodInfo", PluginWarning, stacklevel=2)
            continue
        if info.name != entry.name:
            warnings.warn(f"method plugin {entry.name!r} ({origin}) left out: its MethodInfo is named {info.name!r}",
                          PluginWarning, stacklevel=2)
            continue
        METHOD_REGISTRY[info.name] = dataclasses.replace(info, plugin=origin)
        added.append(info.name)
    return added
