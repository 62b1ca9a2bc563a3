"""The paper's result tables from :class:`~lfmri_core.study.runner.EvaluationResults`.

- :func:`quality_table`: Tables 1 (PD) and 2 (PDFS): methods x (PSNR, SSIM, LF-PSNR, LF-SSIM)
  at each acceleration, mean ± standard deviation over volumes.
- :func:`stage_table`: Table 3, LF-MRI with ``T`` stages, over all test volumes.
- :func:`classifier_table`: Table 7, Net_c's accuracy and ROC AUC on each method's
  reconstructions and on the fully sampled images.
- :func:`cam_table`: CAM localisation, pointing game and CAM energy inside the boxes, with
  the centre prior (a fixed point) as the baseline a CAM has to beat.

:func:`pick_slices`, :func:`pointing_rate` and :func:`prior_pointing_rate` select and score the
per-slice results; the target checks (:mod:`lfmri_core.study.targets`) judge with the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from lfmri_core.study.diagnostics import STANDARD_POINTING_TOLERANCE, accuracy, roc_auc
from lfmri_core.study.plan import method_label
from lfmri_core.study.runner import (
    REFERENCE,
    EvaluationResults,
    SliceRow,
    VolumeResult,
)
from lfmri_core.study.table_format import (
    METRICS,
    NOT_EVALUATED,
    Table,
    accel_tag,
    format_number,
    format_summary,
    summarise,
)

__all__ = [
    "CONTRAST_TABLES",
    "PRIOR_LABEL",
    "PRIOR_SOURCE",
    "cam_table",
    "classifier_table",
    "pick_slices",
    "pointing_rate",
    "prior_pointing_rate",
    "quality_table",
    "stage_table",
]

CONTRAST_TABLES: dict[str, tuple[str, str]] = {
    "PD": ("table1_pd", "Table 1: PD (CORPD_FBK)"),
    "PDFS": ("table2_pdfs", "Table 2: PDFS (CORPDFS_FBK)"),
}



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
            header.append(f"{name} {accel_tag(acceleration)}")
            tag = f"{field}_{accel_tag(acceleration)}"
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


def pick_slices(results: EvaluationResults, source: str, acceleration: float) -> list[SliceRow]:
    """The per-slice results of ``source`` (a method, or :data:`~lfmri_core.study.runner.REFERENCE`,
    whose slices do not depend on the acceleration) at ``acceleration``."""
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
        header += [f"Accuracy {accel_tag(acceleration)}", f"AUC {accel_tag(acceleration)}"]
        tag = accel_tag(acceleration)
        csv_header += [f"accuracy_{tag}", f"auc_{tag}", f"slices_{tag}", f"positives_{tag}"]
    md_rows, csv_rows = [], []
    for source, label, ran in _sources(results):
        cells, raw = [label], [source, label]
        for acceleration in plan.accelerations:
            if not ran:
                cells += [NOT_EVALUATED, NOT_EVALUATED]
                raw += [float("nan"), float("nan"), 0, 0]
                continue
            labels, probabilities = _labelled(pick_slices(results, source, acceleration))
            acc = accuracy(labels, probabilities)
            auc = roc_auc(labels, probabilities)
            cells += [format_number(acc, 3), format_number(auc, 3)]
            raw += [acc, auc, int(labels.size), int(labels.sum())]
        md_rows.append(tuple(cells))
        csv_rows.append(tuple(raw))
    labels, _ = _labelled(pick_slices(results, REFERENCE, 0.0))
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


def pointing_rate(slices: Sequence[SliceRow], tolerance: float | None = None) -> tuple[float, int, int]:
    """(fraction of hits, hits, lesion slices) over slices with boxes: hits as evaluated
    (``tolerance`` None) or within ``tolerance`` pixels."""
    scored = [s for s in slices if s.pointing_hit is not None]
    if tolerance is None:
        hits = sum(bool(s.pointing_hit) for s in scored)
    else:
        hits = sum(s.pointing_distance is not None and s.pointing_distance <= tolerance for s in scored)
    return (hits / len(scored) if scored else float("nan")), hits, len(scored)


def refined_pointing_rate(slices: Sequence[SliceRow], tolerance: float) -> tuple[float, int, int]:
    """(fraction of hits, hits, lesion slices) of Net_c's refined pointer (the CAM-gated
    gradient saliency): its maximum within ``tolerance`` pixels of a box, over the slices that
    have a refined distance."""
    scored = [s.refined_distance for s in slices if s.refined_distance is not None]
    hits = sum(d <= tolerance for d in scored)
    return (hits / len(scored) if scored else float("nan")), hits, len(scored)


def prior_pointing_rate(slices: Sequence[SliceRow], tolerance: float) -> tuple[float, int, int]:
    """(fraction of hits, hits, lesion slices) of the centre prior: its point within
    ``tolerance`` pixels of a box, over the slices that have a prior distance (those with boxes)."""
    scored = [s.prior_distance for s in slices if s.prior_distance is not None]
    hits = sum(d <= tolerance for d in scored)
    return (hits / len(scored) if scored else float("nan")), hits, len(scored)


def _pointing_cells(cells: list[str], raw: list[object], rate: Callable[..., tuple[float, int, int]],
                    slices: Sequence[SliceRow], tolerance: float | None, standard: float | None) -> None:
    """Append the pointing-game cells of ``slices`` scored by ``rate`` (:func:`pointing_rate`, :func:`refined_pointing_rate` or
    :func:`prior_pointing_rate`) at ``tolerance``, and at ``standard`` pixels too unless None."""
    fraction, hits, count = rate(slices, tolerance)
    cells.append(f"{format_number(fraction, 3)} ({hits}/{count})" if count else "n/a")
    raw += [fraction, hits, count]
    if standard is not None:
        fraction_std, hits_std, _ = rate(slices, standard)
        cells.append(f"{format_number(fraction_std, 3)} ({hits_std}/{count})" if count else "n/a")
        raw += [fraction_std, hits_std]


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
        tag = accel_tag(acceleration)
        header += [f"Pointing game {tag}"] + ([f"Pointing game {tag}, {standard:g} px"] if extra else []) \
            + [f"Refined pointer {tag}", f"CAM energy in boxes {tag}"]
        csv_header += [f"pointing_{tag}", f"hits_{tag}", f"lesion_slices_{tag}"] \
            + ([f"pointing_{standard:g}px_{tag}", f"hits_{standard:g}px_{tag}"] if extra else []) \
            + [f"pointing_refined_{tag}", f"hits_refined_{tag}", f"refined_slices_{tag}"] \
            + [f"energy_{tag}_mean", f"energy_{tag}_std", f"energy_{tag}_n"]
    md_rows, csv_rows = [], []
    for source, label, ran in _sources(results):
        cells, raw = [label], [source, label]
        for acceleration in plan.accelerations:
            if not ran:
                cells += [NOT_EVALUATED] * (4 if extra else 3)
                raw += [float("nan"), 0, 0] + ([float("nan"), 0] if extra else []) + [float("nan"), 0, 0] \
                    + [float("nan"), float("nan"), 0]
                continue
            chosen = pick_slices(results, source, acceleration)
            energy = summarise(s.energy_fraction for s in chosen if s.energy_fraction is not None)
            _pointing_cells(cells, raw, pointing_rate, chosen, None, standard if extra else None)
            _pointing_cells(cells, raw, refined_pointing_rate, chosen, tolerance, None)
            cells.append(format_summary(energy, 3))
            raw += [energy.mean, energy.std, energy.n]
        md_rows.append(tuple(cells))
        csv_rows.append(tuple(raw))
    # The prior ignores the image: the fully sampled slices carry its distances for every acceleration.
    reference = pick_slices(results, REFERENCE, 0.0)
    cells, raw = [PRIOR_LABEL], [PRIOR_SOURCE, PRIOR_LABEL]
    for _ in plan.accelerations:
        _pointing_cells(cells, raw, prior_pointing_rate, reference, tolerance, standard if extra else None)
        cells += ["n/a", "n/a"]
        raw += [float("nan"), 0, 0, float("nan"), float("nan"), 0]
    md_rows.append(tuple(cells))
    csv_rows.append(tuple(raw))
    slack = "" if tolerance == 0 else f" or within {tolerance:g} pixels of one"
    note = (
        "Net_c's CAM (class 0) on each image, on the slices with lesion boxes. Pointing game: hit when the "
        f"CAM maximum lies inside a box{slack}"
        + (f"; the {standard:g} px column allows {standard:g} pixels of slack, as Zhang et al. (ECCV 2016) defined "
           "the pointing game" if extra else "") + ". "
        "Refined pointer: the same rule for the maximum of Net_c's gradient saliency |d logit / d image| "
        "(Gaussian-smoothed, 4 px) inside the CAM's region above 0.7 widened by 8 px; it resolves thin lesions that "
        "the CAM peak misses. "
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
