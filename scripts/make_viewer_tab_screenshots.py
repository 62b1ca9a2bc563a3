"""The screenshots of the dock's newer parts (docs/viewer.md), beside `lfmri-view --screenshots`.

Renders the embedded PD sample as `lfmri-view` does (same window size, slice and dock) at fastMRI's
8x knee setting and writes two PNGs of the whole window into the folder given:

- ``viewer_mask.png``: *Draw the mask* on, a few phase-encode lines toggled on the k-space
  sampling layer (shown over the log k-space, the images hidden) and committed, every readout
  column shown (``all columns``);
- ``viewer_movie.png``: the *Movie* tab after *Show iterations* of CG-SENSE, the slider on an
  early iterate (the ``cg-sense iterations`` layer on top).

Run it under a display or Xvfb (``scripts/make_screenshots.sh`` does): napari cannot render offscreen.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lfmri_core.io.atomic import atomic_path
from lfmri_viewer.cli import _parser, _settle, _setup, quiet_start

ACCELERATION, CENTRE = 8.0, 0.04
DRAWN_LINES = (96, 104, 216, 224)
"""Phase-encode lines toggled in the mask shot (columns of the sample's 320-wide k-space)."""
ITERATIVE_METHOD, SHOWN_ITERATE = "cg-sense", 2


def _shot(viewer: object, path: Path) -> Path:
    with atomic_path(path) as tmp:
        viewer.screenshot(str(tmp.with_suffix(".png")), canvas_only=False, flash=False)  # type: ignore[attr-defined]
        tmp.with_suffix(".png").replace(tmp)
    return path


def main(out: str) -> list[Path]:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    quiet_start()
    from napari._qt import qt_main_window

    qt_main_window.SHOW_QT_WARNING = False  # its toast would sit over the scene
    args = _parser().parse_args(["--screenshots"])
    viewer, widget = _setup(args)
    written = []
    try:
        session = widget.controller
        session.update(acceleration=ACCELERATION, center_fraction=CENTRE)
        session.reconstruct_slice()
        _settle(widget)

        widget.all_columns.setChecked(True)
        editor = widget.mask_editor
        editor.edit.setChecked(True)
        for column in DRAWN_LINES:
            editor.toggle_line(column)
        editor.commit()
        _settle(widget)
        widget.controls_scroll.ensureWidgetVisible(editor)
        # The sampling layer over the log k-space alone (the images would hide the k-space).
        shown = {layer.name: layer.visible for layer in viewer.layers}
        for layer in viewer.layers:
            layer.visible = layer is editor.layer or layer.name.endswith(" k-space")
        viewer.reset_view()
        _settle(widget)
        written.append(_shot(viewer, folder / "viewer_mask.png"))
        for layer in viewer.layers:
            layer.visible = shown.get(layer.name, layer.visible)

        editor.reset()
        editor.edit.setChecked(False)
        _settle(widget)
        panel = widget.animation
        widget.results_tabs.setCurrentWidget(panel)
        panel.sweep.setCurrentText("iterations")
        panel.method.setCurrentText(ITERATIVE_METHOD)
        panel.show_iterations()
        panel.iteration.setValue(SHOWN_ITERATE)
        viewer.reset_view()
        _settle(widget)
        written.append(_shot(viewer, folder / "viewer_movie.png"))
    finally:
        viewer.close()
    print("wrote " + ", ".join(str(p) for p in written))
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_viewer_tab_screenshots.py OUT_FOLDER")
    main(sys.argv[1])
