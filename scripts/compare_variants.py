"""Paired differences of every method/variant of an ``lfmri evaluate`` run against one of them.

Usage::

    python scripts/compare_variants.py RESULTS_JSON [--reference unrolled-no-focus] [--by-finding]

``lfmri evaluate`` writes the paired differences that its targets compare; this prints, from the
same ``results.json``, every other row against ``--reference``: LF-PSNR and LF-SSIM per lesion
slice, PSNR and SSIM per volume (``--by-finding``: also LF-PSNR per finding label, each inside its
own boxes), each with its 95% BCa bootstrap interval
(:func:`lfmri_core.study.statistics.paired_difference`, the evaluation's own statistics).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from lfmri_core.study.statistics import MIN_PAIRS, paired_difference


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, help="results.json of an lfmri evaluate run")
    p.add_argument("--reference", default="unrolled-no-focus", help="the method every other is compared with")
    p.add_argument("--by-finding", action="store_true",
                   help="also LF-PSNR per finding label, each finding inside its own boxes")
    args = p.parse_args(argv)
    r = json.loads(args.results.read_text())
    # a slice row names its method in "source" (the fully sampled rows have no acceleration)
    slices = [{**s, "method": s["source"]} for s in r["slices"] if s.get("acceleration") is not None]
    volumes = [v for v in r["volumes"] if v.get("stages") is None]
    methods = sorted({s["method"] for s in slices} - {args.reference})
    for acc in sorted({s["acceleration"] for s in slices}):
        print(f"--- {acc:g}x, against {args.reference}")
        for metric in ("lf_psnr", "lf_ssim"):
            ref = {(s["volume"], s["slice"]): s[metric] for s in slices
                   if s["method"] == args.reference and s["acceleration"] == acc and s[metric] is not None}
            for m in methods:
                mine = {(s["volume"], s["slice"]): s[metric] for s in slices
                        if s["method"] == m and s["acceleration"] == acc and s[metric] is not None}
                keys = sorted(set(ref) & set(mine))
                d = paired_difference(np.array([mine[k] for k in keys]), np.array([ref[k] for k in keys]))
                print(f"  {m:24s} {metric:8s} n={len(keys):3d} {d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]")
        for metric in ("psnr", "ssim"):
            ref = {v["volume"]: v["scores"][metric] for v in volumes if v["method"] == args.reference and v["acceleration"] == acc}
            for m in methods:
                mine = {v["volume"]: v["scores"][metric] for v in volumes if v["method"] == m and v["acceleration"] == acc}
                keys = sorted(set(ref) & set(mine))
                d = paired_difference(np.array([mine[k] for k in keys]), np.array([ref[k] for k in keys]))
                print(f"  {m:24s} {metric:8s} n={len(keys):3d} {d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]")
        if args.by_finding:
            by_finding(slices, args.reference, methods, acc)
    return 0


def by_finding(slices: list[dict], reference: str, methods: list[str], acc: float) -> None:
    """LF-PSNR of each finding label (its own boxes, per slice) against ``reference``."""
    def values(method: str, label: str) -> dict[tuple[str, int], float]:
        return {(s["volume"], s["slice"]): f["lf_psnr"] for s in slices if s["method"] == method
                and s["acceleration"] == acc for f in s.get("findings", ()) if f["label"] == label
                and f["lf_psnr"] is not None}

    labels = sorted({f["label"] for s in slices for f in s.get("findings", ())})
    for label in labels:
        ref = values(reference, label)
        print(f"  {label} ({len(ref)} slices, {reference} {np.mean(list(ref.values())):.2f} dB)")
        for m in methods:
            mine = values(m, label)
            keys = sorted(set(ref) & set(mine))
            d = paired_difference(np.array([mine[k] for k in keys]), np.array([ref[k] for k in keys]))
            flag = "" if d.reliable else f" (n < {MIN_PAIRS})"
            print(f"    {m:22s} lf_psnr  n={len(keys):3d} {d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]{flag}")


if __name__ == "__main__":
    sys.exit(main())
