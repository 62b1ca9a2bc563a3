"""The ``lfmri`` command: outputs, the fastMRI-equivalent recon chain, and bad input."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from lfmri_core.cli import main
from lfmri_core.io.annotations import FileAnnotations, LesionBox, write_annotations
from lfmri_core.io.fastmri_h5 import write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from tests.conftest import random_complex
from tests.tolerances import assert_close_in_norm, relative_error, rounding_rtol

ENCODING = EncodingInfo(encoded_shape=(48, 40), recon_shape=(32, 32), encoded_fov_mm=(24.0, 20.0, 3.0),
                        recon_fov_mm=(16.0, 16.0, 3.0), kspace_center=19, kspace_maximum=37)


@pytest.fixture
def volume(tmp_path: Path, rng: np.random.Generator) -> Path:
    """A small multicoil file with a target, padding in the header and annotations beside it."""
    path = tmp_path / "file_cli.h5"
    kspace = random_complex(rng, (4, 3, 48, 40))
    left, right = ENCODING.padding
    kspace[..., :left] = 0
    kspace[..., right:] = 0
    image = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    target = np.sqrt((np.abs(image) ** 2).sum(1))[:, 8:40, 4:36].astype(np.float32)
    write_volume(path, kspace, encoding=ENCODING, reconstruction_rss=target, attrs={"acquisition": "CORPD_FBK"})
    boxes = (LesionBox(slice=1, label="Meniscus Tear", row0=5, row1=12, col0=3, col1=9),)
    write_annotations(tmp_path / "ann.csv", [FileAnnotations("file_cli", boxes, reviewed=True)],
                      file_list=tmp_path / "ann_file_list.csv", frame_height=32)
    return path


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_info(volume: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["info", str(volume)], capsys)
    assert code == 0
    assert "multicoil 4 slices x 3 coils x 48 x 40" in out
    assert "recon matrix    32 x 32" in out and "acquired cols   [1, 39)" in out
    assert "1 boxes on 1 slices" in out and "Meniscus Tear: slices 1" in out


def _fft_rtol(kspace: np.ndarray | torch.Tensor, passes: int) -> float:
    """complex64 rounding of ``passes`` 2-D FFTs of the k-space's size, summed over its coils."""
    return rounding_rtol(torch.complex64, fft_points=kspace.shape[-2] * kspace.shape[-1], fft_passes=passes,
                         terms=kspace.shape[-3])


