"""The viewer's readouts and ``lfmri evaluate``'s per-slice numbers are the same numbers.

Both run the one slice pipeline (:func:`lfmri_core.pipeline.run_slices`) and score with the
one set of functions (:func:`lfmri_core.metrics.score_slice`, :func:`~lfmri_core.metrics.lesion_scores`,
:func:`~lfmri_core.metrics.cam_localisation`, Net_c through :mod:`lfmri_core.pipeline.classifier`).
So for the same slice, mask, boxes and weights they must agree exactly, not approximately:
a difference means one side computes something the other does not.

The volume is the small synthetic knee of the viewer tests (3 slices, 2 coils, 320 x 320), the
weights the shipped LF-MRI and Net_c; one lesion slice is evaluated, so both sides hand the
methods and Net_c the same batch (one slice).
"""

from __future__ import annotations

import math

import lfmri_core.weights as shipped
from lfmri_core.io.annotations import ImageLabel, read_annotations
from lfmri_core.study.plan import EvaluationPlan, center_fraction_for, describe_weights
from lfmri_core.study.runner import run_evaluation
from lfmri_core.study.testset import EvaluationSet, EvaluationVolume
from lfmri_viewer.controller import SessionController
from lfmri_viewer.settings import ReconSettings

from .conftest import SmallDataset

ACCELERATION = 4.0
METHODS = ("zero-filled", "lfmri")


def same(a: float | bool | None, b: float | bool | None) -> bool:
    """Exact equality, NaN equal to NaN (a number missing on both sides)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def test_viewer_readouts_equal_lfmri_evaluate_per_slice_numbers(small_dataset: SmallDataset) -> None:
    # the shipped weights are part of the repository: without them this pin must fail, not skip
    assert shipped.shipped_weights("lfmri") is not None and shipped.shipped_weights("net_c") is not None
    settings = ReconSettings(acceleration=ACCELERATION, center_fraction=center_fraction_for(ACCELERATION),
                             methods=METHODS, device="cpu")
    session = SessionController(settings, classifier="shipped")
    info = session.open(small_dataset.h5)
    boxes = read_annotations(small_dataset.csv, small_dataset.file_list,
                             frame_shape=info.recon_shape).for_file(small_dataset.h5).boxes
    assert boxes and tuple(boxes) == session.all_boxes()  # the same boxes on both sides
    index = next(i for i in range(info.num_slices) if session.boxes(i))
    job = session.reconstruct_slice(index)
    assert job is not None and job.error is None
    readouts = session.readouts(index)

    with_box = {b.slice for b in boxes}
    volume = EvaluationVolume(path=small_dataset.h5, contrast="PD", boxes=tuple(boxes), slices=(index,),
                              labels=tuple(ImageLabel.POSITIVE if i in with_box else ImageLabel.NEGATIVE
                                           for i in range(info.num_slices)))
    lfmri = describe_weights(shipped.shipped_weights("lfmri"), "lfmri", "shipped")
    net_c = describe_weights(shipped.shipped_weights("net_c"), "net_c", "shipped")
    plan = EvaluationPlan(requested=METHODS, methods=METHODS, skipped={}, weights={"lfmri": lfmri}, classifier=net_c,
                          stage_weights={}, accelerations=(ACCELERATION,))
    results = run_evaluation(EvaluationSet((volume,), "synthetic"), plan, device="cpu")

    for method in METHODS:
        (row,) = [r for r in results.slices if r.source == method and r.slice == index]
        shown = readouts[method]
        pairs = {
            "psnr": (shown.psnr, row.psnr), "ssim": (shown.ssim, row.ssim),
            "lf_psnr": (shown.lf_psnr, row.lf_psnr), "lf_ssim": (shown.lf_ssim, row.lf_ssim),
            "lesion probability": (shown.lesion_probability, row.probability),
            "pointing game": (shown.cam_hit, row.pointing_hit), "CAM energy": (shown.cam_energy, row.energy_fraction),
            "CAM peak distance": (shown.cam_peak_px, row.pointing_distance),
        }
        for name, (viewer, evaluate) in pairs.items():
            assert same(viewer, evaluate), f"{method} {name}: viewer {viewer!r}, lfmri evaluate {evaluate!r}"
        # real numbers, not two NaNs: the slice has boxes, a reference and a CAM
        assert math.isfinite(row.psnr) and math.isfinite(row.lf_psnr) and 0.0 <= row.probability <= 1.0
        assert row.pointing_hit is not None and math.isfinite(row.energy_fraction)
