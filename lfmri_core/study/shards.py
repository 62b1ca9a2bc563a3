"""``lfmri evaluate`` volume by volume: resumable, and sharded over ``torchrun`` processes.

Each test volume is evaluated on its own (:func:`~lfmri_core.study.runner.run_evaluation` of a
one-volume set: its reconstructions, scores and Net_c rows do not depend on the other volumes)
and its rows are written to ``<out>/parts/<volume>.json``, atomically. A part records a
fingerprint of everything its rows depend on (the plan with its weights files' digests, the
volume's file, slices, boxes and labels, the pointing tolerance, the centre prior, the device
type), so a rerun skips the volumes whose part is there with the same fingerprint and
evaluates the others, and a part made with other settings is never mixed in.

Under ``torchrun`` (:mod:`lfmri_core.sharding`) the volumes still to do are shared out over the
processes; rank 0 then reads every part back in the test set's order and merges them into one
:class:`~lfmri_core.study.runner.EvaluationResults`, from which the report is written as for a
single process: the tables, and the paired bootstrap intervals recomputed over the merged
per-slice and per-volume rows (not averaged across processes), so they equal a single
process's. Numbers travel through the parts as JSON, whose floats round-trip exactly.

The merged ``seconds`` is the sum of the parts' evaluation times (the compute the results
cost, also when some were made by an earlier run).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lfmri_core import __version__
from lfmri_core.device import resolve_device
from lfmri_core.errors import InputError
from lfmri_core.io.atomic import atomic_write_text
from lfmri_core.recon.registry import CancelCallback
from lfmri_core.sharding import Shard, read_json
from lfmri_core.study.plan import EvaluationPlan
from lfmri_core.study.runner import (
    EvaluationResults,
    SliceRow,
    VolumeResult,
    run_evaluation,
)
from lfmri_core.study.testset import EvaluationSet, EvaluationVolume

__all__ = ["PARTS_FOLDER", "check_out_apart", "evaluate_in_parts", "part_fingerprint", "read_part"]

PARTS_FOLDER = "parts"
"""Folder of ``--out`` that holds one JSON file of rows per evaluated volume."""

PART_VERSION = 2  # 2: slice rows carry their findings

Progress = Callable[[int, int, str], None]


def check_out_apart(out: str | os.PathLike[str], data: str | os.PathLike[str] | None) -> None:
    """Refuse an ``--out`` folder that is the ``--data`` folder (or the folder of a listed file)."""
    if data is None:
        return
    from lfmri_core.sharding import is_file_list, read_file_list

    here = os.path.realpath(out)
    folders = {os.path.realpath(p.parent) for p in read_file_list(data)} if is_file_list(data) else {os.path.realpath(data)}
    if here in folders:
        raise InputError(f"--out {out} is the folder of the --data files; write the results to another folder")


def _plan_text(plan: EvaluationPlan) -> dict[str, Any]:
    return {
        "methods": list(plan.methods),
        "registered": [plan.registered_method(m) for m in plan.methods],
        "accelerations": list(plan.accelerations),
        "weights": {name: f.sha256 for name, f in plan.weights.items()},
        "classifier": None if plan.classifier is None else plan.classifier.sha256,
        "stage_weights": {str(t): f.sha256 for t, f in plan.stage_weights.items()},
    }


def part_fingerprint(volume: EvaluationVolume, plan: EvaluationPlan, *, device: torch.device, tolerance: float,
                     prior_center: tuple[float, float] | None) -> str:
    """Hash of everything a volume's rows depend on (see the module docstring)."""
    stat = volume.path.stat()
    text = {
        "version": PART_VERSION,
        "lfmri_core": __version__,
        "plan": _plan_text(plan),
        "volume": {"path": os.path.realpath(volume.path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                   "contrast": volume.contrast, "slices": list(volume.slices),
                   "boxes": [dataclasses.astuple(b) for b in volume.boxes],
                   "labels": [label.name for label in volume.labels], "seed": volume.seed},
        "tolerance": tolerance,
        "prior_center": None if prior_center is None else list(prior_center),
        "device": device.type,
    }
    return hashlib.sha256(json.dumps(text, sort_keys=True).encode("utf-8")).hexdigest()


def _encode(value: Any) -> Any:
    """JSON-ready rows: non-finite floats as the strings ``"nan"``, ``"inf"``, ``"-inf"``."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _row_type(hint: Any) -> type | None:
    """``X`` of a ``tuple[X, ...]`` hint whose ``X`` is a dataclass, else None."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis and dataclasses.is_dataclass(args[0]):
        return args[0]
    return None


def _decode(cls: type, data: dict[str, Any]) -> Any:
    """A frozen row dataclass back from :func:`_encode`'s JSON, by its fields' types."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue  # a field added since: its default
        value, hint = data[f.name], hints[f.name]
        if dataclasses.is_dataclass(hint):
            value = _decode(hint, value)  # type: ignore[arg-type]
        elif isinstance(value, list) and (row := _row_type(hint)) is not None:
            value = tuple(_decode(row, v) for v in value)
        elif isinstance(value, str) and "float" in str(hint) and value in ("nan", "inf", "-inf"):
            value = float(value)
        elif isinstance(value, list) and "tuple" in str(hint):
            value = tuple(value)
        values[f.name] = value
    return cls(**values)


def _write_part(path: Path, fingerprint: str, volume: EvaluationVolume, results: EvaluationResults,
                shard: Shard) -> None:
    payload = {
        "fingerprint": fingerprint,
        "volume": volume.name,
        "rank": shard.rank,
        "world_size": shard.world_size,
        "device": results.device,
        "seconds": results.seconds,
        "has_classifier": results.has_classifier,
        "volumes": [_encode(dataclasses.asdict(r)) for r in results.volumes],
        "slices": [_encode(dataclasses.asdict(r)) for r in results.slices],
        "stages": [_encode(dataclasses.asdict(r)) for r in results.stages],
    }
    atomic_write_text(path, json.dumps(payload, allow_nan=False) + "\n")


def read_part(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The rows of a part made with these settings (None: missing, unreadable or other settings)."""
    data = read_json(path)
    if data is None or data.get("fingerprint") != fingerprint:
        return None
    try:
        return {
            **data,
            "volumes": [_decode(VolumeResult, r) for r in data["volumes"]],
            "slices": [_decode(SliceRow, r) for r in data["slices"]],
            "stages": [_decode(VolumeResult, r) for r in data["stages"]],
        }
    except (KeyError, TypeError, ValueError):
        return None


def evaluate_in_parts(
    evaluation_set: EvaluationSet,
    plan: EvaluationPlan,
    out: str | os.PathLike[str],
    shard: Shard,
    *,
    device: str | torch.device = "auto",
    pointing_tolerance: float = 0.0,
    prior_center: tuple[float, float] | None = None,
    progress: Progress | None = None,
    cancel: CancelCallback | None = None,
) -> EvaluationResults | None:
    """Evaluate this process's share of the unfinished volumes into ``<out>/parts/``; on rank 0,
    return every volume's rows merged (None on the other ranks).

    Parameters are those of :func:`~lfmri_core.study.runner.run_evaluation`, plus the output
    folder ``out`` and the process's :class:`~lfmri_core.sharding.Shard`.
    """
    dev = resolve_device(device)
    folder = Path(out) / PARTS_FOLDER
    prints = {v.name: part_fingerprint(v, plan, device=dev, tolerance=pointing_tolerance, prior_center=prior_center)
              for v in evaluation_set.volumes}
    if len(prints) != len(evaluation_set.volumes):
        raise InputError("two test volumes share a file name; their rows could not be told apart")
    done = {v.name for v in evaluation_set.volumes if read_part(folder / f"{v.name}.json", prints[v.name]) is not None}
    shard.barrier()  # every process has decided what is left before any writes a part
    mine = shard.take([v for v in evaluation_set.volumes if v.name not in done])
    slices_total = sum(len(v.slices) for v in mine)
    base, per_slice = 0, 0.0
    for volume in mine:
        def report(count: int, total: int, what: str, base: int = base, volume: EvaluationVolume = volume) -> None:
            nonlocal per_slice
            per_slice = total / len(volume.slices)
            if progress is not None:
                progress(base + count, round(per_slice * slices_total), what)

        results = run_evaluation(EvaluationSet((volume,), evaluation_set.source, evaluation_set.description), plan,
                                 device=dev, pointing_tolerance=pointing_tolerance, prior_center=prior_center,
                                 progress=report, cancel=cancel)
        base += round(per_slice * len(volume.slices))
        _write_part(folder / f"{volume.name}.json", prints[volume.name], volume, results, shard)
    shard.barrier()
    if not shard.is_main:
        return None
    parts = []
    for volume in evaluation_set.volumes:
        part = read_part(folder / f"{volume.name}.json", prints[volume.name])
        if part is None:
            raise InputError(f"the rows of {volume.name} are missing from {folder} after the run (did a process fail?)")
        parts.append(part)
    stages = [r for p in parts for r in p["stages"]]
    stages.sort(key=lambda r: (r.stages or 0, r.acceleration, r.volume))  # run_evaluation's order
    devices = sorted({str(p["device"]) for p in parts})
    return EvaluationResults(
        volumes=tuple(r for p in parts for r in p["volumes"]),
        slices=tuple(r for p in parts for r in p["slices"]),
        stages=tuple(stages),
        plan=plan,
        device=", ".join(devices),
        seconds=float(sum(float(p["seconds"]) for p in parts)),
        has_classifier=plan.classifier is not None,
    )
