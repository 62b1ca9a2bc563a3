"""Does an oracle-focus network's lesion term lower its own training loss?

Usage::

    python scripts/focus_loss_probe.py --data TRAIN_DIR --oracle ORACLE.safetensors \\
        --plain NOFOCUS.safetensors [--slices 32] [--crop-rows 160]

On the first ``--slices`` lesion slices of a training folder (fastMRI files with their fastMRI+
CSV), at 8x and 4x with the training mask (a seeded mask per slice), the training loss of
``lfmri train`` (L1 + (1 - SSIM) + the box-weighted lesion L1) of the oracle network with its
focus map on, with an all-zero focus map (lesion term off), and of a no-focus network. With
``--crop-rows`` the batch is the training crop of that many rows that holds most of the box.
Prints the mean terms and the share of slices on which the focus lowers the loss.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

from lfmri_core.io.annotations import read_annotations
from lfmri_core.masks import MaskSpec
from lfmri_core.models import load_weights
from lfmri_core.models.focus import box_focus_map
from lfmri_core.physics import center_crop
from lfmri_core.training.batch import crop_offsets, recon_batch
from lfmri_core.training.losses import ReconstructionLoss
from lfmri_core.training.masks import TRAINING_MASK


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="training folder (fastMRI .h5 files and one fastMRI+ CSV)")
    p.add_argument("--oracle", type=Path, required=True, help="an oracle-focus LF-MRI weights file")
    p.add_argument("--plain", type=Path, required=True, help="a no-focus weights file to compare with")
    p.add_argument("--slices", type=int, default=32, help="lesion slices to score (default 32)")
    p.add_argument("--crop-rows", type=int, help="score the training crop of this many rows (default: the whole image)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    csv = next((c for c in sorted(args.data.glob("*.csv")) if "file_list" not in c.name), None)
    if csv is None:
        p.error(f"no annotation CSV in {args.data}")
    annotations = read_annotations(csv)
    oracle = load_weights(args.oracle).eval()
    plain = load_weights(args.plain).eval()
    loss = ReconstructionLoss(1.0, 1.0, 1.0, 0.0, oracle_focus=True).eval()
    rows: list[tuple[float, dict[str, tuple[float, ...]]]] = []
    count = 0
    for path in sorted(args.data.glob("*.h5")):
        boxes_of = annotations.for_file(path.stem)
        with h5py.File(path, "r") as f:
            kspace = f["kspace"]
            recon_shape = tuple(f["reconstruction_rss"].shape[1:])
            for s in range(kspace.shape[0]):
                boxes = boxes_of.boxes_on(s)
                if not boxes or count >= args.slices:
                    continue
                ks = torch.from_numpy(kspace[s][None]).to(torch.complex64)
                height, width = ks.shape[-2:]
                focus = box_focus_map(boxes, (height, width), recon_shape)[None]
                crop: dict[str, object] = {}
                if args.crop_rows:
                    def held(fraction: float) -> float:
                        o = crop_offsets([fraction], height, args.crop_rows)[0]
                        return float(focus[0, o : o + args.crop_rows].sum())
                    crop = {"crop_rows": args.crop_rows, "crop_fractions": [max((i / 20 for i in range(20)), key=held)]}
                for acceleration, centre in ((8.0, 0.04), (4.0, 0.08)):
                    spec = MaskSpec(TRAINING_MASK, acceleration, centre, seed=1000 + count)
                    b = recon_batch(ks, recon_shape, spec, focus=focus, **crop)  # type: ignore[arg-type]
                    weights = center_crop(b.focus, b.crop_shape)
                    runs = {"focus on": lambda: oracle(b.kspace, b.mask, b.sensitivities, focus=b.focus),
                            "focus off": lambda: oracle(b.kspace, b.mask, b.sensitivities, focus=torch.zeros_like(b.focus)),
                            "no-focus": lambda: plain(b.kspace, b.mask, b.sensitivities)}
                    out = {}
                    with torch.no_grad():
                        for label, run in runs.items():
                            t = loss(center_crop(run().image.abs(), b.crop_shape), b.target, weights)
                            out[label] = (float(t.total), float(t.l1), float(t.ssim), float(t.lesion))
                    rows.append((acceleration, out))
                count += 1
    for acceleration in (8.0, 4.0):
        chosen = [o for a, o in rows if a == acceleration]
        for label in ("focus on", "focus off", "no-focus"):
            m = np.mean([o[label] for o in chosen], axis=0)
            print(f"{acceleration:g}x {label:9s} total {m[0]:.5f}  l1 {m[1]:.5f}  1-ssim {m[2]:.5f}  lesion {m[3]:.5f}")
        lower = np.mean([o["focus on"][0] < o["focus off"][0] for o in chosen])
        lesion_lower = np.mean([o["focus on"][3] < o["focus off"][3] for o in chosen])
        print(f"   the focus lowers the total loss on {lower:.2f} of {len(chosen)} slices, the lesion term on {lesion_lower:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
