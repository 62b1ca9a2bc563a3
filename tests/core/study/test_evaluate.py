"""``lfmri evaluate`` end to end on a tiny test set with tiny untrained weights, and bad input."""

from __future__ import annotations

import contextlib
import csv
import json
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import lfmri_core.weights
from lfmri_core.cli import main
from lfmri_core.errors import InputError
from lfmri_core.evaluation import score_volume
from lfmri_core.io.annotations import LesionBox, read_annotations
from lfmri_core.io.fastmri_h5 import FastMRIVolume
from lfmri_core.masks import MaskSpec
from lfmri_core.metrics.lesion import lesion_mask, lf_psnr_slice
from lfmri_core.models import (
    ClassifierConfig,
    LFMRIConfig,
    LFMRINet,
    build_classifier,
    save_weights,
)
from lfmri_core.recon.pipeline import reconstruct_volume
from lfmri_core.study import SyntheticRecipe, plan_evaluation
from lfmri_core.study.runner import REFERENCE
from lfmri_core.study.testset import count_lesion_slices, ensure_synthetic_set, lesion_slices_only
from tests.tolerances import rounding_rtol

TINY_CLASSIFIER = ClassifierConfig(width=4)


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """One torch thread: on a small CPU shared with other jobs, torch's threads wait on each
    other and these runs take several times longer (the numbers do not depend on it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def tiny_lfmri(stages: int, lesion_focus: bool) -> LFMRINet:
    config = LFMRIConfig(num_stages=stages, width=4, depth=2, cg_iterations=1, lesion_focus=lesion_focus,
                         classifier=TINY_CLASSIFIER)
    with torch.random.fork_rng():
        torch.manual_seed(stages + 10 * lesion_focus)
        return LFMRINet(config)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("weights")
    out = {
        "lfmri": save_weights(folder / "lfmri.safetensors", tiny_lfmri(1, True), metadata={"steps": "0"}),
        "unrolled-no-focus": save_weights(folder / "unrolled-no-focus.safetensors", tiny_lfmri(1, False)),
        "t2": save_weights(folder / "t2.safetensors", tiny_lfmri(2, True)),
    }
    with torch.random.fork_rng():
        torch.manual_seed(3)
        out["net_c"] = save_weights(folder / "net_c.safetensors", build_classifier(TINY_CLASSIFIER))
    return out


@pytest.fixture(scope="module")
def no_shipped_weights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The shipped-weights folder emptied, so only the files the tests give are used."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lfmri_core.weights, "WEIGHTS_DIR", tmp_path_factory.mktemp("shipped"))
        yield


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory, weights: dict[str, Path],
              no_shipped_weights: None) -> tuple[Path, Path, int]:
    root = tmp_path_factory.mktemp("evaluate")
    out, cache = root / "out", root / "cache"
    weights_dir = weights["lfmri"].parent
    with one_torch_thread():
        code = main(["evaluate", "--out", str(out), "--num-volumes", "1", "--num-slices", "2",
                     "--accelerations", "4", "8", "--methods", "zero-filled", "lfmri", "unrolled-no-focus",
                     "--weights-dir", str(weights_dir),
                     "--device", "cpu", "--cache", str(cache), "--quiet"])
    return out, cache, code


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_evaluate_writes_every_table(evaluated: tuple[Path, Path, int]) -> None:
    out, cache, code = evaluated
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert names == {"results.md", "results.json", "table1_pd.csv", "table2_pdfs.csv", "table3_stages.csv",
                     "paired_differences.csv", "table7_classifier.csv", "cam_localisation.csv", "findings.csv",
                     "targets.csv", "parts"}
    # each volume's rows, kept so that a rerun skips it (lfmri_core.study.shards)
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["lfmri_test_pd_000.json", "lfmri_test_pdfs_000.json"]
    assert (cache / "manifest.json").is_file()
    methods = ["zero-filled", "lfmri", "unrolled-no-focus"]
    for name in ("table1_pd.csv", "table2_pdfs.csv"):
        rows = read_csv(out / name)
        assert [r["method"] for r in rows] == methods
        for accel in ("4x", "8x"):
            for metric in ("psnr", "ssim", "lf_psnr", "lf_ssim"):
                assert all(math.isfinite(float(r[f"{metric}_{accel}_mean"])) for r in rows)
                assert all(r[f"{metric}_{accel}_n"] == "1" for r in rows)
    stages = read_csv(out / "table3_stages.csv")
    # the main LF-MRI weights (one stage) make the ablation's T=1 row, from the same runs
    assert [r["method"] for r in stages] == ["T=1"]
    lfmri_pd = read_csv(out / "table1_pd.csv")[1]
    assert stages[0]["psnr_8x_n"] == "2"
    assert float(stages[0]["psnr_8x_mean"]) == pytest.approx(
        np.mean([float(lfmri_pd["psnr_8x_mean"]), float(read_csv(out / "table2_pdfs.csv")[1]["psnr_8x_mean"])]),
        rel=rounding_rtol(np.float64, terms=2))  # the mean of the same two numbers
    classifier = read_csv(out / "table7_classifier.csv")
    assert [r["source"] for r in classifier] == ["fully sampled", *methods]
    for row in classifier:
        for accel in ("4x", "8x"):
            assert 0.0 <= float(row[f"accuracy_{accel}"]) <= 1.0
            assert 0.0 <= float(row[f"auc_{accel}"]) <= 1.0
            assert row[f"slices_{accel}"] == "4"
    cam = read_csv(out / "cam_localisation.csv")
    assert [r["source"] for r in cam] == ["fully sampled", *methods, "centre prior"]
    assert all(0.0 <= float(r["energy_8x_mean"]) <= 1.0 and int(r["lesion_slices_8x"]) >= 1 for r in cam[:-1])
    assert cam[-1]["energy_8x_mean"] == "" and cam[-1]["lesion_slices_8x"] == cam[0]["lesion_slices_8x"]
    # Net_c's refined pointer is scored on the same lesion slices as its CAM (none for the prior)
    assert all(r["refined_slices_8x"] == r["lesion_slices_8x"] and 0.0 <= float(r["pointing_refined_8x"]) <= 1.0
               for r in cam[:-1])
    assert cam[-1]["refined_slices_8x"] == "0"
    rows = json.loads((out / "results.json").read_text())["slices"]
    assert all((r["refined_distance"] is None) == (r["pointing_hit"] is None) for r in rows)
    targets = read_csv(out / "targets.csv")
    # 2 lesion slices are too few for the interval the focus target needs; cs-wavelet was not run
    assert [t["status"] for t in targets][:2] == ["not evaluated", "not evaluated"]
    assert "a bootstrap interval needs at least 10" in targets[0]["measured"]
    assert all(t["status"] in ("PASS", "FAIL") for t in targets[2:])
    report = (out / "results.md").read_text()
    for heading in ("Table 1: PD", "Table 2: PDFS", "Table 3", "Paired differences", "Table 7", "CAM localisation",
                    "LF-PSNR and pointing game by finding", "Targets at 8x"):
        assert heading in report
    assert "| Centre prior |" in report
    assert "lfmri evaluate --out" in report and "test-split seed 0 (1 subject per contrast)" in report
    assert f"`{weights_sha(out)}`" in report


def weights_sha(out: Path) -> str:
    payload = json.loads((out / "results.json").read_text())
    files = {w["role"]: w for w in payload["plan"]["weights"]}
    assert files["lfmri"]["metadata"] == {"steps": "0"}
    assert files["lfmri"]["source"] == "--weights-dir" and files["net_c"]["source"] == "--weights-dir"
    return files["net_c"]["sha256"][:12]


def test_numbers_equal_score_volume_recomputed(evaluated: tuple[Path, Path, int]) -> None:
    out, cache, _ = evaluated
    path = cache / f"{SyntheticRecipe.stem('PD', 0)}.h5"
    with FastMRIVolume(path) as vol:
        target = vol.target_volume()
        result = reconstruct_volume(vol, method="zero-filled", mask_spec=MaskSpec("random", 8.0, 0.04), device="cpu")
        boxes = read_annotations(cache / "lfmri_test.csv", cache / "lfmri_test_file_list.csv",
                                 frame_shape=vol.info.recon_shape).for_file(path).boxes
    assert target is not None and boxes
    expected = score_volume(target, result.images, boxes)
    payload = json.loads((out / "results.json").read_text())
    stored = [v for v in payload["volumes"]
              if v["volume"] == path.stem and v["method"] == "zero-filled" and v["acceleration"] == 8.0]
    assert len(stored) == 1
    rtol = rounding_rtol(np.float64, terms=target.size)  # the same images scored again, in float64
    for key in ("psnr", "ssim", "nmse", "lf_psnr", "lf_ssim"):
        assert stored[0]["scores"][key] == pytest.approx(getattr(expected, key), rel=rtol)
    row = read_csv(out / "table1_pd.csv")[0]
    assert float(row["psnr_8x_mean"]) == pytest.approx(expected.psnr, rel=rtol)
    assert float(row["lf_ssim_8x_mean"]) == pytest.approx(expected.lf_ssim, rel=rtol)
    # per-slice results: the reference and every method at every acceleration
    assert len(payload["slices"]) == 2 * 2 * (1 + 3 * 2)


def test_findings_are_scored_inside_their_own_boxes(evaluated: tuple[Path, Path, int]) -> None:
    out, cache, _ = evaluated
    path = cache / f"{SyntheticRecipe.stem('PD', 0)}.h5"
    payload = json.loads((out / "results.json").read_text())
    with FastMRIVolume(path) as vol:
        target = vol.target_volume()
        result = reconstruct_volume(vol, method="zero-filled", mask_spec=MaskSpec("random", 8.0, 0.04), device="cpu")
        boxes = read_annotations(cache / "lfmri_test.csv", cache / "lfmri_test_file_list.csv",
                                 frame_shape=vol.info.recon_shape).for_file(path).boxes
    assert target is not None
    maxval = float(target.max())
    rows = {(s["source"], s["acceleration"], s["slice"]): s for s in payload["slices"] if s["volume"] == path.stem}
    checked = 0
    for (source, accel, index), row in rows.items():
        own = [b for b in boxes if b.slice == index and not b.is_empty]
        assert [f["label"] for f in row["findings"]] == sorted({b.label for b in own})
        for finding in row["findings"]:
            mine = [b for b in own if b.label == finding["label"]]
            assert finding["pixels"] == int(lesion_mask(mine, index, target.shape[1:]).sum()) > 0
            if source == "zero-filled" and accel == 8.0:
                expected = lf_psnr_slice(target[index], result.images[index], mine, maxval)
                assert finding["lf_psnr"] == pytest.approx(expected, rel=rounding_rtol(np.float64, terms=target[index].size))
                checked += 1
            if source == REFERENCE:
                assert finding["lf_psnr"] is None  # NaN, written as null
            # Net_c ran: the CAM's distance to this finding's boxes, never nearer than to all of the slice's boxes
            assert float(finding["pointing_distance"]) >= float(row["pointing_distance"])
        if len(row["findings"]) == 1 and source != REFERENCE:
            assert row["findings"][0]["lf_psnr"] == pytest.approx(row["lf_psnr"], rel=1e-12)
            assert row["findings"][0]["pointing_distance"] == row["pointing_distance"]
    assert checked >= 1
    table = read_csv(out / "findings.csv")
    reference = [s for s in payload["slices"] if s["source"] == REFERENCE]
    labels = {f["label"] for s in reference for f in s["findings"]}
    assert {r["label"] for r in table} == labels and {r["acceleration"] for r in table} == {"4.0", "8.0"}
    for r in table:
        assert int(r["slices"]) == sum(f["label"] == r["label"] for s in reference for f in s["findings"])
        lf = [f["lf_psnr"] for s in payload["slices"] if s["source"] == "lfmri" and s["acceleration"] == float(r["acceleration"])
              for f in s["findings"] if f["label"] == r["label"]]
        assert float(r["lf_psnr_lfmri"]) == pytest.approx(np.mean(lf), rel=rounding_rtol(np.float64, terms=len(lf)))
        assert int(r["lfmri_minus_unrolled-no-focus_n"]) == len(lf)
        assert 0 <= int(r["hits"]) <= int(r["pointed_slices"]) == len(lf)


def box_distance(row: int, col: int, boxes: list[LesionBox]) -> float:
    """Pixels from ``(row, col)`` to the nearest pixel of the nearest box."""
    return min(math.hypot(max(b.row0 - row, 0, row - (b.row1 - 1)), max(b.col0 - col, 0, col - (b.col1 - 1)))
               for b in boxes)


def test_paired_differences_and_the_centre_prior(evaluated: tuple[Path, Path, int]) -> None:
    out, cache, _ = evaluated
    payload = json.loads((out / "results.json").read_text())
    slices = payload["slices"]
    lesion = [s for s in slices if s["num_boxes"] > 0]
    assert lesion
    # the centre prior: the frame centre (160, 160) of the 320 x 320 frame, on every slice with boxes
    annotations = read_annotations(cache / "lfmri_test.csv", cache / "lfmri_test_file_list.csv", frame_shape=(320, 320))
    for s in slices:
        if s["num_boxes"] == 0:
            assert s["prior_distance"] is None
            continue
        boxes = [b for b in annotations.for_file(s["volume"]).boxes if b.slice == s["slice"]]
        assert s["prior_distance"] == pytest.approx(box_distance(160, 160, boxes), rel=rounding_rtol(np.float64))
    assert payload["plan"]["prior_center"] == "frame centre (rh // 2, rw // 2)"

    paired = payload["paired_differences"]
    assert paired["bootstrap"]["resamples"] == 10_000 and paired["bootstrap"]["seed"] == 0
    found = {(c["a"], c["b"], c["metric"], c["acceleration"]): c for c in paired["comparisons"]}
    # cs-wavelet was not requested: only LF-MRI vs the no-focus ablation, at 2 accelerations x 4 metrics
    assert {(a, b) for a, b, _, _ in found} == {("lfmri", "unrolled-no-focus")} and len(found) == 8
    lf = found[("lfmri", "unrolled-no-focus", "lf_psnr", 8.0)]
    per_slice = {m: {(s["volume"], s["slice"]): s["lf_psnr"] for s in lesion
                     if s["source"] == m and s["acceleration"] == 8.0} for m in ("lfmri", "unrolled-no-focus")}
    assert lf["unit"] == "lesion slice" and lf["difference"]["n"] == len(per_slice["lfmri"])
    expected = np.mean([per_slice["lfmri"][k] - per_slice["unrolled-no-focus"][k] for k in per_slice["lfmri"]])
    # a mean of n differences of dB values, summed in another order: relative to the values' size
    values = [abs(v) for m in per_slice.values() for v in m.values()]
    assert lf["difference"]["mean"] == pytest.approx(expected, rel=0, abs=rounding_rtol(np.float64, terms=len(values)) * max(values))
    volumes = {m: {v["volume"]: v["scores"]["psnr"] for v in payload["volumes"]
                   if v["method"] == m and v["acceleration"] == 8.0} for m in ("lfmri", "unrolled-no-focus")}
    psnr = found[("lfmri", "unrolled-no-focus", "psnr", 8.0)]
    assert psnr["unit"] == "volume" and psnr["difference"]["n"] == 2
    values = [abs(v) for m in volumes.values() for v in m.values()]
    assert psnr["difference"]["mean"] == pytest.approx(
        np.mean([volumes["lfmri"][k] - volumes["unrolled-no-focus"][k] for k in volumes["lfmri"]]),
        rel=0, abs=rounding_rtol(np.float64, terms=len(values)) * max(values))
    rows = read_csv(out / "paired_differences.csv")
    assert len(rows) == 8 and {r["excludes_zero"] for r in rows} <= {"True", "False"}


def test_cached_test_set_is_reused(evaluated: tuple[Path, Path, int]) -> None:
    _, cache, _ = evaluated
    before = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.h5")}
    again = ensure_synthetic_set(SyntheticRecipe(num_volumes=1, num_slices=2), cache)
    assert again.description["reused_cache"] is True
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.h5")} == before
    assert [v.seed for v in again.volumes] == [0, 0] and again.contrasts == ("PD", "PDFS")


def test_real_data_mode_and_a_stage_ablation_run(evaluated: tuple[Path, Path, int], weights: dict[str, Path],
                                                tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, cache, _ = evaluated
    with one_torch_thread():
        code = main(["evaluate", "--out", str(tmp_path / "real"), "--data", str(cache), "--annotations",
                     str(cache / "lfmri_test.csv"), "--file-list", str(cache / "lfmri_test_file_list.csv"),
                     "--contrasts", "PDFS", "--methods", "zero-filled", "--accelerations", "4",
                     "--stage-weights", f"2={weights['t2']}", "--device", "cpu", "--prior-center", "100", "49.6"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Table 2: PDFS" in printed and "Table 1: PD " not in printed
    assert "No Net_c classifier available" in printed
    payload = json.loads((tmp_path / "real" / "results.json").read_text())
    assert payload["test_set"]["source"] == "fastmri"
    assert payload["test_set"]["files"] == [f"{SyntheticRecipe.stem('PDFS', 0)}.h5"]
    assert [v["method"] for v in payload["volumes"]] == ["zero-filled"]
    # LF-MRI with two stages ran for the ablation only
    assert [(s["stages"], s["acceleration"]) for s in payload["stages"]] == [(2, 4.0)]
    assert math.isfinite(s["scores"]["psnr"]) if (s := payload["stages"][0]) else False
    assert {w["role"]: w["source"] for w in payload["plan"]["weights"]} == {"lfmri T=2": "--stage-weights"}
    assert "LF-MRI, T = 2" in printed
    # the centre prior at the pixel given (49.6 rounds to 50), filled without a classifier too
    assert payload["plan"]["prior_center"] == [100.0, 49.6] and "--prior-center 100 49.6" in payload["command"]
    annotations = read_annotations(cache / "lfmri_test.csv", cache / "lfmri_test_file_list.csv", frame_shape=(320, 320))
    scored = [s for s in payload["slices"] if s["num_boxes"] > 0]
    assert scored
    for s in scored:
        boxes = [b for b in annotations.for_file(s["volume"]).boxes if b.slice == s["slice"]]
        assert s["prior_distance"] == pytest.approx(box_distance(100, 50, boxes), rel=rounding_rtol(np.float64))


def test_prior_center_outside_the_frame(evaluated: tuple[Path, Path, int], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _, cache, _ = evaluated
    code = main(["evaluate", "--out", str(tmp_path / "out"), "--cache", str(cache), "--num-volumes", "1",
                 "--num-slices", "2", "--methods", "zero-filled", "--no-stage-ablation", "--device", "cpu",
                 "--quiet", "--prior-center", "12", "320"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--prior-center 12 320 lies outside the 320 x 320 frame" in err


def test_lesion_slices_only(evaluated: tuple[Path, Path, int]) -> None:
    _, cache, _ = evaluated
    full = ensure_synthetic_set(SyntheticRecipe(num_volumes=1, num_slices=2), cache)
    narrowed = lesion_slices_only(full)
    assert count_lesion_slices(narrowed) == count_lesion_slices(full) == full.description["lesion_slices"]
    for volume in narrowed.volumes:
        assert volume.slices and all(any(b.slice == s for b in volume.boxes) for s in volume.slices)
    assert narrowed.description["lesion_slices_only"] is True
    empty = replace(full, volumes=tuple(replace(v, boxes=()) for v in full.volumes))
    with pytest.raises(InputError, match="no evaluated slice has a lesion box"):
        lesion_slices_only(empty)


def test_learned_method_without_weights_is_skipped(no_shipped_weights: None) -> None:
    with pytest.warns(UserWarning, match="skipping unet: no weights installed"):
        plan = plan_evaluation(["zero-filled", "unet"], stage_ablation=False)
    assert plan.methods == ("zero-filled",) and plan.requested == ("zero-filled", "unet")
    assert plan.classifier is None and not plan.stage_weights


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--methods", "zero-filled", "no-such-method"], "unknown reconstruction method 'no-such-method'"),
        (["--stage-weights", "three=x.safetensors"], "--stage-weights: 'three=x.safetensors' is not T=PATH"),
        (["--stage-weights", "3"], "is not T=PATH"),
        (["--data", "/no/such/folder", "--annotations", "a.csv", "--methods", "zero-filled"], "is not a folder"),
        (["--annotations", "a.csv"], "go with --data"),
        (["--accelerations", "1"], "--accelerations must be"),
        (["--prior-center", "-1", "5"], "--prior-center must be a row and a column >= 0 in the recon frame, got -1 5"),
        (["--prior-center", "3", "inf"], "--prior-center must be a row and a column >= 0"),
    ],
)
def test_bad_input_is_one_line(extra: list[str], message: str, tmp_path: Path, no_shipped_weights: None,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("lfmri: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "cache").exists()


def test_weights_of_the_wrong_kind(weights: dict[str, Path], tmp_path: Path, no_shipped_weights: None,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    base = ["evaluate", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--quiet"]
    assert main([*base, "--methods", "zero-filled", "--classifier", str(weights["lfmri"])]) == 2
    assert "holds a lfmri model, expected a classifier model" in capsys.readouterr().err
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "lfmri.safetensors").write_bytes(weights["unrolled-no-focus"].read_bytes())
    assert main([*base, "--methods", "lfmri", "--weights-dir", str(wrong)]) == 2
    assert "lesion focus off, lfmri needs it on" in capsys.readouterr().err
    assert main([*base, "--methods", "zero-filled", "--stage-weights", f"3={weights['t2']}"]) == 2
    assert "has 2 stages, not 3" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_an_mrd_folder_scores_like_the_fastmri_folder(tmp_path: Path, no_shipped_weights: None) -> None:
    """The same k-space as ISMRMRD/MRD raw data (scored against the RSS of its k-space) and as a
    fastMRI file whose reconstruction_rss is that RSS: the same tables."""
    from lfmri_core.io.fastmri_h5 import write_volume
    from lfmri_core.io.ismrmrd_header import EncodingInfo
    from lfmri_core.recon.reference import reference_image
    from tests.core.io.mrd_files import kspace_lines, mrd_header, phantom_kspace, write_mrd

    kspace = phantom_kspace(2, 4, 64, 48)
    rows = {}
    for kind in ("fastmri", "mrd"):
        folder = tmp_path / kind
        folder.mkdir()
        if kind == "mrd":
            xml = mrd_header(encoded=(64, 48), recon=(48, 48), encoded_fov=(64, 48), recon_fov=(48, 48), slices=2,
                             protocol="CORPD_FBK")
            write_mrd(folder / "vol.h5", xml, kspace_lines(kspace))
        else:
            encoding = EncodingInfo.for_shape((64, 48), (48, 48))
            write_volume(folder / "vol.h5", kspace, encoding=encoding, attrs={"acquisition": "CORPD_FBK"})
            with FastMRIVolume(folder / "vol.h5") as vol:
                rss, _ = reference_image(vol)
            write_volume(folder / "vol.h5", kspace, encoding=encoding, reconstruction_rss=rss,
                         attrs={"acquisition": "CORPD_FBK"})
        csv_path = folder / "boxes.csv"
        csv_path.write_text("file,slice,study_level,x,y,width,height,label\nvol,1,No,10,12,8,6,Meniscus Tear\n")
        with one_torch_thread():
            code = main(["evaluate", "--out", str(tmp_path / f"out-{kind}"), "--data", str(folder), "--annotations",
                         str(csv_path), "--methods", "zero-filled", "--accelerations", "4", "--no-stage-ablation",
                         "--device", "cpu", "--quiet"])
        assert code == 0
        payload = json.loads((tmp_path / f"out-{kind}" / "results.json").read_text())
        assert payload["test_set"]["files"] == ["vol.h5"]
        (rows[kind],) = payload["volumes"]
    mine, theirs = rows["mrd"]["scores"], rows["fastmri"]["scores"]
    assert mine["num_lesion_slices"] == theirs["num_lesion_slices"] == 1
    # The k-space of the MRD file has its readout oversampling removed (64 -> 48 rows): the same
    # images up to the rounding of FFTs in another order.
    tol = rounding_rtol(np.complex64, fft_points=64 * 48, fft_passes=4, terms=4)
    for key in ("psnr", "lf_psnr"):
        assert mine[key] == pytest.approx(theirs[key], abs=20 * math.log10(1 + 100 * tol)), key
    for key in ("ssim", "nmse", "lf_ssim"):
        assert mine[key] == pytest.approx(theirs[key], rel=100 * tol, abs=100 * tol), key

def test_coil_map_warnings_reach_results_json(tmp_path: Path, no_shipped_weights: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A volume with 96 phase-encode columns leaves 4 centre lines at 8x (fastMRI's centre
    fraction 0.04): ESPIRiT's maps fail their checks, CG-SENSE runs on NLINV's, and results.json
    and results.md say so, per method and acceleration, naming the volume."""
    from lfmri_core.io.annotations import FileAnnotations, write_annotations
    from tests.conftest import write_small_knee

    data = tmp_path / "data"
    data.mkdir()
    write_small_knee(data / "file_knee.h5")
    boxes = (LesionBox(slice=1, label="Meniscus Tear", row0=50, row1=70, col0=30, col1=50),)
    write_annotations(tmp_path / "ann.csv", [FileAnnotations("file_knee", boxes, reviewed=True)],
                      file_list=tmp_path / "ann_file_list.csv", frame_height=128)
    with one_torch_thread():
        code = main(["evaluate", "--out", str(tmp_path / "out"), "--data", str(data), "--annotations",
                     str(tmp_path / "ann.csv"), "--methods", "zero-filled", "cg-sense", "--accelerations", "8",
                     "--no-stage-ablation", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    payload = json.loads((tmp_path / "out" / "results.json").read_text())
    [finding] = payload["coil_map_warnings"]
    assert finding["method"] == "cg-sense" and finding["acceleration"] == 8.0 and finding["coil_maps"] == "nlinv"
    assert finding["volumes"] == ["file_knee"]
    assert finding["warning"].endswith("too small for ESPIRiT's 6 x 6 kernel (it needs at least 10 x 10); "
                                       "using nlinv maps instead")
    rows = {row["method"]: row for row in payload["volumes"]}
    assert rows["cg-sense"]["coil_maps"] == "nlinv" and rows["cg-sense"]["coil_map_warnings"] == [finding["warning"]]
    assert rows["zero-filled"]["coil_maps"] is None and rows["zero-filled"]["coil_map_warnings"] == []
    assert rows["cg-sense"]["scores"]["psnr"] > rows["zero-filled"]["scores"]["psnr"]
    assert f"(nlinv used): {finding['warning']}." in (tmp_path / "out" / "results.md").read_text()
    assert f"lfmri: warning: {finding['warning']}" in err
