"""Paired differences of every method/variant of an ``lfmri evaluate`` run against one of them.

Usage::

    python scripts/compare_variants.py RESULTS_JSON [--reference unrolled-no-focus] [--by-finding]
        [--pool NAME=VARIANT,VARIANT ...]

``lfmri evaluate`` writes the paired differences that its targets compare; this prints, from the
same ``results.json``, every other row against ``--reference``: LF-PSNR and LF-SSIM per lesion
slice, PSNR and SSIM per volume (``--by-finding``: also LF-PSNR per finding label, each inside its
own boxes), each with its 95% BCa bootstrap interval
(:func:`lfmri_core.study.statistics.paired_difference`, the evaluation's own statistics).

``--pool NAME=A,B`` adds a row ``NAME`` whose every score (per slice, per finding, per volume) is
the mean of the rows ``A`` and ``B``, e.g. two training seeds of one arm: comparing two pooled
arms then averages out part of the seed-to-seed spread, which a single seed's interval does not
contain (the interval still resamples slices only, so set it beside the spread between the
seeds themselves, ``A`` against ``B``). ``--reference`` may name a pool.
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
    p.add_argument("--pool", nargs="+", default=[], metavar="NAME=A,B",
                   help="add a row NAME whose scores are the means of the rows A, B, ... (e.g. two seeds of one arm)")
    args = p.parse_args(argv)
    r = json.loads(args.results.read_text())
    # a slice row names its method in "source" (the fully sampled rows have no acceleration)
    slices = [{**s, "method": s["source"]} for s in r["slices"] if s.get("acceleration") is not None]
    volumes = [v for v in r["volumes"] if v.get("stages") is None]
    known = {s["method"] for s in slices}
    for item in args.pool:
        name, sep, parts = item.partition("=")
        members = [m for m in parts.split(",") if m]
        if not sep or not name or len(members) < 2 or name in known:
            p.error(f"--pool {item!r}: expected NAME=A,B with a new NAME and at least two rows")
        missing = [m for m in members if m not in known]
        if missing:
            p.error(f"--pool {item!r}: no rows named {', '.join(missing)} (rows: {', '.join(sorted(known))})")
        slices += pooled_slices(slices, name, members)
        volumes += pooled_volumes(volumes, name, members)
        known.add(name)
    if args.reference not in known:
        p.error(f"--reference {args.reference!r} is not a row of this run (rows: {', '.join(sorted(known))})")
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


def _mean(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def pooled_slices(slices: list[dict], name: str, members: list[str]) -> list[dict]:
    """Slice rows of ``name``: each score the mean of the ``members``' rows of that slice and
    acceleration (None where one of them has none; slices that a member lacks are left out)."""
    rows: dict[tuple, list[dict]] = {}
    for s in slices:
        if s["method"] in members:
            rows.setdefault((s["volume"], s["slice"], s["acceleration"]), []).append(s)
    pooled = []
    for (volume, index, acc), group in rows.items():
        if len(group) != len(members):
            continue
        labels = [sorted(f["label"] for f in g.get("findings", ())) for g in group]
        findings = []
        if all(lab == labels[0] for lab in labels):
            for label in labels[0]:
                findings.append({"label": label, "lf_psnr": _mean(
                    [next(f["lf_psnr"] for f in g["findings"] if f["label"] == label) for g in group])})
        pooled.append({"method": name, "source": name, "volume": volume, "slice": index, "acceleration": acc,
                       "lf_psnr": _mean([g["lf_psnr"] for g in group]), "lf_ssim": _mean([g["lf_ssim"] for g in group]),
                       "findings": findings})
    return pooled


def pooled_volumes(volumes: list[dict], name: str, members: list[str]) -> list[dict]:
    """Volume rows of ``name``: PSNR and SSIM the means of the ``members``' rows."""
    rows: dict[tuple, list[dict]] = {}
    for v in volumes:
        if v["method"] in members:
            rows.setdefault((v["volume"], v["acceleration"]), []).append(v)
    return [{"method": name, "volume": volume, "acceleration": acc,
             "scores": {m: float(np.mean([g["scores"][m] for g in group])) for m in ("psnr", "ssim")}}
            for (volume, acc), group in rows.items() if len(group) == len(members)]


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
