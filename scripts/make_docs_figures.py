"""Make the figures and the score table of docs/sample_data.md from the embedded sample data.

Run: .venv/bin/python scripts/make_docs_figures.py  (writes docs/images/)
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from lfmri_core.demo import run_demo
from lfmri_core.figures import save_mask_figure, save_panels
from lfmri_core.masks import make_mask
from lfmri_core.physics import center_crop, ifft2c
from lfmri_core.synthetic import SyntheticConfig, generate_volume

DOCS = Path(__file__).resolve().parents[1] / "docs"
TABLE_START, TABLE_END = "<!-- demo-table:start -->", "<!-- demo-table:end -->"


def main() -> None:
    images = DOCS / "images"
    images.mkdir(parents=True, exist_ok=True)
    for stale in images.glob("lfmri_knee_*.png"):  # the demo's figures, named by slice and acceleration
        stale.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        run_demo(Path(tmp), quiet=True)
        for png in sorted(Path(tmp).glob("*.png")):
            shutil.copy(png, images / png.name)
        report = (Path(tmp) / "report.md").read_text().splitlines()
    table = [line for line in report if line.startswith("|")]
    machine = next(line for line in report if line.startswith("Timings measured on"))
    page = DOCS / "sample_data.md"
    text = page.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    page.write_text(text[:start] + "\n" + "\n".join([*table, "", machine]) + "\n" + text[end:])

    shape = (320, 320)
    masks = {
        f"{name} {accel}x": make_mask(name, shape, acceleration=accel, center_fraction=centre, seed=0).pattern
        for name, accel, centre in (
            ("random", 4, 0.08), ("random", 8, 0.04), ("equispaced_fraction", 8, 0.04),
            ("magic", 8, 0.04), ("poisson", 8, 0.08), ("gaussian", 8, 0.08),
        )
    }
    save_mask_figure(images / "masks.png", masks, shape)

    volume = generate_volume(SyntheticConfig(geometry="fastmri-knee", contrast="PD", num_slices=3, seed=0))
    middle = 1
    coil_images = center_crop(ifft2c(torch.from_numpy(volume.kspace[middle])).abs(), volume.recon_shape).numpy()
    panels = {f"coil {c + 1}": coil_images[c] for c in range(0, coil_images.shape[0], 3)}
    panels["RSS (reconstruction_rss)"] = volume.reconstruction_rss[middle]
    # Coil images and the RSS differ in scale: each panel is shown on its own range.
    panels = {name: image / np.percentile(image, 99.5) for name, image in panels.items()}
    save_panels(images / "coils.png", panels,
                title="fastmri-knee geometry (640 x 368, 15 coils): coil images and RSS, each on its own scale")

if __name__ == "__main__":
    main()
