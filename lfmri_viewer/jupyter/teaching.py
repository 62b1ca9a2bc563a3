"""Static figures for teaching accelerated MRI (``examples/teaching.ipynb`` uses them).

Every figure is computed through a :class:`~lfmri_viewer.controller.SessionController`, so its
masks, references and numbers are those the viewers show. The helpers try settings on the
controller inside :func:`trial_settings` and put the previous settings back afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
from IPython.display import HTML
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lfmri_core.display import CAM_COLORMAP, ERROR_COLORMAP, IMAGE_COLORMAP
from lfmri_core.io.annotations import LesionBox
from lfmri_viewer.controller import SessionController
from lfmri_viewer.formatting import (
    FAILURE_COLUMNS,
    READOUT_COLUMNS,
    failure_cells,
    hit,
    number,
    peak,
    readout_cells,
)
from lfmri_viewer.jobs import run_sync
from lfmri_viewer.jupyter._figure import cam_overlay, draw_boxes, imshow_display
from lfmri_viewer.jupyter._tables import html_table
from lfmri_viewer.results import Readout

ZERO_FILLED = "zero-filled"


def fastmri_center_fraction(acceleration: float) -> float:
    """fastMRI's pairing of centre fraction and acceleration (0.08 at 4x, 0.04 at 8x), i.e.
    ``0.32 / acceleration``, kept within ``[0.02, 0.32]``."""
    return float(min(max(0.32 / float(acceleration), 0.02), 0.32))


@contextlib.contextmanager
def trial_settings(controller: SessionController) -> Iterator[SessionController]:
    """Run the block with the controller's jobs synchronous and auto-update off; restore its
    settings, runner and auto-update afterwards (also after an error)."""
    settings, auto, runner = controller.settings, controller.auto_update, controller.runner
    controller.set_auto_update(False)
    controller.runner = run_sync
    try:
        yield controller
    finally:
        controller.runner = runner
        controller.update(**{f.name: getattr(settings, f.name) for f in fields(settings)})
        controller.set_auto_update(auto)


def annotated_slices(controller: SessionController) -> list[int]:
    """Slices with at least one non-empty lesion box, in order."""
    return [i for i in range(controller.num_slices) if any(not b.is_empty for b in controller.boxes(i))]


def most_annotated_slice(controller: SessionController) -> int:
    """The slice with the most boxes (nearest the middle among equals): a good teaching slice."""
    middle = (controller.num_slices - 1) / 2
    return max(range(controller.num_slices), key=lambda i: (len(controller.boxes(i)), -abs(i - middle)))


def reconstruct_slices(controller: SessionController, indices: Iterable[int], methods: Sequence[str]) -> None:
    """Reconstruct ``indices`` with ``methods`` now (synchronously), skipping results already there."""
    runner = controller.runner
    controller.runner = run_sync
    try:
        for index in indices:
            controller.reconstruct_slice(index, methods=methods)
    finally:
        controller.runner = runner


def readout_table(readouts: Iterable[Readout]) -> HTML:
    """Readouts as the viewers' metrics table (same columns and strings)."""
    return HTML(html_table(READOUT_COLUMNS, [readout_cells(r) for r in readouts], css_class="lfmri-readouts",
                           empty="no readouts"))


def failure_table(controller: SessionController, method: str) -> HTML:
    """The CAM failure-case table of ``method`` (the viewers' columns and strings)."""
    rows = [failure_cells(case) for case in controller.failure_cases(method)]
    return HTML(html_table(FAILURE_COLUMNS, rows, css_class="lfmri-failures", empty="no annotated slice has a CAM yet"))


