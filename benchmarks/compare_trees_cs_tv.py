"""cs-tv of several checkouts of the project, interleaved in one process (load-robust A/B).

Usage (from the repository root, each TREE a checkout's root)::

    OMP_NUM_THREADS=1 python benchmarks/compare_trees_cs_tv.py --rounds 30 old=/path/a new=/path/b

The bench's ``compact`` input (320 x 320 x 8, from this checkout's ``bench_recon.make_problem``)
goes to ``CsTv(CsTvParams(lam=0.01, iterations=1000, max_total_cg_iterations=100))`` of each
tree; the trees are imported one after the other (``sys.modules`` swapped) and then timed in a
rotating order per round, so a change of the machine's load hits all of them alike. Prints the
largest difference of each image from the first tree's, the medians and IQRs of the main
thread's CPU time and of the wall time, and the per-round ratios to the first tree.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def load_recon(tree: str) -> types.ModuleType:
    for name in [n for n in sys.modules if n == "lfmri_core" or n.startswith("lfmri_core.")]:
        del sys.modules[name]
    sys.path.insert(0, tree)
    try:
        module = importlib.import_module("lfmri_core.recon")
    finally:
        sys.path.remove(tree)
    if not str(Path(module.__file__).resolve()).startswith(str(Path(tree).resolve())):
        raise SystemExit(f"{tree}: imported {module.__file__} instead")
    return module


def quartiles(values: list[float]) -> str:
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return f"{q2:.3f} (IQR {q1:.3f}-{q3:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("trees", nargs="+", help="NAME=PATH of a checkout's root (the first is the reference)")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.trees)
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    import bench_recon

    problem = bench_recon.make_problem("compact")
    sys.path.remove(str(HERE.parent))
    kspace = torch.from_numpy(problem.kspace)[None]
    maps = torch.from_numpy(problem.maps)[None]
    mask = torch.from_numpy(problem.pattern)
    methods = {}
    for name, tree in trees.items():
        recon = load_recon(tree)
        methods[name] = recon.CsTv(recon.CsTvParams(lam=0.01, iterations=1000, max_total_cg_iterations=100))
    names = list(methods)
    images = {name: method(kspace, mask, sensitivities=maps) for name, method in methods.items()}  # also the warm-up
    for name in names[1:]:
        print(f"max |{name} - {names[0]}| = {float((images[name] - images[names[0]]).abs().max()):.3g}")
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    print(f"torch threads {torch.get_num_threads()}, load {os.getloadavg()} at the start, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order[::-1] if r % 2 else order:
            w0, c0 = time.perf_counter(), time.thread_time()
            methods[name](kspace, mask, sensitivities=maps)
            cpu[name].append(time.thread_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    print(f"load {os.getloadavg()} at the end")
    for name in names:
        print(f"{name:<10} CPU s {quartiles(cpu[name])}  wall s {quartiles(wall[name])}")
    for name in names[1:]:
        for label, times in (("CPU", cpu), ("wall", wall)):
            ratios = [a / b for a, b in zip(times[name], times[names[0]])]
            print(f"{label} {name}/{names[0]} per round: {quartiles(ratios)}")


if __name__ == "__main__":
    main()
