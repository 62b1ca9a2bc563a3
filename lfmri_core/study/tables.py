"""The paper's tables from :class:`~lfmri_core.study.runner.EvaluationResults`.

- :func:`quality_table`: Tables 1 (PD) and 2 (PDFS): methods x (PSNR, SSIM, LF-PSNR, LF-SSIM)
  at each acceleration, mean ± standard deviation over volumes.
- :func:`stage_table`: Table 3, LF-MRI with ``T`` stages, over all test volumes.
- :func:`classifier_table`: Table 7, Net_c's accuracy and ROC AUC on each method's
  reconstructions and on the fully sampled images.
- :func:`cam_table`: CAM localisation, pointing game and CAM energy inside the boxes, with
  the centre prior (a fixed point) as the baseline a CAM has to beat.
- :func:`paired_comparisons` and :func:`paired_table`: paired differences between methods
  (LF-MRI vs its no-focus ablation and vs CS, each stage count vs the next) with bootstrap
  confidence intervals (:mod:`lfmri_core.study.statistics`).
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
    SliceRow,
    VolumeResult,
)
from lfmri_core.study.statistics import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    MIN_PAIRS,
    PairedDifference,
    pair_by_key,
    paired_difference,
)

__all__ = [
    "METRICS",
    "NOT_EVALUATED",
    "PRIOR_SOURCE",
    "PairedComparison",
    "Summary",
    "Table",
    "TargetCheck",
    "cam_table",
    "classifier_table",
    "comparison_pairs",
    "format_summary",
    "paired_comparisons",
    "paired_table",
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


def _labelled(slices: Iterable[SliceRow]) -> tuple[np.ndarray, np.ndarray]:
    kept = [s for s in slices if s.label is not None]
    return np.array([s.label for s in kept], dtype=bool), np.array([s.probability for s in kept])


def _sources(results: EvaluationResults) -> list[tuple[str, str, bool]]:
    plan = results.plan
    return [(REFERENCE, "Fully sampled", True), *[(m, method_label(m), m in plan.methods) for m in plan.requested]]


def _pick(results: EvaluationResults, source: str, acceleration: float) -> list[SliceRow]:
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


PRIOR_SOURCE = "centre prior"
"""Source name of the centre-prior row of the CAM localisation table."""

PRIOR_LABEL = "Centre prior"


def _pointing(slices: Sequence[SliceRow], tolerance: float | None = None) -> tuple[float, int, int]:
    """(fraction of hits, hits, lesion slices) over slices with boxes: hits as evaluated
    (``tolerance`` None) or within ``tolerance`` pixels."""
    scored = [s for s in slices if s.pointing_hit is not None]
    if tolerance is None:
        hits = sum(bool(s.pointing_hit) for s in scored)
    else:
        hits = sum(s.pointing_distance is not None and s.pointing_distance <= tolerance for s in scored)
    return (hits / len(scored) if scored else float("nan")), hits, len(scored)


def _prior_pointing(slices: Sequence[SliceRow], tolerance: float) -> tuple[float, int, int]:
    """(fraction of hits, hits, lesion slices) of the centre prior: its point within
    ``tolerance`` pixels of a box, over the slices that have a prior distance (those with boxes)."""
    scored = [s.prior_distance for s in slices if s.prior_distance is not None]
    hits = sum(d <= tolerance for d in scored)
    return (hits / len(scored) if scored else float("nan")), hits, len(scored)


def _prior_point_text(prior_center: tuple[float, float] | None) -> str:
    if prior_center is None:
        return "the centre of each volume's recon frame, pixel (rh // 2, rw // 2) of its rh x rw"
    row, col = (int(math.floor(v + 0.5)) for v in prior_center)
    return f"pixel (row {row}, column {col}) of the recon frame (--prior-center)"


def cam_table(results: EvaluationResults, *, tolerance: float = 0.0,
              prior_center: tuple[float, float] | None = None) -> Table | None:
    """Pointing game and CAM energy inside the boxes on the slices with lesions, with a last row
    for the centre prior (a map whose only maximum is a fixed pixel); None without a classifier.

    Parameters
    ----------
    results
        The evaluation.
    tolerance
        Pixels of slack of the pointing game the evaluation used.
    prior_center
        The ``prior_center`` the evaluation was run with (None: the frame centre), for the note.
    """
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
    # The prior ignores the image: the fully sampled slices carry its distances for every acceleration.
    reference = _pick(results, REFERENCE, 0.0)
    cells, raw = [PRIOR_LABEL], [PRIOR_SOURCE, PRIOR_LABEL]
    for _ in plan.accelerations:
        fraction, hits, count = _prior_pointing(reference, tolerance)
        cells.append(f"{_number(fraction, 3)} ({hits}/{count})" if count else "n/a")
        raw += [fraction, hits, count]
        if extra:
            fraction_std, hits_std, _ = _prior_pointing(reference, standard)
            cells.append(f"{_number(fraction_std, 3)} ({hits_std}/{count})" if count else "n/a")
            raw += [fraction_std, hits_std]
        cells.append("n/a")
        raw += [float("nan"), float("nan"), 0]
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
    prior_note = (
        f"{PRIOR_LABEL}: no network, a map whose only maximum is {_prior_point_text(prior_center)}, scored by the "
        "same pointing rule on the same slices; it ignores the image, so it is the same at every acceleration, and "
        "it has no energy. A CAM that localises has to beat it."
    )
    notes = (note, prior_note, *_skipped_note(plan.requested, plan.skipped))
    return Table("cam_localisation", "CAM localisation", tuple(header), tuple(md_rows), tuple(csv_header),
                 tuple(csv_rows), notes)


LF_FIELDS: tuple[str, ...] = ("lf_psnr", "lf_ssim")
"""Scores fields compared per lesion slice (the others per volume)."""

LESION_SLICE = "lesion slice"
VOLUME = "volume"

MINUS = "\N{MINUS SIGN}"


@dataclass(frozen=True)
class PairedComparison:
    """One metric of two result rows compared unit by unit at one acceleration: ``a - b``.

    Attributes
    ----------
    a, b
        Row keys: method names, or ``"T=3"`` for a stage-ablation run of LF-MRI.
    label
        ``"LF-MRI − Unrolled, no lesion focus"``.
    metric
        :class:`~lfmri_core.evaluation.Scores` field (``"lf_psnr"``...).
    acceleration
        Nominal acceleration.
    unit
        What is paired: ``"lesion slice"`` (the same volume and slice, slices with boxes) or
        ``"volume"``.
    mean_a, mean_b
        Means of ``a`` and ``b`` over the paired units (NaN without any).
    difference
        The paired difference with its bootstrap interval; None when not evaluated.
    reason
        Why it was not evaluated (a method that did not run), else None.
    """

    a: str
    b: str
    label: str
    metric: str
    acceleration: float
    unit: str
    mean_a: float
    mean_b: float
    difference: PairedDifference | None
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"a": self.a, "b": self.b, "label": self.label, "metric": self.metric,
                "acceleration": self.acceleration, "unit": self.unit, "mean_a": self.mean_a, "mean_b": self.mean_b,
                "difference": None if self.difference is None else self.difference.as_dict(), "reason": self.reason}


def comparison_pairs(methods: Sequence[str]) -> list[tuple[str, str]]:
    """The ``(a, b)`` method pairs the targets compare, among ``methods``: LF-MRI vs its no-focus
    ablation, LF-MRI vs CS (wavelet), and every other ``lfmri*`` method (``lfmri-oracle``...)
    vs the no-focus ablation."""
    pairs = [("lfmri", "unrolled-no-focus"), ("lfmri", "cs-wavelet")]
    pairs += [(m, "unrolled-no-focus") for m in methods if m.startswith("lfmri") and m != "lfmri"]
    return [(a, b) for a, b in pairs if a in methods and b in methods]


def _volume_values(records: Iterable[VolumeResult], metric: str) -> dict[str, float]:
    return {r.volume: float(getattr(r.scores, metric)) for r in records}


def _slice_values(results: EvaluationResults, method: str, acceleration: float,
                  metric: str) -> dict[tuple[str, int], float]:
    return {(s.volume, s.slice): float(getattr(s, metric)) for s in results.slices
            if s.source == method and s.acceleration == acceleration and s.num_boxes > 0}


def _compare(a: str, b: str, label: str, metric: str, acceleration: float, unit: str,
             values_a: Mapping[object, float], values_b: Mapping[object, float], *, seed: int, resamples: int,
             confidence: float) -> PairedComparison:
    _, x, y = pair_by_key(values_a, values_b)
    difference = paired_difference(x, y, seed=seed, resamples=resamples, confidence=confidence)
    nan = float("nan")
    return PairedComparison(a, b, label, metric, acceleration, unit, float(x.mean()) if x.size else nan,
                            float(y.mean()) if y.size else nan, difference)


def _method_comparison(results: EvaluationResults, a: str, b: str, metric: str, acceleration: float, *,
                       seed: int, resamples: int, confidence: float) -> PairedComparison:
    label = f"{method_label(a)} {MINUS} {method_label(b)}"
    if metric in LF_FIELDS:
        values = [_slice_values(results, m, acceleration, metric) for m in (a, b)]
        unit = LESION_SLICE
    else:
        values = [_volume_values((r for r in results.volumes if r.method == m and r.acceleration == acceleration),
                                 metric) for m in (a, b)]
        unit = VOLUME
    return _compare(a, b, label, metric, acceleration, unit, values[0], values[1], seed=seed, resamples=resamples,
                    confidence=confidence)


def paired_comparisons(
    results: EvaluationResults,
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[PairedComparison]:
    """Paired differences of every metric at every acceleration for the pairs the targets
    compare.

    Method pairs (:func:`comparison_pairs` of the requested methods): LF-PSNR and LF-SSIM per
    lesion slice (slices with boxes, paired by volume and slice), PSNR and SSIM per volume
    (paired by volume). Stage ablation: each number of stages against the next smaller one
    (``a`` the larger ``T``, so a positive difference means more stages help), every metric per
    volume (the stage runs keep no per-slice scores; LF metrics over the volumes with boxes).
    Every interval uses the same ``seed``.

    Parameters
    ----------
    results
        The evaluation.
    seed, resamples, confidence
        Of :func:`~lfmri_core.study.statistics.paired_difference`.
    """
    plan = results.plan
    nan = float("nan")
    out: list[PairedComparison] = []
    for a, b in comparison_pairs(plan.requested):
        absent = [m for m in (a, b) if m not in plan.methods]
        for acceleration in plan.accelerations:
            for field, _, _ in METRICS:
                if absent:
                    out.append(PairedComparison(
                        a, b, f"{method_label(a)} {MINUS} {method_label(b)}", field, acceleration,
                        LESION_SLICE if field in LF_FIELDS else VOLUME, nan, nan, None, f"{', '.join(absent)} not run"))
                    continue
                out.append(_method_comparison(results, a, b, field, acceleration, seed=seed, resamples=resamples,
                                              confidence=confidence))
    counts = sorted({r.stages for r in results.stages if r.stages is not None})
    for small, large in zip(counts, counts[1:]):
        label = f"LF-MRI, T = {large} {MINUS} T = {small}"
        for acceleration in plan.accelerations:
            for field, _, _ in METRICS:
                values = [_volume_values([r for r in results.stages if r.stages == t and r.acceleration == acceleration],
                                         field) for t in (large, small)]
                out.append(_compare(f"T={large}", f"T={small}", label, field, acceleration, VOLUME, values[0],
                                    values[1], seed=seed, resamples=resamples, confidence=confidence))
    return out


def _signed(value: float, decimals: int) -> str:
    return _number(value, decimals) if not math.isfinite(value) else f"{value:+.{decimals}f}"


def _excludes_text(difference: PairedDifference) -> str:
    if difference.n < 2:
        return "n/a"
    text = "no" if not difference.excludes_zero else "yes, above 0" if difference.low > 0 else "yes, below 0"
    return text if difference.reliable else f"{text} (n < {MIN_PAIRS}: unreliable)"


def paired_table(comparisons: Sequence[PairedComparison]) -> Table | None:
    """The paired differences as a table (one row per pair, acceleration and metric); None
    without any comparison."""
    if not comparisons:
        return None
    names = {field: (name, decimals) for field, name, decimals in METRICS}
    confidence = next((c.difference.confidence for c in comparisons if c.difference is not None), DEFAULT_CONFIDENCE)
    level = f"{100 * confidence:g}%"
    header = ("Comparison (A − B)", "Metric", "Acceleration", "Paired over", "n", "Mean A", "Mean B", "A − B",
              f"{level} CI", "CI excludes 0")
    csv_header = ("a", "b", "label", "metric", "acceleration", "unit", "n", "mean_a", "mean_b", "difference",
                  "ci_low", "ci_high", "confidence", "ci_method", "excludes_zero", "resamples", "seed")
    md_rows, csv_rows = [], []
    fallback = False
    for c in comparisons:
        name, decimals = names[c.metric]
        unit = f"{c.unit}s"
        d = c.difference
        if d is None:
            md_rows.append((c.label, name, _accel(c.acceleration), unit, NOT_EVALUATED, NOT_EVALUATED, NOT_EVALUATED,
                            NOT_EVALUATED, NOT_EVALUATED, f"{NOT_EVALUATED} ({c.reason})"))
            csv_rows.append((c.a, c.b, c.label, c.metric, c.acceleration, c.unit, 0, c.mean_a, c.mean_b,
                             float("nan"), float("nan"), float("nan"), float("nan"), "", "", 0, 0))
            continue
        if d.n < 2:
            interval = "n/a"
        else:
            interval = f"[{_signed(d.low, decimals)}, {_signed(d.high, decimals)}]"
            if d.method == "percentile":
                interval += " (percentile)"
                fallback = True
        md_rows.append((c.label, name, _accel(c.acceleration), unit, str(d.n), _number(c.mean_a, decimals),
                        _number(c.mean_b, decimals), _signed(d.mean, decimals), interval, _excludes_text(d)))
        csv_rows.append((c.a, c.b, c.label, c.metric, c.acceleration, c.unit, d.n, c.mean_a, c.mean_b, d.mean, d.low,
                         d.high, d.confidence, d.method, d.excludes_zero, d.resamples, d.seed))
    first = next((c.difference for c in comparisons if c.difference is not None), None)
    resampling = (f"{first.resamples} resamples of the paired units with replacement, seed {first.seed}"
                  if first is not None else "")
    notes = (
        "A − B per unit, then the mean over the units: LF-PSNR and LF-SSIM per lesion slice (the slices with boxes, "
        "paired by volume and slice; each slice's metric inside its own boxes, so their means differ from the "
        "per-volume LF columns of Tables 1-3), PSNR and SSIM per volume (paired by volume). The stage ablation "
        "keeps no per-slice scores, so its rows pair volumes for every metric (LF metrics over the volumes with "
        "boxes). PSNR and LF-PSNR in dB.",
        f"{level} CI: bootstrap, {resampling}, bias-corrected and accelerated (BCa)"
        + ("; marked (percentile) where the BCa acceleration was degenerate and the percentile interval of the same "
           "resamples is given" if fallback else "") + ". A single difference repeated on every unit gives a "
        "zero-width interval. CI excludes 0: the whole interval lies above (or below) 0; \"no\" means a "
        f"difference of 0 is within the interval. With fewer than {MIN_PAIRS} units the interval is too narrow to "
        "trust (marked unreliable).",
    )
    return Table("paired_differences", "Paired differences", header, tuple(md_rows), csv_header, tuple(csv_rows),
                 notes)


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


LF_GAIN_DB = 0.5
"""LF-PSNR LF-MRI must gain over its no-focus ablation (mean over lesion slices), in dB."""

PSNR_LOSS_DB = 0.1
"""PSNR LF-MRI may lose against its no-focus ablation (mean over volumes), in dB."""

CS_MARGIN_DB = 0.0
"""PSNR by which LF-MRI must at least beat CS (wavelet), in dB."""

POINTING_TARGET = 0.65
"""Pointing game Net_c's CAM must reach on LF-MRI's output and on the fully sampled image."""


def _interval_text(difference: PairedDifference, decimals: int) -> str:
    if difference.n < 2:
        return "no interval"
    return (f"{100 * difference.confidence:g}% CI [{_signed(difference.low, decimals)}, "
            f"{_signed(difference.high, decimals)}]")


def target_checks(
    results: EvaluationResults,
    acceleration: float = 8.0,
    *,
    tolerance: float = 0.0,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[TargetCheck]:
    """The targets at ``acceleration``.

    1. LF-MRI focuses on lesions without losing the image: its LF-PSNR is at least
       :data:`LF_GAIN_DB` above the no-focus ablation's (mean of the paired per-lesion-slice
       differences) with the confidence interval of that difference above 0, and its PSNR at
       most :data:`PSNR_LOSS_DB` below (mean over volumes). Not evaluated with fewer than
       :data:`~lfmri_core.study.statistics.MIN_PAIRS` lesion slices.
    2. LF-MRI's PSNR at least CS (wavelet)'s (mean over volumes; the paired interval is shown).
    3. Net_c's pointing game on LF-MRI's reconstruction at least :data:`POINTING_TARGET` and
       above the centre prior's on the same slices.
    4. Net_c's pointing game on the fully sampled image at least :data:`POINTING_TARGET`.

    Parameters
    ----------
    results
        The evaluation.
    acceleration
        Where the targets are judged.
    tolerance
        The pointing-game slack the evaluation used (the result is judged on it; the
        15 px version is reported beside it).
    seed, resamples, confidence
        Of the paired bootstrap (:func:`paired_comparisons` uses the same, so the numbers agree).
    """
    plan = results.plan
    have_accel = acceleration in plan.accelerations
    tag = _accel(acceleration)
    level = f"{100 * confidence:g}%"
    options = {"seed": seed, "resamples": resamples, "confidence": confidence}

    def missing(*methods: str) -> str | None:
        if not have_accel:
            return f"not evaluated ({tag} not among the accelerations)"
        absent = [m for m in methods if m not in plan.methods]
        return f"not evaluated ({', '.join(absent)} not run)" if absent else None

    checks = []
    name = "LF-MRI focuses on lesions without losing the image"
    requirement = (
        f"LF-PSNR(lfmri) - LF-PSNR(unrolled-no-focus) >= +{LF_GAIN_DB:g} dB (mean over >= {MIN_PAIRS} lesion slices, "
        f"paired) with its {level} CI above 0, and PSNR(lfmri) >= PSNR(unrolled-no-focus) - {PSNR_LOSS_DB:g} dB (mean over volumes)"
    )
    reason = missing("lfmri", "unrolled-no-focus")
    if reason is None:
        lf = _method_comparison(results, "lfmri", "unrolled-no-focus", "lf_psnr", acceleration, **options)
        psnr = _method_comparison(results, "lfmri", "unrolled-no-focus", "psnr", acceleration, **options)
        assert lf.difference is not None and psnr.difference is not None
        if not lf.difference.reliable or psnr.difference.n == 0:
            reason = (f"not evaluated ({lf.difference.n} lesion slices; a bootstrap interval needs at least "
                      f"{MIN_PAIRS})")
    if reason:
        checks.append(TargetCheck(name, requirement, reason, "not evaluated"))
    else:
        d_lf, d_psnr = lf.difference, psnr.difference
        assert d_lf is not None and d_psnr is not None
        ok = d_lf.mean >= LF_GAIN_DB and d_lf.low > 0.0 and d_psnr.mean >= -PSNR_LOSS_DB
        checks.append(TargetCheck(
            name, requirement,
            f"LF-PSNR {_number(lf.mean_a, 2)} vs {_number(lf.mean_b, 2)} dB: {_signed(d_lf.mean, 2)} dB, "
            f"{_interval_text(d_lf, 2)} ({d_lf.n} lesion slices); "
            f"PSNR {_number(psnr.mean_a, 2)} vs {_number(psnr.mean_b, 2)} dB ({_signed(d_psnr.mean, 2)}, "
            f"{d_psnr.n} volumes)",
            "PASS" if ok else "FAIL"))
    name = "LF-MRI matches or beats compressed sensing"
    requirement = f"PSNR(lfmri) >= PSNR(cs-wavelet) + {CS_MARGIN_DB:g} dB (mean over volumes)"
    reason = missing("lfmri", "cs-wavelet")
    if reason is None:
        cs = _method_comparison(results, "lfmri", "cs-wavelet", "psnr", acceleration, **options)
        assert cs.difference is not None
        if cs.difference.n == 0:
            reason = "not evaluated (no volume)"
    if reason:
        checks.append(TargetCheck(name, requirement, reason, "not evaluated"))
    else:
        d_cs = cs.difference
        assert d_cs is not None
        checks.append(TargetCheck(
            name, requirement,
            f"PSNR {_number(cs.mean_a, 2)} vs {_number(cs.mean_b, 2)} dB ({_signed(d_cs.mean, 2)}; paired over "
            f"{d_cs.n} volumes, {_interval_text(d_cs, 2)})",
            "PASS" if d_cs.mean >= CS_MARGIN_DB else "FAIL"))
    standard = STANDARD_POINTING_TOLERANCE
    where = "inside a box" if tolerance == 0 else f"within {tolerance:g} px of a box"
    for source, label in (("lfmri", "LF-MRI's reconstruction"), (REFERENCE, "the fully sampled image")):
        name = f"Net_c's CAM points at the lesion on {label}"
        beat_prior = source != REFERENCE
        requirement = (f"pointing game >= {POINTING_TARGET:g} (CAM maximum {where}) on slices with lesions"
                       + (" and above the centre prior's" if beat_prior else ""))
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
        scored = [s for s in chosen if s.pointing_hit is not None]
        prior, prior_hits, prior_count = _prior_pointing(scored, tolerance)
        if beat_prior and prior_count != count:
            checks.append(TargetCheck(name, requirement, "not evaluated (no centre prior on these slices)",
                                      "not evaluated"))
            continue
        measured = f"{fraction:.3f} ({hits}/{count} slices)"
        if prior_count == count:
            measured += f"; centre prior {prior:.3f} ({prior_hits}/{count})"
        if tolerance != standard:
            fraction_std, hits_std, _ = _pointing(chosen, standard)
            measured += f"; within {standard:g} px: {fraction_std:.3f} ({hits_std}/{count})"
            if prior_count == count:
                prior_std, prior_hits_std, _ = _prior_pointing(scored, standard)
                measured += f", centre prior {prior_std:.3f} ({prior_hits_std}/{count})"
        ok = fraction >= POINTING_TARGET and (not beat_prior or fraction > prior)
        checks.append(TargetCheck(name, requirement, measured, "PASS" if ok else "FAIL"))
    return checks


def targets_table(checks: Sequence[TargetCheck], acceleration: float = 8.0) -> Table:
    """The target checks as a table."""
    rows = tuple((c.target, c.requirement, c.measured, f"**{c.status}**" if c.status in ("PASS", "FAIL") else c.status)
                 for c in checks)
    raw = tuple((c.target, c.requirement, c.measured, c.status) for c in checks)
    note = ("At this acceleration, over every contrast. LF-PSNR: mean of the per-lesion-slice differences, with "
            "the bootstrap interval of the Paired differences table; PSNR: means over the test volumes; pointing "
            "game: the slices with lesion boxes.")
    return Table("targets", f"Targets at {_accel(acceleration)}", ("Target", "Requirement", "Measured", "Result"),
                 rows, ("target", "requirement", "measured", "status"), raw, (note,))
