"""The notebook viewer's figure: six panels (reference, reconstruction with CAM overlay and
boxes, error map, CAM, mask, sampled k-space) drawn from the session's state.

:class:`FigurePanels` is a part of :class:`~._widget.LFMRIWidget` (a base class of it).
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from lfmri_core.display import CAM_COLORMAP, ERROR_COLORMAP, describe_units
from lfmri_core.errors import InputError
from lfmri_viewer.controller import SessionController
from lfmri_viewer.formatting import hit, number, peak
from lfmri_viewer.jobs import Job
from lfmri_viewer.jupyter._figure import (
    FigureHost,
    cam_overlay,
    draw_boxes,
    image_panel,
    scale_bar,
    show_image,
    zoom_to,
)
from lfmri_viewer.results import Readout

PANELS = ("reference", "reconstruction", "error", "cam", "mask", "kspace")
"""The figure's panels, row by row (2 x 3)."""


class FigurePanels:
    """Builds and draws the figure of :class:`~._widget.LFMRIWidget`."""

    controller: SessionController
    _view_method: str
    _job: Job[Any] | None
    window_dropdown: widgets.Dropdown
    link_contrast_checkbox: widgets.Checkbox
    cam_checkbox: widgets.Checkbox
    opacity_slider: widgets.FloatSlider
    boxes_checkbox: widgets.Checkbox
    units_label: widgets.HTML

    def _on_notice(self, level: str, message: str) -> None:
        raise NotImplementedError

    def _build_figure(self, interactive: bool | None) -> None:
        self._host = FigureHost((11.0, 7.4), interactive)
        self.figure = self._host.figure
        grid = self.figure.subplots(2, 3)
        self.axes = dict(zip(PANELS, grid.ravel(), strict=True))
        self.images = {
            "reference": image_panel(self.axes["reference"], (1, 1)),
            "reconstruction": image_panel(self.axes["reconstruction"], (1, 1)),
            "cam_overlay": image_panel(self.axes["reconstruction"], (1, 1), cmap=CAM_COLORMAP),
            "error": image_panel(self.axes["error"], (1, 1), cmap=ERROR_COLORMAP),
            "cam": image_panel(self.axes["cam"], (1, 1), cmap=CAM_COLORMAP),
            "mask": image_panel(self.axes["mask"], (1, 1)),
            "kspace": image_panel(self.axes["kspace"], (1, 1)),
        }
        self._box_patches: list[Any] = []
        self._scale_bar: Any | None = None

    def _draw(self, view: Readout | None) -> None:
        controller, index = self.controller, self.controller.slice_index
        shape = controller.recon_shape
        method = self._view_method
        result = controller.result(method, index)
        reference = controller.reference(index)
        axes, images = self.axes, self.images
        frame = controller.display_frame
        window = controller.window_presets()[self.window_dropdown.value]

        show_image(images["reference"], reference, window if reference is not None else None, frame)
        axes["reference"].set_title(f"reference · slice {index}" if reference is not None else "no reference in this file")
        if self._scale_bar is not None:
            self._scale_bar.remove()
        self._scale_bar = scale_bar(axes["reference"], frame)
        self.units_label.value = f"<small>{html.escape(describe_units(frame))}</small>"

        # Linked: the reconstruction on the reference's window, so like is compared with like.
        linked = self.link_contrast_checkbox.value
        if result is None:
            for name in ("reconstruction", "cam_overlay", "error", "cam"):
                show_image(images[name], None)
            busy = self._job is not None and not self._job.finished
            waiting = "reconstructing…" if busy else "not reconstructed yet"
            axes["reconstruction"].set_title(f"{method}: {waiting}")
            axes["error"].set_title("|error|")
            axes["cam"].set_title("CAM")
        else:
            show_image(images["reconstruction"], result.image, window if linked else None, frame)
            title = method
            if view is not None:
                title += f" · PSNR {number(view.psnr)} · LF-PSNR {number(view.lf_psnr)} dB"
            axes["reconstruction"].set_title(title)
            error = controller.error_map(method, index)
            show_image(images["error"], error, controller.error_limits(), frame)
            axes["error"].set_title(f"|{method} − reference|" if error is not None else "no reference: no error map")
            show_image(images["cam"], result.cam, (0.0, 1.0), frame)
            overlay = cam_overlay(result.cam) if self.cam_checkbox.value and result.cam is not None else None
            show_image(images["cam_overlay"], overlay, (0.0, 1.0), frame)
            images["cam_overlay"].set_alpha(float(self.opacity_slider.value))
            if result.cam is None:
                axes["cam"].set_title("no CAM (no classifier)")
            else:
                cam_hit = view.cam_hit if view is not None else None
                distance = f" ({peak(view.cam_peak_px, view.cam_peak_mm)} away)" if view is not None and cam_hit is False else ""
                axes["cam"].set_title(f"CAM · p(lesion) {number(result.lesion_probability)} · peak in box {hit(cam_hit)}"
                                      + distance)
        for name in ("reference", "reconstruction", "error", "cam"):
            zoom_to(axes[name], None, shape, frame)

        for patch in self._box_patches:
            patch.remove()
        self._box_patches = []
        if self.boxes_checkbox.value:
            boxes = controller.boxes(index)
            for name in ("reference", "reconstruction", "error", "cam"):
                self._box_patches += draw_boxes(axes[name], boxes, frame=frame)

        try:
            mask = controller.mask()
        except InputError as exc:
            show_image(images["mask"], None)
            show_image(images["kspace"], None)
            axes["mask"].set_title("no mask for these settings")
            axes["kspace"].set_title("")
            self._on_notice("error", str(exc))
            return
        show_image(images["mask"], controller.mask_image(), (0.0, 1.0))
        axes["mask"].set_title(f"{mask.name} mask · {mask.achieved_acceleration:.1f}x achieved")
        kspace = controller.kspace_image(index)
        show_image(images["kspace"], kspace)
        axes["kspace"].set_title("sampled k-space, log(1 + |k|)")
        for name in ("mask", "kspace"):
            zoom_to(axes[name], None, kspace.shape)



__all__ = ["PANELS", "FigurePanels"]
