"""Trained weights shipped with the package (safetensors, :mod:`lfmri_core.models.weights`).

Files in this folder, by name:

- ``net_c.safetensors``: Net_c, the lesion classifier whose class activation map (CAM) the
  viewers show and LF-MRI's lesion-focused module uses;
- ``lfmri.safetensors``: the LF-MRI unrolled network with CAM lesion focus (it contains its own
  frozen Net_c);
- ``unrolled-no-focus.safetensors``: the same network without lesion focus (ablation);
- ``unet.safetensors``: the image-domain U-Net baseline;
- ``lfmri-t<T>.safetensors``: LF-MRI with ``T`` unrolled stages, for the stage ablation.

They are made with ``lfmri train ...`` (Net_c first, then the reconstruction networks) on the
synthetic training split by ``scripts/train_weights.sh``; the commands, data, seeds and times
are in ``docs/lfmri.md``, and a file's header metadata carries what its training run wrote there
(:func:`~lfmri_core.models.read_weights_metadata`).
A file that is absent is simply not installed: the learned methods then ask for a weights
file, and the viewers show no CAM.

The folder is read through :data:`WEIGHTS_DIR` at each call, so tests (and installations
that keep weights elsewhere) can point it at another folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from lfmri_core.errors import InputError

WEIGHTS_DIR: Path = Path(__file__).resolve().parent
"""The folder holding the shipped ``*.safetensors`` files."""

SHIPPED_NAMES: tuple[str, ...] = ("net_c", "lfmri", "unrolled-no-focus", "unet")
"""Names of the shipped models (file ``<name>.safetensors``)."""

SUFFIX = ".safetensors"

_STAGE_FILE = re.compile(r"^lfmri-t([1-9][0-9]*)\.safetensors$")


def weights_path(name: str) -> Path:
    """Where the shipped weights ``name`` live (whether or not the file is there).

    Raises
    ------
    InputError
        For a name that is not one of :data:`SHIPPED_NAMES`.
    """
    if name not in SHIPPED_NAMES:
        raise InputError(f"no shipped weights are called {name!r}; known: {', '.join(SHIPPED_NAMES)}")
    return WEIGHTS_DIR / f"{name}{SUFFIX}"


def shipped_weights(name: str) -> Path | None:
    """The installed weights file ``name`` (one of :data:`SHIPPED_NAMES`), or None if absent."""
    path = weights_path(name)
    return path if path.is_file() else None


def shipped_stage_weights() -> dict[int, Path]:
    """The installed stage-ablation files ``lfmri-t<T>.safetensors``, by number of stages ``T``."""
    if not WEIGHTS_DIR.is_dir():
        return {}
    found = {}
    for path in WEIGHTS_DIR.iterdir():
        match = _STAGE_FILE.match(path.name)
        if match and path.is_file():
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


__all__ = ["SHIPPED_NAMES", "SUFFIX", "WEIGHTS_DIR", "shipped_stage_weights", "shipped_weights", "weights_path"]
