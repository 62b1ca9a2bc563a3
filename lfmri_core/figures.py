"""Static figures (PNG) of slices, lesion boxes, reconstructions and error maps.

Images are shown in the display frame of :mod:`lfmri_core.display` (the radiological
convention of the fastMRI+ labellers: the stored reconstruction flipped up/down, superior at the
top for knee), the frame the napari and Jupyter viewers use too, with boxes drawn as half-open
pixel rectangles and a scale bar in mm when the volume's geometry is known. matplotlib is imported inside the functions, so importing this module pulls
in no plotting library, and they draw on bare ``Figure`` objects (no pyplot state).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lfmri_core.display import ERROR_COLORMAP, IMAGE_COLORMAP, DisplayFrame
from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.atomic import atomic_path

#: Outline colours per lesion label (others get the last colour).
_BOX_COLOURS = ("#ffd21f", "#ff5a36", "#33d6ff", "#7cff5a", "#ff66d9", "#ffffff")


def to_display(image: np.ndarray) -> np.ndarray:
    """Stored reconstruction frame -> display frame (up/down flip), pixel for pixel."""
    return DisplayFrame(np.shape(image)[-2:]).display_array(image)


def _show(ax, image: np.ndarray, frame: DisplayFrame, **kwargs) -> None:  # type: ignore[no-untyped-def]
    """``image`` (stored frame) on ``ax`` in ``frame``'s display frame."""
    ax.imshow(image, extent=frame.extent(), interpolation="nearest", **kwargs)
    xlim, ylim = frame.limits()
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)


def _draw_boxes(ax, boxes: Sequence[LesionBox], frame: DisplayFrame, labels: list[str]) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.patches import Rectangle

    for box in boxes:
        if box.is_empty:
            continue
        if box.label not in labels:
            labels.append(box.label)
        colour = _BOX_COLOURS[min(labels.index(box.label), len(_BOX_COLOURS) - 1)]
        top, bottom, left, right = frame.box_edges(box)
        ax.add_patch(Rectangle((left, top), right - left, bottom - top, fill=False, edgecolor=colour, linewidth=1.2))