def _figure(rows: int, columns: int, panel: float = 2.6) -> tuple[Figure, np.ndarray]:
    figure = Figure(figsize=(panel * columns, panel * rows + 0.3), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    return figure, axes


def _recon_title(r: Readout) -> str:
    return f"PSNR {number(r.psnr)} · LF-PSNR {number(r.lf_psnr)} dB"


def aliasing_figure(
    controller: SessionController,
    accelerations: Sequence[float] = (2, 4, 8, 12),
    *,
    index: int | None = None,
    mask: str = "random",
) -> Figure:
    """Undersampled k-space, the zero-filled image and its error at increasing acceleration.

    One column per acceleration (centre fraction :func:`fastmri_center_fraction`); rows: the
    sampled k-space ``log(1 + |k|)``, the zero-filled reconstruction with the lesion boxes
    (aliasing: copies of the knee folded along the phase-encode axis), ``|error|``.
    """
    index = controller.slice_index if index is None else index
    figure, axes = _figure(3, len(accelerations))
    maxval = controller.maxval or 1.0
    boxes = controller.boxes(index)
    with trial_settings(controller):
        for column, acceleration in enumerate(accelerations):
            controller.update(mask=mask, acceleration=float(acceleration), methods=(ZERO_FILLED,),
                              center_fraction=fastmri_center_fraction(acceleration))
            controller.reconstruct_slice(index)
            achieved = controller.mask().achieved_acceleration
            axes[0, column].imshow(controller.kspace_image(index), cmap="gray")
            axes[0, column].set_title(f"{acceleration:g}x requested, {achieved:.1f}x achieved", fontsize=9)
            _image_and_error(axes, column, controller, ZERO_FILLED, index, boxes, maxval)
    figure.suptitle(f"{mask} mask, slice {index}: sampled k-space, zero-filled image, error", fontsize=11)
    return figure


def _image_and_error(axes: Any, column: int, controller: SessionController, method: str, index: int,
                     boxes: Sequence[LesionBox], maxval: float) -> None:
    """Rows 1 and 2 of a column: ``method``'s image with its readout and boxes, and its error."""
    result = controller.result(method, index)
    assert result is not None, "a synchronous job stores its result"
    frame = controller.display_frame
    imshow_display(axes[1, column], result.image, frame, cmap=IMAGE_COLORMAP, vmin=0.0, vmax=maxval)
    axes[1, column].set_title(_recon_title(controller.readouts(index)[method]), fontsize=9)
    draw_boxes(axes[1, column], boxes, frame=frame)
    error = controller.error_map(method, index)
    if error is not None:
        imshow_display(axes[2, column], error, frame, cmap=ERROR_COLORMAP, vmin=0.0, vmax=controller.error_limits()[1])
    axes[2, column].set_title(f"|{method} − reference|", fontsize=9)
    draw_boxes(axes[2, column], boxes, frame=frame)


def mask_comparison_figure(
    controller: SessionController,
    masks: Sequence[str] = ("random", "equispaced_fraction", "poisson", "gaussian"),
    *,
    acceleration: float = 4.0,
    center_fraction: float = 0.08,
    index: int | None = None,
    method: str = ZERO_FILLED,
) -> Figure:
    """Mask types at one acceleration: the mask, the reconstruction (with boxes) and its error.

    Line masks (fastMRI's) undersample the phase-encode axis only and alias coherently; 2-D
    variable-density masks (``poisson``, ``gaussian``) spread the aliasing into noise-like
    artefacts, which is what compressed sensing and learned methods exploit.
    """
    index = controller.slice_index if index is None else index
    figure, axes = _figure(3, len(masks))
    maxval = controller.maxval or 1.0
    boxes = controller.boxes(index)
    with trial_settings(controller):
        for column, name in enumerate(masks):
            controller.update(mask=name, acceleration=float(acceleration), center_fraction=center_fraction, methods=(method,))
            controller.reconstruct_slice(index)
            axes[0, column].imshow(controller.mask_image(), cmap="gray", vmin=0.0, vmax=1.0)
            axes[0, column].set_title(f"{name}: {controller.mask().achieved_acceleration:.1f}x achieved", fontsize=9)
            _image_and_error(axes, column, controller, method, index, boxes, maxval)
    figure.suptitle(f"mask types at {acceleration:g}x, {method}, slice {index}", fontsize=11)
    return figure


def failure_gallery_figure(controller: SessionController, method: str, count: int = 3) -> Figure:
    """The ``count`` worst CAM failure cases of ``method``: its reconstruction with the CAM
    over it, the boxes, and a cross at the CAM's peak (where Net_c "pointed")."""
    cases = controller.failure_cases(method)[:count]
    figure, axes = _figure(1, max(len(cases), 1), panel=3.2)
    if not cases:
        axes[0, 0].set_title(f"no annotated slice has a CAM from {method} yet", fontsize=9)
        return figure
    maxval = controller.maxval or 1.0
    for ax, case in zip(axes[0], cases, strict=False):
        result = controller.result(method, case.slice)
        assert result is not None and result.cam is not None, "failure cases come from stored CAMs"
        frame = controller.display_frame
        imshow_display(ax, result.image, frame, cmap=IMAGE_COLORMAP, vmin=0.0, vmax=maxval)
        imshow_display(ax, cam_overlay(result.cam), frame, cmap=CAM_COLORMAP, vmin=0.0, vmax=1.0, alpha=0.5)
        draw_boxes(ax, controller.boxes(case.slice), labels=True, frame=frame)
        row, col = np.unravel_index(int(np.argmax(result.cam)), result.cam.shape)
        y, x = frame.to_display(row, col)
        ax.plot([x], [y], marker="x", color="white", markersize=9, markeredgewidth=2)
        ax.set_title(f"slice {case.slice} · CAM in box {hit(case.hit)} · peak "
                     f"{peak(case.peak_distance, case.peak_distance_mm)} away", fontsize=9)
    figure.suptitle(f"CAM failure cases of {method} (worst first)", fontsize=11)
    return figure


__all__ = [
    "aliasing_figure",
    "annotated_slices",
    "failure_gallery_figure",
    "failure_table",
    "fastmri_center_fraction",
    "mask_comparison_figure",
    "most_annotated_slice",
    "readout_table",
    "reconstruct_slices",
    "trial_settings",
]
