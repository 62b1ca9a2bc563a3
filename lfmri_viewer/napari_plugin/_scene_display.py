"""The display part of the napari scene: frame, the shared contrast window, the grid.

:class:`SceneDisplay` is a part of :class:`~._scene.Scene` (a base class of it): the reference
and the reconstructions share one contrast window (linked: changing one changes all;
:meth:`~SceneDisplay.apply_window` sets a preset), and :meth:`~SceneDisplay.set_grid` shows them
side by side in napari's grid, one camera for all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from napari.layers import Image

from lfmri_core.display import DisplayFrame
from lfmri_core.errors import InputError
from lfmri_viewer.controller import SessionController

if TYPE_CHECKING:
    import napari


class SceneDisplay:
    """Contrast window and grid of the scene's image layers (see :class:`~._scene.Scene`)."""

    viewer: napari.viewer.Viewer
    controller: SessionController
    reference: Image | None
    reconstructions: dict[str, Image]
    window_listeners: list[Callable[[tuple[float, float]], None]]
    _window: tuple[float, float] | None
    _linking: bool
    _link_contrast: bool
    _grid_visibility: dict[int, bool] | None

    def _range(self) -> tuple[float, float]:
        raise NotImplementedError

    @property
    def _frame(self) -> DisplayFrame | None:
        return self.controller.display_frame if self.controller.is_open else None

    @property
    def _kspace_frame(self) -> DisplayFrame | None:
        return DisplayFrame.for_kspace(self.controller.info) if self.controller.is_open else None

    def windowed_layers(self) -> list[Image]:
        """The reference and the reconstructions: the layers that share one contrast window."""
        layers = [self.reference] if self.reference is not None else []
        return layers + list(self.reconstructions.values())

    @property
    def window(self) -> tuple[float, float]:
        """The contrast window of the reference and the reconstructions."""
        return self._range()

    @property
    def link_contrast(self) -> bool:
        return self._link_contrast

    def set_link_contrast(self, on: bool) -> None:
        """Link the contrast of the reference and every reconstruction (on: a change of one
        changes all, and they take the reference's window now)."""
        self._link_contrast = bool(on)
        if self._link_contrast and self.reference is not None:
            self._set_limits(tuple(self.reference.contrast_limits))  # type: ignore[arg-type]

    def apply_window(self, preset: str) -> tuple[float, float]:
        """Set the reference and every reconstruction to a window/level preset (one of
        :data:`~lfmri_core.display.WINDOW_PRESETS`); returns its limits."""
        presets = self.controller.window_presets()
        if preset not in presets:
            raise InputError(f"no window preset {preset!r}; choose one of {', '.join(presets)}")
        self._set_limits(presets[preset])
        return presets[preset]

    def _set_limits(self, limits: tuple[float, float]) -> None:
        self._window = (float(limits[0]), float(limits[1]))
        self._linking = True
        try:
            for layer in self.windowed_layers():
                if tuple(layer.contrast_limits) != self._window:
                    layer.contrast_limits = self._window
        finally:
            self._linking = False

    def _on_contrast_changed(self, event: Any = None) -> None:
        if self._linking:
            return
        source = getattr(event, "source", None)
        if source is None or not any(source is layer for layer in self.windowed_layers()):
            return
        limits = (float(source.contrast_limits[0]), float(source.contrast_limits[1]))
        if self._link_contrast:
            self._set_limits(limits)
        for listener in self.window_listeners:
            listener(limits)

    @property
    def grid(self) -> bool:
        """Whether the reference and the reconstructions are shown side by side."""
        return self._grid_visibility is not None

    def set_grid(self, on: bool) -> None:
        """Side by side (napari's grid, one camera: zoom and pan move every panel together):
        the reference and every reconstruction visible, one per panel, the overlays (CAM,
        error maps, boxes, k-space) hidden; off restores the visibilities from before."""
        grid = _grid_model(self.viewer)
        if on and self._grid_visibility is None:
            self._grid_visibility = {id(layer): layer.visible for layer in self.viewer.layers}
            shown = self.windowed_layers()
            for layer in self.viewer.layers:
                layer.visible = any(layer is s for s in shown)
            grid.stride = -1  # the reference (lowest layer) in the first panel
            grid.enabled = True
        elif not on and self._grid_visibility is not None:
            grid.enabled = False
            for layer in self.viewer.layers:
                if id(layer) in self._grid_visibility:
                    layer.visible = self._grid_visibility[id(layer)]
            self._grid_visibility = None


def scale_bar(viewer: napari.viewer.Viewer) -> Any:
    # napari 0.9 moved the scale bar to viewer.canvas.overlays (viewer.scale_bar is deprecated).
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)
    return overlays.scale_bar if hasattr(overlays, "scale_bar") else viewer.scale_bar


def _grid_model(viewer: napari.viewer.Viewer) -> Any:
    # napari 0.9 moved the grid to viewer.canvas.grid (viewer.grid is deprecated there).
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid


__all__ = ["SceneDisplay", "scale_bar"]
