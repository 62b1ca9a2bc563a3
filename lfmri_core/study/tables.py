"""The paper's tables from :class:`~lfmri_core.study.runner.EvaluationResults`, by one name.

This module gathers the names of the modules that build them:

- :mod:`.result_tables`: Tables 1 and 2 (image quality per contrast), 3 (stage ablation) and
  7 (Net_c on each method's images), and the CAM localisation table with its centre prior;
- :mod:`.findings`: LF-PSNR and Net_c's pointing game by finding (box label);
- :mod:`.comparisons`: paired differences between methods (and stage counts) with bootstrap
  confidence intervals (:mod:`lfmri_core.study.statistics`);
- :mod:`.targets`: the targets at 8x, PASS/FAIL with the measured numbers;
- :mod:`.table_format`: :class:`Table` and :class:`Summary`, which they all build.

Conventions: the standard deviation is the sample standard deviation (``ddof=1``) over volumes
(only the mean is shown for a single volume); NaN values (LF metrics of a volume without
lesion boxes) are left out and ``n`` counts the values used; a method that was asked for but
not run shows ``n/e`` (not evaluated) with the reason in a note. Every :class:`Table` renders
as Markdown and as CSV (raw numbers: mean, std and n in separate columns).
"""

from __future__ import annotations

from lfmri_core.study.comparisons import PairedComparison, comparison_pairs, paired_comparisons, paired_table
from lfmri_core.study.findings import findings_table
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
    "findings_table",
    "format_summary",
    "paired_comparisons",
    "paired_table",
    "quality_table",
    "stage_table",
    "summarise",
    "target_checks",
    "targets_table",
]
