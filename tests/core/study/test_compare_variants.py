"""``scripts/compare_variants.py``: pooled rows (two seeds of one arm) are the means of their
members, and the comparison against a pool runs on them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from lfmri_core.study.statistics import paired_difference

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "compare_variants.py"


def _module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("compare_variants", SCRIPT)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _results(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """An evaluation's results.json: 3 rows, 12 lesion slices of 4 volumes, one acceleration."""
    rng = np.random.default_rng(0)
    base = rng.normal(25, 1, 12)
    lf = {m: base + shift + rng.normal(0, 0.02, 12) * bool(shift) for m, shift in (("base", 0.0), ("a-s4", 0.3), ("a-s5", 0.1))}
    slices = [{"source": "fully sampled", "acceleration": None, "volume": "v0", "slice": 0}]
    volumes = []
    for m, values in lf.items():
        for i, v in enumerate(values):
            slices.append({"source": m, "acceleration": 8.0, "volume": f"v{i // 3}", "slice": i % 3,
                           "lf_psnr": float(v), "lf_ssim": 0.9, "findings": [{"label": "defect", "lf_psnr": float(v) - 1}]})
        for k in range(4):
            volumes.append({"method": m, "volume": f"v{k}", "acceleration": 8.0, "stages": None,
                            "scores": {"psnr": float(values[3 * k]), "ssim": 0.8}})
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"slices": slices, "volumes": volumes}))
    return path, lf


def test_a_pool_is_the_mean_of_its_members_and_is_compared_like_any_row(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    module = _module()
    path, lf = _results(tmp_path)
    assert module.main([str(path), "--reference", "base", "--pool", "a=a-s4,a-s5", "--by-finding"]) == 0
    out = capsys.readouterr().out
    pooled = (lf["a-s4"] + lf["a-s5"]) / 2
    expected = paired_difference(pooled, lf["base"])
    line = next(row for row in out.splitlines() if row.split()[:2] == ["a", "lf_psnr"])
    assert f"{expected.mean:+.3f} [{expected.low:+.3f}, {expected.high:+.3f}]" in line
    assert abs(expected.mean - 0.2) < 0.05  # the mean of the two members' shifts (+0.3, +0.1)
    # findings and volumes are pooled too
    rows = module.pooled_slices([{**s, "method": s["source"]} for s in json.loads(path.read_text())["slices"]
                                 if s["acceleration"] is not None], "a", ["a-s4", "a-s5"])
    assert len(rows) == 12
    assert rows[0]["findings"][0]["lf_psnr"] == pytest.approx(pooled[0] - 1)
    volumes = module.pooled_volumes(json.loads(path.read_text())["volumes"], "a", ["a-s4", "a-s5"])
    assert [v["scores"]["psnr"] for v in volumes] == pytest.approx(list(pooled[::3]))
    # a pool may be the reference
    assert module.main([str(path), "--reference", "a", "--pool", "a=a-s4,a-s5"]) == 0
    assert "base" in capsys.readouterr().out


@pytest.mark.parametrize("pool, message", [("a=a-s4", "at least two rows"), ("base=a-s4,a-s5", "a new NAME"),
                                           ("a=a-s4,missing", "no rows named missing")])
def test_bad_pools_are_refused_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, pool: str, message: str) -> None:
    path, _ = _results(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        _module().main([str(path), "--reference", "base", "--pool", pool])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
