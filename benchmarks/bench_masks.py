"""2-D variable-density masks: ours against ``bart poisson`` at the same size, timed.

Run from the repository root::

    .venv/bin/python benchmarks/bench_masks.py [--repeats 7]

Masks (the unit tests check what they contain, not how fast they are built): ``poisson``
(maximal Poisson-disc) and ``gaussian`` at 320 x 320, 8x, centre fraction 0.08, a fresh seed
per repeat (``bart poisson`` takes about 30 s at 640 x 368, so the larger fastMRI size is left
out). The peer, measured in the same run and interleaved with ours: ``bart poisson -Y H -Z W
-y a -z a -C c -v -e -s seed`` with ``a = sqrt(acceleration)`` per axis (variable density,
elliptical, the same calibration square), its output written to ``/dev/shm`` (tmpfs); the
``bart ones`` line times a process that writes an array of that size: an upper bound of the
fixed cost in BART's figure.

Timing: median (and minimum) wall time of ``--repeats`` runs after one warm-up. Ours:
:func:`~lfmri_core.masks.make_mask`, from the parameters to the boolean pattern (numpy, CPU).
The ratios ours / BART compare two programs on the same machine at the same moment, so they
carry over between machines where absolute times do not. The machine may be shared: the load
average before and after is printed.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import timed  # noqa: E402

from lfmri_core.machine import describe_machine, load_average  # noqa: E402
from lfmri_core.masks import make_mask  # noqa: E402
from lfmri_core.recon.bart_reference import bart_version  # noqa: E402

CASES = [((320, 320), 8.0)]
CENTER_FRACTION = 0.08
NAMES = ["poisson", "gaussian"]


def run_process(args: list[str], folder: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - start


def bench(shape: tuple[int, int], acceleration: float, repeats: int, folder: Path) -> list[str]:
    height, width = shape
    per_axis = f"{math.sqrt(acceleration):.4f}"
    calibration = str(round(CENTER_FRACTION * min(shape)))

    def bart_poisson(seed: int) -> list[str]:
        return ["bart", "poisson", "-Y", str(height), "-Z", str(width), "-y", per_axis, "-z", per_axis,
                "-C", calibration, "-v", "-e", "-s", str(seed), "pattern"]

    ones = ["bart", "ones", "3", "1", str(height), str(width), "ones"]
    cpu = torch.device("cpu")
    for name in NAMES:  # warm-up
        make_mask(name, shape, acceleration=acceleration, center_fraction=CENTER_FRACTION, seed=0)
    run_process(bart_poisson(0), folder)
    run_process(ones, folder)
    times: dict[str, list[float]] = {name: [] for name in [*NAMES, "bart", "ones"]}
    for seed in range(1, repeats + 1):
        for name in NAMES:
            seconds, _ = timed(lambda name=name: make_mask(name, shape, acceleration=acceleration,
                                                           center_fraction=CENTER_FRACTION, seed=seed), cpu)
            times[name].append(seconds)
        times["bart"].append(run_process(bart_poisson(seed), folder))
        times["ones"].append(run_process(ones, folder))
    bart_median = statistics.median(times["bart"])
    lines = [f"{height} x {width}, {acceleration:g}x:"]
    for name in NAMES:
        median = statistics.median(times[name])
        lines.append(f"  ours {name:<9} median {median:7.4f} s  min {min(times[name]):7.4f} s  "
                     f"ratio ours / BART {median / bart_median:.3f}  (min/min {min(times[name]) / min(times['bart']):.3f})")
    lines.append(f"  bart poisson -v -e   median {bart_median:7.4f} s  min {min(times['bart']):7.4f} s")
    lines.append(f"  bart ones (fixed cost bound)  median {statistics.median(times['ones']):7.4f} s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"CPU {describe_machine('cpu', threads=True)}, BART {bart_version()}")
    print(load_average())
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        for shape, acceleration in CASES:
            for line in bench(shape, acceleration, args.repeats, Path(tmp)):
                print(line, flush=True)
    print(load_average())


if __name__ == "__main__":
    main()
