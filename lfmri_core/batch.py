"""``lfmri recon`` over a folder (or a ``.txt`` list) of k-space files, sharded over processes.

Given a folder or a file list instead of one file, ``lfmri recon`` reconstructs every file with
the same options, each exactly as ``lfmri recon FILE`` would, into ``--out FOLDER``:

- ``<stem>.h5`` (``--format h5``, the default), ``<stem>.nii.gz`` with its ``_error`` / ``_cam``
  siblings (``nifti``) or a folder ``<stem>/`` (``dicom``): the reconstruction;
- ``<stem>.report.json``: the file's report (settings, timings, scores), written last. Its
  presence, with the same settings and every output it lists still there, is what makes a
  file finished: a rerun skips finished files and redoes the others (one whose outputs were
  deleted, or that a killed run left half-done; every file is written atomically);
- ``summary.csv`` and ``summary.json``: one row per input, merged by rank 0 at the end.

Under ``torchrun`` the unfinished files are shared out over the processes
(:mod:`lfmri_core.sharding`). An input that cannot be read is skipped with a warning; a file
whose reconstruction fails (a bad option for that file) is reported, the others go on, and the
command then ends with an error naming the failed files.
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import io
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lfmri_core.errors import InputError, InputWarning
from lfmri_core.io.protected import ProtectedInputs, check_output, protect_inputs
from lfmri_core.sharding import is_file_list, list_inputs, read_json, shard_session

__all__ = [
    "REPORT_SUFFIX",
    "SUMMARY_CSV",
    "SUMMARY_JSON",
    "BatchItem",
    "is_batch_input",
    "plan_items",
    "run_recon_batch",
]

ReconOne = Callable[[argparse.Namespace, ProtectedInputs], int]
"""The single-file ``lfmri recon`` (``args``, protected inputs) -> exit status."""

REPORT_SUFFIX = ".report.json"
SUMMARY_CSV = "summary.csv"
SUMMARY_JSON = "summary.json"
BATCH_KEY = "batch"
"""Key of the per-file report that records the settings it was made with."""

_SUFFIX = {"h5": ".h5", "nifti": ".nii.gz", "dicom": ""}

#: ``lfmri recon`` options that shape a file's outputs (a finished file made with other values is redone)
SETTINGS = ("average", "repetition", "echo", "accel", "mask", "center_fraction", "seed", "method", "weights",
            "method_param", "maps", "coil_compression", "slices", "device", "annotations", "format", "cam",
            "classifier")

METRICS = ("psnr", "ssim", "nmse", "lf_psnr", "lf_ssim")
COLUMNS = ("file", "status", "method", "mask", "nominal_acceleration", "achieved_acceleration", "slices",
           *METRICS, "num_lesion_slices", "seconds_per_slice", "out")


def is_batch_input(path: str | os.PathLike[str]) -> bool:
    """Whether ``lfmri recon``'s input is a folder or a file list rather than one volume."""
    return Path(path).is_dir() or is_file_list(path)


@dataclass(frozen=True)
class BatchItem:
    """One input of a batch and where its outputs go.

    Attributes
    ----------
    source
        The k-space file.
    out
        Its export (a file; a folder for DICOM).
    report
        Its report, the file written last.
    """

    source: Path
    out: Path
    report: Path

    @property
    def name(self) -> str:
        return self.source.name

    def targets(self, fmt: str) -> list[Path]:
        """The paths the outputs may take (a DICOM folder stands for its files)."""
        if fmt == "nifti":
            from lfmri_core.io.nifti import nifti_sibling

            return [self.out, nifti_sibling(self.out, "error"), nifti_sibling(self.out, "cam"), self.report]
        return [self.out, self.report]


def plan_items(inputs: Sequence[Path], out: Path, fmt: str) -> list[BatchItem]:
    """Where each input's outputs go; two inputs whose outputs would share a name are refused."""
    items = [BatchItem(p, out / f"{p.stem}{_SUFFIX[fmt]}", out / f"{p.stem}{REPORT_SUFFIX}") for p in inputs]
    owner: dict[str, Path] = {out / SUMMARY_CSV: None, out / SUMMARY_JSON: None}  # type: ignore[dict-item]
    for item in items:
        for target in item.targets(fmt):
            key = os.path.normcase(str(target))
            if key in owner:
                other = owner[key]
                raise InputError(f"{item.source} would write {target}, as {other} does; give the inputs distinct names"
                                 if other is not None else f"{item.source} would write {target}, the batch summary; "
                                 "rename it")
            owner[key] = item.source
    return items


