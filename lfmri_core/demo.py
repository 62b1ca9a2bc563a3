"""The main job on the embedded sample data (``lfmri demo``).

Synthesises the sample volumes (cached), undersamples each with fastMRI's knee leaderboard
settings (random mask; 4x with 8% centre, 8x with 4% centre; per-file seeds), reconstructs
them with every registered classical method (ESPIRiT coil maps where a method needs them) and
every learned method whose trained weights are installed (:func:`default_methods`), scores
PSNR/SSIM/NMSE and LF-PSNR/LF-SSIM against the fully sampled reference and writes
``report.md``, ``report.json`` and PNG figures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lfmri_core.evaluation import Scores, score_volume
from lfmri_core.figures import save_mask_figure, save_panels
from lfmri_core.io.annotations import LesionBox, discover_annotations
from lfmri_core.io.atomic import atomic_write_text
from lfmri_core.io.fastmri_h5 import FastMRIVolume
from lfmri_core.machine import describe_machine
from lfmri_core.masks import MaskSpec
from lfmri_core.recon import METHOD_REGISTRY, installed_learned_methods
from lfmri_core.recon.pipeline import reconstruct_volume

#: fastMRI knee leaderboard settings: (acceleration, centre fraction).
LEADERBOARD_SETTINGS = ((4.0, 0.08), (8.0, 0.04))


@dataclass(frozen=True)
class DemoRow:
    volume: str
    acquisition: str
    method: str
    acceleration: float
    achieved_acceleration: float
    scores: Scores
    ms_per_slice: float
    device: str


def _busiest_slice(boxes: tuple[LesionBox, ...], num_slices: int) -> int:
    """The slice with the most lesion-box area (the middle slice if there are no boxes)."""
    area = np.zeros(num_slices)
    for box in boxes:
        area[box.slice] += box.area
    return int(np.argmax(area)) if area.any() else num_slices // 2


def default_methods() -> list[str]:
    """The demo's methods: every built-in classical method, then the learned methods whose
    shipped weights are installed (:mod:`lfmri_core.weights`), in registration order.

    A learned method without installed weights is left out rather than failing the demo; so are
    plugin methods (they may need tools the demo cannot assume: ``run_demo(methods=...)``).
    """
    installed = set(installed_learned_methods())
    return [m.name for m in METHOD_REGISTRY.values() if m.plugin is None and (not m.learned or m.name in installed)]


def run_demo(out: Path, *, quiet: bool = False, methods: Sequence[str] | None = None) -> list[DemoRow]:
    """Run the demo, write its outputs into ``out`` and print the table.

    ``methods`` defaults to :func:`default_methods`. Classical methods that need coil maps get
    ESPIRiT maps estimated from each slice's fully sampled centre; the learned methods use the
    low-resolution maps they were trained with.
    """
    from lfmri_sample_data import ensure_sample_data

    out.mkdir(parents=True, exist_ok=True)
    volumes = [p for p in ensure_sample_data() if p.suffix == ".h5"]
    if methods is None:
        methods = default_methods()
    rows: list[DemoRow] = []
    for path in volumes:
        with FastMRIVolume(path) as vol:
            target = vol.target_volume()
            assert target is not None
            info = vol.info
            annotations = discover_annotations(path, frame_shape=info.recon_shape)
            boxes = annotations.boxes if annotations is not None else ()
            shown = _busiest_slice(boxes, info.num_slices)
            slice_boxes = tuple(b for b in boxes if b.slice == shown)
            reference = target[shown]
            masks: dict[str, np.ndarray] = {}
            for accel, centre in LEADERBOARD_SETTINGS:
                panels: dict[str, np.ndarray] = {"fully sampled": reference}
                for method in methods:
                    result = reconstruct_volume(vol, method=method, mask_spec=MaskSpec("random", accel, centre))
                    scores = score_volume(target, result.images, boxes)
                    rows.append(DemoRow(path.stem, info.acquisition or "", method, accel,
                                        result.mask.achieved_acceleration, scores, 1e3 * float(np.median(result.seconds)),
                                        result.device))
                    panels[method] = result.images[shown]
                    masks[f"random {accel:g}x ({result.mask.achieved_acceleration:.2f}x achieved)"] = result.mask.pattern
                save_panels(out / f"{path.stem}_slice{shown:02d}_{accel:g}x.png", panels, boxes=slice_boxes,
                            reference=reference, title=f"{path.stem} ({info.acquisition}), slice {shown}, {accel:g}x")
        save_mask_figure(out / f"{path.stem}_masks.png", masks, info.image_shape)
    _write_report(out, rows, describe_machine(rows[0].device if rows else None))
    if not quiet:
        print((out / "report.md").read_text())
    return rows


def _write_report(out: Path, rows: list[DemoRow], machine: str) -> None:
    lines = [
        "# LF-MRI demo report",
        "",
        "Synthetic knee sample, random masks with fastMRI's per-file seeds; classical methods that need",
        "coil maps use ESPIRiT maps from each slice's fully sampled centre, learned methods (when their",
        "weights are installed) the low-resolution maps they were trained with. PSNR/SSIM/NMSE as",
        "fastMRI's evaluate.py over each volume; LF-PSNR/LF-SSIM inside the annotated lesion boxes",
        "(data range: the volume maximum of the reference).",
        "",
        f"Timings measured on: {machine}.",
        "",
        "| volume | contrast | method | accel (achieved) | PSNR dB | SSIM | NMSE | LF-PSNR dB | LF-SSIM | ms/slice (median) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r.scores
        lines.append(
            f"| {r.volume} | {r.acquisition} | {r.method} | {r.acceleration:g}x ({r.achieved_acceleration:.2f}x) | "
            f"{s.psnr:.2f} | {s.ssim:.4f} | {s.nmse:.4f} | {s.lf_psnr:.2f} | {s.lf_ssim:.4f} | {r.ms_per_slice:.1f} |"
        )
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "report.json", json.dumps(
        [{"volume": r.volume, "acquisition": r.acquisition, "method": r.method, "acceleration": r.acceleration,
          "achieved_acceleration": r.achieved_acceleration, "ms_per_slice": r.ms_per_slice, **r.scores.as_dict()}
         for r in rows], indent=2) + "\n")
