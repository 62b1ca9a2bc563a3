"""Memory of a long viewing session: RSS over many slice and acceleration changes.

Run from the repository root (Linux: it reads ``/proc/self/status``)::

    .venv/bin/python benchmarks/bench_memory.py [--changes 2000] [--warmup 300] [--jobs 1]
    .venv/bin/python benchmarks/bench_memory.py --methods zero-filled+lfmri --changes 400 --warmup 150

What runs: the session controller (:class:`~lfmri_viewer.controller.SessionController`, jobs
run in place, auto-update on) on the embedded sample PD volume (320 x 320, 8 coils, 16 slices)
with the shipped Net_c for the CAMs, as the viewers use it. ``--changes`` changes alternate a
move to a random slice and a new acceleration (2 to 11.75 in steps of 0.25), drawn from a
seeded generator, so most changes reconstruct (640 settings per method) and some come back
to a cached one. Each change is a :meth:`set_slice` or :meth:`update` that reconstructs the
new slice with ``--methods`` (``a+b``: both), computes the metrics and reads the readouts.

Measured: the resident set size (RSS) after ``--warmup`` changes (the cache has reached its
budget by then) and the largest RSS over the remaining changes; their difference is the
growth, which the target keeps under 150 MB. Every variant runs in its own process (the
allocator's state is per process), on the same changes:

- ``bounded``: the controller as it is (results cached within a 256 MiB byte budget, float32
  SSIM maps, cached arrays in their own memory maps: :mod:`lfmri_viewer.cache`);
- ``old``: the peer, the behaviour before issue 15, emulated here: at most 256 results, float64
  SSIM maps, arrays on the heap;
- ``on-heap``: the byte budget and float32 maps, but the cached arrays left on the heap (the
  allocation fix alone switched off);
- ``mmap-threshold``: as ``on-heap``, with ``mallopt(M_MMAP_THRESHOLD, 128 KiB)`` at start, what
  ``MALLOC_MMAP_THRESHOLD_=131072`` does (every large allocation of the process mapped);
- ``no-cache``: budget 0 (only the results on screen kept): what the process grows by anyway.

Ratios compare variants of the same run; time per change is printed too, since an allocator
setting trades memory for page faults. ``--jobs`` runs variants side by side (RSS is per
process; the times then share the CPUs). The load average before and after is printed.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VARIANTS = ("bounded", "old", "on-heap", "mmap-threshold", "no-cache")
DEFAULT_VARIANTS = ("bounded", "old", "on-heap", "no-cache")
TARGET_MB = 150.0
ACCELERATIONS = [2.0 + 0.25 * i for i in range(40)]
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


def rss_mb() -> float:
    """Resident set size of this process, MB (10^6 bytes)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError("no VmRSS in /proc/self/status")


def _emulate_old() -> int:
    """Patch in the behaviour before issue 15: a count-capped cache, float64 SSIM maps, heap arrays."""
    import lfmri_viewer.cache as cache
    import lfmri_core.pipeline.run as pipeline_run
    import lfmri_viewer.controller as controller
    from lfmri_core.metrics import SliceScores, mean_ssim_map, nmse, psnr

    cache.OFF_HEAP_BYTES = 2**62  # every array stays on the heap

    class CountCache(cache.ResultCache):
        def trim(self, keep: object = ()) -> list[object]:  # the old rule: drop beyond 256 results
            dropped = []
            for key in list(self._entries):
                if len(self._entries) <= 256:
                    break
                self.pop(key)
                dropped.append(key)
            return dropped

    def score_slice(reference, image, maxval, boxes=()):  # type: ignore[no-untyped-def]
        ssim = mean_ssim_map(reference, image, maxval)  # the float64 map kept, as before
        return SliceScores(psnr(reference[None], image[None], maxval), ssim.mean_ssim, nmse(reference[None], image[None]),
                           ssim_map=ssim.ssim_map)

    controller.ResultCache = CountCache  # type: ignore[misc]
    pipeline_run.score_slice = score_slice
    return 2**62


