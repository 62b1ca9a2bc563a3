"""``lfmri recon`` / ``lfmri evaluate`` over a folder: two torchrun processes (gloo, CPU) equal one,
reruns skip finished files, and bad batch input is one line."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from lfmri_core.cli import main
from lfmri_core.io.annotations import FileAnnotations, LesionBox, write_annotations
from lfmri_core.io.fastmri_h5 import write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from lfmri_core.models import (
    ClassifierConfig,
    LFMRIConfig,
    LFMRINet,
    build_classifier,
    save_weights,
)
from lfmri_core.physics import fft2c, rss
from lfmri_core.sharding import Shard, list_inputs, read_file_list

ROOT = Path(__file__).resolve().parents[2]
SIZE, COILS, SLICES = 64, 4, 2
TINY_CLASSIFIER = ClassifierConfig(width=4)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One torch thread, as each torchrun process has (OMP_NUM_THREADS=1): the runs compared
    then sum in the same order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def phantom_folder(folder: Path, count: int = 3) -> Path:
    """``count`` small fully sampled fastMRI-format files (2 slices, 4 coils, 64 x 64: smooth
    blobs seen through four coils, seeded noise) and a fastMRI+ CSV with one box per file."""
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = np.mgrid[:SIZE, :SIZE] / SIZE
    records = []
    for n in range(count):
        rng = np.random.default_rng(n)
        images = np.zeros((SLICES, COILS, SIZE, SIZE), np.complex64)
        for s in range(SLICES):
            body = np.zeros((SIZE, SIZE))
            for _ in range(6):
                r, c, w = rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75), rng.uniform(0.05, 0.2)
                body += rng.uniform(0.3, 1.0) * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / w**2)
            for k in range(COILS):
                angle = 2 * np.pi * k / COILS
                coil = np.exp(-((rows - 0.5 - 0.5 * np.cos(angle)) ** 2 + (cols - 0.5 - 0.5 * np.sin(angle)) ** 2))
                noise = rng.standard_normal((2, SIZE, SIZE))
                images[s, k] = body * coil * np.exp(1j * angle) + 0.01 * (noise[0] + 1j * noise[1])
        tensor = torch.from_numpy(images)
        write_volume(folder / f"knee_{n}.h5", fft2c(tensor).numpy(), encoding=EncodingInfo((SIZE, SIZE), (SIZE, SIZE)),
                     reconstruction_rss=rss(tensor).numpy(), attrs={"acquisition": "CORPD_FBK"})
        records.append(FileAnnotations(f"knee_{n}", (LesionBox(n % SLICES, "Meniscus Tear", 20, 30, 24, 40),),
                                       reviewed=True))
    write_annotations(folder / "knee.csv", records, file_list=folder / "knee_file_list.csv", frame_height=SIZE)
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return phantom_folder(tmp_path_factory.mktemp("batch") / "data")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny untrained LF-MRI (1 stage), its no-focus ablation, a 2-stage LF-MRI and Net_c."""
    folder = tmp_path_factory.mktemp("weights")
    for name, stages, focus in (("lfmri", 1, True), ("unrolled-no-focus", 1, False), ("lfmri-t2", 2, True)):
        config = LFMRIConfig(num_stages=stages, width=4, depth=2, cg_iterations=1, lesion_focus=focus,
                             classifier=TINY_CLASSIFIER)
        with torch.random.fork_rng():
            torch.manual_seed(stages + 10 * focus)
            save_weights(folder / f"{name}.safetensors", LFMRINet(config))
    with torch.random.fork_rng():
        torch.manual_seed(3)
        save_weights(folder / "net_c.safetensors", build_classifier(TINY_CLASSIFIER))
    return folder


def torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    """``lfmri ARGS`` in two torchrun processes on the CPU (gloo), one thread each."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LFMRI_DISABLE_PLUGINS": "1"}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "lfmri_core.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[:3000] + "\n...\n" + done.stderr[-1500:]
    return done


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def read_csv_text(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


def mtimes(folder: Path, pattern: str) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.glob(pattern))}


# --- recon over a folder ------------------------------------------------------------------


def test_recon_two_processes_equal_one(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["recon", str(data), "--accel", "4", "--quiet", "--device", "cpu"]
    done = torchrun(*args, "--out", str(tmp_path / "ddp"))
    assert "3 files over 2 processes: 3 reconstructed now" in done.stdout
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert "3 files over 1 process: 3 reconstructed now" in capsys.readouterr().out

    ranks = {json.loads((tmp_path / "ddp" / f"knee_{n}.report.json").read_text())["batch"]["rank"] for n in range(3)}
    assert ranks == {0, 1}  # both processes took files
    two, one = read_csv(tmp_path / "ddp" / "summary.csv"), read_csv(tmp_path / "one" / "summary.csv")
    assert [r["file"] for r in one] == [str(data / f"knee_{n}.h5") for n in range(3)]
    timing = {"seconds_per_slice", "out"}
    assert [{k: v for k, v in r.items() if k not in timing} for r in two] == \
           [{k: v for k, v in r.items() if k not in timing} for r in one]
    assert all(r["status"] == "done" and float(r["psnr"]) > 20 and r["num_lesion_slices"] == "1" for r in one)
    for n in range(3):
        with h5py.File(tmp_path / "ddp" / f"knee_{n}.h5") as a, h5py.File(tmp_path / "one" / f"knee_{n}.h5") as b:
            assert np.array_equal(a["reconstruction"][()], b["reconstruction"][()])
    # a folder run gives each file what `lfmri recon FILE` gives it
    assert main(["recon", str(data / "knee_2.h5"), "--accel", "4", "--quiet", "--device", "cpu",
                 "--out", str(tmp_path / "alone.h5"), "--report", str(tmp_path / "alone.json")]) == 0
    with h5py.File(tmp_path / "alone.h5") as a, h5py.File(tmp_path / "one" / "knee_2.h5") as b:
        assert np.array_equal(a["reconstruction"][()], b["reconstruction"][()])
    alone = json.loads((tmp_path / "alone.json").read_text())
    assert alone["scores"]["psnr"] == float(one[2]["psnr"])


def test_recon_reruns_only_unfinished_files(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["recon", str(data), "--out", str(out), "--quiet", "--device", "cpu"]
    assert main(args) == 0
    first = mtimes(out, "knee_*")
    summary = (out / "summary.csv").read_text()
    capsys.readouterr()

    assert main(args) == 0
    assert "0 reconstructed now, 3 finished before" in capsys.readouterr().out
    assert mtimes(out, "knee_*") == first
    assert (out / "summary.csv").read_text() == summary

    (out / "knee_1.h5").unlink()  # an output gone: that file alone is made again
    (out / ".knee_2.h5.0a1b2c-99999999-00ff00ff.part").write_bytes(b"left by a killed writer")
    assert main(args) == 0
    assert "1 reconstructed now, 2 finished before" in capsys.readouterr().out
    again = mtimes(out, "knee_*")
    changed = {name for name in first if again[name] != first[name]}
    assert changed == {"knee_1.h5", "knee_1.report.json"}
    redone = read_csv(out / "summary.csv")
    assert [{k: v for k, v in r.items() if k != "seconds_per_slice"} for r in redone] == \
           [{k: v for k, v in r.items() if k != "seconds_per_slice"} for r in read_csv_text(summary)]

    (out / "knee_0.report.json").write_text('{"batch": ')  # a damaged report is no finished file
    assert main(args) == 0
    assert "1 reconstructed now, 2 finished before" in capsys.readouterr().out

    assert main([*args, "--accel", "8"]) == 0  # other settings: every file made again, with a warning
    captured = capsys.readouterr()
    assert "3 reconstructed now, 0 finished before" in captured.out
    assert "made with other settings" in captured.err
    assert {r["nominal_acceleration"] for r in read_csv(out / "summary.csv")} == {"8.0"}


def test_recon_file_list(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listing = tmp_path / "files.txt"
    listing.write_text(f"# two of the three\n{data / 'knee_2.h5'}\n\n{os.path.relpath(data / 'knee_0.h5', tmp_path)}\n")
    assert [p.name for p in read_file_list(listing)] == ["knee_2.h5", "knee_0.h5"]
    assert main(["recon", str(listing), "--out", str(tmp_path / "out"), "--quiet", "--format", "nifti"]) == 0
    assert "2 files over 1 process" in capsys.readouterr().out
    assert [r["file"] for r in read_csv(tmp_path / "out" / "summary.csv")] == [str(data / "knee_2.h5"),
                                                                               str(listing.parent / os.path.relpath(data / "knee_0.h5", tmp_path))]
    assert {p.name for p in (tmp_path / "out").glob("*.nii.gz")} == {
        f"knee_{n}{s}.nii.gz" for n in (0, 2) for s in ("", "_error")}


def test_shares_are_disjoint_and_cover_everything() -> None:
    items = list(range(7))
    shares = [Shard(rank, 3).take(items) for rank in range(3)]
    assert shares == [[0, 3, 6], [1, 4], [2, 5]]
    assert Shard().take(items) == items
    assert Shard().gather({"a": 1}) == [{"a": 1}]


# --- evaluate over a folder ---------------------------------------------------------------


def evaluate_args(data: Path, weights: Path, out: Path) -> list[str]:
    return ["evaluate", "--out", str(out), "--data", str(data), "--annotations", str(data / "knee.csv"),
            "--methods", "zero-filled", "lfmri", "unrolled-no-focus", "--weights-dir", str(weights),
            "--stage-weights", f"2={weights / 'lfmri-t2.safetensors'}", "--accelerations", "8",
            "--device", "cpu", "--quiet"]


def tables_section(markdown: str) -> str:
    return markdown[markdown.index("## Tables"):markdown.index("## Run time")]


def without_timing(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in r.items() if k != "seconds_per_slice"} for r in rows]


def test_evaluate_two_processes_equal_one_and_resume(data: Path, weights: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    torchrun(*evaluate_args(data, weights, tmp_path / "ddp"))
    one, two = tmp_path / "one", tmp_path / "ddp"
    assert main(evaluate_args(data, weights, one)) == 0
    capsys.readouterr()

    parts = {p.name: json.loads(p.read_text()) for p in sorted((two / "parts").glob("*.json"))}
    assert list(parts) == ["knee_0.json", "knee_1.json", "knee_2.json"]
    assert {p["rank"] for p in parts.values()} == {0, 1}  # both processes evaluated volumes
    csvs = sorted(p.name for p in one.glob("*.csv"))
    assert "paired_differences.csv" in csvs and "table3_stages.csv" in csvs and "table7_classifier.csv" in csvs
    assert sorted(p.name for p in two.glob("*.csv")) == csvs
    for name in csvs:  # every number of every table, the bootstrap intervals included
        assert (two / name).read_text() == (one / name).read_text(), name
    assert tables_section((two / "results.md").read_text()) == tables_section((one / "results.md").read_text())
    a, b = (json.loads((folder / "results.json").read_text()) for folder in (two, one))
    for key in ("tables", "paired_differences", "slices"):
        assert a[key] == b[key], key
    for key in ("volumes", "stages"):
        assert without_timing(a[key]) == without_timing(b[key]), key
    comparisons = b["paired_differences"]["comparisons"]
    lf = [c for c in comparisons if c["metric"] == "lf_psnr" and c["a"] == "lfmri"]
    assert lf and lf[0]["difference"]["n"] == 3  # one lesion slice per volume, pooled over both processes
    assert [s["stages"] for s in b["stages"]] == [1, 1, 1, 2, 2, 2]

    # resume: a rerun evaluates nothing again; a deleted part is the only volume redone
    before = mtimes(one / "parts", "*.json")
    assert main(evaluate_args(data, weights, one)) == 0
    assert mtimes(one / "parts", "*.json") == before
    assert (one / "paired_differences.csv").read_text() == (two / "paired_differences.csv").read_text()
    (one / "parts" / "knee_1.json").unlink()
    assert main(evaluate_args(data, weights, one)) == 0
    after = mtimes(one / "parts", "*.json")
    assert {name for name in before if after[name] != before[name]} == {"knee_1.json"}
    for name in csvs:
        assert (two / name).read_text() == (one / name).read_text(), name
    capsys.readouterr()
    # a part made with other settings is not reused
    from lfmri_core.study import load_fastmri_set, plan_evaluation
    from lfmri_core.study.shards import part_fingerprint, read_part

    volume = load_fastmri_set(data, data / "knee.csv").volumes[1]
    plan = plan_evaluation(["zero-filled", "lfmri", "unrolled-no-focus"], accelerations=[8.0], weights_dir=weights,
                           stage_weights={2: weights / "lfmri-t2.safetensors"})
    same = part_fingerprint(volume, plan, device=torch.device("cpu"), tolerance=0.0, prior_center=None)
    part = read_part(one / "parts" / "knee_1.json", same)
    assert part is not None
    # each slice row's findings come back as rows, as the tables need them
    from lfmri_core.study.runner import FindingScore

    findings = [f for row in part["slices"] for f in row.findings]
    assert findings and all(isinstance(f, FindingScore) for f in findings)
    assert "findings.csv" in csvs
    for other in (part_fingerprint(volume, plan, device=torch.device("cpu"), tolerance=2.0, prior_center=None),
                  part_fingerprint(volume, plan, device=torch.device("cpu"), tolerance=0.0, prior_center=(5.0, 5.0)),
                  part_fingerprint(volume, replace(plan, accelerations=(4.0,)), device=torch.device("cpu"),
                                   tolerance=0.0, prior_center=None)):
        assert other != same and read_part(one / "parts" / "knee_1.json", other) is None


# --- bad input ----------------------------------------------------------------------------


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lfmri: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_bad_batch_input_is_one_line(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.md").write_text("no k-space here")
    out = str(tmp_path / "out")
    assert "holds no k-space file" in one_error_line(capsys, ["recon", str(empty), "--out", out])
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.h5").write_bytes(b"not hdf5 at all")
    (junk / "b.h5").write_bytes(b"")
    line = one_error_line(capsys, ["recon", str(junk), "--out", out])
    assert "holds no readable k-space file" in line and "a.h5" in line
    assert not (tmp_path / "out").exists()

    listing = tmp_path / "list.txt"
    listing.write_text(f"{data / 'knee_0.h5'}\nmissing.h5\n")
    line = one_error_line(capsys, ["recon", str(listing), "--out", out])
    assert "line 2: missing.h5 is a file that does not exist" in line
    line = one_error_line(capsys, ["evaluate", "--out", out, "--data", str(listing), "--annotations",
                                   str(data / "knee.csv"), "--methods", "zero-filled"])
    assert "line 2: missing.h5" in line

    assert "is the input folder" in one_error_line(capsys, ["recon", str(data), "--out", str(data)])
    listing.write_text(f"{data / 'knee_0.h5'}\n")
    assert "is the folder of the input" in one_error_line(capsys, ["recon", str(listing), "--out", str(data)])
    line = one_error_line(capsys, ["evaluate", "--out", str(data), "--data", str(data), "--annotations",
                                   str(data / "knee.csv"), "--methods", "zero-filled"])
    assert "is the folder of the --data files" in line
    assert "needs --out" in one_error_line(capsys, ["recon", str(data)])
    assert "--report is for one file" in one_error_line(
        capsys, ["recon", str(data), "--out", out, "--report", str(tmp_path / "r.json")])
    assert sorted(p.name for p in data.iterdir()) == ["knee.csv", "knee_0.h5", "knee_1.h5", "knee_2.h5",
                                                      "knee_file_list.csv"]


def test_a_readable_file_among_damaged_ones_is_reconstructed(data: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "good.h5").write_bytes((data / "knee_0.h5").read_bytes())
    (mixed / "bad.h5").write_bytes(b"not hdf5")
    assert list_inputs(mixed) == [mixed / "bad.h5", mixed / "good.h5"]
    assert main(["recon", str(mixed), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "lfmri: warning: skipped" in captured.err and "bad.h5" in captured.err
    assert [r["status"] for r in read_csv(tmp_path / "out" / "summary.csv")] == ["done"]


def test_a_file_that_fails_is_reported_and_the_others_go_on(data: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "two.h5").write_bytes((data / "knee_0.h5").read_bytes())
    with h5py.File(data / "knee_1.h5") as f:
        write_volume(mixed / "one.h5", f["kspace"][:1], encoding=EncodingInfo((SIZE, SIZE), (SIZE, SIZE)),
                     reconstruction_rss=f["reconstruction_rss"][:1], attrs={"acquisition": "CORPD_FBK"})
    assert main(["recon", str(mixed), "--out", str(tmp_path / "out"), "--slices", "1", "--quiet"]) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("lfmri: error: ")]
    assert len(errors) == 1 and "1 of 2 files failed (one.h5)" in errors[0], captured.err
    assert "one.h5 failed: --slices names slice 1, but the volume has 1 slices" in captured.err
    rows = read_csv(tmp_path / "out" / "summary.csv")
    assert [(Path(r["file"]).name, r["status"], r["slices"]) for r in rows] == [("one.h5", "failed", ""),
                                                                                ("two.h5", "done", "1")]
    assert "Traceback" not in captured.err
