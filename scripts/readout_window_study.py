"""The learned methods on a readout window against the whole readout, on fastMRI-sized k-space.

Run from the repository root::

    .venv/bin/python scripts/readout_window_study.py --volumes 20 --methods lfmri --out window.json

Synthetic fastMRI-sized knees (``fastmri-knee``: 640 x 368, 15 coils, readout oversampled twice,
subjects 3001, 3002, ..., PD and PDFS alternating, 16 slices each); of each subject the slices
with lesion boxes and slices 5 and 10. Each slice at 4x and 8x (fastMRI's random mask, centre
fractions 0.08 / 0.04, mask seed ``1000 x subject + slice``, the acquired columns only) through
:func:`~lfmri_core.inference.infer_slices` twice: on the readout window (the default,
``readout_margin=64``) and on the whole readout (``readout_margin=None``). Scored on the
320 x 320 recon crop against ``reconstruction_rss``: PSNR per slice and per subject, LF-PSNR per
lesion slice, with paired 95% BCa bootstrap intervals of window − whole (10,000 resamples,
seed 0), and the median time of each. Records go to ``--out`` (JSON) after every subject.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lfmri_core.inference import infer_slices
from lfmri_core.masks import make_mask
from lfmri_core.metrics import lf_psnr_slice, psnr
from lfmri_core.models.inputs import READOUT_MARGIN
from lfmri_core.study.statistics import paired_difference
from lfmri_core.synthetic import SyntheticConfig, generate_volume, get_geometry

ACCELERATIONS = ((4, 0.08), (8, 0.04))
FIRST_SUBJECT = 3001


def run(volumes: int, methods: list[str], out: Path) -> list[dict[str, object]]:
    left, right = get_geometry("fastmri-knee").padding
    records: list[dict[str, object]] = []
    for v in range(volumes):
        seed = FIRST_SUBJECT + v
        contrast = "PD" if v % 2 == 0 else "PDFS"
        vol = generate_volume(SyntheticConfig(geometry="fastmri-knee", contrast=contrast, num_slices=16, seed=seed))
        height, width = vol.encoded_shape
        maxval = float(vol.reconstruction_rss.max())
        lesion = sorted({b.slice for b in vol.boxes})
        for s in lesion + [x for x in (5, 10) if x not in lesion]:
            boxes = [b for b in vol.boxes if b.slice == s]
            target = vol.reconstruction_rss[s]
            for acc, centre in ACCELERATIONS:
                mask = make_mask("random", (height, width), acceleration=acc, center_fraction=centre,
                                 seed=1000 * seed + s).with_padding(left, right)
                for method in methods:
                    record: dict[str, object] = {"subject": seed, "contrast": contrast, "slice": s, "acceleration": acc,
                                                 "method": method, "lesion": bool(boxes)}
                    for key, margin in (("whole", None), ("window", READOUT_MARGIN)):
                        tick = time.perf_counter()
                        image = infer_slices(vol.kspace[s], mask, method, device="cpu", recon_shape=vol.recon_shape,
                                             classifier=None, readout_margin=margin).image[0]
                        record[f"seconds_{key}"] = time.perf_counter() - tick
                        record[f"psnr_{key}"] = float(psnr(target[None], image[None], maxval))
                        if boxes:
                            record[f"lf_psnr_{key}"] = float(lf_psnr_slice(target, image, boxes, maxval))
                    records.append(record)
        print(f"subject {seed} ({contrast}): lesion slices {lesion}", flush=True)
        out.write_text(json.dumps({"margin": READOUT_MARGIN, "records": records}))
    return records


def summarise(records: list[dict[str, object]]) -> list[str]:
    lines = []
    for method in dict.fromkeys(str(r["method"]) for r in records):
        for acc, _ in ACCELERATIONS:
            rows = [r for r in records if r["method"] == method and r["acceleration"] == acc]
            if not rows:
                continue
            subjects = sorted({int(r["subject"]) for r in rows})  # type: ignore[call-overload]
            per_subject = {key: np.array([np.mean([r[f"psnr_{key}"] for r in rows if r["subject"] == s]) for s in subjects])
                           for key in ("whole", "window")}
            lesions = [r for r in rows if r["lesion"]]
            parts = []
            for name, whole, window in (
                (f"PSNR per slice (n={len(rows)})", [r["psnr_whole"] for r in rows], [r["psnr_window"] for r in rows]),
                (f"PSNR per subject (n={len(subjects)})", per_subject["whole"], per_subject["window"]),
                (f"LF-PSNR per lesion slice (n={len(lesions)})", [r["lf_psnr_whole"] for r in lesions],
                 [r["lf_psnr_window"] for r in lesions]),
            ):
                a, b = np.asarray(window, dtype=float), np.asarray(whole, dtype=float)
                if len(a) < 2:
                    continue
                interval = paired_difference(a, b)
                parts.append(f"{name}: whole {b.mean():.3f}, window {a.mean():.3f}, window − whole "
                             f"{interval.mean:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}]")
            seconds = {key: statistics.median(float(r[f"seconds_{key}"]) for r in rows) for key in ("whole", "window")}  # type: ignore[arg-type]
            lines.append(f"{method} {acc}x: " + "; ".join(parts)
                         + f"; median time whole {seconds['whole']:.3f} s, window {seconds['window']:.3f} s "
                         f"({seconds['whole'] / seconds['window']:.2f}x)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--volumes", type=int, default=20, help="synthetic subjects (default 20)")
    parser.add_argument("--methods", nargs="+", default=["lfmri"], help="learned methods to run (default lfmri)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the per-slice records")
    parser.add_argument("--summarise", action="store_true", help="only print the summary of an existing --out file")
    args = parser.parse_args()
    if args.summarise:
        records = json.loads(args.out.read_text())["records"]
    else:
        records = run(args.volumes, args.methods, args.out)
    for line in summarise(records):
        print(line)


if __name__ == "__main__":
    main()
