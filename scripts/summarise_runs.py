"""Summarise a folder of training runs (``scripts/train_gpu.sh``) as Markdown.

Usage: python scripts/summarise_runs.py RUN_DIR

For each run in ``RUN_DIR/runs/*/`` with a weights file: steps, seconds, seconds per step, the
time budget it was fitted to, and its last validation; next to it the last validation stored
in the shipped weights of the same model (``lfmri_core/weights``), which used the same
validation subjects and subset when the run used ``--val-volumes 2`` (as ``train_gpu.sh`` does),
so the two compare directly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lfmri_core.models import read_weights_metadata
from lfmri_core.weights import shipped_stage_weights, shipped_weights

SHIPPED = {"net_c": "net_c", "lfmri": "lfmri", "unrolled-no-focus": "unrolled-no-focus", "unet": "unet"}


def _validation_cells(validation: dict | None) -> list[str]:
    if not validation:
        return ["n/a"] * 4
    if "accuracy" in validation:
        pointing = validation.get("pointing_game")
        return [f"accuracy {validation['accuracy']:.3f}", f"AUC {validation['auc']:.3f}" if validation.get("auc") is not None
                else "AUC n/a", f"pointing {pointing:.3f}" if pointing is not None else "pointing n/a", ""]
    cells = []
    for accel in ("4x", "8x"):
        m = validation.get(accel)
        if m is None:
            cells += ["n/a", "n/a"]
            continue
        cells.append(f"{m['psnr']:.2f}")
        cells.append(f"{m['lf_psnr']:.2f}" if m.get("lf_psnr") is not None else "n/a")
    return cells


def _shipped_validation(name: str) -> dict | None:
    path = None
    if name in SHIPPED:
        path = shipped_weights(SHIPPED[name])
    elif name.startswith("lfmri-t") and name[7:].isdigit():
        path = shipped_stage_weights().get(int(name[7:]))
    if path is None:
        return None
    value = read_weights_metadata(path).get("last_validation")
    return json.loads(value) if value else None


def main(run_dir: str) -> int:
    root = Path(run_dir)
    lines = [f"# Training runs in {root}", "",
             "| run | steps | seconds | s/step | budget s | validation (this run) | shipped weights' validation |",
             "|---|---|---|---|---|---|---|"]
    machine = ""
    for run in sorted((root / "runs").iterdir()):
        weights = sorted(run.glob("*.safetensors"))
        weights = [w for w in weights if w.name != "checkpoint.safetensors"]
        if not weights:
            continue
        meta = read_weights_metadata(weights[0])
        machine = meta.get("machine", machine)
        steps, seconds = int(meta.get("steps", 0)), float(meta.get("seconds", 0.0))
        budget = json.loads(meta["time_budget"])["seconds"] if meta.get("time_budget") else None
        validation = json.loads(meta.get("last_validation") or "null")
        mine = _validation_cells(validation)
        theirs = _validation_cells(_shipped_validation(run.name))
        if validation and "accuracy" not in validation:
            mine_text = f"PSNR/LF-PSNR 4x {mine[0]}/{mine[1]}, 8x {mine[2]}/{mine[3]} dB"
            theirs_text = f"PSNR/LF-PSNR 4x {theirs[0]}/{theirs[1]}, 8x {theirs[2]}/{theirs[3]} dB"
        else:
            mine_text, theirs_text = ", ".join(c for c in mine if c), ", ".join(c for c in theirs if c)
        lines.append(f"| {run.name} | {steps} | {seconds:.0f} | {seconds / max(steps, 1):.3f} | "
                     f"{'' if budget is None else f'{budget:g}'} | {mine_text} | {theirs_text} |")
    lines += ["", f"Machine: {machine}." if machine else "", ""]
    results = root / "evaluate" / "results.md"
    if results.is_file():
        lines.append(f"Evaluation: {results}.")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python scripts/summarise_runs.py RUN_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
