"""The paper's tables from :class:`~lfmri_core.study.runner.EvaluationResults`.

- :func:`quality_table`: Tables 1 (PD) and 2 (PDFS): methods x (PSNR, SSIM, LF-PSNR, LF-SSIM)
  at each acceleration, mean ± standard deviation over volumes.
- :func:`stage_table`: Table 3, LF-MRI with ``T`` stages, over all test volumes.
- :func:`classifier_table`: Table 7, Net_c's accuracy and ROC AUC on each method's
  reconstructions and on the fully sampled images.
- :func:`cam_table`: CAM localisation, pointing game and CAM energy inside the boxes.
- :func:`target_checks`: the targets at 8x, PASS/FAIL with the measured numbers.

Conventions: the standard deviation is the sample standard deviation (``ddof=1``) over volumes
(only the mean is shown for a single volume); NaN values (LF metrics of a volume without
lesion boxes) are left out and ``n`` counts the values used; a method that was asked for but
not run shows ``n/e`` (not evaluated) with the reason in a note. Every :class:`Table` renders
as Markdown and as CSV (raw numbers: mean, std and n in separate columns).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lfmri_core.study.diagnostics import STANDARD_POINTING_TOLERANCE, accuracy, roc_auc
from lfmri_core.study.plan import method_label
from lfmri_core.study.runner import (
    REFERENCE,
    EvaluationResults,
    SliceResult,
    VolumeResult,
)

__all__ = [
    "METRICS",
    "NOT_EVALUATED",
    "Summary",
    "Table",
    "TargetCheck",
    "cam_table",
    "classifier_table",
    "format_summary",
    "quality_table",
    "stage_table",
    "summarise",
    "target_checks",
    "targets_table",
]

NOT_EVALUATED = "n/e"
"""Cell of a method that was asked for but not run."""

METRICS: tuple[tuple[str, str, int], ...] = (
    ("psnr", "PSNR", 2),
    ("ssim", "SSIM", 4),
    ("lf_psnr", "LF-PSNR", 2),
    ("lf_ssim", "LF-SSIM", 4),
)
"""``(Scores field, column name, decimals)`` of the image-quality tables."""

CONTRAST_TABLES: dict[str, tuple[str, str]] = {
    "PD": ("table1_pd", "Table 1: PD (CORPD_FBK)"),
    "PDFS": ("table2_pdfs", "Table 2: PDFS (CORPDFS_FBK)"),
}


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and count of the finite-or-infinite values."""

    mean: float
    std: float
    n: int


def summarise(values: Iterable[float]) -> Summary:
    """Mean ± std (``ddof=1``) of ``values`` without NaNs; std NaN for fewer than 2 values or
    when a value is infinite (the mean is then ``±inf``, or NaN if both signs occur)."""
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    n = int(arr.size)
    if n == 0:
        return Summary(float("nan"), float("nan"), 0)
    if np.isinf(arr).any():
        signs = set(np.sign(arr[np.isinf(arr)]).tolist())
        return Summary(float("nan") if len(signs) > 1 else float(arr[np.isinf(arr)][0]), float("nan"), n)
    return Summary(float(arr.mean()), float(arr.std(ddof=1)) if n > 1 else float("nan"), n)


def _number(value: float, decimals: int) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{decimals}f}"


def format_summary(summary: Summary, decimals: int) -> str:
    """``"31.20 ± 0.85"``; only the mean for one value; ``"n/a"`` for none."""
    if summary.n == 0:
        return "n/a"
    if math.isnan(summary.std):
        return _number(summary.mean, decimals)
    return f"{_number(summary.mean, decimals)} ± {_number(summary.std, decimals)}"


