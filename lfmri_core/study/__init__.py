"""The paper-style evaluation (``lfmri evaluate``): test set, runs, tables and report.

- :mod:`.testset`: the held-out synthetic test set (test-split seeds only, PD and PDFS, cached
  in the fastMRI format) or real fastMRI files with fastMRI+ boxes;
- :mod:`.plan`: which methods run with which weights files, Net_c, the stage ablation;
- :mod:`.runner`: reconstruct every volume at 4x and 8x with every method, score it, and run
  Net_c on the reconstructions and on the fully sampled images;
- :mod:`.diagnostics`: ROC AUC, accuracy, pointing game, CAM energy inside the boxes;
- :mod:`.tables`: Tables 1 (PD), 2 (PDFS), 3 (stages), 7 (Net_c), CAM localisation, targets;
- :mod:`.report`: ``results.md``, one CSV per table, ``results.json``;
- :mod:`.shards`: the run volume by volume into ``--out/parts`` (resumable), shared over
  ``torchrun`` processes and merged by rank 0 (docs/batch.md).

>>> evaluation_set = ensure_synthetic_set(SyntheticRecipe())                  # doctest: +SKIP
>>> plan = plan_evaluation()                                                 # doctest: +SKIP
>>> results = run_evaluation(evaluation_set, plan)                           # doctest: +SKIP
>>> write_results("out/evaluate", results, evaluation_set, command="...")   # doctest: +SKIP

Run time (AMD EPYC, 2 cores, torch CPU build, one torch thread): it scales with the number
of slices and methods. The default evaluation has 8 subjects x 2 contrasts x 16 slices = 256
slices (60 with lesion boxes); generating that test set the first time took 125-193 s on one
core (``--data-workers N`` spreads it). The earlier 128-slice default took 459 s for the five
default methods, Net_c and the stage ablation (about 3.6 s per slice: cs-wavelet with
ESPIRiT maps about 1 s per slice and acceleration, each learned method 0.2-0.4 s, zero filling
0.01-0.04 s, the rest metrics and Net_c); the 256-slice default should take about twice that on an idle
machine (extrapolated, not measured). ``--lesion-slices-only`` runs the 60 lesion slices only: seven methods (two of them
oracle-focus networks) at 4x and 8x took 1,678 s with other training jobs on the cores. GPU
times were not measured. (On a 2-core CPU shared with other work, torch's default two threads
were several times slower than one: ``OMP_NUM_THREADS=1`` helps there.)
"""

from lfmri_core.study.diagnostics import (
    accuracy,
    classify,
    energy_fraction,
    pointing_game,
    roc_auc,
)
from lfmri_core.study.plan import (
    DEFAULT_ACCELERATIONS,
    DEFAULT_METHODS,
    EvaluationPlan,
    WeightsFile,
    center_fraction_for,
    method_label,
    plan_evaluation,
)
from lfmri_core.study.report import build_tables, write_results
from lfmri_core.study.runner import (
    REFERENCE,
    EvaluationResults,
    SliceRow,
    VolumeResult,
    run_evaluation,
)
from lfmri_core.study.tables import (
    Summary,
    Table,
    TargetCheck,
    format_summary,
    summarise,
    target_checks,
)
from lfmri_core.study.testset import (
    EvaluationSet,
    EvaluationVolume,
    SyntheticRecipe,
    default_cache_dir,
    ensure_synthetic_set,
    load_fastmri_set,
)

__all__ = [
    "DEFAULT_ACCELERATIONS",
    "DEFAULT_METHODS",
    "REFERENCE",
    "EvaluationPlan",
    "EvaluationResults",
    "EvaluationSet",
    "EvaluationVolume",
    "SliceRow",
    "Summary",
    "SyntheticRecipe",
    "Table",
    "TargetCheck",
    "VolumeResult",
    "WeightsFile",
    "accuracy",
    "build_tables",
    "center_fraction_for",
    "classify",
    "default_cache_dir",
    "energy_fraction",
    "ensure_synthetic_set",
    "format_summary",
    "load_fastmri_set",
    "method_label",
    "plan_evaluation",
    "pointing_game",
    "roc_auc",
    "run_evaluation",
    "summarise",
    "target_checks",
    "write_results",
]
