"""Table building and formatting: mean ± std, missing methods, classifier and CAM tables, targets."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from lfmri_core.evaluation import Scores
from lfmri_core.study.plan import EvaluationPlan
from lfmri_core.study.runner import (
    REFERENCE,
    EvaluationResults,
    SliceResult,
    VolumeResult,
)
from lfmri_core.study.tables import (
    NOT_EVALUATED,
    Summary,
    cam_table,
    classifier_table,
    format_summary,
    quality_table,
    stage_table,
    summarise,
    target_checks,
)

REQUESTED = ("zero-filled", "cs-wavelet", "unet", "unrolled-no-focus", "lfmri")


def scores(psnr: float, lf_psnr: float, ssim: float = 0.9, lf_ssim: float = 0.8) -> Scores:
    return Scores(psnr=psnr, ssim=ssim, nmse=0.01, lf_psnr=lf_psnr, lf_ssim=lf_ssim, num_slices=2, num_lesion_slices=1)


def plan(skipped: dict[str, str] | None = None) -> EvaluationPlan:
    skipped = {"unet": "no weights installed"} if skipped is None else skipped
    return EvaluationPlan(REQUESTED, tuple(m for m in REQUESTED if m not in skipped), skipped, {}, None, {}, (4.0, 8.0))


# method -> PSNR, LF-PSNR at 8x (volume 1; volume 2 adds 1 dB); 4x adds 3 dB
NUMBERS = {"zero-filled": (25.0, 22.0), "cs-wavelet": (30.0, 27.0), "unet": (32.0, 28.0),
           "unrolled-no-focus": (34.0, 30.0), "lfmri": (34.0, 31.5)}


def results(skipped: dict[str, str] | None = None, *, classifier: bool = False,
            slices: tuple[SliceResult, ...] = (), numbers: dict[str, tuple[float, float]] | None = None) -> EvaluationResults:
    rows = []
    numbers = {**NUMBERS, **(numbers or {})}
    the_plan = plan(skipped)
    for method in the_plan.methods:
        psnr, lf = numbers[method]
        for accel, extra in ((4.0, 3.0), (8.0, 0.0)):
            for n, contrast in enumerate(("PD", "PD", "PDFS")):
                rows.append(VolumeResult(f"v{n}", contrast, method, None, accel, accel * 0.98,
                                         scores(psnr + extra + (n % 2), lf + extra + (n % 2)), 0.1))
    stages = tuple(VolumeResult(r.volume, r.contrast, "lfmri", t, r.acceleration, r.achieved_acceleration,
                                r.scores, 0.1) for t in (1, 3) for r in rows if r.method == "lfmri")
    return EvaluationResults(tuple(rows), slices, stages, the_plan, "cpu", 1.0, classifier)


def test_summarise_and_format() -> None:
    s = summarise([30.0, 32.0, float("nan")])
    assert (s.mean, s.n) == (31.0, 2)
    assert s.std == pytest.approx(math.sqrt(2.0))  # sample standard deviation
    assert format_summary(s, 2) == "31.00 ± 1.41"
    single = summarise([0.91234])
    assert single.n == 1 and math.isnan(single.std)
    assert format_summary(single, 4) == "0.9123"
    assert format_summary(summarise([]), 2) == "n/a"
    assert format_summary(summarise([float("nan")]), 2) == "n/a"
    with_inf = summarise([30.0, float("inf")])
    assert with_inf.mean == float("inf") and with_inf.n == 2
    assert format_summary(with_inf, 2) == "inf"
    assert format_summary(Summary(1.0, 0.25, 3), 3) == "1.000 ± 0.250"


def test_quality_table_layout_and_values() -> None:
    table = quality_table(results(), "PD")
    assert table.key == "table1_pd"
    assert table.header == ("Method", "PSNR 4x", "SSIM 4x", "LF-PSNR 4x", "LF-SSIM 4x",
                            "PSNR 8x", "SSIM 8x", "LF-PSNR 8x", "LF-SSIM 8x")
    assert table.row_labels() == ["Zero-filled", "CS (wavelet)", "U-Net", "Unrolled, no lesion focus", "LF-MRI"]
    lfmri = dict(zip(table.header, table.rows[-1]))
    # PD volumes v0 and v1: 34 and 35 dB at 8x
    assert lfmri["PSNR 8x"] == f"34.50 ± {math.sqrt(0.5):.2f}"
    assert lfmri["SSIM 8x"] == "0.9000 ± 0.0000"
    # the method that did not run: every cell n/e, and a note says why
    assert set(table.rows[2][1:]) == {NOT_EVALUATED}
    assert any("unet: no weights installed" in note for note in table.notes)
    markdown = table.markdown()
    assert markdown.startswith("### Table 1: PD")
    assert "| U-Net | n/e |" in markdown
    parsed = list(csv.DictReader(io.StringIO(table.csv())))
    assert [r["method"] for r in parsed] == list(REQUESTED)
    assert float(parsed[-1]["psnr_8x_mean"]) == 34.5
    assert parsed[-1]["psnr_8x_n"] == "2"
    assert parsed[2]["psnr_8x_mean"] == "" and parsed[2]["psnr_8x_n"] == "0"
    pdfs = quality_table(results(), "PDFS")
    assert pdfs.key == "table2_pdfs"
    assert dict(zip(pdfs.header, pdfs.rows[-1]))["PSNR 4x"] == "37.00"  # one volume: mean only


def test_stage_table_rows_per_stage_count() -> None:
    table = stage_table(results())
    assert table is not None and table.key == "table3_stages"
    assert table.row_labels() == ["LF-MRI, T = 1", "LF-MRI, T = 3"]
    assert stage_table(EvaluationResults((), (), (), plan(), "cpu", 0.0, False)) is None


def reference_and_method_slices() -> tuple[SliceResult, ...]:
    out = []
    # four slices: two with lesions; the reference ranks them perfectly, zero-filled does not
    for source, accel, probs, hits in ((REFERENCE, None, (0.9, 0.8, 0.2, 0.1), (True, True)),
                                       ("zero-filled", 8.0, (0.6, 0.3, 0.4, 0.7), (True, False)),
                                       ("zero-filled", 4.0, (0.6, 0.7, 0.4, 0.3), (False, False)),
                                       ("lfmri", 8.0, (0.9, 0.8, 0.2, 0.1), (True, True)),
                                       ("lfmri", 4.0, (0.9, 0.8, 0.2, 0.1), (True, True))):
        for s in range(4):
            positive = s < 2
            # a miss lies 10 px from its box (inside the standard 15 px), except on zero-filled 4x (20 px)
            distance = (0.0 if hits[s] else 20.0 if (source, accel) == ("zero-filled", 4.0) else 10.0) if positive else None
            out.append(SliceResult("v0", "PD", s, source, accel, positive, int(positive), 30.0, 0.9,
                                   float("nan"), float("nan"), 0.0, probs[s],
                                   hits[s] if positive else None, (0.5 if s == 0 else 0.25) if positive else None,
                                   distance))
    return tuple(out)


def test_classifier_and_cam_tables() -> None:
    res = results({"unet": "no weights installed", "cs-wavelet": "x", "unrolled-no-focus": "y"}, classifier=True,
                  slices=reference_and_method_slices())
    table = classifier_table(res)
    assert table is not None
    assert table.header == ("Images", "Accuracy 4x", "AUC 4x", "Accuracy 8x", "AUC 8x")
    assert table.row_labels()[:2] == ["Fully sampled", "Zero-filled"]
    rows = {r[0]: dict(zip(table.header, r)) for r in table.rows}
    assert rows["Fully sampled"]["AUC 8x"] == "1.000" and rows["Fully sampled"]["Accuracy 4x"] == "1.000"
    # zero-filled at 8x: positives 0.6, 0.3 vs negatives 0.4, 0.7 -> 1 of 4 pairs; accuracy 2 of 4
    assert rows["Zero-filled"]["AUC 8x"] == "0.250" and rows["Zero-filled"]["Accuracy 8x"] == "0.500"
    assert rows["U-Net"]["AUC 8x"] == NOT_EVALUATED
    cam = cam_table(res)
    assert cam is not None
    cells = {r[0]: dict(zip(cam.header, r)) for r in cam.rows}
    assert cells["Zero-filled"]["Pointing game 8x"] == "0.500 (1/2)"
    assert cells["Zero-filled"]["Pointing game 4x"] == "0.000 (0/2)"
    # the pointing game as Zhang et al. defined it (15 px of slack), next to the strict one
    assert cells["Zero-filled"]["Pointing game 8x, 15 px"] == "1.000 (2/2)"
    assert cells["Zero-filled"]["Pointing game 4x, 15 px"] == "0.000 (0/2)"
    assert "15 px" in " ".join(cam.notes[0:1])
    assert cam.csv_header[2:7] == ("pointing_4x", "hits_4x", "lesion_slices_4x", "pointing_15px_4x", "hits_15px_4x")
    lenient = cam_table(res, tolerance=15.0)
    assert lenient is not None and "Pointing game 8x, 15 px" not in lenient.header  # no second column then
    assert cells["Fully sampled"]["CAM energy in boxes 8x"] == f"0.375 ± {np.std([0.5, 0.25], ddof=1):.3f}"
    assert classifier_table(results()) is None and cam_table(results()) is None


def test_targets_pass_fail_and_not_evaluated() -> None:
    res = results({"unet": "no weights installed"}, classifier=True, slices=reference_and_method_slices())
    checks = {c.target: c for c in target_checks(res, 8.0)}
    focus, cs, on_lfmri, on_reference = checks.values()
    # LF-PSNR 32.0 vs 30.5 (+1.5) and PSNR equal: PASS
    assert focus.status == "PASS" and "+1.50" in focus.measured
    # PSNR 34.33 vs 30.33: +4 dB over CS
    assert cs.status == "PASS" and "+4.00" in cs.measured
    assert on_lfmri.status == "PASS" and "(2/2 slices)" in on_lfmri.measured
    assert on_lfmri.measured.endswith("within 15 px: 1.000 (2/2)")
    assert "within" not in target_checks(res, 8.0, tolerance=15.0)[2].measured
    assert on_reference.status == "PASS"

    # LF gain 0.8 dB and PSNR -0.5 dB: FAIL
    checks = target_checks(results({"unet": "no weights"}, numbers={"lfmri": (33.5, 30.8)}), 8.0)
    assert checks[0].status == "FAIL" and checks[1].status == "PASS"
    assert checks[2].status == "not evaluated" and "no classifier" in checks[2].measured

    missing = target_checks(results({"unrolled-no-focus": "no weights", "cs-wavelet": "skipped"}), 8.0)
    assert [c.status for c in missing[:2]] == ["not evaluated", "not evaluated"]
    assert "unrolled-no-focus not run" in missing[0].measured
    assert all(c.status == "not evaluated" for c in target_checks(results(), 6.0))