def _settings(args: argparse.Namespace, fmt: str) -> dict[str, Any]:
    values = {key: getattr(args, key, None) for key in SETTINGS}
    values["format"] = fmt
    if isinstance(values["slices"], slice):
        values["slices"] = [values["slices"].start, values["slices"].stop]
    if values["method_param"] is not None:
        values["method_param"] = [list(p) for p in values["method_param"]]
    return values


def _fingerprint(source: Path, settings: dict[str, Any]) -> str:
    """Settings and the input's identity (path, size, modification time), hashed."""
    from lfmri_core.io.volume import volume_files

    files = []
    for path in volume_files(source):
        st = path.stat()
        files.append([os.path.realpath(path), st.st_size, st.st_mtime_ns])
    text = json.dumps({"settings": settings, "input": files}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def finished_report(item: BatchItem, fingerprint: str) -> dict[str, Any] | None:
    """The report of ``item`` when its outputs are complete and were made with these settings."""
    report = read_json(item.report)
    if report is None or not isinstance(report.get(BATCH_KEY), dict) or report[BATCH_KEY].get("fingerprint") != fingerprint:
        return None
    files = report.get("out_files")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and Path(f).is_file() for f in files):
        return None
    return report


def _readable(paths: Sequence[Path], selection: dict[str, int | None]) -> tuple[list[Path], dict[str, str]]:
    """The inputs that open as k-space, and why each other one does not."""
    from lfmri_core.io.volume import open_volume

    good, bad = [], {}
    for path in paths:
        try:
            with open_volume(path, **selection):
                pass
        except (InputError, OSError) as err:
            bad[str(path)] = " ".join(str(err).split())
        else:
            good.append(path)
    return good, bad


def _check_out(out: Path, source: Path, inputs: Sequence[Path]) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder: a batch writes a folder of outputs")
    here = os.path.realpath(out)
    if source.is_dir() and os.path.realpath(source) == here:
        raise InputError(f"--out {out} is the input folder; write the outputs to another folder")
    for path in inputs:
        if os.path.realpath(path.parent) == here:
            raise InputError(f"--out {out} is the folder of the input {path}; write the outputs to another folder")


def _check_options(args: argparse.Namespace) -> None:
    """Options that would fail for every file fail once, before any work."""
    from lfmri_core.recon import LEARNED_METHODS, method_info
    from lfmri_core.recon.learned import resolve_weights

    if args.out is None:
        raise InputError("a folder or file list of inputs needs --out FOLDER (an output and a report per file, "
                         "and the summary)")
    if args.report is not None:
        raise InputError(f"--report is for one file; a batch writes <name>{REPORT_SUFFIX} per file and "
                         f"{SUMMARY_JSON} into --out")
    if Path(args.out).name.endswith((".nii", ".nii.gz")):
        raise InputError(f"--out {args.out} names a NIfTI file; a batch writes a folder (--format nifti fills it "
                         "with NIfTI files)")
    info = method_info(args.method)  # an unknown method is one line naming the known ones
    if info.learned and args.method in LEARNED_METHODS:
        resolve_weights(args.method, args.weights)
    if args.classifier is not None and not Path(args.classifier).is_file():
        raise InputError(f"--classifier {args.classifier} is not a file")


