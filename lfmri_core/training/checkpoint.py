"""Training checkpoints: one safetensors file, tensors and JSON metadata, never pickle.

``checkpoint.safetensors`` holds everything needed to continue a run exactly:

- ``model.<name>``: the model's state dict;
- ``optim.<i>.<key>``: the optimizer state of the ``i``-th trained parameter (for Adam:
  ``exp_avg``, ``exp_avg_sq`` and ``step``, all tensors);
- ``state.<name>``: further tensors of the run, e.g. the data order's permutation and the
  states of its :class:`torch.Generator` s (``get_state()`` is a uint8 tensor);
- header metadata :data:`METADATA_KEY`: JSON with the step, elapsed seconds, the training
  configuration, and whatever else the trainer keeps (format :data:`FORMAT_NAME`).

:func:`check_resumable` refuses a checkpoint of another task, architecture or settings, and
:func:`trim_log` drops the log lines a resumed run will write again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lfmri_core.errors import InputError
from lfmri_core.io.atomic import atomic_path, atomic_write_text
from lfmri_core.training.config import RESUMABLE_CHANGES, TrainingConfig

FORMAT_NAME = "lfmri-training-checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "lfmri_checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint as read from disk."""

    model: dict[str, torch.Tensor]
    """The model's state dict."""
    optimizer: dict[int, dict[str, torch.Tensor]]
    """Optimizer state per trained-parameter index."""
    state: dict[str, torch.Tensor]
    """Other tensors of the run."""
    metadata: dict[str, Any]
    """The JSON metadata (``format``, ``version``, ``step``, ...)."""


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    state: Mapping[str, torch.Tensor],
    metadata: Mapping[str, Any],
) -> Path:
    """Write a checkpoint atomically (see the module docstring).

    Parameters
    ----------
    model
        The (unwrapped) model.
    optimizer
        Its optimizer, over one parameter group.
    state
        Extra tensors (any dtype safetensors stores).
    metadata
        JSON-serialisable values.
    """
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for index, entry in optimizer.state_dict()["state"].items():
        for key, value in entry.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"optim.{index}.{key}"] = tensor.detach().cpu().contiguous()
    for key, value in state.items():
        tensors[f"state.{key}"] = value.detach().cpu().contiguous()
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **metadata}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(header)})
    return path


def _read(path: Path, *, with_tensors: bool) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The checked JSON header and (optionally) the tensors of a checkpoint file."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise InputError(f"no checkpoint {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            raw = (handle.metadata() or {}).get(METADATA_KEY)
            tensors = {name: handle.get_tensor(name) for name in handle.keys()} if with_tensors else {}
    except (SafetensorError, OSError, ValueError, TypeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: not a readable checkpoint ({reason})") from None
    try:
        metadata = json.loads(raw) if raw is not None else None
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise InputError(f"{path}: not an LF-MRI training checkpoint")
    return metadata, tensors


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; anything else raises :class:`InputError`."""
    path = Path(path)
    metadata, tensors = _read(path, with_tensors=True)
    if metadata.get("version") != FORMAT_VERSION:
        raise InputError(f"{path}: checkpoint version {metadata.get('version')!r} is not supported (expected {FORMAT_VERSION})")
    model: dict[str, torch.Tensor] = {}
    optimizer: dict[int, dict[str, torch.Tensor]] = {}
    state: dict[str, torch.Tensor] = {}
    for name, value in tensors.items():
        group, _, rest = name.partition(".")
        if group == "model":
            model[rest] = value
        elif group == "state":
            state[rest] = value
        elif group == "optim":
            index, _, key = rest.partition(".")
            optimizer.setdefault(int(index), {})[key] = value
    return Checkpoint(model=model, optimizer=optimizer, state=state, metadata=metadata)


def load_optimizer_state(optimizer: torch.optim.Optimizer, saved: Mapping[int, Mapping[str, torch.Tensor]], *, source: str) -> None:
    """Put saved per-parameter state into ``optimizer`` (hyperparameters stay as constructed)."""
    current = optimizer.state_dict()
    count = sum(len(group["params"]) for group in current["param_groups"])
    if saved and (max(saved) >= count or min(saved) < 0):
        raise InputError(f"{source}: optimizer state for {max(saved) + 1} parameters, the model trains {count}")
    current["state"] = {index: dict(entry) for index, entry in saved.items()}
    try:
        optimizer.load_state_dict(current)
    except (ValueError, RuntimeError, KeyError) as err:
        raise InputError(f"{source}: optimizer state does not fit the model ({str(err).splitlines()[0]})") from None


def read_checkpoint_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Only the JSON metadata of a checkpoint (no tensors are read)."""
    return _read(Path(path), with_tensors=False)[0]


def check_resumable(metadata: Mapping[str, Any], config: TrainingConfig, model_config: Mapping[str, Any], *,
                    source: str) -> None:
    """Refuse to resume a checkpoint of another task, architecture or settings.

    Parameters
    ----------
    metadata
        The checkpoint's metadata.
    config
        The settings of the run that resumes; only :data:`~lfmri_core.training.config.RESUMABLE_CHANGES`
        may differ from the stored ones (settings the checkpoint predates count at their defaults).
    model_config
        The run's architecture as JSON values.
    source
        The checkpoint's name, for the messages.
    """
    if metadata.get("task") != config.task:
        raise InputError(f"{source} is a checkpoint of {metadata.get('task')!r}, not of {config.task!r}")
    if metadata.get("model_config") != model_config:
        raise InputError(f"{source} is a checkpoint of another {config.task} architecture")
    current = config.to_dict()
    defaults = TrainingConfig(task=config.task).to_dict()
    stored = {k: v for k, v in defaults.items() if k not in ("task",)} | metadata.get("config", {})
    differing = sorted(k for k in set(stored) | set(current) if k not in RESUMABLE_CHANGES and stored.get(k) != current.get(k))
    if differing:
        detail = ", ".join(f"{k}={stored.get(k)!r} (now {current.get(k)!r})" for k in differing)
        raise InputError(f"{source}: the run was started with other settings: {detail}")


def trim_log(log: Path, step: int) -> None:
    """Keep only the rounds of ``log`` (a ``train_log.jsonl``) up to ``step``, if it exists."""
    if not log.is_file():
        return
    kept = [line for line in log.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    atomic_write_text(log, "".join(line + "\n" for line in kept))
