"""What each module of an unrolled network does inside the lesion boxes, stage by stage.

Usage::

    python scripts/focus_stages.py --out stages.json \\
        --model nofocus=unrolled-no-focus --model lfmri=lfmri \\
        --model oracle=lfmri-oracle:runs/oracle/lfmri.safetensors [--data DIR] [--acceleration 8]

For every lesion slice of an annotated folder (default: the cached synthetic test set of
``lfmri evaluate``) at one acceleration, with the evaluation's mask (fastMRI ``random``, its
centre fraction, the per-file seed), each network runs once and stage ``t`` is scored by
LF-PSNR (pooled over the slice's boxes, the volume's maximum as data range, as ``lfmri
evaluate`` scores it) of ``|Z_t|`` (the denoiser ``D_w``), ``|U_t|`` (the lesion module
``G_u``, when there is one) and ``|X_t|`` (the stage's output after data consistency).
Oracle-focus networks (``lfmri-oracle``) run a second time with an all-zero focus map, which
switches the lesion term off at inference (``<label>+zero-focus``). The last stage's ``X`` is
the method's output, so its LF-PSNR equals ``lfmri evaluate``'s per-slice LF-PSNR.

Prints the mean over slices per stage and, for every model, the paired difference of the final
LF-PSNR against the first model and of ``U`` against ``Z`` at the last stage (95% bootstrap
intervals, :func:`lfmri_core.study.statistics.paired_difference`). The JSON holds every slice.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

import lfmri_core.models.unrolled as unrolled
from lfmri_core.io.annotations import read_annotations
from lfmri_core.io.atomic import atomic_write_text
from lfmri_core.io.volume import open_volume
from lfmri_core.masks import MaskSpec
from lfmri_core.metrics.lesion import lf_psnr_slice
from lfmri_core.models.focus import box_focus_maps
from lfmri_core.physics import center_crop
from lfmri_core.physics.sense import apply_mask
from lfmri_core.recon.pipeline import volume_mask
from lfmri_core.recon.registry import build_method
from lfmri_core.study.plan import center_fraction_for
from lfmri_core.study.statistics import paired_difference


def _default_data() -> Path:
    root = Path(os.environ.get("LFMRI_CACHE", Path.home() / ".cache" / "lfmri"))
    return root / "evaluate"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=_default_data(),
                   help="folder of .h5 volumes with one fastMRI+ CSV (default: lfmri evaluate's synthetic test set)")
    p.add_argument("--annotations", type=Path, help="the CSV (default: the only *.csv in --data not named *file_list*)")
    p.add_argument("--acceleration", type=float, default=8.0, help="random-mask acceleration (default 8)")
    p.add_argument("--model", action="append", required=True, metavar="LABEL=METHOD[:WEIGHTS]",
                   help="a network to trace (repeatable; the first is the reference of the paired differences)")
    p.add_argument("--out", type=Path, required=True, help="JSON of every slice's per-stage LF-PSNR")
    args = p.parse_args(argv)

    csv = args.annotations or next((c for c in sorted(args.data.glob("*.csv")) if "file_list" not in c.name), None)
    if csv is None:
        p.error(f"no annotation CSV in {args.data}: give --annotations, or --data the evaluation's cache folder")
    annotations = read_annotations(csv)
    traced: list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]] = []
    solve = unrolled.solve_data_consistency

    def tracing(*a: object, **kw: object) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        out = solve(*a, **kw)  # type: ignore[arg-type]
        image = out[0] if isinstance(out, tuple) else out  # (X, A^H A X) with return_gram
        traced.append((a[3], kw.get("lesion_target"), image))  # type: ignore[arg-type]
        return out

    unrolled.solve_data_consistency = tracing  # LFMRINet.forward looks it up in its module
    models = []
    for spec in args.model:
        label, _, rest = spec.partition("=")
        method, _, weights = rest.partition(":")
        models.append((label, method, build_method(method, **({"weights": weights} if weights else {}))))

    records: list[dict[str, object]] = []
    for path in sorted(args.data.glob("*.h5")):
        with open_volume(path) as vol:
            info = vol.info
            boxes_of = annotations.for_file(path.stem)
            slices = sorted({b.slice for name, b in annotations.boxes if name == path.stem and not b.is_empty})
            if not slices:
                continue
            target = vol.target_volume("reconstruction_rss")
            if target is None:
                raise SystemExit(f"{path.name} has no reconstruction_rss to score against")
            maxval = float(target.max())
            mask = volume_mask(info, MaskSpec("random", args.acceleration, center_fraction_for(args.acceleration)))
            mask_tensor = mask.to_tensor(info.image_shape)
            kspace = apply_mask(torch.stack([torch.from_numpy(vol.kspace(s)) for s in slices]), mask_tensor)
            focus = box_focus_maps([boxes_of.boxes_on(s) for s in slices], tuple(kspace.shape[-2:]), info.recon_shape)
            for label, method, recon in models:
                runs = [("", None)] if method != "lfmri-oracle" else [("", focus), ("+zero-focus", torch.zeros_like(focus))]
                for suffix, focus_map in runs:
                    traced.clear()
                    recon(kspace, mask_tensor, **({} if focus_map is None else {"focus": focus_map}))
                    for n, s in enumerate(slices):
                        def score(image: torch.Tensor | None) -> float | None:
                            if image is None:
                                return None
                            shown = center_crop(image[n].abs(), info.recon_shape).numpy()
                            return lf_psnr_slice(target[s], shown, boxes_of.boxes_on(s), maxval)

                        records.append({"model": label + suffix, "file": path.stem, "slice": s,
                                        "stages": [{"z": score(z), "u": score(u), "x": score(x)} for z, u, x in traced]})
        print(f"{path.name}: {len(slices)} lesion slices", file=sys.stderr, flush=True)
    atomic_write_text(args.out, json.dumps(records))

    by_model: dict[str, dict[tuple[str, int], list[dict[str, float | None]]]] = {}
    for r in records:
        by_model.setdefault(str(r["model"]), {})[(str(r["file"]), int(r["slice"]))] = r["stages"]  # type: ignore[assignment]
    reference = models[0][0]
    keys = sorted(by_model[reference])
    final_ref = np.array([by_model[reference][k][-1]["x"] for k in keys], dtype=float)
    for name, rows in by_model.items():
        stages = len(rows[keys[0]])
        means = []
        for t in range(stages):
            parts = []
            for key in ("z", "u", "x"):
                values = [rows[k][t][key] for k in keys]
                parts.append(f"{key} {np.mean(values):.2f}" if values[0] is not None else f"{key} -")
            means.append(f"t{t + 1}: " + " ".join(parts))
        print(f"{name} ({len(keys)} slices)  " + " | ".join(means))
        final = np.array([rows[k][-1]["x"] for k in keys], dtype=float)
        if name != reference:
            d = paired_difference(final, final_ref)
            print(f"  final LF-PSNR - {reference}: {d.mean:+.2f} dB [{d.low:+.2f}, {d.high:+.2f}]")
        if rows[keys[0]][-1]["u"] is not None:
            u = np.array([rows[k][-1]["u"] for k in keys], dtype=float)
            z = np.array([rows[k][-1]["z"] for k in keys], dtype=float)
            d = paired_difference(u, z)
            print(f"  last stage U - Z: {d.mean:+.2f} dB [{d.low:+.2f}, {d.high:+.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
