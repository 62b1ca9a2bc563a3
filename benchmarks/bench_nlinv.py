"""NLINV coil maps: ours against ``bart nlinv`` on the same undersampled k-space, timed.

Run from the repository root::

    .venv/bin/python benchmarks/bench_nlinv.py [--repeats 3] [--device cpu] [--threads N]

Inputs (deterministic, one slice of the synthetic knee, seed 1, ``compact`` geometry,
320 x 320): 8 and 15 coils, undersampled 8x with fastMRI's equispaced mask and 6 centre lines
(centre fraction 0.02): the setting where ESPIRiT's maps fail their checks and NLINV's replace
them. Both sides run BART's defaults (8 Gauss-Newton steps, alpha 1 halved each step, Sobolev
weights a = 220, b = 32, at most 100 conjugate-gradient iterations per step with BART's
stopping rule): ``bart nlinv kspace image maps``.

Timing: median (and minimum) wall time of ``--repeats`` runs after one warm-up, interleaved.
Ours: ``estimate_sensitivities(kspace, "nlinv", mask=mask)`` from the tensor in memory to the
normalised maps. BART: the ``bart nlinv`` process on an input already written to ``/dev/shm``
(process start, reading, the iterations, writing the image and the maps). ``--threads`` sets
torch's threads and BART's ``OMP_NUM_THREADS`` alike (default: torch's current count).
Agreement: the least per-pixel coil correlation ``|<s_ours, s_bart>| / (|s_ours| |s_bart|)``
over the object (the fully sampled RSS above 10 % of its maximum). The line of ESPIRiT's time
on the same input (which it does not pass) puts the figure in context. The machine may be
shared: the load average before and after is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import timed  # noqa: E402

from lfmri_core.coils import estimate_sensitivities  # noqa: E402
from lfmri_core.device import resolve_device  # noqa: E402
from lfmri_core.io.bart_cfl import read_cfl, write_cfl  # noqa: E402
from lfmri_core.machine import describe_machine, load_average  # noqa: E402
from lfmri_core.masks import make_mask  # noqa: E402
from lfmri_core.physics import ifft2c, rss  # noqa: E402
from lfmri_core.recon.bart_reference import bart_version  # noqa: E402
from lfmri_core.synthetic import SyntheticConfig, generate_volume  # noqa: E402


def run_bart(folder: Path, threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(["bart", "nlinv", "kspace", "image", "maps"], cwd=folder, env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bart nlinv failed: {done.stderr.strip()}")


def bench(coils: int, device: torch.device, repeats: int, threads: int, folder: Path) -> str:
    full = generate_volume(SyntheticConfig(num_slices=1, num_coils=coils, seed=1)).kspace[0]
    mask = make_mask("equispaced", full.shape, acceleration=8, center_fraction=0.02, seed=0)
    kspace = np.ascontiguousarray(mask.apply(full)).astype(np.complex64)
    write_cfl(folder / "kspace", np.transpose(kspace, (1, 2, 0))[:, :, None, :])
    tensor = torch.from_numpy(kspace).to(device)

    def ours() -> torch.Tensor:
        return estimate_sensitivities(tensor, "nlinv", mask=mask).maps

    def espirit() -> torch.Tensor:
        return estimate_sensitivities(tensor, mask=mask, fallback=False, warn=False).maps

    def bart() -> None:
        run_bart(folder, threads)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        maps = ours().cpu().numpy()
        bart()
        espirit()
        ours_times, bart_times, espirit_times = [], [], []
        for _ in range(repeats):
            ours_times.append(timed(ours, device)[0])
            bart_times.append(timed(bart, torch.device("cpu"))[0])
            espirit_times.append(timed(espirit, device)[0])
    theirs = np.asarray(read_cfl(folder / "maps")).reshape(*kspace.shape[1:], coils, order="F").transpose(2, 0, 1)
    reference = rss(ifft2c(torch.from_numpy(full)), dim=0).numpy()
    inside = reference > 0.1 * reference.max()
    inner = np.abs((maps * theirs.conj()).sum(0))
    norms = np.linalg.norm(maps, axis=0) * np.linalg.norm(theirs, axis=0)
    correlation = float((inner / np.maximum(norms, 1e-30))[inside].min())
    ours_median, bart_median = statistics.median(ours_times), statistics.median(bart_times)
    return (f"| {kspace.shape[1]} x {kspace.shape[2]} x {coils} | {mask.num_low_frequencies} | "
            f"{ours_median:.2f} s (min {min(ours_times):.2f}) | {bart_median:.2f} s (min {min(bart_times):.2f}) | "
            f"**{ours_median / bart_median:.2f}** | {correlation:.7f} | {statistics.median(espirit_times):.2f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="device for ours: cpu, cuda or auto (BART runs on the CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads and BART's OMP_NUM_THREADS")
    args = parser.parse_args()
    device = resolve_device(args.device)
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    print(f"{describe_machine(device)}; BART {bart_version()}; {threads} thread(s) each")
    print(load_average())
    print("| input | centre lines | ours | `bart nlinv` | ours / BART | least map correlation | ESPIRiT (fails) |")
    print("|---|---|---|---|---|---|---|")
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        for coils in (8, 15):
            print(bench(coils, device, args.repeats, threads, Path(tmp)), flush=True)
    print(load_average())


if __name__ == "__main__":
    main()
