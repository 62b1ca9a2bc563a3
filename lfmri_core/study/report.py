"""Write an evaluation's ``results.md``, one CSV per table and ``results.json`` (atomically).

In ``results.json`` NaN is written as ``null`` and infinities as the strings ``"inf"`` /
``"-inf"``, so any JSON reader accepts the file.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

from lfmri_core.coils import finding_kind
from lfmri_core.io.atomic import atomic_write_text
from lfmri_core.machine import describe_machine
from lfmri_core.study.findings import findings_table
from lfmri_core.study.plan import center_fraction_for, method_label
from lfmri_core.study.runner import EvaluationResults
from lfmri_core.study.statistics import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES
from lfmri_core.study.tables import (
    PairedComparison,
    Table,
    cam_table,
    classifier_table,
    paired_comparisons,
    paired_table,
    quality_table,
    stage_table,
    target_checks,
    targets_table,
)
from lfmri_core.study.testset import EvaluationSet

__all__ = ["BOOTSTRAP_SEED", "build_tables", "json_ready", "write_results"]

SHA_PREFIX = 12
"""Hex digits of a weights file's sha256 shown in the report."""


def json_ready(value: object) -> object:
    """``value`` with NaN -> None and ±inf -> ``"inf"``/``"-inf"``, recursively; Paths as text."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


BOOTSTRAP_SEED = 0
"""Seed of every paired bootstrap interval in the report."""


def build_tables(
    results: EvaluationResults,
    evaluation_set: EvaluationSet,
    *,
    tolerance: float = 0.0,
    prior_center: tuple[float, float] | None = None,
    comparisons: Sequence[PairedComparison] | None = None,
) -> list[Table]:
    """Every table of the report, in order: one image-quality table per contrast, Table 3, the
    paired differences, Table 7, CAM localisation (with the centre prior), LF-PSNR and pointing
    game by finding, targets at 8x (tables that do not apply are left out).

    Parameters
    ----------
    results, evaluation_set
        What was run and on what.
    tolerance
        Pointing-game slack the evaluation used.
    prior_center
        The evaluation's centre-prior pixel (None: the frame centre), for the CAM table's note.
    comparisons
        :func:`~lfmri_core.study.comparisons.paired_comparisons` of ``results`` if already computed
        (default: computed here with seed :data:`BOOTSTRAP_SEED`).
    """
    if comparisons is None:
        comparisons = paired_comparisons(results, seed=BOOTSTRAP_SEED)
    tables = [quality_table(results, contrast) for contrast in evaluation_set.contrasts]
    for optional in (stage_table(results), paired_table(comparisons), classifier_table(results),
                     cam_table(results, tolerance=tolerance, prior_center=prior_center),
                     findings_table(results, tolerance=tolerance, seed=BOOTSTRAP_SEED)):
        if optional is not None:
            tables.append(optional)
    tables.append(targets_table(target_checks(results, 8.0, tolerance=tolerance, seed=BOOTSTRAP_SEED), 8.0))
    return tables


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _lesion_text(evaluation_set: EvaluationSet) -> str:
    d = evaluation_set.description
    count = d.get("lesion_slices")
    text = f"; {_count(count, 'lesion slice')} (slices with boxes, every contrast)" if isinstance(count, int) else ""
    if d.get("lesion_slices_only"):
        text += ("; only the lesion slices evaluated (--lesion-slices-only: PSNR and SSIM over these slices, "
                 "no negative slice for Net_c's accuracy and AUC)")
    return text


def _test_set_lines(evaluation_set: EvaluationSet) -> list[str]:
    d = evaluation_set.description
    if evaluation_set.source == "synthetic":
        seeds = list(d.get("seeds", []))  # type: ignore[arg-type]
        consecutive = len(seeds) > 1 and seeds == list(range(seeds[0], seeds[-1] + 1))
        seed_text = f"{seeds[0]}-{seeds[-1]}" if consecutive else ", ".join(map(str, seeds))
        contrasts = d.get("contrasts", {})
        assert isinstance(contrasts, dict)
        contrast_text = ", ".join(f"{c} ({v['acquisition']}, SNR {v['snr']:g})" for c, v in contrasts.items())
        return [
            (f"- Test set: synthetic, test-split seed{'s' if len(seeds) > 1 else ''} {seed_text} "
             f"({_count(len(seeds), 'subject')} per contrast), "
             f"{contrast_text}; {d.get('geometry')} geometry, {d.get('num_slices')} slices per volume; "
             f"{_count(len(evaluation_set.volumes), 'volume')} in `{d.get('folder')}`"
             f"{' (reused from the cache)' if d.get('reused_cache') else ''}{_lesion_text(evaluation_set)}"),
        ]
    counts = d.get("contrasts", {})
    assert isinstance(counts, dict)
    return [
        (f"- Test set: fastMRI files from `{d.get('data')}` ({', '.join(f'{k}: {v}' for k, v in counts.items())}), "
         f"{d.get('num_slices')} slices; annotations `{d.get('annotations')}`, file list `{d.get('file_list')}`"
         f"{_lesion_text(evaluation_set)}"),
    ]


def _weights_lines(results: EvaluationResults) -> list[str]:
    files = results.plan.weights_files()
    if not files:
        return ["- Weights: none (no learned method or classifier evaluated)"]
    lines = ["- Weights:", "", "| role | model | file | sha256 | source | training metadata |",
             "|---|---|---|---|---|---|"]
    for f in files:
        meta = "; ".join(f"{k}={v[:160]}" for k, v in sorted(f.metadata.items())) or "none"
        lines.append(f"| {f.role} | {f.describe()} | `{f.path}` | `{f.sha256[:SHA_PREFIX]}` | {f.source} | "
                     f"{meta.replace('|', '/')} |")
    lines.append("")
    return lines


def _notes(results: EvaluationResults) -> list[str]:
    notes = []
    for method, reason in results.plan.skipped.items():
        notes.append(f"- {method_label(method)} (`{method}`) not evaluated: {reason}.")
    if not results.has_classifier:
        notes.append("- No Net_c classifier available (give --classifier or --weights-dir): "
                     "Table 7 and the CAM localisation table are left out.")
    if not results.stages:
        notes.append("- No stage ablation (no LF-MRI weights with other numbers of stages, or --no-stage-ablation).")
    for entry in _coil_map_warnings(results):
        notes.append(f"- Coil maps of {entry['method']} at {entry['acceleration']:g}x on {len(entry['volumes'])} volume(s) "
                     f"({entry['coil_maps']} used): {entry['warning']}.")
    return notes


def _coil_map_warnings(results: EvaluationResults) -> list[dict[str, object]]:
    """Each kind of coil-map warning (:func:`~lfmri_core.coils.finding_kind`) once per method and
    acceleration, with its first line and the volumes it concerns."""
    found: dict[tuple[str, float, str, str], tuple[str, list[str]]] = {}
    for row in (*results.volumes, *results.stages):
        for line in row.coil_map_warnings:
            key = (row.method, row.acceleration, row.coil_maps or "", finding_kind(line))
            found.setdefault(key, (line, []))[1].append(row.volume)
    return [{"method": method, "acceleration": acceleration, "coil_maps": maps, "warning": line,
             "volumes": sorted(set(volumes))}
            for (method, acceleration, maps, _), (line, volumes) in found.items()]


def _run_time_lines(results: EvaluationResults) -> list[str]:
    lines = ["| method | acceleration | ms per slice (mean over volumes) |", "|---|---|---|"]
    rows = [*results.volumes, *[r for r in results.stages]]
    keys = list(dict.fromkeys((r.method if r.stages is None else f"lfmri T={r.stages}", r.acceleration) for r in rows))
    for name, acceleration in keys:
        chosen = [r.seconds_per_slice for r in rows
                  if (r.method if r.stages is None else f"lfmri T={r.stages}") == name and r.acceleration == acceleration]
        lines.append(f"| {name} | {acceleration:g}x | {1e3 * sum(chosen) / len(chosen):.0f} |")
    return lines


def write_results(
    out: str | os.PathLike[str],
    results: EvaluationResults,
    evaluation_set: EvaluationSet,
    *,
    command: Sequence[str] | str,
    tolerance: float = 0.0,
    prior_center: tuple[float, float] | None = None,
    date: _dt.datetime | None = None,
) -> list[Path]:
    """Write ``results.md``, ``<table>.csv`` for every table and ``results.json`` into ``out``.

    Parameters
    ----------
    out
        Output folder (created).
    results, evaluation_set
        What was run and on what.
    command
        The command line, for the header.
    tolerance
        Pointing-game tolerance used (for the notes).
    prior_center
        The centre prior's pixel the evaluation used (None: each frame's centre).
    date
        Time stamp of the header (default now, UTC).

    Returns
    -------
    list of Path
        The files written, ``results.md`` first.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    when = (date or _dt.datetime.now(_dt.timezone.utc)).isoformat(timespec="seconds")
    command_text = command if isinstance(command, str) else " ".join(command)
    machine = describe_machine(results.device)
    comparisons = paired_comparisons(results, seed=BOOTSTRAP_SEED)
    tables = build_tables(results, evaluation_set, tolerance=tolerance, prior_center=prior_center,
                          comparisons=comparisons)
    plan = results.plan
    masks = ", ".join(f"{a:g}x (centre fraction {center_fraction_for(a):g})" for a in plan.accelerations)
    lines = [
        "# LF-MRI evaluation",
        "",
        f"- Date: {when}",
        f"- Machine: {machine}",
        f"- Device: {results.device}",
        *_test_set_lines(evaluation_set),
        f"- Masks: fastMRI random line masks, {masks}, fastMRI's per-file seeds (the same mask for every method)",
        (f"- Methods: {', '.join(plan.requested)}; classical methods that need coil maps use ESPIRiT maps "
         "(NLINV maps where ESPIRiT's fail their checks, see the notes), learned methods their own"),
        ("- Metrics: PSNR/SSIM as fastMRI's evaluate.py per volume against reconstruction_rss; LF-PSNR/LF-SSIM "
         "inside the lesion boxes (docs/metrics.md)"),
        f"- Command: `{command_text}`",
        f"- Run time: {results.seconds:.0f} s",
        *_weights_lines(results),
    ]
    notes = _notes(results)
    if notes:
        lines += ["", "## Notes", "", *notes]
    lines += ["", "## Tables", ""]
    for table in tables:
        lines += [table.markdown()]
    lines += ["## Run time", "", *_run_time_lines(results), ""]
    written = [folder / "results.md"]
    atomic_write_text(written[0], "\n".join(lines))
    for table in tables:
        path = folder / f"{table.key}.csv"
        atomic_write_text(path, table.csv())
        written.append(path)
    payload = {
        "date": when,
        "machine": machine,
        "device": results.device,
        "command": command_text,
        "seconds": results.seconds,
        "test_set": evaluation_set.description,
        "plan": {
            "requested": list(plan.requested),
            "methods": list(plan.methods),
            "skipped": dict(plan.skipped),
            "accelerations": list(plan.accelerations),
            "center_fractions": [center_fraction_for(a) for a in plan.accelerations],
            "pointing_tolerance": tolerance,
            "prior_center": "frame centre (rh // 2, rw // 2)" if prior_center is None else list(prior_center),
            "weights": [f.as_dict() for f in plan.weights_files()],
        },
        "tables": {t.key: t.as_dict() for t in tables},
        "paired_differences": {
            "bootstrap": {"seed": BOOTSTRAP_SEED, "resamples": DEFAULT_RESAMPLES, "confidence": DEFAULT_CONFIDENCE,
                          "method": "BCa (percentile where BCa is degenerate)", "paired": True},
            "comparisons": [c.as_dict() for c in comparisons],
        },
        "coil_map_warnings": _coil_map_warnings(results),
        "volumes": [r.as_dict() for r in results.volumes],
        "stages": [r.as_dict() for r in results.stages],
        "slices": [s.as_dict() for s in results.slices],
    }
    path = folder / "results.json"
    atomic_write_text(path, json.dumps(json_ready(payload), indent=1, allow_nan=False) + "\n")
    written.append(path)
    return written
