"""Weights files for every learned model: safetensors with the JSON configuration inside.

One file holds one model: its tensors (float32) and, in the safetensors header metadata, the
model kind (:data:`KIND_KEY`: ``"classifier"``, ``"lfmri"`` or ``"unet"``) and its
configuration as versioned JSON (:data:`CONFIG_KEY`). Loading reads only tensors and strings:
a pickle (``torch.save``) or any other file is refused with a one-line :class:`InputError`, and
nothing in a file is ever executed. Extra string metadata (training command, data, steps) rides
along and is returned by :func:`read_weights_metadata`.

An LF-MRI file contains its frozen Net_c (tensor names ``classifier.*``), so one file is a
complete model.

>>> path = save_weights("lfmri.safetensors", LFMRINet(LFMRIConfig()))      # doctest: +SKIP
>>> model = load_weights(path, kind="lfmri")                                # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lfmri_core.errors import InputError
from lfmri_core.io.atomic import atomic_path

KIND_KEY = "lfmri_model_kind"
"""Metadata key of the model kind."""

CONFIG_KEY = "lfmri_model_config"
"""Metadata key of the model's JSON configuration."""


@dataclass(frozen=True)
class ModelKind:
    """How to rebuild a model of one kind from its configuration.

    Attributes
    ----------
    name
        The kind stored in files (``"classifier"``, ``"lfmri"``, ``"unet"``).
    model_type
        The ``nn.Module`` class.
    config_type
        Its frozen configuration dataclass, with ``to_json`` / ``from_json(text, source=)``.
    build
        ``config -> model``.
    describe
        ``config -> str``: the architecture in a few words, for messages.
    min_tensors
        ``config -> int``: a lower bound on the number of tensors of such a model, checked
        against the file before anything is built, so a configuration that claims a huge
        model (say a million stages) is refused at once instead of being built.
    """

    name: str
    model_type: type
    config_type: type
    build: Callable[[Any], nn.Module]
    describe: Callable[[Any], str]
    min_tensors: Callable[[Any], int] = lambda config: 0


MODEL_KINDS: dict[str, ModelKind] = {}
"""Every model kind a weights file can hold, by name; each model module registers its own
(:func:`register_model_kind`), so this module imports no model."""


def register_model_kind(kind: ModelKind) -> ModelKind:
    """Make ``kind`` loadable and savable; called once by the module defining the model."""
    if kind.name in MODEL_KINDS:
        raise ValueError(f"model kind {kind.name!r} is registered twice")
    MODEL_KINDS[kind.name] = kind
    return kind


def _kinds() -> dict[str, ModelKind]:
    return MODEL_KINDS


def model_kinds() -> dict[str, ModelKind]:
    """The model kinds a weights file can hold, by name."""
    return _kinds()


def kind_of(model: nn.Module) -> ModelKind:
    """The :class:`ModelKind` of a model instance."""
    for kind in _kinds().values():
        if isinstance(model, kind.model_type):
            return kind
    raise InputError(f"cannot save a {type(model).__name__}: not an LF-MRI model")