@dataclass(frozen=True)
class Table:
    """A table in two renderings.

    Attributes
    ----------
    key
        File stem of its CSV (``table1_pd``).
    title
        Heading.
    header, rows
        Markdown cells (formatted text).
    csv_header, csv_rows
        CSV columns and raw values (numbers, NaN for missing).
    notes
        Lines printed under the Markdown table.
    """

    key: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    csv_header: tuple[str, ...]
    csv_rows: tuple[tuple[object, ...], ...]
    notes: tuple[str, ...] = ()

    def row_labels(self) -> list[str]:
        """First cell of every row."""
        return [row[0] for row in self.rows]

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |",
                 "|" + "|".join("---" for _ in self.header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"{note}  " if i < len(self.notes) - 1 else note for i, note in enumerate(self.notes)]
        return "\n".join(lines) + "\n"

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.csv_header)
        for row in self.csv_rows:
            writer.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in row])
        return out.getvalue()

    def as_dict(self) -> dict[str, object]:
        return {"title": self.title, "notes": list(self.notes),
                "rows": [dict(zip(self.csv_header, row)) for row in self.csv_rows]}


def _accel(acceleration: float) -> str:
    return f"{acceleration:g}x"


def _skipped_note(methods: Sequence[str], skipped: Mapping[str, str]) -> tuple[str, ...]:
    missing = [m for m in methods if m in skipped]
    if not missing:
        return ()
    return (f"{NOT_EVALUATED}: not evaluated ({'; '.join(f'{m}: {skipped[m]}' for m in missing)}).",)


def _metric_table(
    key: str,
    title: str,
    first_column: str,
    rows: Sequence[tuple[str, str, Sequence[VolumeResult] | None]],
    accelerations: Sequence[float],
    notes: Sequence[str],
) -> Table:
    header = [first_column]
    csv_header = ["method", "label"]
    for acceleration in accelerations:
        for field, name, _ in METRICS:
            header.append(f"{name} {_accel(acceleration)}")
            tag = f"{field}_{_accel(acceleration)}"
            csv_header += [f"{tag}_mean", f"{tag}_std", f"{tag}_n"]
    md_rows, csv_rows = [], []
    for row_key, label, records in rows:
        cells, raw = [label], [row_key, label]
        for acceleration in accelerations:
            chosen = None if records is None else [r for r in records if r.acceleration == acceleration]
            for field, _, decimals in METRICS:
                if chosen is None:
                    cells.append(NOT_EVALUATED)
                    raw += [float("nan"), float("nan"), 0]
                    continue
                summary = summarise(getattr(r.scores, field) for r in chosen)
                cells.append(format_summary(summary, decimals))
                raw += [summary.mean, summary.std, summary.n]
        md_rows.append(tuple(cells))
        csv_rows.append(tuple(raw))
    return Table(key, title, tuple(header), tuple(md_rows), tuple(csv_header), tuple(csv_rows), tuple(notes))


def quality_table(
    results: EvaluationResults,
    contrast: str,
    *,
    key: str | None = None,
    title: str | None = None,
) -> Table:
    """Image quality of every requested method on the volumes of one contrast (Tables 1, 2)."""
    default_key, default_title = CONTRAST_TABLES.get(
        contrast, (f"table_{contrast.lower()}", f"Image quality: {contrast}"))
    plan = results.plan
    chosen = [r for r in results.volumes if r.contrast == contrast]
    volumes = sorted({r.volume for r in chosen})
    rows = [(m, method_label(m), [r for r in chosen if r.method == m] if m in plan.methods else None)
            for m in plan.requested]
    note = (
        f"Mean ± standard deviation over {len(volumes)} volume{'' if len(volumes) == 1 else 's'}; "
        "PSNR and LF-PSNR in dB."
    )
    notes = (note, *_skipped_note(plan.requested, plan.skipped))
    return _metric_table(key or default_key, title or default_title, "Method", rows, plan.accelerations, notes)


