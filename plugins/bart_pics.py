"""BART's ``pics`` as a reconstruction method: compare BART's result with ours in every front end.

Registered through the ``lfmri.methods`` entry-point group (``pyproject.toml``), so when this
package is installed two methods appear in ``lfmri list``, ``lfmri recon``, ``lfmri evaluate``
and both viewers:

- ``bart-pics``: ``bart pics`` with the project's coil maps (the ones every other SENSE method
  gets, ``--maps`` of ``lfmri recon``), written as ``.cfl``;
- ``bart-pics-ecalib``: ``bart ecalib`` estimates BART's own maps from the undersampled
  k-space first, so the whole reconstruction is BART's.

Each slice's masked k-space, the sampling pattern (``-p``) and the maps go through ``.cfl``
files in a temporary folder (:class:`lfmri_core.recon.bart_reference.PicsRunner`); ``bart
pics`` runs once per slice with the options given, plus ``-S`` so the image comes back in the
units of the data like every other method's. Options: the ``options`` parameter (a string split
like a shell does, or a list), else the environment variable :data:`OPTIONS_ENV`, else
:data:`DEFAULT_OPTIONS` (l1-wavelet, ``-l1 -r 0.01``; ``-l2 -r 0.01`` is Tikhonov SENSE, see
``bart pics -h``). A package of your own can declare presets with
:func:`bart_pics_method`::

    # mypkg.py, entry point  bart-l2 = "mypkg:BART_L2"  in the group lfmri.methods
    BART_L2 = bart_pics_method("bart-l2", options="-l2 -r 0.05 -i 50")

Without the ``bart`` command on ``PATH`` (https://mrirecon.github.io/bart/; Debian and Ubuntu:
``apt-get install bart``) building the method raises a one-line :class:`InputError` that says so.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from lfmri_core.errors import InputError
from lfmri_core.recon import Cancelled, MethodInfo
from lfmri_core.recon.bart_reference import PicsRunner, bart_executable
from lfmri_core.recon.registry import CancelCallback, ProgressCallback

DEFAULT_OPTIONS = "-l1 -r 0.01"
"""``bart pics`` options when none are given: l1-wavelet regularisation, lambda 0.01."""

OPTIONS_ENV = "LFMRI_BART_PICS_OPTIONS"
"""Environment variable with the default ``bart pics`` options (for the viewers, which take
no method parameters)."""

DEFAULT_ECALIB_OPTIONS = "-m1"
"""``bart ecalib`` options of ``bart-pics-ecalib``: one set of maps."""

Maps = Literal["project", "ecalib"]

# Options that name files or the sampling pattern: the method owns those.
_RESERVED = {"-p": "the sampling pattern is the mask's", "-t": "trajectories are not supported",
             "-T": "the sampling pattern is the mask's", "-B": "basis files are not supported",
             "-W": "warm-start files are not supported"}


def _split(options: str | Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(options, str):
        try:
            return tuple(shlex.split(options))
        except ValueError as err:
            raise InputError(f"{what} {options!r}: {err}") from None
    if not isinstance(options, (list, tuple)) or not all(isinstance(option, str) for option in options):
        raise InputError(f"{what} must be a string or a list of strings, got {options!r}")
    return tuple(options)


@dataclass(frozen=True)
class BartPics:
    """``bart pics`` on each slice, with the project's maps or ``bart ecalib``'s.

    Attributes
    ----------
    options
        ``bart pics`` options (``-S`` included).
    maps
        ``"project"``: the ``sensitivities`` the caller passes; ``"ecalib"``: BART's own.
    ecalib_options
        ``bart ecalib`` options for ``maps="ecalib"``.
    """

    options: tuple[str, ...]
    maps: Maps = "project"
    ecalib_options: tuple[str, ...] = (DEFAULT_ECALIB_OPTIONS,)

    def __call__(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        *,
        sensitivities: torch.Tensor | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> torch.Tensor:
        """Reconstruct ``(slices, coils, H, W)`` k-space slice by slice.

        Parameters
        ----------
        kspace
            Undersampled k-space, complex ``(slices, coils, H, W)``, unsampled entries zero.
        mask
            Boolean sampling mask broadcastable to ``(H, W)`` (``(1, W)`` or ``(H, W)``).
        sensitivities
            Coil maps ``(slices or 1, coils, H, W)``; needed with ``maps="project"``, not used
            with ``"ecalib"``.

        Returns
        -------
        torch.Tensor
            complex64 ``(slices, H, W)`` on the k-space's device.
        """
        if not isinstance(kspace, torch.Tensor) or kspace.ndim != 4 or not kspace.is_complex():
            raise InputError(f"bart pics needs complex k-space (slices, coils, H, W), got {getattr(kspace, 'shape', kspace)}")
        slices, coils, height, width = kspace.shape
        try:
            pattern = np.broadcast_to(mask.detach().cpu().numpy().astype(bool), (height, width))
        except ValueError:
            raise InputError(f"mask of shape {tuple(mask.shape)} does not fit k-space of shape {tuple(kspace.shape)}") from None
        maps = None
        if self.maps == "project":
            if sensitivities is None:
                raise InputError("bart-pics needs coil maps (the project's); bart-pics-ecalib estimates BART's own")
            maps = sensitivities.detach().cpu().numpy()
            if maps.ndim != 4 or maps.shape[0] not in (1, slices) or maps.shape[1:] != (coils, height, width):
                raise InputError(f"coil maps of shape {maps.shape} do not fit k-space of shape {tuple(kspace.shape)}")
        data = kspace.detach().cpu().numpy()
        images = np.empty((slices, height, width), dtype=np.complex64)
        for index in range(slices):
            if cancel is not None and cancel():
                raise Cancelled(f"bart pics cancelled after {index} of {slices} slices")
            slice_maps = None if maps is None else maps[index if maps.shape[0] > 1 else 0]
            try:
                with PicsRunner(data[index], slice_maps, pattern, ecalib_arguments=self.ecalib_options) as bart:
                    images[index] = bart.run(self.options).image
            except RuntimeError as err:  # BART refused the options (or the data): its own words
                raise InputError(f"{err} (options: {shlex.join(self.options)})") from None
            if progress is not None:
                progress(index + 1, slices)
        return torch.from_numpy(images).to(kspace.device)


def build_bart_pics(maps: Maps = "project", **params: object) -> BartPics:
    """A :class:`BartPics`; ``params``: ``options`` (both kinds of maps), ``ecalib_options``
    (``maps="ecalib"`` only), each a string split like a shell does or a list of strings.

    Raises
    ------
    InputError
        ``bart`` is not installed, an unknown parameter, options that are not strings or that
        name what the method owns (``-p``, trajectories, basis or warm-start files).
    """
    if maps not in ("project", "ecalib"):
        raise InputError(f"maps must be 'project' or 'ecalib', got {maps!r}")
    name = "bart-pics-ecalib" if maps == "ecalib" else "bart-pics"
    allowed = ("options", "ecalib_options") if maps == "ecalib" else ("options",)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InputError(f"{name} has no parameter {unknown[0]!r}; its parameters: {', '.join(allowed)}")
    if bart_executable() is None:
        raise InputError(f"{name} needs the BART command line: no 'bart' on PATH "
                         "(install BART: https://mrirecon.github.io/bart/, Debian/Ubuntu: apt-get install bart)")
    raw = params.get("options")
    if raw is None:
        raw = os.environ.get(OPTIONS_ENV) or DEFAULT_OPTIONS
    options = _split(raw, f"{name} options")  # type: ignore[arg-type]
    for option in options:
        if option in _RESERVED:
            raise InputError(f"{name} options may not contain {option}: {_RESERVED[option]}")
    if "-S" not in options:
        options = ("-S", *options)
    ecalib = _split(params.get("ecalib_options", DEFAULT_ECALIB_OPTIONS), f"{name} ecalib options")  # type: ignore[arg-type]
    return BartPics(options=options, maps=maps, ecalib_options=ecalib)


def bart_pics_method(name: str, *, options: str | Sequence[str] | None = None, maps: Maps = "project",
                     description: str | None = None) -> MethodInfo:
    """A :class:`~lfmri_core.recon.MethodInfo` for ``bart pics`` with fixed default options: what a
    package declares in the ``lfmri.methods`` entry-point group to offer a preset.

    Parameters
    ----------
    name
        The method's name (the entry point's name).
    options
        Default ``bart pics`` options of the method (None: :data:`OPTIONS_ENV` or
        :data:`DEFAULT_OPTIONS`); an ``options`` parameter given when building still wins.
    maps
        ``"project"`` (the project's coil maps, passed by the caller) or ``"ecalib"``.
    description
        One line for ``lfmri list`` (default: the command).
    """
    if maps not in ("project", "ecalib"):
        raise InputError(f"maps must be 'project' or 'ecalib', got {maps!r}")
    fixed = None if options is None else _split(options, f"{name} options")

    def factory(**params: object) -> BartPics:
        if fixed is not None and params.get("options") is None:
            params = {**params, "options": fixed}
        return build_bart_pics(maps, **params)

    command = "bart pics " + (shlex.join(fixed) if fixed is not None else f"{DEFAULT_OPTIONS} (or ${OPTIONS_ENV})")
    text = description or (f"{command} with " + ("the project's coil maps" if maps == "project" else "bart ecalib maps")
                           + " (BART plugin)")
    return MethodInfo(name, text, factory, needs_sensitivities=maps == "project")


BART_PICS = bart_pics_method("bart-pics")
"""``bart pics`` with the project's coil maps."""

BART_PICS_ECALIB = bart_pics_method("bart-pics-ecalib", maps="ecalib")
"""``bart ecalib`` maps, then ``bart pics``."""

__all__ = [
    "BART_PICS",
    "BART_PICS_ECALIB",
    "DEFAULT_OPTIONS",
    "OPTIONS_ENV",
    "BartPics",
    "bart_pics_method",
    "build_bart_pics",
]