def run_recon_batch(args: argparse.Namespace, recon_one: ReconOne) -> int:
    """``lfmri recon`` on every file of the folder or list ``args.file`` (see the module
    docstring); ``recon_one`` is the single-file command. Returns the exit status."""
    _check_options(args)
    source = Path(args.file)
    out = Path(args.out)
    fmt = args.format or "h5"
    listed = list_inputs(source, option="recon input")
    _check_out(out, source, listed)
    selection = {"average": args.average, "repetition": args.repetition, "echo": args.echo}
    readable, unreadable = _readable(listed, selection)
    if not readable:
        first, why = next(iter(unreadable.items()))
        raise InputError(f"{source} holds no readable k-space file ({len(unreadable)} tried; {Path(first).name}: {why})")
    items = plan_items(readable, out, fmt)
    from lfmri_core.io.volume import volume_files

    with protect_inputs(source if source.is_file() else None, *(f for p in listed for f in volume_files(p))) as inputs:
        for item in items:
            for target in item.targets(fmt):
                if fmt != "dicom" or target == item.report:  # a DICOM folder's files are checked as it is written
                    check_output(target, option="--out")
        with shard_session(args.device) as shard:
            for path, why in unreadable.items():
                if shard.is_main:
                    warnings.warn(f"skipped {path}: {why}", InputWarning, stacklevel=1)
            settings = _settings(args, fmt)
            prints = {item.name: _fingerprint(item.source, settings) for item in items}
            done_before = {item.name for item in items if finished_report(item, prints[item.name]) is not None}
            stale = [item for item in items if item.name not in done_before and item.report.is_file()]
            if stale and shard.is_main:
                warnings.warn(f"{len(stale)} file{'s' if len(stale) > 1 else ''} in --out {out} (first "
                              f"{stale[0].report.name}) were made with other settings, from a changed input or are "
                              "incomplete: made again", InputWarning, stacklevel=1)
            # Every process has decided what is left before any of them writes a new output.
            shard.barrier()
            pending = [item for item in items if item.name not in done_before]
            failed: dict[str, str] = {}
            for item in shard.take(pending):
                one = copy.copy(args)
                one.file, one.out, one.report, one.format = str(item.source), str(item.out), str(item.report), fmt
                one.quiet = args.quiet or not shard.is_main
                one.report_extra = {BATCH_KEY: {"fingerprint": prints[item.name], "settings": settings,
                                                "rank": shard.rank, "world_size": shard.world_size}}
                try:
                    recon_one(one, inputs)
                except (InputError, OSError) as err:  # this file's problem: the others go on
                    failed[str(item.source)] = " ".join(str(err).split())
                    warnings.warn(f"{item.source} failed: {err}", InputWarning, stacklevel=1)
            everyone = shard.gather(failed)
            if not shard.is_main:
                return 0
            failures = {k: v for part in everyone for k, v in part.items()}
            summary = _write_summary(out, items, prints, failures, unreadable)
    ran = len(pending) - len(failures)
    print(f"batch: {len(items)} files over {shard.world_size} process{'es' if shard.world_size > 1 else ''}: "
          f"{ran} reconstructed now, {len(done_before)} finished before, {len(failures)} failed"
          + (f", {len(unreadable)} unreadable skipped" if unreadable else ""))
    means = summary["mean"]
    if means:
        print("mean over files: " + "  ".join(f"{k} {v:.4f}" for k, v in means.items()))
    print(f"wrote {out / SUMMARY_CSV} and {out / SUMMARY_JSON}")
    if failures:
        names = ", ".join(Path(p).name for p in failures)
        raise InputError(f"{len(failures)} of {len(items)} files failed ({names}); see the warnings above and {out / SUMMARY_CSV}")
    return 0


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _row(item: BatchItem, report: dict[str, Any] | None, failure: str | None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row["file"] = str(item.source)
    if report is None:
        row["status"] = "failed" if failure is not None else "missing"
        return row
    mask = report.get("mask") if isinstance(report.get("mask"), dict) else {}
    scores = report.get("scores") if isinstance(report.get("scores"), dict) else {}
    row.update(status="done", method=report.get("method"), mask=mask.get("name"),
               nominal_acceleration=mask.get("nominal_acceleration"),
               achieved_acceleration=mask.get("achieved_acceleration"), slices=len(report.get("slices") or ()),
               num_lesion_slices=scores.get("num_lesion_slices"), seconds_per_slice=report.get("seconds_per_slice"),
               out=str(item.out))
    for metric in METRICS:
        row[metric] = scores.get(metric)
    return row


def _csv_text(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        # repr keeps every digit of a float: the merged table equals a single process's exactly
        writer.writerow(["" if row[c] is None else repr(row[c]) if isinstance(row[c], float) else row[c] for c in COLUMNS])
    return buffer.getvalue()


def _write_summary(out: Path, items: Sequence[BatchItem], prints: dict[str, str], failures: dict[str, str],
                   unreadable: dict[str, str]) -> dict[str, Any]:
    from lfmri_core.io.atomic import atomic_write_text

    rows = []
    for item in items:
        rows.append(_row(item, finished_report(item, prints[item.name]), failures.get(str(item.source))))
    means: dict[str, float] = {}
    for metric in METRICS:
        values = [v for v in (_number(r[metric]) for r in rows) if v is not None and math.isfinite(v)]
        if values:
            means[metric] = float(sum(values) / len(values))
    summary = {"inputs": len(items), "done": sum(r["status"] == "done" for r in rows), "mean": means,
               "failed": failures, "unreadable": unreadable, "files": rows}
    atomic_write_text(out / SUMMARY_CSV, _csv_text(rows))
    atomic_write_text(out / SUMMARY_JSON, json.dumps(summary, indent=1, allow_nan=False) + "\n")
    sys.stdout.flush()
    return summary
