"""The embedded sample: generated on first use into the cache, reused, and the demo on it."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from lfmri_core.demo import run_demo
from lfmri_core.io.annotations import ImageLabel, read_annotations
from lfmri_core.io.fastmri_h5 import FastMRIVolume
from lfmri_sample_data import cache_dir, ensure_sample_data, manifest


def test_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LFMRI_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("LFMRI_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "lfmri"


def test_generated_once_then_reused(tmp_path: Path) -> None:
    paths = ensure_sample_data(tmp_path, num_slices=4)
    h5s = [p for p in paths if p.suffix == ".h5"]
    assert [p.stem for p in h5s] == [v["stem"] for v in manifest()["volumes"]]
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert ensure_sample_data(tmp_path, num_slices=4) == paths
    assert [p.stat().st_mtime_ns for p in paths] == stamps  # nothing rewritten
    with h5py.File(h5s[0], "r") as f:
        first = f["kspace"][()]
    ensure_sample_data(tmp_path, num_slices=4, force=True)
    with h5py.File(h5s[0], "r") as f:
        np.testing.assert_array_equal(f["kspace"][()], first)  # deterministic from the seed
    ensure_sample_data(tmp_path, num_slices=5)  # other settings: regenerated
    with FastMRIVolume(h5s[0]) as vol:
        assert vol.info.num_slices == 5


def test_sample_is_fastmri_format_with_annotations(tmp_path: Path) -> None:
    paths = ensure_sample_data(tmp_path, num_slices=8)
    csv_path, file_list = paths[-2], paths[-1]
    annotations = read_annotations(csv_path, file_list)
    for path in paths[:-2]:
        with FastMRIVolume(path) as vol:
            info = vol.info
            assert info.multicoil and info.kspace_shape[1:] == (8, 320, 320)
            assert info.targets == ("reconstruction_rss",) and info.recon_shape == (320, 320)
            assert info.acquisition in ("CORPD_FBK", "CORPDFS_FBK")
            ann = annotations.for_file(path)
            ann.validate(info.num_slices, info.recon_shape)
            labels = ann.slice_labels(info.num_slices)
            assert ImageLabel.POSITIVE in labels and ImageLabel.NEGATIVE in labels


@pytest.mark.slow
def test_demo_writes_report_and_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LFMRI_CACHE", str(tmp_path / "cache"))
    rows = run_demo(tmp_path / "demo", quiet=True, methods=["zero-filled", "cg-sense"])
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert len(report) == len(rows) == 8  # 2 contrasts x (4x, 8x) x 2 methods
    by_key = {(r["volume"], r["method"], r["acceleration"]): r for r in report}
    for volume in ("lfmri_knee_pd", "lfmri_knee_pdfs"):
        for method in ("zero-filled", "cg-sense"):
            assert by_key[(volume, method, 4.0)]["psnr"] > by_key[(volume, method, 8.0)]["psnr"]
            assert np.isfinite(by_key[(volume, method, 8.0)]["lf_psnr"])
        # parallel imaging beats zero filling at 8x
        assert by_key[(volume, "cg-sense", 8.0)]["psnr"] > by_key[(volume, "zero-filled", 8.0)]["psnr"]
    pngs = sorted(p.name for p in (tmp_path / "demo").glob("*.png"))
    assert len(pngs) == 6 and all((tmp_path / "demo" / p).stat().st_size > 2_000 for p in pngs)