def stage_table(results: EvaluationResults) -> Table | None:
    """Table 3: LF-MRI with each number of stages, over all test volumes; None without runs."""
    if not results.stages:
        return None
    counts = sorted({r.stages for r in results.stages if r.stages is not None})
    rows = [(f"T={t}", f"LF-MRI, T = {t}", [r for r in results.stages if r.stages == t]) for t in counts]
    volumes = sorted({r.volume for r in results.stages})
    note = (
        f"Mean ± standard deviation over all {len(volumes)} test volumes (every contrast); "
        "weights files listed in the header."
    )
    notes = (note,)
    return _metric_table("table3_stages", "Table 3: number of unrolled stages T (LF-MRI)", "Model", rows,
                         results.plan.accelerations, notes)


def _labelled(slices: Iterable[SliceResult]) -> tuple[np.ndarray, np.ndarray]:
    kept = [s for s in slices if s.label is not None]
    return np.array([s.label for s in kept], dtype=bool), np.array([s.probability for s in kept])


def _sources(results: EvaluationResults) -> list[tuple[str, str, bool]]:
    plan = results.plan
    return [(REFERENCE, "Fully sampled", True), *[(m, method_label(m), m in plan.methods) for m in plan.requested]]


def _pick(results: EvaluationResults, source: str, acceleration: float) -> list[SliceResult]:
    if source == REFERENCE:
        return [s for s in results.slices if s.source == REFERENCE]
    return [s for s in results.slices if s.source == source and s.acceleration == acceleration]


def classifier_table(results: EvaluationResults) -> Table | None:
    """Table 7: Net_c's accuracy (threshold 0.5 on the lesion probability) and ROC AUC against
    the image-level labels; None without a classifier."""
    if not results.has_classifier:
        return None
    plan = results.plan
    header, csv_header = ["Images"], ["source", "label"]
    for acceleration in plan.accelerations:
        header += [f"Accuracy {_accel(acceleration)}", f"AUC {_accel(acceleration)}"]
        tag = _accel(acceleration)
        csv_header += [f"accuracy_{tag}", f"auc_{tag}", f"slices_{tag}", f"positives_{tag}"]
    md_rows, csv_rows = [], []
    for source, label, ran in _sources(results):
        cells, raw = [label], [source, label]
        for acceleration in plan.accelerations:
            if not ran:
                cells += [NOT_EVALUATED, NOT_EVALUATED]
                raw += [float("nan"), float("nan"), 0, 0]
                continue
            labels, probabilities = _labelled(_pick(results, source, acceleration))
            acc = accuracy(labels, probabilities)
            auc = roc_auc(labels, probabilities)
            cells += [_number(acc, 3), _number(auc, 3)]
            raw += [acc, auc, int(labels.size), int(labels.sum())]
        md_rows.append(tuple(cells))
        csv_rows.append(tuple(raw))
    labels, _ = _labelled(_pick(results, REFERENCE, 0.0))
    note = (
        f"Net_c on {labels.size} slices ({int(labels.sum())} with lesion boxes); a slice is positive when it "
        "has at least one box. Accuracy: lesion probability sigmoid(logit) >= 0.5. AUC: Mann-Whitney, ties "
        "averaged. The fully sampled row does not depend on the acceleration."
    )
    notes = (note, *_skipped_note(plan.requested, plan.skipped))
    return Table("table7_classifier", "Table 7: Net_c on reconstructed and fully sampled images", tuple(header),
                 tuple(md_rows), tuple(csv_header), tuple(csv_rows), notes)


def _pointing(slices: Sequence[SliceResult], tolerance: float | None = None) -> tuple[float, int, int]:
    """(fraction of hits, hits, lesion slices) over slices with boxes: hits as evaluated
    (``tolerance`` None) or within ``tolerance`` pixels."""
    scored = [s for s in slices if s.pointing_hit is not None]
    if tolerance is None:
        hits = sum(bool(s.pointing_hit) for s in scored)
    else:
        hits = sum(s.pointing_distance is not None and s.pointing_distance <= tolerance for s in scored)
    return (hits / len(scored) if scored else float("nan")), hits, len(scored)


