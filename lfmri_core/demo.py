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
from lfmri_core.figures import save_comparison, save_mask_figure
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


def _busiest_slice(boxes: tuple[LesionBox, ...], num_slices: int, slices: Sequence[int] | None = None) -> int:
    """Position in ``slices`` (default ``range(num_slices)``) of the slice with the most
    lesion-box area (the middle one if none has a box)."""
    order = list(range(num_slices)) if slices is None else list(slices)
    area = np.zeros(len(order))
    for box in boxes:
        if box.slice in order:
            area[order.index(box.slice)] += box.area
    return int(np.argmax(area)) if area.any() else len(order) // 2


def default_methods() -> list[str]:
    """The demo's methods: every built-in classical method, then the learned methods whose
    shipped weights are installed (:mod:`lfmri_core.weights`), in registration order.

    A learned method without installed weights is left out rather than failing the demo; so are
    plugin methods (they may need tools the demo cannot assume: ``run_demo(methods=...)``).
    """
    installed = set(installed_learned_methods())
    return [m.name for m in METHOD_REGISTRY.values() if m.plugin is None and (not m.learned or m.name in installed)]


def run_demo(
    out: Path,
    *,
    quiet: bool = False,
    methods: Sequence[str] | None = None,
    slices: Sequence[int] | None = None,
    contrasts: Sequence[str] | None = None,
) -> list[DemoRow]:
    """Run the demo, write its outputs into ``out`` and print the report (unless ``quiet``).

    ``methods`` defaults to :func:`default_methods`, ``slices`` (indices into each sample
    volume) to all of them and ``contrasts`` (``"PD"``, ``"PDFS"``) to every sample volume.
    Classical methods that need coil maps get ESPIRiT maps estimated from each slice's fully
    sampled centre; the learned methods use the low-resolution maps they were trained with.
    Scores use the reference volume's maximum as data range, also on a subset of slices, so
    they match a full run's. Progress bars (stderr) follow :mod:`lfmri_core.progress`.
    """
    from lfmri_sample_data import ensure_sample_data, manifest

    from lfmri_core.progress import bar_callback, bar_on_first_step, progress_bar

    out.mkdir(parents=True, exist_ok=True)
    with bar_on_first_step(quiet=quiet, desc="sample data", unit="slice", leave=False) as progress:
        paths = ensure_sample_data(progress=progress)
    by_contrast = {v["contrast"]: v["stem"] for v in manifest()["volumes"]}
    wanted = list(by_contrast) if contrasts is None else list(contrasts)
    volumes = [p for c in wanted for p in paths if p.suffix == ".h5" and p.stem == by_contrast[c]]
    if methods is None:
        methods = default_methods()
    rows: list[DemoRow] = []
    figures: list[tuple[str, Path]] = []
    steps = len(volumes) * (len(LEADERBOARD_SETTINGS) * (len(methods) + 1) + 1)
    with progress_bar(quiet=quiet, total=steps, desc="demo", unit="step") as overall, \
            progress_bar(quiet=quiet, total=0, desc="", unit="slice", leave=False) as per_slice:
        for path in volumes:
            with FastMRIVolume(path) as vol:
                target = vol.target_volume()
                assert target is not None
                info = vol.info
                chosen = list(range(info.num_slices)) if slices is None else list(slices)
                annotations = discover_annotations(path, frame_shape=info.recon_shape)
                boxes = annotations.boxes if annotations is not None else ()
                shown = chosen[_busiest_slice(tuple(b for b in boxes if b.slice in chosen), len(chosen), chosen)]
                slice_boxes = tuple(b for b in boxes if b.slice == shown)
                reference = target[shown]
                maxval = float(target.max())
                masks: dict[str, np.ndarray] = {}
                for accel, centre in LEADERBOARD_SETTINGS:
                    panels: dict[str, np.ndarray] = {}
                    captions: dict[str, str] = {}
                    for method in methods:
                        overall.set_description_str(f"{path.stem} {accel:g}x", refresh=False)
                        per_slice.reset(total=len(chosen))
                        per_slice.set_description_str(method, refresh=False)
                        result = reconstruct_volume(vol, method=method, mask_spec=MaskSpec("random", accel, centre),
                                                    slices=chosen, progress=bar_callback(per_slice))
                        scores = score_volume(target[chosen], result.images, boxes, chosen, maxval=maxval)
                        rows.append(DemoRow(path.stem, info.acquisition or "", method, accel,
                                            result.mask.achieved_acceleration, scores,
                                            1e3 * float(np.median(result.seconds)), result.device))
                        image = result.images[chosen.index(shown)]
                        panels[method] = image
                        captions[method] = _caption(score_volume(reference[None], image[None], slice_boxes, [shown],
                                                                 maxval=maxval))
                        masks[f"random {accel:g}x ({result.mask.achieved_acceleration:.2f}x achieved)"] = result.mask.pattern
                        overall.update()
                    overall.set_description_str(f"{path.stem} {accel:g}x figure", refresh=False)
                    figure = out / f"{path.stem}_slice{shown:02d}_{accel:g}x.png"
                    save_comparison(figure, panels, reference, boxes=slice_boxes, captions=captions,
                                    title=f"{path.stem} ({info.acquisition}), slice {shown}, random mask {accel:g}x "
                                          f"(centre {centre:g}); scores of this slice")
                    figures.append((f"{path.stem}, slice {shown}, {accel:g}x: every method, error maps, lesion zooms",
                                    figure))
                    overall.update()
            overall.set_description_str(f"{path.stem} masks figure", refresh=False)
            mask_figure = out / f"{path.stem}_masks.png"
            save_mask_figure(mask_figure, masks, info.image_shape)
            figures.append((f"{path.stem}: the sampling masks", mask_figure))
            overall.update()
    _write_report(out, rows, describe_machine(rows[0].device if rows else None), figures)
    if not quiet:
        print((out / "report.md").read_text())
    return rows


def _caption(scores: Scores) -> str:
    text = f"PSNR {scores.psnr:.2f} dB"
    if scores.num_lesion_slices:
        text += f" \u00b7 LF-PSNR {scores.lf_psnr:.2f} dB"
    return text


def _write_report(out: Path, rows: list[DemoRow], machine: str, figures: Sequence[tuple[str, Path]] = ()) -> None:
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
            f"{s.psnr:.2f} | {s.ssim:.4f} | {s.nmse:.4f} | {_lf(s.lf_psnr, '.2f')} | {_lf(s.lf_ssim, '.4f')} | "
            f"{r.ms_per_slice:.1f} |"
        )
    if figures:
        lines += ["", "## Figures", "",
                  "Images in the display frame (superior at the top), lesion boxes outlined; one grey scale and one",
                  "error scale per figure; PSNR and LF-PSNR under each name are those of the slice shown.", ""]
        for caption, figure in figures:
            lines += [f"### {caption}", "", f"![{caption}]({figure.name})", ""]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "report.json", json.dumps(
        [_finite({"volume": r.volume, "acquisition": r.acquisition, "method": r.method, "acceleration": r.acceleration,
                  "achieved_acceleration": r.achieved_acceleration, "ms_per_slice": r.ms_per_slice, **r.scores.as_dict()})
         for r in rows], indent=2, allow_nan=False) + "\n")


def _lf(value: float, spec: str) -> str:
    """A lesion-focused score, or a dash where no scored slice has a lesion box (NaN)."""
    return format(value, spec) if np.isfinite(value) else "\u2013"


def _finite(row: dict[str, object]) -> dict[str, object]:
    """``row`` with NaN scores (no lesion box among the scored slices) as None: JSON has no NaN."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
