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

The code lives in :mod:`.table_format` (:class:`Table`, :class:`Summary`, number formats),
:mod:`.result_tables` (Tables 1-3 and 7, the CAM table), :mod:`.comparisons` (paired
differences) and :mod:`.targets` (the target checks); this module gathers their names.

Conventions: the standard deviation is the sample standard deviation (``ddof=1``) over volumes
(only the mean is shown for a single volume); NaN values (LF metrics of a volume without
lesion boxes) are left out and ``n`` counts the values used; a method that was asked for but
not run shows ``n/e`` (not evaluated) with the reason in a note. Every :class:`Table` renders
as Markdown and as CSV (raw numbers: mean, std and n in separate columns).
"""

from __future__ import annotations

from lfmri_core.study.comparisons import PairedComparison, comparison_pairs, paired_comparisons, paired_table
from lfmri_core.study.result_tables import (
    CONTRAST_TABLES,
    PRIOR_LABEL,
    PRIOR_SOURCE,
    cam_table,
    classifier_table,
    quality_table,
    stage_table,
)
from lfmri_core.study.table_format import METRICS, NOT_EVALUATED, Summary, Table, format_summary, summarise
from lfmri_core.study.targets import TargetCheck, target_checks, targets_table

__all__ = [
    "CONTRAST_TABLES",
    "METRICS",
    "NOT_EVALUATED",
    "PRIOR_LABEL",
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