def cam_table(results: EvaluationResults, *, tolerance: float = 0.0) -> Table | None:
    """Pointing game and CAM energy inside the boxes on the slices with lesions; None without a
    classifier."""
    if not results.has_classifier:
        return None
    plan = results.plan
    header, csv_header = ["Images"], ["source", "label"]
    standard = STANDARD_POINTING_TOLERANCE
    extra = tolerance != standard  # also the pointing game as Zhang et al. defined it
    for acceleration in plan.accelerations:
        tag = _accel(acceleration)
        header += [f"Pointing game {tag}"] + ([f"Pointing game {tag}, {standard:g} px"] if extra else []) \
            + [f"CAM energy in boxes {tag}"]
        csv_header += [f"pointing_{tag}", f"hits_{tag}", f"lesion_slices_{tag}"] \
            + ([f"pointing_{standard:g}px_{tag}", f"hits_{standard:g}px_{tag}"] if extra else []) \
            + [f"energy_{tag}_mean", f"energy_{tag}_std", f"energy_{tag}_n"]
    md_rows, csv_rows = [], []
    for source, label, ran in _sources(results):
        cells, raw = [label], [source, label]
        for acceleration in plan.accelerations:
            if not ran:
                cells += [NOT_EVALUATED] * (3 if extra else 2)
                raw += [float("nan"), 0, 0] + ([float("nan"), 0] if extra else []) + [float("nan"), float("nan"), 0]
                continue
            chosen = _pick(results, source, acceleration)
            fraction, hits, count = _pointing(chosen)
            energy = summarise(s.energy_fraction for s in chosen if s.energy_fraction is not None)
            cells.append(f"{_number(fraction, 3)} ({hits}/{count})" if count else "n/a")
            raw += [fraction, hits, count]
            if extra:
                fraction_std, hits_std, _ = _pointing(chosen, standard)
                cells.append(f"{_number(fraction_std, 3)} ({hits_std}/{count})" if count else "n/a")
                raw += [fraction_std, hits_std]
            cells.append(format_summary(energy, 3))
            raw += [energy.mean, energy.std, energy.n]
        md_rows.append(tuple(cells))
        csv_rows.append(tuple(raw))
    slack = "" if tolerance == 0 else f" or within {tolerance:g} pixels of one"
    note = (
        "Net_c's CAM (class 0) on each image, on the slices with lesion boxes. Pointing game: hit when the "
        f"CAM maximum lies inside a box{slack}"
        + (f"; the {standard:g} px column allows {standard:g} pixels of slack, as Zhang et al. (ECCV 2016) defined "
           "the pointing game" if extra else "") + ". "
        "Energy: sum of the CAM inside the union of the boxes over its sum (mean ± std over slices)."
    )
    notes = (note, *_skipped_note(plan.requested, plan.skipped))
    return Table("cam_localisation", "CAM localisation", tuple(header), tuple(md_rows), tuple(csv_header),
                 tuple(csv_rows), notes)


@dataclass(frozen=True)
class TargetCheck:
    """One target: what is required, what was measured and whether it holds."""

    target: str
    requirement: str
    measured: str
    status: str
    """``"PASS"``, ``"FAIL"`` or ``"not evaluated"``."""

    def as_dict(self) -> dict[str, str]:
        return {"target": self.target, "requirement": self.requirement, "measured": self.measured,
                "status": self.status}


def _mean_score(results: EvaluationResults, method: str, field: str, acceleration: float) -> float:
    values = [getattr(r.scores, field) for r in results.volumes if r.method == method and r.acceleration == acceleration]
    return summarise(values).mean


