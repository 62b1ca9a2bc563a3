"""Per-slice inference time: LF-MRI against fastMRI's E2E-VarNet on the same input, timed.

Run from the repository root::

    .venv/bin/python benchmarks/bench_models.py [--repeats 5] [--device cpu] [--sizes compact fastmri-knee] [--virtual-coils 8 10]
        [--volume-slices 35 --volume-batch 8] [--variant NAME=WEIGHTS ...]

Needs the ``fastmri`` package (``pip install --no-deps fastmri==0.3.0``; the dev setup
installs it). VarNet is fastMRI's default architecture (``fastmri.models.VarNet()``: 12
cascades, U-Nets with 18 channels and 4 pools, a sensitivity U-Net with 8 channels and 4
pools). Weights do not change the time: VarNet is timed with seeded random initial weights;
LF-MRI, the no-focus ablation and the U-Net are the shipped weights (``lfmri_core/weights``;
default architectures with random weights for a file that is not installed).

Readout window: at 640 x 368 (readout oversampled twice) the pipeline runs the learned models on
the recon rows and 64 rows on each side (:func:`~lfmri_core.models.inputs.readout_window`, what
``infer_slices`` and the viewers do); the row ``lfmri, readout window`` times LF-MRI so, window cut
included, next to the plain ``lfmri`` on the whole readout, and its PSNR is printed with the
compression rows' (below).

Coil compression: for each ``--virtual-coils`` count (default 8 and 10) below the input's coil
count, LF-MRI is also timed on that many virtual coils (:func:`~lfmri_core.coils.compress_coils`
on the masked k-space, in the time), and the cost in image quality is printed: PSNR (fastMRI's,
on the magnitude) of LF-MRI with and without compression against the fully sampled
root-sum-of-squares image, both centre-cropped to the recon size.

``--variant NAME=WEIGHTS`` times another weights file of an unrolled network (e.g. a lesion-focus
design under study) in the same interleaved runs. Every row also gives its time over the no-focus
ablation's (the cost of the lesion focus; issue target at most 1.3x for LF-MRI).

Input (deterministic): one slice of the synthetic knee (seed 0) at 320 x 320 with 8 coils
(``compact``) and at 640 x 368 with 15 coils (``fastmri-knee``), fastMRI's ``random`` line
mask at 4x with centre fraction 0.08, seed 0. Both networks get the same masked k-space and
mask. Each timing covers everything from the masked k-space in memory to the image: VarNet
runs its own sensitivity network; our models estimate their coil maps
(:func:`~lfmri_core.models.model_sensitivities`, included in the time) and run all stages.
``torch.inference_mode``; median (and minimum) of ``--repeats`` runs after one warm-up, the
methods interleaved; on a GPU every run is synchronised. The load average before and after
is printed because other work on a 2-core machine moves these timings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import timed  # noqa: E402

import lfmri_core.weights as shipped  # noqa: E402
from lfmri_core.coils import compress_coils  # noqa: E402
from lfmri_core.device import resolve_device  # noqa: E402
from lfmri_core.machine import describe_machine, load_average  # noqa: E402
from lfmri_core.masks import make_mask  # noqa: E402
from lfmri_core.metrics import psnr  # noqa: E402
from lfmri_core.models import LFMRIConfig, LFMRINet, UNetRecon, load_weights, model_sensitivities  # noqa: E402
from lfmri_core.models.inputs import readout_window, readout_window_rows  # noqa: E402
from lfmri_core.physics import apply_mask, center_crop, ifft2c, rss  # noqa: E402
from lfmri_core.synthetic import SyntheticConfig, generate_volume, get_geometry  # noqa: E402


def make_input(geometry: str) -> tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]:
    """Masked k-space ``(1, C, H, W)``, line mask ``(W,)``, the number of centre lines and the
    fully sampled RSS image ``(H, W)``."""
    volume = generate_volume(SyntheticConfig(geometry=geometry, num_slices=1, seed=0))
    full = torch.from_numpy(volume.kspace[0])
    mask = make_mask("random", tuple(full.shape[-2:]), acceleration=4, center_fraction=0.08, seed=0)
    left, right = get_geometry(geometry).padding
    if (left, right) != (0, full.shape[-1]):
        mask = mask.with_padding(left, right)
    line = torch.from_numpy(np.asarray(mask.pattern).reshape(-1, full.shape[-1])[0].copy())
    return apply_mask(full, line)[None], line, int(mask.num_low_frequencies), rss(ifft2c(full), dim=0)


def model(name: str, default: torch.nn.Module) -> tuple[torch.nn.Module, str]:
    """The shipped model ``name``, or ``default`` (random weights) when it is not installed."""
    path = shipped.shipped_weights(name)
    if path is None:
        return default, "default architecture, random weights"
    loaded = load_weights(path)
    config = loaded.config
    what = "shipped"
    if isinstance(config, LFMRIConfig):
        what += f": {config.num_stages} stages, {config.denoiser} width {config.width}"
    return loaded, what


def bench(geometry: str, device: torch.device, repeats: int, virtual_coils: list[int],
          variants: dict[str, Path] | None = None) -> list[str]:
    from fastmri.models import VarNet

    kspace, line, low, reference = make_input(geometry)
    kspace, line = kspace.to(device), line.to(device)
    coils, height, width = kspace.shape[1:]
    torch.manual_seed(0)
    varnet = VarNet().to(device).eval()
    ours, described = {}, {}
    for name, default in (("lfmri", LFMRINet(LFMRIConfig())), ("unrolled-no-focus", LFMRINet(LFMRIConfig(lesion_focus=False))),
                          ("unet", UNetRecon())):
        net, described[name] = model(name, default)
        ours[name] = net.to(device).eval()
    for name, path in (variants or {}).items():
        ours[name] = load_weights(path).to(device).eval()
        described[name] = str(path)
    varnet_kspace = torch.view_as_real(kspace).contiguous()
    varnet_mask = line.view(1, 1, 1, width, 1)

    def run_varnet() -> object:
        return varnet(varnet_kspace, varnet_mask, low)

    def runner(net: torch.nn.Module, virtual: int | None = None, window: slice | None = None) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            data = kspace if virtual is None else compress_coils(kspace, virtual, mask=line).kspace
            if window is not None:
                data = apply_mask(readout_window(data, window), line)
            maps = model_sensitivities(data, line)
            return net(data, line[None], maps).image

        return run

    cases: dict[str, Callable[[], object]] = {"varnet": run_varnet, **{n: runner(m) for n, m in ours.items()}}
    crop = get_geometry(geometry).recon_shape
    rows = readout_window_rows(height, crop[0])
    if rows is not None:
        cases["lfmri, readout window"] = runner(ours["lfmri"], window=rows)
    compressed = {v: f"lfmri, {v} virtual coils" for v in virtual_coils if v < coils}
    for v, name in compressed.items():
        cases[name] = runner(ours["lfmri"], v)
    times: dict[str, list[float]] = {name: [] for name in cases}
    with torch.inference_mode():
        for run in cases.values():
            run()  # warm-up: allocations, FFT plans, oneDNN kernels
        for _ in range(repeats):
            for name, run in cases.items():
                times[name].append(timed(run, device)[0])
    varnet_median = statistics.median(times["varnet"])
    lines = [f"{height} x {width} x {coils} coils, random mask 4x (centre {low} lines), {repeats} runs each:"]
    ablation_median = statistics.median(times["unrolled-no-focus"])
    lines.append(f"  {'model':<28} {'median [s]':>10} {'min [s]':>8} {'VarNet / model':>15} {'model / no-focus':>17}")
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(f"  {name:<28} {median:10.3f} {min(values):8.3f} {varnet_median / median:15.1f} "
                     f"{median / ablation_median:17.2f}")
    lines.append("  models: " + "; ".join(f"{n} {d}" for n, d in described.items()))
    if compressed or rows is not None:
        windowed = ("lfmri, readout window",) if rows is not None else ()
        with torch.inference_mode():
            target = center_crop(reference, crop)[None].numpy()
            scores = {name: psnr(target, center_crop(cases[name]().abs().cpu(), crop).numpy())  # type: ignore[attr-defined]
                      for name in ("lfmri", *windowed, *compressed.values())}
        lines.append(f"  quality (LF-MRI PSNR against the fully sampled RSS): all {coils} coils {scores['lfmri']:.2f} dB"
                     + "".join(f"; readout window {scores[n]:.2f} dB" for n in windowed)
                     + "".join(f"; {v} virtual coils {scores[n]:.2f} dB" for v, n in compressed.items()))
    return lines


def bench_volume(slices: int, device: torch.device, repeats: int, batch: int) -> list[str]:
    """A whole fastMRI-sized volume through LF-MRI: ``slices`` copies of the 640 x 368 x 15 slice
    (the time does not depend on the content), ``batch`` slices per forward pass, maps included;
    on the whole readout and on the pipeline's readout window (window cut included), interleaved."""
    kspace, line, _, _ = make_input("fastmri-knee")
    volume = kspace.expand(slices, *kspace.shape[1:]).contiguous().to(device)
    line = line.to(device)
    net, described = model("lfmri", LFMRINet(LFMRIConfig()))
    net = net.to(device).eval()
    rows = readout_window_rows(volume.shape[-2], get_geometry("fastmri-knee").recon_shape[0])

    def runner(window: slice | None) -> Callable[[], None]:
        def run() -> None:
            for start in range(0, slices, batch):
                data = volume[start : start + batch]
                if window is not None:
                    data = apply_mask(readout_window(data, window), line)
                net(data, line[None], model_sensitivities(data, line))

        return run

    cases = {"whole readout": runner(None)}
    if rows is not None:
        cases[f"readout window ({rows.stop - rows.start} rows)"] = runner(rows)
    times: dict[str, list[float]] = {name: [] for name in cases}
    with torch.inference_mode():
        for run in cases.values():
            run()
        for _ in range(repeats):
            for name, run in cases.items():
                times[name].append(timed(run, device)[0])
    return [f"volume: {slices} slices x {tuple(volume.shape[1:])}, LF-MRI ({described}), {batch} slices per pass, "
            f"{repeats} runs, {name}: median {statistics.median(t):.3f} s, min {min(t):.3f} s" for name, t in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per model (median reported)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--sizes", nargs="+", default=["compact", "fastmri-knee"], help="synthetic geometries")
    parser.add_argument("--virtual-coils", type=int, nargs="*", default=[8, 10],
                        help="coil compression targets for extra LF-MRI rows (none: no such rows)")
    parser.add_argument("--volume-slices", type=int, default=0,
                        help="also time a volume of this many 640 x 368 x 15 slices through LF-MRI (0: no)")
    parser.add_argument("--volume-batch", type=int, default=8, help="slices per forward pass of the volume")
    parser.add_argument("--variant", nargs="+", default=[], metavar="NAME=WEIGHTS",
                        help="also time these weights files of unrolled networks, interleaved with the others")
    args = parser.parse_args()
    variants: dict[str, Path] = {}
    for item in args.variant:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_file():
            parser.error(f"--variant {item!r}: expected NAME=WEIGHTS with an existing weights file")
        variants[name] = Path(path)
    device = resolve_device(args.device)
    print(describe_machine(device, threads=True))
    print(load_average())
    for geometry in args.sizes:
        for line in bench(geometry, device, args.repeats, args.virtual_coils, variants):
            print(line, flush=True)
    if args.volume_slices:
        for line in bench_volume(args.volume_slices, device, args.repeats, args.volume_batch):
            print(line, flush=True)
    print(load_average())


if __name__ == "__main__":
    main()
