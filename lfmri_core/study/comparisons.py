"""Paired comparisons between result rows, with bootstrap confidence intervals.

:func:`paired_comparisons` pairs LF-MRI with its no-focus ablation and with CS (wavelet), and
each stage count of the stage ablation with the next smaller one, unit by unit (lesion slices
for the LF metrics, volumes for the others); :func:`paired_table` makes them a table. The
intervals come from :mod:`lfmri_core.study.statistics`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lfmri_core.study.plan import method_label
from lfmri_core.study.runner import EvaluationResults, VolumeResult
from lfmri_core.study.statistics import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    MIN_PAIRS,
    PairedDifference,
    pair_by_key,
    paired_difference,
)
from lfmri_core.study.table_format import METRICS, NOT_EVALUATED, Table, accel_tag, format_number, format_signed

__all__ = [
    "LESION_SLICE",
    "LF_FIELDS",
    "MINUS",
    "VOLUME",
    "PairedComparison",
    "comparison_pairs",
    "method_comparison",
    "paired_comparisons",
    "paired_table",
]

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


def method_comparison(results: EvaluationResults, a: str, b: str, metric: str, acceleration: float, *,
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
                out.append(method_comparison(results, a, b, field, acceleration, seed=seed, resamples=resamples,
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
            md_rows.append((c.label, name, accel_tag(c.acceleration), unit, NOT_EVALUATED, NOT_EVALUATED, NOT_EVALUATED,
                            NOT_EVALUATED, NOT_EVALUATED, f"{NOT_EVALUATED} ({c.reason})"))
            csv_rows.append((c.a, c.b, c.label, c.metric, c.acceleration, c.unit, 0, c.mean_a, c.mean_b,
                             float("nan"), float("nan"), float("nan"), float("nan"), "", "", 0, 0))
            continue
        if d.n < 2:
            interval = "n/a"
        else:
            interval = f"[{format_signed(d.low, decimals)}, {format_signed(d.high, decimals)}]"
            if d.method == "percentile":
                interval += " (percentile)"
                fallback = True
        md_rows.append((c.label, name, accel_tag(c.acceleration), unit, str(d.n), format_number(c.mean_a, decimals),
                        format_number(c.mean_b, decimals), format_signed(d.mean, decimals), interval, _excludes_text(d)))
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