def _draw_boxes_flipped(ax, boxes: Sequence[LesionBox], height: int, labels: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The boxes on an image shown with :func:`to_display` in pixel coordinates (no extent)."""
    from matplotlib.patches import Rectangle

    for box in boxes:
        if box.is_empty:
            continue
        x, y, w, h = box.to_labelling_frame(height)
        if box.label not in labels:
            labels.append(box.label)
        colour = _BOX_COLOURS[min(labels.index(box.label), len(_BOX_COLOURS) - 1)]
        # Pixel (r, c) covers [c - 0.5, c + 0.5): a half-open box [x, x + w) starts at x - 0.5.
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor=colour, linewidth=1.2))


def _scale_bar(ax, frame: DisplayFrame) -> None:  # type: ignore[no-untyped-def]
    if frame.unit != "mm":
        return
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    length = frame.scale_bar_length()
    ax.add_artist(AnchoredSizeBar(ax.transData, length, f"{length:g} mm", "lower right", color="white",
                                  frameon=False, size_vertical=0, fontproperties={"size": 7}))


def _legend(fig, labels: list[str]) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.lines import Line2D

    if labels:
        handles = [Line2D([], [], color=_BOX_COLOURS[min(i, len(_BOX_COLOURS) - 1)], lw=2) for i in range(len(labels))]
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8, frameon=False,
                   labelcolor="white")


def _figure(rows: int, cols: int, size: tuple[float, float]):  # type: ignore[no-untyped-def]
    # A bare Figure, not pyplot: no global backend switch, so this also runs inside notebooks
    # and GUI sessions without touching their backend.
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    fig.patch.set_facecolor("black")
    return fig, fig.subplots(rows, cols, squeeze=False)


def _save(fig, path: str | os.PathLike[str]) -> Path:  # type: ignore[no-untyped-def]
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, facecolor="black")
    return Path(path)


def save_panels(
    path: str | os.PathLike[str],
    panels: Mapping[str, np.ndarray],
    *,
    boxes: Sequence[LesionBox] = (),
    reference: np.ndarray | None = None,
    error_max: float | None = None,
    title: str = "",
    frame: DisplayFrame | None = None,
) -> Path:
    """One row of magnitude images (stored frame) with the lesion boxes on each, and, when a
    ``reference`` is given, a second row of error maps ``|image - reference|`` on one fixed
    scale (``error_max``, default 20% of the reference maximum) so panels compare.

    Everything is drawn in ``frame``'s display frame (default: that of the images, in pixels);
    a frame with a pixel spacing adds a scale bar in mm to the first panel."""
    return _save(panels_figure(panels, boxes=boxes, reference=reference, error_max=error_max, title=title,
                               frame=frame), path)


def panels_figure(
    panels: Mapping[str, np.ndarray],
    *,
    boxes: Sequence[LesionBox] = (),
    reference: np.ndarray | None = None,
    error_max: float | None = None,
    title: str = "",
    frame: DisplayFrame | None = None,
):  # type: ignore[no-untyped-def]
    """The figure :func:`save_panels` saves (a matplotlib ``Figure``)."""
    names = list(panels)
    frame = frame or DisplayFrame(np.shape(next(iter(panels.values())))[-2:])
    rows = 2 if reference is not None else 1
    fig, axes = _figure(rows, len(names), (3.0 * len(names), 3.1 * rows + 0.5))
    vmax = float(np.percentile(reference if reference is not None else next(iter(panels.values())), 99.5))
    labels: list[str] = []
    for col, name in enumerate(names):
        image = np.asarray(panels[name])
        ax = axes[0, col]
        _show(ax, image, frame, cmap=IMAGE_COLORMAP, vmin=0, vmax=vmax)
        _draw_boxes(ax, boxes, frame, labels)
        if col == 0:
            _scale_bar(ax, frame)
        ax.set_title(name, color="white", fontsize=9)
        if reference is not None and image is reference:
            axes[1, col].set_visible(False)  # the reference's own error map is empty
        elif reference is not None:
            err = np.abs(image - reference)
            emax = error_max if error_max is not None else 0.2 * float(reference.max())
            _show(axes[1, col], err, frame, cmap=ERROR_COLORMAP, vmin=0, vmax=emax)
            _draw_boxes(axes[1, col], boxes, frame, labels)
            axes[1, col].set_title(f"|error| (0 to {emax:.3g})", color="white", fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    if title:
        fig.suptitle(title, color="white", fontsize=10)
    _legend(fig, labels)
    fig.tight_layout(rect=(0, 0.06 if labels else 0, 1, 0.95 if title else 1))
    return fig


#: Lesion boxes zoomed in by :func:`save_comparison` (the largest first).
MAX_ZOOMS = 3


def _zoom_window(box: LesionBox, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Display-frame window ``(r0, r1, c0, c1)`` (half-open) around ``box``: the box plus a
    margin of half its size (at least 8 pixels) on every side, clipped to the image."""
    height, width = shape
    margin = max(8, box.height // 2, box.width // 2)
    top = height - box.row1  # the up/down flip of to_display
    return (max(0, top - margin), min(height, top + box.height + margin),
            max(0, box.col0 - margin), min(width, box.col1 + margin))


def save_comparison(
    path: str | os.PathLike[str],
    panels: Mapping[str, np.ndarray],
    reference: np.ndarray,
    *,
    boxes: Sequence[LesionBox] = (),
    captions: Mapping[str, str] | None = None,
    error_max: float | None = None,
    title: str = "",
    dpi: int = 110,
) -> Path:
    """:func:`comparison_figure` written to ``path`` (PNG, ``dpi``), atomically."""
    fig = comparison_figure(panels, reference, boxes=boxes, captions=captions, error_max=error_max, title=title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, facecolor="black")
    return Path(path)


def comparison_figure(
    panels: Mapping[str, np.ndarray],
    reference: np.ndarray,
    *,
    boxes: Sequence[LesionBox] = (),
    captions: Mapping[str, str] | None = None,
    error_max: float | None = None,
    title: str = "",
):  # type: ignore[no-untyped-def]
    """A grid (a matplotlib ``Figure``) that compares reconstructions with their ``reference``,
    one row per panel.

    Columns: the image (display frame, lesion boxes drawn), its error map ``|image - reference|``
    and a zoom on each lesion box (at most :data:`MAX_ZOOMS`, the largest first). The images
    share one grey scale (0 to the reference's 99.5th percentile) and the error maps one
    ``inferno`` scale (0 to ``error_max``, default 20% of the reference maximum), each with a
    colorbar. ``captions`` adds a line under each panel's name (its PSNR, say). The reference
    is the first row, whether or not ``panels`` names it.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    reference = np.asarray(reference)
    rows = {"fully sampled (reference)": reference}
    rows.update({name: np.asarray(image) for name, image in panels.items() if panels[name] is not reference})
    zoomed = sorted((b for b in boxes if not b.is_empty), key=lambda b: -b.area)[:MAX_ZOOMS]
    ncols = 2 + len(zoomed)
    vmax = float(np.percentile(reference, 99.5))
    emax = error_max if error_max is not None else 0.2 * float(reference.max())
    fig = Figure(figsize=(2.5 * ncols + 0.3, 2.55 * len(rows) + 1.2 + (0.3 if title else 0)), layout="constrained")
    fig.patch.set_facecolor("black")
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    labels: list[str] = []
    shape = reference.shape[-2:]
    height = shape[0]
    image_artist = error_artist = None
    for r, (name, image) in enumerate(rows.items()):
        shown = to_display(image)
        ax = axes[r, 0]
        image_artist = ax.imshow(shown, cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
        _draw_boxes_flipped(ax, boxes, height, labels)
        caption = (captions or {}).get(name, "")
        ax.set_title(name + (f"\n{caption}" if caption else ""), color="white", fontsize=9)
        err_ax = axes[r, 1]
        if image is reference:
            err_ax.text(0.5, 0.5, "reference:\nno error map", color="#888888", ha="center", va="center",
                        fontsize=8, transform=err_ax.transAxes)
        else:
            error_artist = err_ax.imshow(to_display(np.abs(image - reference)), cmap=ERROR_COLORMAP, vmin=0, vmax=emax,
                                         interpolation="nearest")
            _draw_boxes_flipped(err_ax, boxes, height, labels)
        if r == 0:
            err_ax.set_title("|error|", color="white", fontsize=9)
        for k, box in enumerate(zoomed):
            zoom_ax = axes[r, 2 + k]
            r0, r1, c0, c1 = _zoom_window(box, shape)
            zoom_ax.imshow(shown[r0:r1, c0:c1], cmap="gray", vmin=0, vmax=vmax, interpolation="nearest",
                           extent=(c0 - 0.5, c1 - 0.5, r1 - 0.5, r0 - 0.5))
            x, y, w, h = box.to_labelling_frame(height)
            colour = _BOX_COLOURS[min(labels.index(box.label), len(_BOX_COLOURS) - 1)] if box.label in labels else "white"
            zoom_ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor=colour, linewidth=1.2))
            if r == 0:
                zoom_ax.set_title(f"zoom: {box.label.strip()}", color="white", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_facecolor("black")
    for artist, column, label in ((image_artist, 0, "intensity"), (error_artist, 1, "|error|")):
        if artist is None:
            continue
        bar = fig.colorbar(artist, ax=list(axes[:, column]), location="bottom", shrink=0.9, aspect=18, pad=0.01)
        bar.set_label(label, color="white", fontsize=8)
        bar.ax.tick_params(colors="white", labelsize=7)
        bar.outline.set_edgecolor("white")
    if title:
        fig.suptitle(title, color="white", fontsize=11)
    _legend(fig, labels)
    if labels:
        fig.get_layout_engine().set(rect=(0, 0.03, 1, 0.97))
    return fig


def save_mask_figure(path: str | os.PathLike[str], masks: Mapping[str, np.ndarray], shape: tuple[int, int]) -> Path:
    """Sampling masks as k-space images (1-D line masks broadcast over the readout)."""
    fig, axes = _figure(1, len(masks), (2.6 * len(masks), 2.9))
    for ax, (name, mask) in zip(axes[0], masks.items(), strict=True):
        pattern = np.broadcast_to(np.asarray(mask, bool), shape) if np.ndim(mask) == 1 else np.asarray(mask, bool)
        ax.imshow(pattern, cmap="gray", interpolation="nearest", aspect="auto")
        ax.set_title(name, color="white", fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    return _save(fig, path)
