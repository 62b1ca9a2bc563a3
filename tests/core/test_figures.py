"""The demo's comparison figure: a grid with one row per image, error maps, colorbars, the
per-panel captions and a zoom on each lesion box that shows the box's own pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lfmri_core.figures import MAX_ZOOMS, comparison_figure, save_comparison, to_display
from lfmri_core.io.annotations import LesionBox


def _images(shape: tuple[int, int] = (64, 48)) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.2, 1.0, shape).astype(np.float32)
    return reference, {f"method {i}": reference + rng.normal(0, 0.05 * (i + 1), shape).astype(np.float32) for i in range(4)}


def test_one_row_per_image_with_error_maps_zooms_and_colorbars() -> None:
    reference, panels = _images()
    boxes = [LesionBox(slice=0, label="Meniscus Tear", row0=5, row1=15, col0=4, col1=20),
             LesionBox(slice=0, label="Joint Effusion", row0=30, row1=34, col0=30, col1=36)]
    captions = {name: f"PSNR {30 + i:.2f} dB" for i, name in enumerate(panels)}
    fig = comparison_figure(panels, reference, boxes=boxes, captions=captions, title="t")
    grid = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(grid) == (1 + len(panels)) * (2 + len(boxes))
    assert len(colorbars) == 2
    titles = [ax.get_title() for ax in grid]
    assert titles[0] == "fully sampled (reference)"
    for name, caption in captions.items():
        assert f"{name}\n{caption}" in titles
    assert "zoom: Meniscus Tear" in titles and "zoom: Joint Effusion" in titles
    # the larger box is zoomed first
    assert titles.index("zoom: Meniscus Tear") < titles.index("zoom: Joint Effusion")


def test_a_zoom_shows_the_box_in_the_display_frame() -> None:
    """A reference that is 1 inside a box (stored frame) and 0 elsewhere: in the zoom, the pixels
    inside the drawn rectangle are exactly the ones, whatever the flip to the display frame."""
    shape = (64, 48)
    box = LesionBox(slice=0, label="lesion", row0=6, row1=14, col0=10, col1=22)
    reference = np.zeros(shape, np.float32)
    reference[box.row0:box.row1, box.col0:box.col1] = 1.0
    fig = comparison_figure({"copy": reference.copy()}, reference, boxes=[box])
    zoom = [ax for ax in fig.axes if ax.get_title() == "zoom: lesion"][0]
    shown = zoom.images[0]
    data = np.asarray(shown.get_array())
    left, right, bottom, top = shown.get_extent()
    rows = np.arange(int(top + 0.5), int(bottom + 0.5))
    cols = np.arange(int(left + 0.5), int(right + 0.5))
    assert data.shape == (len(rows), len(cols))
    rectangle = zoom.patches[0]
    x0, y0 = rectangle.get_xy()
    inside = ((rows[:, None] >= y0 + 0.5) & (rows[:, None] < y0 + 0.5 + rectangle.get_height())
              & (cols[None, :] >= x0 + 0.5) & (cols[None, :] < x0 + 0.5 + rectangle.get_width()))
    np.testing.assert_array_equal(data, inside.astype(np.float32))
    np.testing.assert_array_equal(data, to_display(reference)[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    assert inside.sum() == box.area


def test_zooms_are_capped_and_the_file_is_written(tmp_path: Path) -> None:
    reference, panels = _images()
    boxes = [LesionBox(slice=0, label=f"l{i}", row0=2 * i, row1=2 * i + 3 + i, col0=i, col1=i + 4) for i in range(5)]
    fig = comparison_figure(panels, reference, boxes=boxes)
    assert sum(ax.get_title().startswith("zoom:") for ax in fig.axes) == MAX_ZOOMS
    out = save_comparison(tmp_path / "c.png", panels, reference, boxes=boxes)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
