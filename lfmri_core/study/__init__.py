"""The paper-style evaluation (``lfmri evaluate``): test set, runs, tables and report.

- :mod:`.testset`: the held-out synthetic test set (test-split seeds only, PD and PDFS, cached
  in the fastMRI format) or real fastMRI files with fastMRI+ boxes;
- :mod:`.plan`: which methods run with which weights files, Net_c, the stage ablation;
- :mod:`.runner`: reconstruct every volume at 4x and 8x with every method, score it, and run
  Net_c on the reconstructions and on the fully sampled images;
- :mod:`.diagnostics`: ROC AUC, accuracy, pointing game, CAM energy inside the boxes;
- :mod:`.tables`: Tables 1 (PD), 2 (PDFS), 3 (stages), 7 (Net_c), CAM localisation, targets;
- :mod:`.report`: ``results.md``, one CSV per table, ``results.json``.

>>> evaluation_set = ensure_synthetic_set(SyntheticRecipe(num_volumes=4))   # doctest: +SKIP
>>> plan = plan_evaluation()                                                 # doctest: +SKIP
>>> results = run_evaluation(evaluation_set, plan)                           # doctest: +SKIP
>>> write_results("out/evaluate", results, evaluation_set, command="...")   # doctest: +SKIP

Run time, measured on the development machine (AMD EPYC, 2 cores, torch CPU build, one torch
thread, other jobs running) and extrapolated: one PD volume of 4 slices at 4x and 8x with all
five default methods (learned models at their default sizes: LF-MRI and the no-focus network
with 5 stages, width 16; U-Net width 32) and Net_c took 18 s, about 4.5 s per test slice
(cs-wavelet with ESPIRiT maps about 1.0-1.2 s per slice and acceleration, each learned method
0.2-0.4 s, zero filling 0.01-0.04 s; metrics and Net_c the rest). The default evaluation has
4 volumes x 2 contrasts x 16 slices = 128 slices, so about 128 x 4.5 s = 10 minutes, plus about
20 s to generate the test set the first time, plus the stage ablation: each extra number of
stages ``T`` costs about 256 x 0.06 T seconds (``T = 3``: ~45 s). It scales linearly with
``--num-volumes`` and ``--num-slices``; the shipped (trained) weights may be configured larger
or smaller than the defaults timed here. GPU times were not measured. (On a 2-core CPU shared
with other work, torch's default two threads were several times slower than one thread:
``OMP_NUM_THREADS=1`` helps there.)
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
    SliceResult,
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
    "SliceResult",
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