def child(variant: str, changes: int, warmup: int, methods: tuple[str, ...], seed: int,
          trace_file: Path | None = None) -> dict[str, object]:
    """Run one variant in this process; returns its measurements (and appends ``change RSS``
    lines to ``trace_file`` as it goes, so a run stopped early leaves what it measured)."""
    import numpy as np

    budget: int | None = None
    if variant == "old":
        budget = _emulate_old()
    elif variant in ("on-heap", "mmap-threshold"):
        import lfmri_viewer.cache as cache

        cache.OFF_HEAP_BYTES = 2**62
        if variant == "mmap-threshold":
            if ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 131072) != 1:
                raise RuntimeError("mallopt(M_MMAP_THRESHOLD) failed (not glibc?)")
    elif variant == "no-cache":
        budget = 0
    from lfmri_viewer.controller import SessionController
    from lfmri_viewer.settings import ReconSettings

    session = SessionController(ReconSettings(methods=methods), auto_update=False, cache_bytes=budget)
    session.open_sample("PD")
    session.set_auto_update(True)  # reconstructs the first slice
    rng = np.random.default_rng(seed)
    trace: list[tuple[int, float]] = [(0, rss_mb())]
    at_warmup: dict[str, float] = {}
    computed = [0]
    session.events.result_added.connect(lambda _: computed.__setitem__(0, computed[0] + 1))
    start = time.perf_counter()
    after_warmup = start
    for n in range(1, changes + 1):
        if n % 2:
            index = int(rng.integers(session.num_slices - 1))
            session.set_slice(index if index < session.slice_index else index + 1)  # always a move
        else:
            current = session.settings.acceleration
            session.update(acceleration=float(rng.choice([a for a in ACCELERATIONS if a != current])))
        readouts = session.readouts()
        assert set(readouts) == set(methods), f"change {n}: readouts of {sorted(readouts)}"
        if n == warmup:
            after_warmup = time.perf_counter()
            at_warmup = {"rss_mb": rss_mb(), "cache_mb": session.cache.nbytes / 1e6, "cached": len(session.cache)}
        if n % 25 == 0 or n == changes:
            trace.append((n, rss_mb()))
            if trace_file is not None:
                with trace_file.open("a", encoding="ascii") as out:
                    out.write(f"{n} {trace[-1][1]:.1f} {session.cache.nbytes / 1e6:.1f} {time.perf_counter() - start:.1f}\n")
    end = time.perf_counter()
    after = [mb for n, mb in trace if n >= warmup]
    return {
        "variant": variant, "changes": changes, "warmup": warmup, "computed": computed[0],
        "rss_start_mb": trace[0][1], "rss_warmup_mb": at_warmup["rss_mb"], "rss_max_mb": max(after),
        "rss_end_mb": trace[-1][1], "growth_mb": max(after) - at_warmup["rss_mb"],
        "cache_warmup_mb": at_warmup["cache_mb"], "cached_warmup": at_warmup["cached"],
        "cache_end_mb": session.cache.nbytes / 1e6, "cached_end": len(session.cache),
        "ms_per_change": 1e3 * (end - start) / changes, "ms_per_change_after_warmup": 1e3 * (end - after_warmup) / (changes - warmup),
        "trace": trace,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--methods", default="zero-filled", help="methods shown, 'a+b' for two (default zero-filled)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(DEFAULT_VARIANTS))
    parser.add_argument("--jobs", type=int, default=1, help="variants run side by side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trace-dir", type=Path, help="write each variant's RSS every 25 changes to <dir>/<variant>.txt")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    methods = tuple(args.methods.split("+"))
    if not 0 < args.warmup < args.changes:
        parser.error("need 0 < --warmup < --changes")
    if args.child:
        trace_file = None
        if args.trace_dir is not None:
            args.trace_dir.mkdir(parents=True, exist_ok=True)
            trace_file = args.trace_dir / f"{args.child}.txt"
            trace_file.write_text("# change rss_mb cache_mb seconds\n", encoding="ascii")
        print(json.dumps(child(args.child, args.changes, args.warmup, methods, args.seed, trace_file)))
        return 0
    if not Path("/proc/self/status").exists():
        print("bench_memory: needs Linux (/proc/self/status)", file=sys.stderr)
        return 2

    import torch

    from lfmri_core.machine import describe_machine, load_average
    from lfmri_sample_data import ensure_sample_data

    ensure_sample_data()  # generated once, before the variants start
    print(f"machine: {describe_machine(torch.device('cpu'), threads=True)}")
    print(f"{args.changes} changes of slice / acceleration, methods {' + '.join(methods)}, sample PD volume; "
          f"growth = largest RSS after change {args.warmup} minus RSS at change {args.warmup}; "
          f"{args.jobs} variant(s) at a time; {load_average()}\n")

    def run(variant: str) -> dict[str, object]:
        command = [sys.executable, __file__, "--child", variant, "--changes", str(args.changes), "--warmup",
                   str(args.warmup), "--methods", args.methods, "--seed", str(args.seed)]
        if args.trace_dir is not None:
            command += ["--trace-dir", str(args.trace_dir)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=os.environ.copy())
        if done.returncode != 0:
            raise SystemExit(f"variant {variant} failed:\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        rows = list(pool.map(run, args.variants))
    peer = next((r for r in rows if r["variant"] == "old"), None)
    print(f"{'variant':<15} {'start':>7} {'warm-up':>8} {'max':>7} {'end':>7} {'growth':>8} {'cache':>14} "
          f"{'ms/change':>10} {'growth / old':>13}")
    for r in rows:
        ratio = f"{r['growth_mb'] / peer['growth_mb']:.3f}" if peer and peer["growth_mb"] > 0 else "-"
        cache = f"{r['cache_end_mb']:.0f} MB/{r['cached_end']}"
        print(f"{r['variant']:<15} {r['rss_start_mb']:>7.0f} {r['rss_warmup_mb']:>8.0f} {r['rss_max_mb']:>7.0f} "
              f"{r['rss_end_mb']:>7.0f} {r['growth_mb']:>8.1f} {cache:>14} {r['ms_per_change']:>10.1f} {ratio:>13}")
    print("(RSS in MB = 10^6 bytes; cache: the cached results' arrays / their number at the end)")
    for r in rows:
        print(f"  {r['variant']}: {r['computed']} results computed in {r['changes']} changes; RSS every 250 changes: "
              + ", ".join(f"{mb:.0f}" for n, mb in r["trace"] if n % 250 == 0))
    print(f"\n{load_average()}")
    bounded = next((r for r in rows if r["variant"] == "bounded"), None)
    if bounded is not None:
        met = bounded["growth_mb"] < TARGET_MB
        print(f"target {'met' if met else 'NOT met'}: growth after warm-up {bounded['growth_mb']:.1f} MB "
              f"(target < {TARGET_MB:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
