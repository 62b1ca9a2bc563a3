"""Classical reconstructions: ours against ``bart pics`` on the same problems, timed.

Run from the repository root::

    .venv/bin/python benchmarks/bench_recon.py [--repeats 5] [--device auto] [--sizes compact fastmri-knee]

Inputs (deterministic): one slice of the synthetic knee, seed 0, at 320 x 320 with 8 coils
(``compact``) and 640 x 368 with 15 coils (``fastmri-knee``); its true coil maps normalised to
``sum_c |S_c|^2 = 1``; fastMRI's ``random`` line mask, 4x, centre fraction 0.08, seed 0, with
the unacquired phase-encode columns removed. BART and ours get the same k-space, mask (BART:
``-p``), maps, data scale (ours, equal to BART's estimate, passed as ``-w``; ``-S`` returns
data units), regularisation and iterations:

==============  ==========================================================================
cg-sense        lam 0.01, 30 CG iterations      ``bart pics -S -w s -l2 -r 0.01 -i 30``
cs-wavelet      lam 0.005, 100 FISTA iterations ``bart pics -S -w s -l1 -r 0.005 -i 100
                (dau2, BART's cycle spinning)   -s 0.95 --wavelet dau2``
cs-tv           lam 0.01, ADMM rho 0.5, 10      ``bart pics -S -w s -R T:3:0:0.01 -i 100
                inner CG, 100 CG iterations     -u 0.5 -C 10``
==============  ==========================================================================

Timing: median (and minimum) wall time of ``--repeats`` runs, ours and BART's interleaved.
Ours: from the k-space, mask and maps in memory (on the device) to the image: input checks,
the scale estimate, ``A^H y``, the iterations and the final shift and rescale (on a GPU,
synchronised). BART: the ``bart pics`` process on inputs already written to ``/dev/shm``:
process start, mapping the inputs, its set-up, the iterations and writing the output (its
scale estimate is skipped by ``-w``); the ``-i 1`` line shows how much of that is fixed cost.
PSNR: against the fully sampled reference ``|sum_c conj(S_c) ifft2c(y_c)|`` (full FOV).
The machine may be shared: the load average before and after is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import timed  # noqa: E402

from lfmri_core.device import resolve_device  # noqa: E402
from lfmri_core.masks import make_mask  # noqa: E402
from lfmri_core.machine import describe_machine, load_average  # noqa: E402
from lfmri_core.metrics import psnr  # noqa: E402
from lfmri_core.physics import ifft2c, sensitivity_combine  # noqa: E402
from lfmri_core.recon import (  # noqa: E402
    CgSense,
    CgSenseParams,
    CsTv,
    CsTvParams,
    CsWavelet,
    CsWaveletParams,
    ZeroFilledSense,
    bart_scaling,
)
from lfmri_core.recon.bart_reference import PicsRunner, bart_version, pics_arguments  # noqa: E402
from lfmri_core.synthetic import SyntheticConfig, generate_volume, get_geometry  # noqa: E402


@dataclass(frozen=True)
class Problem:
    name: str
    kspace: np.ndarray  # (coils, H, W), masked
    maps: np.ndarray  # (coils, H, W)
    pattern: np.ndarray  # (H, W) bool
    reference: np.ndarray  # (H, W) magnitude


def make_problem(geometry: str) -> Problem:
    volume = generate_volume(SyntheticConfig(geometry=geometry, num_slices=1, seed=0))
    full = volume.kspace[0]
    maps = volume.sensitivities[0]
    maps = (maps / np.maximum(np.sqrt(np.sum(np.abs(maps) ** 2, axis=0)), 1e-12)).astype(np.complex64)
    mask = make_mask("random", full.shape, acceleration=4, center_fraction=0.08, seed=0)
    left, right = get_geometry(geometry).padding
    if (left, right) != (0, full.shape[-1]):
        mask = mask.with_padding(left, right)
    pattern = np.array(np.broadcast_to(mask.pattern, full.shape[-2:]), dtype=bool)
    reference = sensitivity_combine(ifft2c(torch.from_numpy(full)), torch.from_numpy(maps)).abs().numpy()
    coils, height, width = full.shape
    return Problem(f"{height} x {width} x {coils} coils", np.ascontiguousarray(mask.apply(full)), maps, pattern, reference)


def machine(device: torch.device) -> str:
    return f"CPU {describe_machine(device, threads=True)}, BART {bart_version()}"


def bench(problem: Problem, device: torch.device, repeats: int) -> list[str]:
    kspace = torch.from_numpy(problem.kspace)[None].to(device)
    maps = torch.from_numpy(problem.maps)[None].to(device)
    mask = torch.from_numpy(problem.pattern).to(device)
    scale = float(bart_scaling(kspace)[0])
    reference = problem.reference[None]
    zero_filled = ZeroFilledSense()(kspace, mask, sensitivities=maps)[0].abs().cpu().numpy()
    zero_filled_db = psnr(reference, zero_filled[None])
    lines = [f"{problem.name}: data scale {scale:.6g} (ours = BART's estimate), zero-filled-sense PSNR {zero_filled_db:.2f} dB"]
    cases = [
        ("cg-sense", CgSense(CgSenseParams(lam=0.01, iterations=30)), CgSenseParams(lam=0.01, iterations=30, scaling=scale)),
        ("cs-wavelet", CsWavelet(CsWaveletParams(lam=0.005, iterations=100)), CsWaveletParams(lam=0.005, iterations=100, scaling=scale)),
        (
            "cs-tv",
            CsTv(CsTvParams(lam=0.01, iterations=1000, max_total_cg_iterations=100)),
            CsTvParams(lam=0.01, iterations=1000, max_total_cg_iterations=100, scaling=scale),
        ),
    ]
    lines.append(
        f"  {'method':<11} {'ours [s]':>16} {'BART [s]':>16} {'ours/BART':>9} {'PSNR ours':>10} {'PSNR BART':>10} "
        f"{'rel. diff':>9}  BART options"
    )
    with PicsRunner(problem.kspace, problem.maps, problem.pattern) as bart:
        fixed = [bart.run(["-S", "-w", repr(scale), "-l2", "-r", "0.01", "-i", "1"]).seconds for _ in range(max(3, repeats))]
        for name, method, params in cases:
            arguments = pics_arguments(params, scale)
            ours_times, bart_times = [], []
            ours_image = bart_image = None
            method(kspace, mask, sensitivities=maps)  # warm-up (allocations, FFT plans)
            for _ in range(repeats):
                seconds, image = timed(lambda: method(kspace, mask, sensitivities=maps), device)
                ours_times.append(seconds)
                ours_image = image[0].cpu().numpy()
                result = bart.run(arguments)
                bart_times.append(result.seconds)
                bart_image = result.image
            assert ours_image is not None and bart_image is not None
            ours_med, bart_med = statistics.median(ours_times), statistics.median(bart_times)
            difference = float(np.linalg.norm(ours_image - bart_image) / np.linalg.norm(bart_image))
            lines.append(
                f"  {name:<11} {ours_med:7.3f} (min {min(ours_times):5.3f}) {bart_med:7.3f} (min {min(bart_times):5.3f}) "
                f"{ours_med / bart_med:9.2f} {psnr(reference, np.abs(ours_image)[None]):10.2f} "
                f"{psnr(reference, np.abs(bart_image)[None]):10.2f} {difference:9.1e}  {' '.join(arguments)}"
            )
    lines.append(f"  BART fixed cost (bart pics -l2 -i 1, same files): median {statistics.median(fixed):.3f} s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per method (median reported)")
    parser.add_argument("--device", default="cpu", help="device for ours: cpu, cuda or auto (BART runs on the CPU)")
    parser.add_argument("--sizes", nargs="+", default=["compact", "fastmri-knee"], help="synthetic geometries")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(machine(device))
    print(load_average())
    for geometry in args.sizes:
        for line in bench(make_problem(geometry), device, args.repeats):
            print(line, flush=True)
    print(load_average())


if __name__ == "__main__":
    main()
