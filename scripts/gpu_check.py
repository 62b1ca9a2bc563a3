"""CPU/GPU agreement of the SENSE operator, ESPIRiT and every shipped model.

Usage: python scripts/gpu_check.py [--out agreement.json]

Each quantity is computed on the CPU and on the GPU from the same float32 input and compared by
the relative l2 error ``||gpu - cpu|| / ||cpu||``, against a tolerance derived from float32
precision and the size of the computation:

- FFT-based operators (forward, adjoint, Gram of ``A = M F S``): rounding grows like
  ``log2(N)`` for an N-point FFT, so the bound is ``8 eps log2(H W)`` per transform pair;
- ESPIRiT maps: an eigen-decomposition per pixel of the calibration matrix; the maps are
  compared as the projections ``S S^H`` (free of each pixel's phase choice), bound ``1e-4``;
- networks (Net_c's logits and CAM, LF-MRI, the no-focus ablation, the U-Net): sums of
  ``k = 9 C`` products per convolution through ``L`` layers, bound ``eps sqrt(k) L`` times a
  safety factor of 10; TF32 convolutions are switched off for the comparison (their 10-bit
  mantissa is a choice of speed, reported separately as information).

Exits 1 when a comparison is outside its bound, 3 without a GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EPS = float(np.finfo(np.float32).eps)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().cpu().to(torch.complex128 if a.is_complex() else torch.float64), b.detach().cpu().to(
        torch.complex128 if b.is_complex() else torch.float64)
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp_min(1e-300))


def sample_slice(geometry: str = "compact") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Masked k-space ``(1, C, H, W)``, its line mask ``(1, W)`` and the RSS image of one slice of
    a synthetic knee (seed 0), fastMRI's random 4x mask."""
    from lfmri_core.masks import make_mask
    from lfmri_core.physics import apply_mask, ifft2c, rss
    from lfmri_core.synthetic import SyntheticConfig, generate_volume

    volume = generate_volume(SyntheticConfig(geometry=geometry, num_slices=1, seed=0))
    kspace = torch.from_numpy(volume.kspace[:1])
    pattern = make_mask("random", tuple(kspace.shape[-2:]), acceleration=4, center_fraction=0.08, seed=0).pattern
    mask = torch.from_numpy(np.asarray(pattern).reshape(-1, kspace.shape[-1])[:1].copy())
    return apply_mask(kspace, mask), mask, rss(ifft2c(kspace))[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the comparisons as JSON here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU is visible to torch", file=sys.stderr)
        return 3
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    from lfmri_core.coils import estimate_sensitivities
    from lfmri_core.models import model_sensitivities
    from lfmri_core.physics import SenseOperator
    from lfmri_core.recon.learned import load_model
    from lfmri_core.weights import shipped_weights

    rows: list[dict[str, object]] = []

    def check(name: str, error: float, bound: float) -> None:
        rows.append({"check": name, "relative_error": error, "bound": bound, "ok": error <= bound})
        print(f"{'ok  ' if error <= bound else 'FAIL'} {name}: {error:.2e} (bound {bound:.2e})", flush=True)

    # SENSE operator on random data (4 slices, 8 coils, 320 x 320, a line mask)
    gen = torch.Generator().manual_seed(0)
    shape = (4, 8, 320, 320)
    maps = torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))
    image = torch.complex(torch.randn(4, 320, 320, generator=gen), torch.randn(4, 320, 320, generator=gen))
    mask = torch.rand(1, 320, generator=gen) < 0.3
    bound = 8 * EPS * math.log2(320 * 320)
    cpu, gpu = SenseOperator(maps, mask), SenseOperator(maps.cuda(), mask.cuda())
    check("SENSE forward A x", relative(gpu(image.cuda()), cpu(image)), bound)
    data = cpu(image)
    check("SENSE adjoint A^H y", relative(gpu.adjoint(data.cuda()), cpu.adjoint(data)), bound)
    check("SENSE Gram A^H A x", relative(gpu.gram(image.cuda()), cpu.gram(image)), 2 * bound)

    # ESPIRiT and the learned models' maps on one knee slice
    kspace, line, target = sample_slice()
    for method, options in (("espirit", {}), ("lowres", {"threshold": 0.0})):
        a = estimate_sensitivities(kspace, method, mask=line[0], **options).maps
        b = estimate_sensitivities(kspace.cuda(), method, mask=line[0].cuda(), **options).maps
        projection_a = torch.einsum("schw,sdhw->scdhw", a, a.conj())
        projection_b = torch.einsum("schw,sdhw->scdhw", b, b.conj())
        check(f"coil maps {method} (S S^H)", relative(projection_b, projection_a), 1e-4)

    # every shipped model on that slice
    layers = {"net_c": 12, "lfmri": 5 * (2 * 5 + 12 + 3), "unrolled-no-focus": 5 * (5 + 3), "unet": 16}
    maps_cpu = model_sensitivities(kspace, line)
    for name, depth in layers.items():
        path = shipped_weights(name)
        if path is None:
            print(f"skip {name}: no shipped weights", flush=True)
            continue
        model_cpu, model_gpu = load_model(path, "cpu"), load_model(path, "cuda")
        bound = 10 * EPS * math.sqrt(9 * 64) * depth
        with torch.inference_mode():
            if name == "net_c":
                out_cpu, out_gpu = model_cpu(target[None, None]), model_gpu(target[None, None].cuda())
                check("Net_c logits", relative(out_gpu.logits, out_cpu.logits), bound)
                check("Net_c CAM", relative(out_gpu.cam, out_cpu.cam), bound)
                continue
            out_cpu = model_cpu(kspace, line, maps_cpu).image
            out_gpu = model_gpu(kspace.cuda(), line.cuda(), maps_cpu.cuda()).image
        check(f"{name} image", relative(out_gpu, out_cpu), bound)
        if name == "lfmri":
            torch.backends.cudnn.allow_tf32 = True
            with torch.inference_mode():
                tf32 = model_gpu(kspace.cuda(), line.cuda(), maps_cpu.cuda()).image
            torch.backends.cudnn.allow_tf32 = False
            print(f"info lfmri image with TF32 convolutions: {relative(tf32, out_cpu):.2e}", flush=True)

    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                                              "checks": rows}, indent=2) + "\n")
    failed = [r["check"] for r in rows if not r["ok"]]
    print(f"{len(rows) - len(failed)} of {len(rows)} agree" + (f"; outside the bound: {', '.join(map(str, failed))}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
