"""``lfmri recon --mask-file``: a mask drawn in the viewer (or a session file) reconstructs a
volume, and the report keeps the drawn mask."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from lfmri_core.masks import DrawnMaskSpec, MaskSpec
from tests.core.test_cli import ENCODING, run, volume  # noqa: F401  (volume: a fixture)


def _drawn(width: int = 40) -> DrawnMaskSpec:
    pattern = np.zeros(width, dtype=bool)
    pattern[16:24] = True
    pattern[[0, 3, 30, 37]] = True
    return DrawnMaskSpec(pattern)


def test_a_drawn_mask_file_reconstructs_and_is_reported(volume: Path, tmp_path: Path,  # noqa: F811
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    spec = _drawn()
    mask_file = tmp_path / "drawn.json"
    mask_file.write_text(json.dumps(spec.to_dict()))
    out, report = tmp_path / "o.h5", tmp_path / "r.json"
    code, stdout, _ = run(["recon", str(volume), "--mask-file", str(mask_file), "--quiet", "--out", str(out),
                           "--report", str(report)], capsys)
    assert code == 0, stdout
    left, right = ENCODING.padding  # the header's unacquired columns carry no data: dropped from the mask
    expected = spec.pattern
    expected[:left] = expected[right:] = False
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["mask"][()].astype(bool), expected)
    written = json.loads(report.read_text())["mask"]
    assert written["name"] == "drawn" and MaskSpec.from_dict(written["spec"]) == spec
    assert written["achieved_acceleration"] == pytest.approx(40 / expected.sum())


def test_a_session_file_gives_its_drawn_mask(volume: Path, tmp_path: Path,  # noqa: F811
                                             capsys: pytest.CaptureFixture[str]) -> None:
    session = {"format": "lfmri-viewer-session", "version": 1, "volume": str(volume), "slice": 0,
               "settings": {"acceleration": 4.0, "mask": "random", "drawn_mask": _drawn().to_dict()}}
    path = tmp_path / "session.json"
    path.write_text(json.dumps(session))
    code, _, _ = run(["recon", str(volume), "--mask-file", str(path), "--quiet", "--out", str(tmp_path / "o.h5")], capsys)
    assert code == 0
    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert f.attrs["mask"] == "drawn"
        assert f["mask"][()].astype(bool)[16:24].all()


@pytest.mark.parametrize("content, extra, message", [
    (None, ["--accel", "4"], "--mask-file gives the whole mask"),
    ("{not json", [], "is not JSON"),
    ('{"name": "drawn", "shape": [12], "lines": [1]}', [], "drawn on 12 phase-encode columns"),
])
def test_bad_mask_files_exit_2_with_one_line(volume: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
                                             content: str | None, extra: list[str], message: str) -> None:
    path = tmp_path / "mask.json"
    path.write_text(content if content is not None else json.dumps(_drawn().to_dict()))
    code, _, err = run(["recon", str(volume), "--mask-file", str(path), "--quiet", *extra], capsys)
    assert code == 2 and message in err and "Traceback" not in err