def save_weights(
    path: str | os.PathLike[str], model: nn.Module, *, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write ``model`` as safetensors with its kind and configuration, atomically.

    Parameters
    ----------
    path
        Destination (conventionally ``*.safetensors``); replaced if it exists.
    model
        A :class:`~lfmri_core.models.LesionClassifier`, :class:`~lfmri_core.models.LFMRINet` or
        :class:`~lfmri_core.models.UNetRecon`.
    metadata
        Extra string entries for the header (e.g. the training command).
    """
    from safetensors.torch import save_file

    kind = kind_of(model)
    extra = dict(metadata or {})
    for key, value in extra.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InputError(f"weights metadata must map strings to strings, got {key!r}: {type(value).__name__}")
        if key in (KIND_KEY, CONFIG_KEY):
            raise InputError(f"weights metadata key {key!r} is reserved")
    tensors = {
        name: value.detach().to("cpu", torch.float32).contiguous()
        for name, value in model.state_dict().items()
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={KIND_KEY: kind.name, CONFIG_KEY: model.config.to_json(), **extra})
    return path


def _read(path: Path, *, with_tensors: bool) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    from safetensors import SafetensorError, safe_open

    if path.is_dir():
        raise InputError(f"weights file {path} is a folder")
    if not path.is_file():
        raise InputError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {name: handle.get_tensor(name) for name in handle.keys()} if with_tensors else {}
    except (SafetensorError, OSError, ValueError, TypeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: not a readable safetensors file ({reason})") from None
    return metadata, tensors


def read_weights_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The header metadata of a weights file (kind, config and any extra entries)."""
    metadata, _ = _read(Path(path), with_tensors=False)
    return metadata


def load_weights(
    path: str | os.PathLike[str],
    *,
    kind: str | None = None,
    config: Any = None,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Read a model written by :func:`save_weights`, in eval mode.

    Parameters
    ----------
    path
        The safetensors file.
    kind
        The model kind the caller expects (``"classifier"``, ``"lfmri"``, ``"unet"``); a file
        of another kind raises. None accepts any kind.
    config
        The exact configuration the caller expects; a file for another architecture raises,
        naming the fields that differ.
    device
        Where the weights go.

    Raises
    ------
    InputError
        Missing file; not safetensors (a pickle checkpoint, say); no LF-MRI model metadata;
        another kind or architecture than asked for; tensors that do not fit the architecture
        (missing, unexpected, wrongly shaped or not floating point). One line, naming the file.
    """
    path = Path(path)
    metadata, tensors = _read(path, with_tensors=True)
    kinds = _kinds()
    if kind is not None and kind not in kinds:
        raise InputError(f"unknown model kind {kind!r}; known: {', '.join(kinds)}")
    stored_kind = metadata.get(KIND_KEY)
    if stored_kind is None or CONFIG_KEY not in metadata:
        raise InputError(f"{path}: safetensors file has no LF-MRI model config ({KIND_KEY!r}, {CONFIG_KEY!r})")
    if stored_kind not in kinds:
        raise InputError(f"{path}: unknown model kind {stored_kind!r} (known: {', '.join(kinds)})")
    if kind is not None and stored_kind != kind:
        raise InputError(f"{path}: holds a model of kind {stored_kind!r}, expected kind {kind!r}")
    entry = kinds[stored_kind]
    try:
        stored = entry.config_type.from_json(metadata[CONFIG_KEY], source=str(path))
    except (InputError, TypeError, ValueError) as err:
        # Field checks of the config classes do not know the file; a value of the wrong JSON
        # type (a list for a name, say) can also fail before them with a TypeError.
        message = str(err)
        if isinstance(err, TypeError):
            message = f"{path}: bad {stored_kind} config: a field has the wrong JSON type ({message})"
        elif not message.startswith(f"{path}:"):
            message = f"{path}: bad {stored_kind} config: {message}"
        raise InputError(message) from None
    if config is not None and stored != config:
        if isinstance(config, entry.config_type):
            differing = [f.name for f in fields(stored) if getattr(stored, f.name) != getattr(config, f.name)]
            detail = ", ".join(f"{n}={getattr(stored, n)!r} (expected {getattr(config, n)!r})" for n in differing)
        else:
            detail = f"expected a {type(config).__name__}"
        raise InputError(f"{path}: checkpoint is for another {stored_kind} architecture: {detail}")
    if len(tensors) < entry.min_tensors(stored):
        raise InputError(
            f"{path}: holds {len(tensors)} tensors, too few for the {entry.describe(stored)} its config describes"
        )
    # Built on the meta device first: the shapes cost no memory, so a config that claims an
    # enormous width fails the checks below instead of allocating it.
    with torch.device("meta"):
        skeleton = entry.build(stored)
    expected = skeleton.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise InputError(
            f"{path}: tensors do not match the {entry.describe(stored)}: "
            f"missing {missing[:3] or 'none'}, unexpected {unexpected[:3] or 'none'}"
        )
    state: dict[str, torch.Tensor] = {}
    for name, value in tensors.items():
        if not value.is_floating_point():
            raise InputError(f"{path}: tensor {name!r} has dtype {value.dtype}, expected floating point")
        if value.shape != expected[name].shape:
            raise InputError(
                f"{path}: tensor {name!r} has shape {tuple(value.shape)}, "
                f"the {entry.describe(stored)} expects {tuple(expected[name].shape)}"
            )
        # checked after the conversion: a float64 value beyond float32's range becomes inf
        state[name] = value.to(torch.float32)
        if not torch.isfinite(state[name]).all():
            raise InputError(f"{path}: tensor {name!r} contains NaN or Inf")
    model = entry.build(stored)
    model.load_state_dict(state)
    return model.to(device).eval()