def target_checks(results: EvaluationResults, acceleration: float = 8.0, *, tolerance: float = 0.0) -> list[TargetCheck]:
    """The targets at ``acceleration`` (means over all test volumes); ``tolerance`` is the
    pointing-game slack the evaluation used (the result is judged on it)."""
    plan = results.plan
    have_accel = acceleration in plan.accelerations
    tag = _accel(acceleration)

    def missing(*methods: str) -> str | None:
        if not have_accel:
            return f"not evaluated ({tag} not among the accelerations)"
        absent = [m for m in methods if m not in plan.methods]
        return f"not evaluated ({', '.join(absent)} not run)" if absent else None

    checks = []
    name = "LF-MRI focuses on lesions without losing the image"
    requirement = "LF-PSNR(lfmri) >= LF-PSNR(unrolled-no-focus) + 1.0 dB and PSNR(lfmri) >= PSNR(unrolled-no-focus) - 0.1 dB"
    reason = missing("lfmri", "unrolled-no-focus")
    if reason:
        checks.append(TargetCheck(name, requirement, reason, "not evaluated"))
    else:
        lf_a, lf_b = (_mean_score(results, m, "lf_psnr", acceleration) for m in ("lfmri", "unrolled-no-focus"))
        p_a, p_b = (_mean_score(results, m, "psnr", acceleration) for m in ("lfmri", "unrolled-no-focus"))
        ok = lf_a >= lf_b + 1.0 and p_a >= p_b - 0.1
        checks.append(TargetCheck(name, requirement,
                                  f"LF-PSNR {_number(lf_a, 2)} vs {_number(lf_b, 2)} dB ({lf_a - lf_b:+.2f}); "
                                  f"PSNR {_number(p_a, 2)} vs {_number(p_b, 2)} dB ({p_a - p_b:+.2f})",
                                  "PASS" if ok else "FAIL"))
    name = "LF-MRI beats compressed sensing"
    requirement = "PSNR(lfmri) >= PSNR(cs-wavelet) + 3 dB"
    reason = missing("lfmri", "cs-wavelet")
    if reason:
        checks.append(TargetCheck(name, requirement, reason, "not evaluated"))
    else:
        p_a, p_b = (_mean_score(results, m, "psnr", acceleration) for m in ("lfmri", "cs-wavelet"))
        checks.append(TargetCheck(name, requirement,
                                  f"PSNR {_number(p_a, 2)} vs {_number(p_b, 2)} dB ({p_a - p_b:+.2f})",
                                  "PASS" if p_a >= p_b + 3.0 else "FAIL"))
    for source, label in (("lfmri", "LF-MRI's reconstruction"), (REFERENCE, "the fully sampled image")):
        name = f"Net_c's CAM points at the lesion on {label}"
        requirement = "pointing game >= 0.8 on slices with lesions"
        reason = None if results.has_classifier else "not evaluated (no classifier)"
        if reason is None and source != REFERENCE:
            reason = missing(source)
        if reason:
            checks.append(TargetCheck(name, requirement, reason, "not evaluated"))
            continue
        chosen = _pick(results, source, acceleration)
        fraction, hits, count = _pointing(chosen)
        if count == 0:
            checks.append(TargetCheck(name, requirement, "not evaluated (no slice with lesions)", "not evaluated"))
            continue
        standard = STANDARD_POINTING_TOLERANCE
        fraction_std, hits_std, _ = _pointing(chosen, standard)
        also = "" if tolerance == standard else f"; within {standard:g} px: {fraction_std:.3f} ({hits_std}/{count})"
        checks.append(TargetCheck(name, requirement, f"{fraction:.3f} ({hits}/{count} slices){also}",
                                  "PASS" if fraction >= 0.8 else "FAIL"))
    return checks


def targets_table(checks: Sequence[TargetCheck], acceleration: float = 8.0) -> Table:
    """The target checks as a table."""
    rows = tuple((c.target, c.requirement, c.measured, f"**{c.status}**" if c.status in ("PASS", "FAIL") else c.status)
                 for c in checks)
    raw = tuple((c.target, c.requirement, c.measured, c.status) for c in checks)
    return Table("targets", f"Targets at {_accel(acceleration)}", ("Target", "Requirement", "Measured", "Result"),
                 rows, ("target", "requirement", "measured", "status"), raw,
                 ("Means over all test volumes (every contrast) at this acceleration.",))
