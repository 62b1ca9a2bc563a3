"""LF-PSNR and Net_c's pointing game by finding: which kinds of lesion a method restores, and
which the CAM finds.

A finding is the boxes of one label on one slice (:class:`~lfmri_core.study.runner.FindingScore`),
scored inside those boxes alone. :func:`findings_table` gives, per finding label and
acceleration, the number of slices, the median box size, each method's mean LF-PSNR, the paired
differences the targets compare (LF-MRI against its no-focus ablation and against CS, per
slice, with the evaluation's bootstrap intervals) and the pointing game of Net_c's CAM on
LF-MRI's images and on the fully sampled ones. A gain or a miss that sits in one kind of lesion
shows here, where the pooled tables average it away.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lfmri_core.study.comparisons import MINUS, comparison_pairs
from lfmri_core.study.plan import method_label
from lfmri_core.study.runner import REFERENCE, EvaluationResults, FindingScore, SliceRow
from lfmri_core.study.statistics import (
    MIN_PAIRS,
    PairedDifference,
    pair_by_key,
    paired_difference,
)
from lfmri_core.study.table_format import (
    NOT_EVALUATED,
    Table,
    accel_tag,
    format_number,
    format_signed,
)

__all__ = ["findings_table"]

Key = tuple[str, int]


def _by_finding(rows: Sequence[SliceRow], label: str) -> dict[Key, FindingScore]:
    return {(r.volume, r.slice): f for r in rows for f in r.findings if f.label == label}


def _hits(scores: dict[Key, FindingScore], tolerance: float) -> tuple[int, int]:
    distances = [f.pointing_distance for f in scores.values() if f.pointing_distance is not None]
    return sum(d <= tolerance for d in distances), len(distances)


def _interval(d: PairedDifference) -> str:
    if d.n < 2:
        return f"{format_signed(d.mean, 2)} (n = {d.n})"
    text = f"{format_signed(d.mean, 2)} [{format_signed(d.low, 2)}, {format_signed(d.high, 2)}]"
    return text if d.reliable else f"{text} (n < {MIN_PAIRS})"


def findings_table(results: EvaluationResults, *, tolerance: float = 0.0, seed: int = 0) -> Table | None:
    """LF-PSNR per method and the CAM's pointing game, per finding label and acceleration; None
    when no evaluated slice has a lesion box.

    Parameters
    ----------
    results
        The evaluation.
    tolerance
        Pixels of slack of the pointing game (the evaluation's).
    seed
        Of the bootstrap intervals (:func:`~lfmri_core.study.statistics.paired_difference`).
    """
    plan = results.plan
    reference = [s for s in results.slices if s.source == REFERENCE]
    labels: dict[str, int] = {}
    for row in reference:
        for finding in row.findings:
            labels[finding.label] = labels.get(finding.label, 0) + 1
    if not labels:
        return None
    order = sorted(labels, key=lambda label: (-labels[label], label))
    methods = [m for m in plan.requested if m in plan.methods]
    pairs = comparison_pairs(methods)
    pointing_on = "lfmri" if results.has_classifier and "lfmri" in methods else None
    header = ["Finding", "Acceleration", "Slices", "Box pixels (median)"]
    header += [f"LF-PSNR {method_label(m)}" for m in methods]
    header += [f"{method_label(a)} {MINUS} {method_label(b)}" for a, b in pairs]
    csv_header = ["label", "acceleration", "slices", "box_pixels_median"] + [f"lf_psnr_{m}" for m in methods]
    for a, b in pairs:
        csv_header += [f"{a}_minus_{b}", f"{a}_minus_{b}_low", f"{a}_minus_{b}_high", f"{a}_minus_{b}_n"]
    if pointing_on is not None:
        header += [f"Pointing game {method_label(pointing_on)}", "Pointing game fully sampled"]
        csv_header += ["hits", "pointed_slices", "hits_fully_sampled", "pointed_slices_fully_sampled"]
    md_rows, csv_rows = [], []
    for acceleration in plan.accelerations:
        tag = accel_tag(acceleration)
        rows = {m: [s for s in results.slices if s.source == m and s.acceleration == acceleration] for m in methods}
        for label in order:
            found = {m: _by_finding(rows[m], label) for m in methods}
            truth = _by_finding(reference, label)
            pixels = float(np.median([f.pixels for f in truth.values()]))
            cells = [label, tag, str(len(truth)), format_number(pixels, 0)]
            raw: list[object] = [label, acceleration, len(truth), pixels]
            for m in methods:
                values = [f.lf_psnr for f in found[m].values() if np.isfinite(f.lf_psnr)]
                mean = float(np.mean(values)) if values else float("nan")
                cells.append(format_number(mean, 2) if values else NOT_EVALUATED)
                raw.append(mean)
            for a, b in pairs:
                _, x, y = pair_by_key({k: f.lf_psnr for k, f in found[a].items()},
                                      {k: f.lf_psnr for k, f in found[b].items()})
                d = paired_difference(x, y, seed=seed)
                cells.append(_interval(d))
                raw += [d.mean, d.low, d.high, d.n]
            if pointing_on is not None:
                for scores in (found[pointing_on], truth):
                    hits, n = _hits(scores, tolerance)
                    cells.append(f"{hits}/{n}")
                    raw += [hits, n]
            md_rows.append(tuple(cells))
            csv_rows.append(tuple(raw))
    slack = "inside one of its boxes" if tolerance == 0 else f"within {tolerance:g} pixels of one of its boxes"
    notes = [
        ("A finding is the boxes of one label on one slice, scored inside those boxes alone; a slice with boxes of "
         "two labels counts once under each. LF-PSNR in dB, mean over the finding's slices; box pixels: the union "
         "of its boxes on a slice, median over its slices."),
        (f"A {MINUS} B: mean per-slice difference of the finding's LF-PSNR with the 95% BCa bootstrap interval "
         f"(paired by volume and slice); with fewer than {MIN_PAIRS} slices the interval is too narrow to trust."),
    ]
    if pointing_on is not None:
        notes.append(f"Pointing game: slices whose CAM maximum (Net_c, class 0) lies {slack}, over the slices of "
                     "that finding; the fully sampled images are the same at every acceleration.")
    return Table("findings", "LF-PSNR and pointing game by finding", tuple(header), tuple(md_rows),
                 tuple(csv_header), tuple(csv_rows), tuple(notes))
