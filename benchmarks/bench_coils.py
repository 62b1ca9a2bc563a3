"""Coil sensitivities: our ESPIRiT against ``bart ecalib`` on the same k-space, timed.

Run from the repository root::

    .venv/bin/python benchmarks/bench_coils.py [--repeats 7] [--device cpu]

Inputs (deterministic, fully sampled, one slice):

- ``phantom``: ``bart phantom -k -s 8 -x 320`` (320 x 320, 8 coils);
- ``knee``: the synthetic knee, seed 0, slice 0 of ``SyntheticConfig(num_slices=1)``
  (320 x 320, 8 coils, ``compact``) and of the ``fastmri-knee`` geometry (640 x 368, 15 coils,
  with the unacquired phase-encode columns at exactly 0, as in fastMRI).

Both get the same parameters: calibration limit 24 x 24 (found from the data, readout
searched, as BART does), kernel 6 x 6, threshold 0.001, crop 0.8, one map:
``bart ecalib -m1 -r24 -k6 -t0.001 -c0.8 kspace maps values``.

Timing: median (and minimum) wall time of ``--repeats`` runs after one warm-up, ours and BART's
interleaved. Ours: ``estimate_sensitivities`` from the k-space tensor in memory (on the device)
to the maps and eigenvalue maps (on a GPU, synchronised): input checks, calibration region,
kernels, Gram matrices, eigenvectors, phase and crop. BART: the ``bart ecalib`` process on an
input already written to ``/dev/shm`` (tmpfs): process start, mapping the input, the
calibration and writing the maps and eigenvalue maps to tmpfs. The ``bart copy`` line times a
process that maps the same input and writes it back: an upper bound of the fixed cost in
BART's figure. Agreement: per pixel ``|<s_ours, s_bart>| / (|s_ours| |s_bart|)`` inside BART's
crop mask (median, and the fraction above 0.99), the fraction of pixels cropped alike, and
the median of ``|s_ours - s_bart|`` (no phase freedom: BART's phase convention). The last line
of each input times our low-resolution preview (``method="lowres"``). The machine may be
shared: the load average before and after is printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
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
from lfmri_core.recon.bart_reference import bart_version  # noqa: E402
from lfmri_core.synthetic import SyntheticConfig, generate_volume  # noqa: E402

PARAMS = {"calib_size": 24, "kernel_size": 6, "threshold": 0.001, "crop": 0.8, "num_maps": 1}
BART_OPTIONS = ["-m1", "-r24", "-k6", "-t0.001", "-c0.8"]


def inputs(folder: Path) -> list[tuple[str, np.ndarray]]:
    """The benchmark k-spaces, ours ``(coils, H, W)`` complex64."""
    subprocess.run(["bart", "phantom", "-k", "-s", "8", "-x", "320", "phantom"], cwd=folder, check=True, capture_output=True)
    phantom = np.asarray(read_cfl(folder / "phantom")).reshape(320, 320, 8, order="F")
    found = [("phantom 320 x 320 x 8", np.ascontiguousarray(np.transpose(phantom, (2, 0, 1))))]
    for geometry in ("compact", "fastmri-knee"):
        kspace = generate_volume(SyntheticConfig(geometry=geometry, num_slices=1, seed=0)).kspace[0]
        coils, height, width = kspace.shape
        found.append((f"knee {height} x {width} x {coils}", np.ascontiguousarray(kspace, dtype=np.complex64)))
    return found


def machine(device: torch.device) -> str:
    return f"CPU {describe_machine(device, threads=True)}, BART {bart_version()}"


def run_process(args: list[str], folder: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - start


def agreement(ours: np.ndarray, values: np.ndarray, bart: np.ndarray, bart_values: np.ndarray) -> str:
    keep = bart_values > PARAMS["crop"]
    inner = np.abs(np.sum(ours * np.conj(bart), axis=0))
    norms = np.linalg.norm(ours, axis=0) * np.linalg.norm(bart, axis=0)
    corr = np.where(norms > 0, inner / np.maximum(norms, 1e-30), 0.0)[keep]
    diff = np.linalg.norm(ours - bart, axis=0)[keep]
    same_crop = np.mean((values > PARAMS["crop"]) == keep)
    return (
        f"agreement: median corr {np.median(corr):.6f}, corr > 0.99 in {100 * np.mean(corr > 0.99):.2f}% of "
        f"{keep.sum()} px, crop alike {100 * same_crop:.3f}%, median |ours - bart| {np.median(diff):.1e}"
    )


def bench(name: str, kspace: np.ndarray, device: torch.device, repeats: int, folder: Path) -> list[str]:
    coils, height, width = kspace.shape
    write_cfl(folder / "kspace", np.transpose(kspace, (1, 2, 0))[:, :, None, :])
    tensor = torch.from_numpy(kspace).to(device)
    ecalib = ["bart", "ecalib", *BART_OPTIONS, "kspace", "maps", "values"]
    copy = ["bart", "copy", "kspace", "copied"]

    def ours() -> object:
        return estimate_sensitivities(tensor, **PARAMS)

    def lowres() -> object:
        return estimate_sensitivities(tensor, "lowres", calib_size=PARAMS["calib_size"])

    est = ours()  # warm-up
    lowres()
    run_process(ecalib, folder)
    run_process(copy, folder)
    ours_times, bart_times, copy_times, lowres_times = [], [], [], []
    for _ in range(repeats):
        ours_times.append(timed(ours, device)[0])
        bart_times.append(run_process(ecalib, folder))
        copy_times.append(run_process(copy, folder))
        lowres_times.append(timed(lowres, device)[0])
    bart_maps = np.asarray(read_cfl(folder / "maps")).reshape(height, width, coils, order="F").transpose(2, 0, 1)
    bart_values = np.asarray(read_cfl(folder / "values")).reshape(height, width, order="F").real
    ours_median, bart_median = statistics.median(ours_times), statistics.median(bart_times)
    return [
        f"{name}:",
        f"  ours (estimate_sensitivities)  median {ours_median:7.3f} s  min {min(ours_times):7.3f} s",
        f"  bart ecalib {' '.join(BART_OPTIONS)}  median {bart_median:7.3f} s  min {min(bart_times):7.3f} s",
        f"  bart copy (fixed cost bound)  median {statistics.median(copy_times):7.3f} s",
        f"  ratio ours / BART  {ours_median / bart_median:.3f}  (min/min {min(ours_times) / min(bart_times):.3f})",
        "  " + agreement(est.maps.cpu().numpy(), est.eigenvalues.cpu().numpy(), bart_maps, bart_values),
        f"  ours lowres (preview)  median {statistics.median(lowres_times):7.3f} s",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu", help="device for ours: cpu, cuda or auto (BART runs on the CPU)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(machine(device))
    print(load_average())
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        folder = Path(tmp)
        for name, kspace in inputs(folder):
            for line in bench(name, kspace, device, args.repeats, folder):
                print(line, flush=True)
    print(load_average())


if __name__ == "__main__":
    main()