def test_recon_matches_the_fastmri_chain(volume: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Our recon equals fastMRI's own pipeline: per-file seeded RandomMaskFunc, apply_mask with
    the header padding, ifft2c, RSS, centre crop."""
    from fastmri import ifft2c, rss_complex
    from fastmri.data.subsample import RandomMaskFunc
    from fastmri.data.transforms import apply_mask, center_crop, to_tensor

    before = hashlib.sha256(volume.read_bytes()).hexdigest()
    out = tmp_path / "recon.h5"
    code, stdout, _ = run(["recon", str(volume), "--accel", "4", "--center-fraction", "0.08",
                           "--out", str(out), "--report", str(tmp_path / "r.json"), "--quiet"], capsys)
    assert code == 0, stdout
    assert hashlib.sha256(volume.read_bytes()).hexdigest() == before
    with h5py.File(volume, "r") as f:
        kspace = f["kspace"][()]
    reference = []
    for s in range(4):
        masked, mask, _ = apply_mask(to_tensor(kspace[s]), RandomMaskFunc([0.08], [4]),
                                     seed=tuple(map(ord, volume.name)), padding=ENCODING.padding)
        reference.append(center_crop(rss_complex(ifft2c(masked), dim=0), (32, 32)).numpy())
    with h5py.File(out, "r") as f:
        ours = f["reconstruction"][()]
        stored_mask = f["mask"][()]
    # each side: one float32 inverse FFT per coil and a sum over the coils
    assert_close_in_norm(ours, np.stack(reference), _fft_rtol(kspace, passes=2))
    np.testing.assert_array_equal(stored_mask, mask.squeeze().numpy().astype(bool))
    assert "PSNR" in stdout and "LF-PSNR" in stdout and "1 of 4 slices with lesion boxes" in stdout


def test_recon_subset_of_slices(volume: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["recon", str(volume), "--slices", "1:3", "--seed", "5", "--quiet",
                        "--out", str(tmp_path / "o.h5")], capsys)
    assert code == 0
    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert f["reconstruction"].shape == (2, 32, 32)
        assert list(f.attrs["slices"]) == [1, 2]


def test_recon_passes_method_params(volume: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--method-param NAME=VALUE reaches the method's factory (JSON values as JSON); a parameter
    the method does not take, twice the same name or weights= are one-line errors."""
    import json

    from lfmri_core.recon import CgSense, CgSenseParams, build_method

    common = ["recon", str(volume), "--accel", "4", "--center-fraction", "0.25", "--seed", "5", "--slices", "1",
              "--method", "cg-sense", "--maps", "lowres", "--quiet"]
    code, _, err = run([*common, "--method-param", "iterations=2", "--method-param", "lam=0.5",
                        "--report", str(tmp_path / "r.json"), "--out", str(tmp_path / "p.h5")], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "r.json").read_text())["method_params"] == {"iterations": 2, "lam": 0.5}
    assert run([*common, "--out", str(tmp_path / "default.h5")], capsys)[0] == 0
    with h5py.File(tmp_path / "p.h5", "r") as p, h5py.File(tmp_path / "default.h5", "r") as d:
        # lam 0.5 instead of 0.01 shrinks the image far beyond rounding
        assert relative_error(p["reconstruction"][()], d["reconstruction"][()]) > 0.1
    method = build_method("cg-sense", iterations=2, lam=0.5)
    assert isinstance(method, CgSense) and method.params == CgSenseParams(lam=0.5, iterations=2)
    for extra, message in (
        (["--method-param", "lamda=0.1"], "cg-sense has no parameter 'lamda'"),
        (["--method-param", "lam=0.1", "--method-param", "lam=0.2"], "--method-param lam is given twice"),
        (["--method-param", "weights=w.safetensors"], "pass a weights file with --weights"),
    ):
        code, _, err = run([*common, *extra], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and message in lines[0], err


def test_recon_with_coil_compression(volume: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--coil-compression N compresses each masked slice (the library's compress_coils) before
    the method; N at least the number of coils changes nothing."""
    import json

    from lfmri_core.coils import compress_coils
    from lfmri_core.physics import center_crop, ifft2c, rss

    common = ["recon", str(volume), "--accel", "4", "--seed", "5", "--quiet"]
    code, _, _ = run([*common, "--coil-compression", "2", "--out", str(tmp_path / "c.h5"),
                      "--report", str(tmp_path / "c.json")], capsys)
    assert code == 0 and json.loads((tmp_path / "c.json").read_text())["virtual_coils"] == 2
    assert run([*common, "--out", str(tmp_path / "all.h5")], capsys)[0] == 0
    assert run([*common, "--coil-compression", "3", "--out", str(tmp_path / "three.h5"),
                "--report", str(tmp_path / "three.json")], capsys)[0] == 0
    assert json.loads((tmp_path / "three.json").read_text())["virtual_coils"] is None
    with h5py.File(volume, "r") as f, h5py.File(tmp_path / "c.h5", "r") as c:
        kspace = torch.from_numpy(f["kspace"][()])
        mask = torch.from_numpy(c["mask"][()].astype(bool))
    compressed = compress_coils(kspace * mask, 2, mask=mask).kspace
    expected = center_crop(rss(ifft2c(compressed), dim=1), (32, 32)).numpy()
    with h5py.File(tmp_path / "c.h5", "r") as c, h5py.File(tmp_path / "all.h5", "r") as a, h5py.File(tmp_path / "three.h5", "r") as t:
        rtol = _fft_rtol(kspace, passes=2)
        assert_close_in_norm(c["reconstruction"][()], expected, rtol)
        assert np.array_equal(t["reconstruction"][()], a["reconstruction"][()])
        assert relative_error(c["reconstruction"][()], a["reconstruction"][()]) > 100 * rtol  # a coil is gone


def _nan_file(path: Path) -> None:
    k = np.ones((2, 2, 8, 8), np.complex64)
    k[0, 0, 0, 0] = np.inf
    write_volume(path, k, encoding=EncodingInfo.for_shape((8, 8)))


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        ("missing", [], "does not exist"),
        ("text", [], "is not an HDF5 file"),
        ("no_kspace", [], "has no 'kspace' dataset"),
        ("rank", [], "expected (slices, coils, H, W)"),
        ("nan", [], "contains NaN or Inf"),
        ("ok", ["--accel", "0.5"], "acceleration"),
        ("ok", ["--accel", "41"], "acceleration"),
        ("ok", ["--center-fraction", "0"], "center_fraction must be in the open interval (0, 1)"),
        ("ok", ["--center-fraction", "1.5"], "center_fraction must be in the open interval (0, 1)"),
        ("ok", ["--mask", "spiral"], "spiral"),
        ("ok", ["--method", "magic-net"], "unknown reconstruction method 'magic-net'"),
        ("ok", ["--slices", "9"], "names slice 9"),
        ("ok", ["--accel", "four"], "invalid float value"),
        ("bad_annotations", [], "names slice 7, but the volume has 4 slices"),
    ],
)
def test_bad_input_is_one_line_exit_2(setup: str, extra: list[str], message: str, volume: Path,
                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = volume
    if setup == "missing":
        path = tmp_path / "nope.h5"
    elif setup == "text":
        path = tmp_path / "notes.h5"
        path.write_text("hello")
    elif setup == "no_kspace":
        path = tmp_path / "empty.h5"
        with h5py.File(path, "w") as f:
            f["image"] = np.zeros(3)
    elif setup == "rank":
        path = tmp_path / "rank.h5"
        with h5py.File(path, "w") as f:
            f["kspace"] = np.zeros((2, 3, 4, 5, 6), np.complex64)
    elif setup == "nan":
        path = tmp_path / "nan.h5"
        _nan_file(path)
    elif setup == "bad_annotations":
        with (tmp_path / "ann.csv").open("a", newline="") as f:
            csv.writer(f).writerow(["file_cli", 7, "No", 1, 1, 3, 3, "Joint Effusion"])
    before = path.read_bytes() if path.exists() else None
    code, out, err = run(["recon", str(path), "--quiet", *extra], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lfmri: error: "), err
    assert message in lines[0]
    assert (path.read_bytes() if path.exists() else None) == before


def test_refuses_to_overwrite_input(volume: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["recon", str(volume), "--out", str(volume), "--quiet"], capsys)
    assert code == 2 and "input files are never overwritten" in err


def test_subprocess_has_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "x.h5").write_text("not hdf5")
    proc = subprocess.run([sys.executable, "-m", "lfmri_core.cli", "recon", str(tmp_path / "x.h5")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"lfmri: error: {tmp_path / 'x.h5'} is not an HDF5 file"


def test_cuda_request_without_gpu_falls_back(volume: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: nothing falls back")
    code, out, err = run(["recon", str(volume), "--device", "cuda", "--quiet", "--slices", "0"], capsys)
    assert code == 0 and "on cpu" in out
    assert err.strip() == "lfmri: warning: device 'cuda' requested but no CUDA GPU is available; using the CPU"


def test_bart_cfl_opens_like_fastmri(tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]) -> None:
    """Public BART example k-space (read, phase1, phase2, coils) goes through info and recon."""
    from lfmri_core.io.bart_cfl import write_cfl
    from lfmri_core.io.volume import open_volume

    kspace = random_complex(rng, (24, 20, 2, 4))  # two phase2 planes, 4 coils
    write_cfl(tmp_path / "phantom", kspace)
    with open_volume(tmp_path / "phantom.cfl") as vol:
        assert vol.info.kspace_shape == (2, 4, 24, 20) and vol.target(0) is None
        np.testing.assert_array_equal(vol.kspace(1), np.moveaxis(kspace[:, :, 1, :], -1, 0))
    code, out, _ = run(["info", str(tmp_path / "phantom.cfl")], capsys)
    assert code == 0 and "multicoil 2 slices x 4 coils x 24 x 20" in out and "no ISMRMRD header" in out
    code, out, _ = run(["recon", str(tmp_path / "phantom.cfl"), "--accel", "2", "--center-fraction", "0.2",
                        "--quiet", "--out", str(tmp_path / "r.h5")], capsys)
    assert code == 0 and "no reference image" in out
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert f["reconstruction"].shape == (2, 24, 20)


def test_recon_without_lesion_boxes_says_so(volume: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Slices 2 and 3 carry no box: no 'LF-PSNR nan dB', a sentence instead."""
    code, out, _ = run(["recon", str(volume), "--slices", "2:4", "--seed", "5", "--quiet"], capsys)
    assert code == 0 and "nan" not in out.lower()
    assert "no lesion boxes on the 2 slices: LF-PSNR and LF-SSIM not computed" in out
    assert "PSNR" in out and "LF-PSNR " not in out.replace("LF-PSNR and", "")


def test_recon_out_keeps_the_requested_acceleration(volume: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(["recon", str(volume), "--accel", "4", "--seed", "5", "--quiet", "--out", str(tmp_path / "o.h5")],
                     capsys)
    assert code == 0
    with h5py.File(tmp_path / "o.h5", "r") as f:
        mask = f["mask"][()].astype(bool)
        assert f.attrs["acceleration"] == 4.0
        # the achieved one is the mask's: acquired columns over sampled ones
        assert f.attrs["achieved_acceleration"] == pytest.approx(len(range(*ENCODING.padding)) / mask.sum(), rel=1e-6) \
            or f.attrs["achieved_acceleration"] == pytest.approx(mask.size / mask.sum(), rel=1e-6)
        assert f.attrs["achieved_acceleration"] != f.attrs["acceleration"]


def test_progress_bars_follow_quiet_and_the_terminal(volume: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """capsys is no terminal: no bar unless LFMRI_PROGRESS=1, and never with --quiet."""
    monkeypatch.delenv("LFMRI_PROGRESS", raising=False)
    args = ["recon", str(volume), "--seed", "5", "--slices", "0:2"]
    code, out, err = run(args, capsys)
    assert code == 0 and err == ""
    monkeypatch.setenv("LFMRI_PROGRESS", "1")
    code, out, err = run(args, capsys)
    assert code == 0 and "zero-filled file_cli.h5: 100%" in err and "2/2" in err
    code, out, err = run([*args, "--quiet"], capsys)
    assert code == 0 and err == ""


def _small_sample(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, num_slices: int = 3) -> None:
    """An empty sample cache and a sample recipe of a few slices (seconds to generate)."""
    import copy

    import lfmri_sample_data

    spec = copy.deepcopy(lfmri_sample_data.manifest())
    spec["defaults"]["num_slices"] = num_slices
    monkeypatch.setattr(lfmri_sample_data, "manifest", lambda: copy.deepcopy(spec))
    monkeypatch.setenv("LFMRI_CACHE", str(tmp_path / "cache"))


def test_sample_shows_its_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LFMRI_PROGRESS", "1")
    code, out, err = run(["sample", "--out", str(tmp_path / "s"), "--slices", "2"], capsys)
    assert code == 0 and len(out.split()) == 4
    assert "sample data: 100%" in err and "5/5" in err  # 2 volumes x 2 slices, then the writing
    code, out, err = run(["sample", "--out", str(tmp_path / "s"), "--slices", "2"], capsys)
    assert code == 0 and err == ""  # cached: nothing to show


@pytest.mark.slow
def test_demo_options_report_and_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import re

    _small_sample(monkeypatch, tmp_path)
    monkeypatch.setenv("LFMRI_PROGRESS", "1")
    out = tmp_path / "demo"
    code, stdout, err = run(["demo", "--out", str(out), "--methods", "zero-filled", "--slices", "1:3",
                             "--contrasts", "PDFS"], capsys)
    assert code == 0, err
    rows = json.loads((out / "report.json").read_text())
    assert {(r["volume"], r["method"], r["acceleration"]) for r in rows} == {
        ("lfmri_knee_pdfs", "zero-filled", 4.0), ("lfmri_knee_pdfs", "zero-filled", 8.0)}
    assert all(r["num_slices"] == 2 for r in rows)
    report = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert len(links) == 3 and all((out / link).is_file() for link in links)
    assert sorted(p.name for p in out.glob("*.png")) == sorted(links)
    assert "masks figure: 100%" in err and "5/5" in err and "zero-filled" in err  # 2 runs, 2 figures, masks
    assert report in stdout


def test_demo_refuses_unknown_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    _small_sample(monkeypatch, tmp_path, num_slices=2)
    for extra, message in ((["--contrasts", "T1"], "no 'T1' volume"),
                           (["--methods", "magic-recon"], "unknown reconstruction method 'magic-recon'"),
                           (["--methods", "zero-filled", "zero-filled"], "more than once"),
                           (["--slices", "7"], "names slice 7, but the volume has 2 slices")):
        code, stdout, err = run(["demo", "--out", str(tmp_path / "d"), "--quiet", *extra], capsys)
        assert code == 2 and stdout == "" and message in err, (extra, err)
    assert not (tmp_path / "d" / "report.md").exists()

@pytest.fixture(scope="module")
def small_knee(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import write_small_knee

    return write_small_knee(tmp_path_factory.mktemp("knee") / "file_knee.h5")


def test_recon_warns_when_coil_maps_fail_their_checks(small_knee: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """7 centre lines (96 phase-encode columns, centre fraction 0.07): ESPIRiT's maps fail the
    kernel check and NLINV's are used. The warning goes to stderr once (not once per slice), to
    the printed report and to the JSON report, which names the maps used; CG-SENSE then beats
    zero-filled."""
    import json

    common = ["recon", str(small_knee), "--accel", "8", "--center-fraction", "0.07", "--seed", "5", "--quiet"]
    code, out, err = run([*common, "--method", "cg-sense", "--out", str(tmp_path / "o.h5"),
                          "--report", str(tmp_path / "r.json")], capsys)
    assert code == 0, err
    warning_lines = err.strip().splitlines()
    assert len(warning_lines) == 1 and warning_lines[0].startswith("lfmri: warning: the fully sampled calibration region is")
    message = warning_lines[0].removeprefix("lfmri: warning: ")
    assert message.endswith("too small for ESPIRiT's 6 x 6 kernel (it needs at least 10 x 10); using nlinv maps instead")
    assert "7 centre lines" in out and "coil maps nlinv\n" in out and f"warning: coil maps: {message}\n" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["coil_maps"] == "nlinv" and report["coil_map_warnings"] == [message]
    assert report["slices"] == [0, 1]
    code, _, _ = run([*common, "--report", str(tmp_path / "zf.json")], capsys)
    assert code == 0
    assert report["scores"]["psnr"] > json.loads((tmp_path / "zf.json").read_text())["scores"]["psnr"] + 1
    # NLINV asked for: the same maps, no warning
    code, out, err = run([*common, "--method", "cg-sense", "--maps", "nlinv", "--out", str(tmp_path / "n.h5"),
                          "--report", str(tmp_path / "n.json")], capsys)
    assert code == 0 and err == "" and "warning" not in out
    report = json.loads((tmp_path / "n.json").read_text())
    assert report["coil_maps"] == "nlinv" and report["coil_map_warnings"] == []
    with h5py.File(tmp_path / "o.h5", "r") as a, h5py.File(tmp_path / "n.h5", "r") as b:
        assert np.array_equal(a["reconstruction"][()], b["reconstruction"][()])


def test_recon_with_enough_centre_lines_keeps_espirit_silently(small_knee: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, err = run(["recon", str(small_knee), "--method", "cg-sense", "--accel", "4", "--center-fraction", "0.12",
                          "--slices", "0", "--quiet", "--report", str(tmp_path / "r.json")], capsys)
    assert code == 0 and err == "" and "coil maps espirit\n" in out and "warning" not in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["coil_maps"] == "espirit" and report["coil_map_warnings"] == []
