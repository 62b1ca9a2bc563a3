"""The napari layers of one session, kept in step with its :class:`SessionController`.

The controller owns the state; the :class:`Scene` only mirrors it into layers and turns the
two edits a user makes in the canvas (moving the slice slider, drawing or moving a box) into
controller calls. Layers, all in the stored reconstruction frame with axes
``(slice, row, col)`` unless noted:

- the reference image ``(S, rh, rw)`` (adopted from the reader, or made from the file);
- per method a reconstruction ``(S, rh, rw)``, filled slice by slice as results arrive
  (slices not computed yet are zero), and its error map ``|recon - reference|`` shown on the
  volume's fixed :meth:`~SessionController.error_limits`;
- the CAM ``(S, rh, rw)`` of one chosen method, blended additively over the image;
- the lesion boxes (a shapes layer, see :mod:`._layers`);
- the undersampled k-space and the sampling mask, ``(H, W)`` in the k-space frame (a
  different size from the image), hidden by default; 2-D layers, so they show on every slice.

Reconstruction, error and CAM stacks show the results of the *current* settings: after a
setting changes they are refilled from the controller's cache, so switching back to an earlier
acceleration shows its results at once. With auto-update on, a slice keeps its old image until
the job for the new settings brings its result (or ends without one), rather than going black
in between.

Display: every layer carries the volume's display transform
(:attr:`SessionController.display_frame`: the radiological up/down flip and the pixel size in
mm from the header), so the world of the viewer is the display frame in mm, with napari's scale
bar on; the data stay in the stored frame. The reference and the reconstructions share one
contrast window (linked: changing one changes all; :meth:`Scene.apply_window` sets a preset),
and :meth:`Scene.set_grid` shows them side by side in napari's grid, one camera for all.

The scene is made of parts: :class:`~._scene_display.SceneDisplay` (frame, contrast window,
grid), :class:`~._scene_boxes.SceneBoxes` (the boxes layer and the session's boxes) and
:class:`~._scene_writes.SceneWrites` (results written into the stacks, refreshed once); the
editable sampling layer of a drawn mask is the dock's :class:`~._mask_editor.MaskEditor`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image, Layer, Shapes
from napari.utils.notifications import show_error

from lfmri_core.display import (
    CAM_COLORMAP,
    ERROR_COLORMAP,
    IMAGE_COLORMAP,
)
from lfmri_core.errors import InputError
from lfmri_core.io.fastmri_h5 import VolumeInfo
from lfmri_viewer.controller import SessionController
from lfmri_viewer.napari_plugin._layers import (
    BOXES_ROLE,
    REFERENCE_ROLE,
    ROLE_KEY,
    SOURCE_KEY,
    boxes_layer,
    frame_kwargs,
    reference_layer,
    refill_layer,
    same_volume,
    set_transform,
    volume_stem,
)
from lfmri_viewer.napari_plugin._qt_helpers import RedrawRequest
from lfmri_viewer.napari_plugin._scene_boxes import SceneBoxes, sorted_boxes
from lfmri_viewer.napari_plugin._scene_display import SceneDisplay, scale_bar
from lfmri_viewer.napari_plugin._scene_previews import ScenePreviews
from lfmri_viewer.napari_plugin._scene_writes import SceneWrites
from lfmri_viewer.results import SliceResult
from lfmri_viewer.settings import ReconSettings

if TYPE_CHECKING:
    import napari

RECONSTRUCTION_ROLE = "reconstruction"
ERROR_ROLE = "error"
CAM_ROLE = "cam"
KSPACE_ROLE = "kspace"
MASK_ROLE = "mask"
METHOD_KEY = "lfmri_method"

CAM_OPACITY = 0.5

# Stacking order above the reference (lowest first); the boxes stay on top of everything.
_RANK = {MASK_ROLE: 0, KSPACE_ROLE: 1, RECONSTRUCTION_ROLE: 2, ERROR_ROLE: 3, CAM_ROLE: 4}


class Scene(SceneDisplay, SceneBoxes, ScenePreviews, SceneWrites):
    """Mirrors one :class:`SessionController` into layers of one napari viewer.

    Parameters
    ----------
    viewer
        The viewer whose layer list holds the session's layers.
    controller
        The session; the scene subscribes to its events and calls :meth:`set_slice` and
        :meth:`set_boxes` on it.
    on_error
        Tells the user why an edit in the canvas was refused (one line); default napari's
        error notification.
    """

    def __init__(
        self,
        viewer: napari.viewer.Viewer,
        controller: SessionController,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.viewer = viewer
        self.controller = controller
        self.on_error: Callable[[str], None] = on_error or show_error
        self.reference: Image | None = None
        """The reference image layer (adopted from a reader or made here)."""
        self.boxes: Shapes | None = None
        """The lesion boxes layer; edits in it go to :meth:`SessionController.set_boxes`."""
        self.reconstructions: dict[str, Image] = {}
        self.errors: dict[str, Image] = {}
        self.cam: Image | None = None
        self.kspace: Image | None = None
        self.mask: Image | None = None
        self._own: list[Layer] = []
        self._cam_method: str | None = None
        self._cam_opacity = CAM_OPACITY
        self._create_inputs = True
        self._writing_boxes = False
        self._moving_dims = False
        self._display_max: float | None = None
        self._window: tuple[float, float] | None = None
        """The contrast window shared by the reference and the reconstructions (None: ``[0, max]``)."""
        self._link_contrast = True
        self._linking = False
        self.window_listeners: list[Callable[[tuple[float, float]], None]] = []
        """Called with the new window when a contrast slider of a windowed layer moves."""
        self._drawn: dict[int, tuple[Any, dict[int, object]]] = {}
        """Per layer (by id): its data array and the result each slice of it shows (None: zeros),
        so a refill writes only the slices that change."""
        self._grid_visibility: dict[int, bool] | None = None
        """Layer visibilities from before grid mode (by layer id), restored when it ends."""
        self._stale: dict[int, Layer] = {}
        """Layers written to since the last :meth:`redraw` (by id)."""
        self._redraw_request = RedrawRequest(self.redraw)

        self._refill_due = False
        """The current slice still shows results of earlier settings (see :meth:`_refill`)."""
        events = controller.events
        self._subscriptions: list[tuple[Any, Callable[..., None]]] = [
            (events.volume_opened, self._on_volume_opened), (events.slice_changed, self._on_slice_changed),
            (events.settings_changed, self._on_settings_changed), (events.result_added, self._on_result_added),
            (events.boxes_changed, self._on_boxes_changed), (events.job_finished, self._on_job_finished),
            (viewer.dims.events.point, self._on_dims_point), (viewer.layers.events.removed, self._on_layer_removed),
        ]
        for signal, handler in self._subscriptions:
            signal.connect(handler)

    def disconnect(self) -> None:
        """Stop following the controller and the viewer (the layers stay)."""
        for signal, handler in self._subscriptions:
            signal.disconnect(handler)
        self.redraw()
        self._redraw_request.close()
        if self.boxes is not None:
            self.boxes.events.data.disconnect(self._on_boxes_edited)
            self.boxes.events.features.disconnect(self._on_box_labels_edited)

    # ------------------------------------------------------------------------------------------
    # which layers are the session's
    def owns(self, layer: Layer) -> bool:
        """Whether the scene made ``layer`` (as opposed to adopting it from a reader)."""
        return any(layer is own for own in self._own)

    def derived_layers(self) -> list[Image]:
        """The layers computed from the session (reconstructions, errors, CAM, k-space, mask)."""
        found = [self.mask, self.kspace, *self.reconstructions.values(), *self.errors.values(), self.cam]
        return [layer for layer in found if layer is not None]

    @property
    def cam_method(self) -> str | None:
        """The method whose CAM is shown."""
        return self._cam_method

    @contextlib.contextmanager
    def adopting(self) -> Iterator[None]:
        """Open a volume whose reference and boxes layers a reader is adding to the viewer.

        While this is active a newly opened volume gets only its derived layers; the reference
        and boxes layers are expected to be adopted (:meth:`adopt`), and :meth:`ensure_inputs`
        makes whichever did not come.
        """
        previous, self._create_inputs = self._create_inputs, False
        try:
            yield
        finally:
            self._create_inputs = previous

    def adopt(self, layer: Layer) -> bool:
        """Use a reader's reference or boxes layer of the open volume instead of making one.

        Returns whether the layer was taken (its metadata names the open volume as
        ``lfmri_source`` and its role is the reference or the boxes).
        """
        if not self.controller.is_open or not same_volume(layer.metadata.get(SOURCE_KEY), self.controller.path):
            return False
        role = layer.metadata.get(ROLE_KEY)
        if role == REFERENCE_ROLE and isinstance(layer, Image):
            if layer is not self.reference:
                self._drop(self.reference)
                self._set_reference(layer)
                self._restack()
            return True
        if role == BOXES_ROLE and isinstance(layer, Shapes):
            if layer is not self.boxes:
                self._drop(self.boxes)
                self._set_boxes_layer(layer)
                if sorted_boxes(self._layer_boxes(layer)) != sorted_boxes(self.controller.all_boxes()):
                    self._write_boxes()
            return True
        return False

    def ensure_inputs(self) -> None:
        """Make the reference and boxes layers of the open volume if none was adopted."""
        self._ensure_inputs(None, None)

    def _ensure_inputs(self, old_reference: Image | None, old_boxes: Shapes | None) -> None:
        """Make the missing reference and boxes layers, refilling the given ones of the
        previous volume rather than making new ones."""
        if not self.controller.is_open:
            return
        path = self.controller.path
        assert path is not None
        if self.reference is None:
            data, kwargs, _ = reference_layer(path)
            if old_reference is not None:
                refill_layer(old_reference, data, kwargs)
                self._set_reference(old_reference)
            else:
                self._set_reference(self._insert(Image(data, **kwargs), rank=-1))
        if self.boxes is None:
            data, kwargs, _ = boxes_layer(self.controller.all_boxes(), path, self._shape, self._frame)
            if old_boxes is not None:
                old_boxes.name, old_boxes.metadata = kwargs["name"], kwargs["metadata"]
                set_transform(old_boxes, kwargs)
                old_boxes.text = kwargs["text"]
                self._set_boxes_layer(old_boxes)
                self._write_boxes()
            else:
                layer = Shapes(data, **kwargs)
                self._own.append(layer)
                self.viewer.layers.append(layer)
                self._set_boxes_layer(layer)
        self._restack()

    # ------------------------------------------------------------------------------------------
    # layer bookkeeping
    def _drop(self, layer: Layer | None) -> None:
        """Forget ``layer``; remove it from the viewer when the scene made it."""
        if layer is None:
            return
        self._drawn.pop(id(layer), None)
        self._stale.pop(id(layer), None)
        if layer is self.boxes:
            layer.events.data.disconnect(self._on_boxes_edited)
            self.boxes = None
        if layer is self.reference:
            layer.events.contrast_limits.disconnect(self._on_contrast_changed)
            self.reference = None
        if self.owns(layer):
            self._own = [own for own in self._own if own is not layer]
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)

    def _on_layer_removed(self, event: Any) -> None:
        layer = event.value
        if layer is self.boxes:
            layer.events.data.disconnect(self._on_boxes_edited)
            self.boxes = None
        if layer is self.reference:
            layer.events.contrast_limits.disconnect(self._on_contrast_changed)
            self.reference = None
        if layer is self.cam:
            self.cam = None
        if layer is self.kspace:
            self.kspace = None
        if layer is self.mask:
            self.mask = None
        for table in (self.reconstructions, self.errors):
            for method in [m for m, own in table.items() if own is layer]:
                del table[method]
        self._own = [own for own in self._own if own is not layer]
        self._stale.pop(id(layer), None)

    def _insert(self, layer: Layer, rank: int) -> Layer:
        """Insert a layer the scene made: above the reference and the derived layers of lower
        or equal rank, below the boxes."""
        layers = self.viewer.layers
        below = [self.reference] if self.reference is not None and self.reference in layers else []
        below += [d for d in self.derived_layers() if d in layers and _RANK[d.metadata[ROLE_KEY]] <= rank]
        index = max((layers.index(d) + 1 for d in below), default=len(layers))
        if self.boxes is not None and self.boxes in layers:
            index = min(index, layers.index(self.boxes))
        self._own.append(layer)
        layers.insert(index, layer)
        return layer

    def _restack(self) -> None:
        """Keep the derived layers right above the reference and the boxes on top."""
        layers = self.viewer.layers
        if self.reference is not None and self.reference in layers:
            derived = [d for d in self.derived_layers() if d in layers]
            lowest = min((layers.index(d) for d in derived), default=None)
            if lowest is not None and layers.index(self.reference) > lowest:
                layers.move(layers.index(self.reference), lowest)
        if self.boxes is not None and self.boxes in layers and layers.index(self.boxes) != len(layers) - 1:
            layers.move(layers.index(self.boxes), len(layers))

    def _image(self, data: np.ndarray, role: str, name: str, method: str | None = None, **kwargs: Any) -> Image:
        metadata = {ROLE_KEY: role}
        if method is not None:
            metadata[METHOD_KEY] = method
        transform = (frame_kwargs(self._kspace_frame, leading=0) if role in (KSPACE_ROLE, MASK_ROLE)
                     else frame_kwargs(self._frame))
        layer = self._insert(Image(data, name=name, metadata=metadata, **transform, **kwargs), _RANK[role])
        if role == RECONSTRUCTION_ROLE:
            layer.events.contrast_limits.connect(self._on_contrast_changed)
        return layer

    def _set_reference(self, layer: Image) -> None:
        self.reference = layer
        layer.events.contrast_limits.connect(self._on_contrast_changed)
        if self._window is not None:
            self._set_limits(self._window)

    # ------------------------------------------------------------------------------------------
    # volume
    def _on_volume_opened(self, info: VolumeInfo) -> None:
        # napari recentres the slider when the first layers arrive; the controller's slice wins.
        self._moving_dims = True
        try:
            self._build(info)
            if self.viewer.dims.ndim == 3 and self._frame is not None:  # napari's default labels are -3, -2, -1
                self.viewer.dims.axis_labels = self._frame.napari_transform()["axis_labels"]
            # In the units of the layers: mm from the header, else pixels.
            scale_bar(self.viewer).visible = True
        finally:
            self._moving_dims = False
        self._on_slice_changed(self.controller.slice_index)

    def _build(self, info: VolumeInfo) -> None:
        # The layers the scene made are refilled for the new volume, not made again: napari
        # runs a full garbage collection for every layer it removes.
        old_reference = self.reference if self.reference is not None and self.owns(self.reference) else None
        old_boxes = self.boxes if self.boxes is not None and self.owns(self.boxes) else None
        if self.boxes is not None:
            self.boxes.events.data.disconnect(self._on_boxes_edited)
            self.boxes.events.features.disconnect(self._on_box_labels_edited)
        if self.reference is not None:
            self.reference.events.contrast_limits.disconnect(self._on_contrast_changed)
        self.reference = self.boxes = None
        self._display_max = self.controller.maxval
        self._window = None

        for layer in self.viewer.layers:
            if not self.owns(layer):
                self.adopt(layer)
        if self._create_inputs:
            self._ensure_inputs(old_reference, old_boxes)
        for unused in (old_reference, old_boxes):
            if unused is not None and unused is not self.reference and unused is not self.boxes:
                self._drop(unused)

        mask_name, kspace_name = f"{self._stem} mask", f"{self._stem} k-space"
        empty_kspace = np.zeros(info.image_shape, np.float32)
        if self.mask is None:
            self.mask = self._image(self.controller.mask_image(), MASK_ROLE, mask_name, visible=False,
                                    colormap="gray", contrast_limits=(0.0, 1.0))
            self.mask.events.visible.connect(self._on_mask_visible)
        else:
            refill_layer(self.mask, self.controller.mask_image(), {"name": mask_name, "contrast_limits": (0.0, 1.0),
                                                                    **frame_kwargs(self._kspace_frame, leading=0)})
        if self.kspace is None:
            self.kspace = self._image(empty_kspace, KSPACE_ROLE, kspace_name, visible=False, colormap="gray",
                                      contrast_limits=(0.0, 1.0))
            self.kspace.events.visible.connect(self._on_kspace_visible)
        else:
            refill_layer(self.kspace, empty_kspace, {"name": kspace_name, "contrast_limits": (0.0, 1.0),
                                                     **frame_kwargs(self._kspace_frame, leading=0)})

        self._cam_method = self.controller.settings.methods[-1]
        stack = np.zeros(self._shape, np.float32)
        transform = frame_kwargs(self._frame)
        for layer in self.reconstructions.values():
            refill_layer(layer, stack.copy(), {"contrast_limits": self._range(), **transform})
        for layer in self.errors.values():
            refill_layer(layer, stack.copy(), {"contrast_limits": self.controller.error_limits(), **transform})
        if self.cam is not None:
            refill_layer(self.cam, stack.copy(), {"contrast_limits": (0.0, 1.0), "name": self._cam_name(), **transform})
        self._sync_method_layers()
        self._refill()
        self._restack()

    @property
    def _stem(self) -> str:
        path = self.controller.path
        return volume_stem(path) if path is not None else "volume"

    @property
    def _shape(self) -> tuple[int, int, int]:
        return (self.controller.num_slices, *self.controller.recon_shape)

    def _range(self) -> tuple[float, float]:
        if self._window is not None:
            return self._window
        top = self._display_max
        return (0.0, top) if top else (0.0, 1.0)

    def _sync_method_layers(self) -> None:
        """One reconstruction (and error map, given a reference) layer per chosen method; the
        CAM layer."""
        methods = self.controller.settings.methods
        has_reference = self.controller.reference_volume() is not None
        for method in [m for m in self.reconstructions if m not in methods]:
            self._drop(self.reconstructions.pop(method))
        for method in [m for m in self.errors if m not in methods or not has_reference]:
            self._drop(self.errors.pop(method))
        if self._cam_method not in methods:
            self._cam_method = methods[-1]
        for method in methods:
            if method not in self.reconstructions:
                self.reconstructions[method] = self._image(
                    np.zeros(self._shape, np.float32), RECONSTRUCTION_ROLE, f"{method} recon", method,
                    colormap=IMAGE_COLORMAP, contrast_limits=self._range(),
                    visible=self.grid or method == self._cam_method,
                )
            if has_reference and method not in self.errors:
                self.errors[method] = self._image(
                    np.zeros(self._shape, np.float32), ERROR_ROLE, f"{method} error", method,
                    colormap=ERROR_COLORMAP, contrast_limits=self.controller.error_limits(), visible=False,
                )
        if self.cam is None:
            self.cam = self._image(
                np.zeros(self._shape, np.float32), CAM_ROLE, self._cam_name(), colormap=CAM_COLORMAP,
                contrast_limits=(0.0, 1.0), blending="additive", opacity=self._cam_opacity, visible=not self.grid,
            )

    def _cam_name(self) -> str:
        return f"CAM ({self._cam_method})"

    # ------------------------------------------------------------------------------------------
    # results
    def _on_result_added(self, result: SliceResult) -> None:
        if not self.controller.is_open or result.method not in self.reconstructions:
            return
        if self.controller.result(result.method, result.slice) is not result:
            return  # made with other settings than the current ones
        if self._display_max is None:
            # No reference (undersampled file): scale by the first reconstruction instead.
            self._display_max = float(result.image.max()) or 1.0
            self._window = None  # a preset chosen before any image was there had nothing to go by
            self._set_limits(self._range())
        self._write_slice(result.slice, [result.method])

    def _on_settings_changed(self, settings: ReconSettings) -> None:
        if not self.controller.is_open:
            return
        self._sync_method_layers()
        if self.cam is not None:
            self.cam.name = self._cam_name()
        # With auto-update the new results are on their way: the current slice keeps what it
        # shows until its result comes in (or the job ends without it) instead of going black
        # in between; painting the empty slice while the job ran also slowed the job on a
        # small CPU (BENCHMARKS.md, "Jobs in worker threads").
        self._refill(keep_current=self.controller.auto_update)
        if self.mask is not None:
            self._update_mask()
        self._update_kspace()

    def set_cam_method(self, method: str) -> None:
        """Show the CAM computed on ``method``'s reconstructions (one of the chosen methods)."""
        methods = self.controller.settings.methods
        if method not in methods:
            raise InputError(f"no CAM for {method!r}: it is not one of the chosen methods ({', '.join(methods)})")
        if method == self._cam_method:
            return
        self._cam_method = method
        if self.cam is not None:
            self.cam.name = self._cam_name()
            self._drawn.pop(id(self.cam), None)  # rewritten in full here
            for index in range(self.controller.num_slices):
                result = self.controller.result(method, index)
                self.cam.data[index] = 0.0 if result is None or result.cam is None else result.cam
            self.cam.refresh()

    @property
    def cam_opacity(self) -> float:
        return self._cam_opacity

    def set_cam_opacity(self, opacity: float) -> None:
        """Opacity of the CAM overlay in ``[0, 1]``."""
        opacity = float(opacity)
        if not 0.0 <= opacity <= 1.0:
            raise InputError(f"CAM opacity must lie in [0, 1], got {opacity}")
        self._cam_opacity = opacity
        if self.cam is not None:
            self.cam.opacity = opacity

    # ------------------------------------------------------------------------------------------
    # slice
    def _slice_axis(self) -> int | None:
        ndim = self.viewer.dims.ndim
        return ndim - 3 if ndim >= 3 else None

    def _on_dims_point(self, event: Any = None) -> None:
        axis = self._slice_axis()
        if self._moving_dims or axis is None or not self.controller.is_open:
            return
        index = round(float(self.viewer.dims.point[axis]))
        # Other volumes' layers may make the slider longer than this volume.
        index = min(max(index, 0), self.controller.num_slices - 1)
        if index != self.controller.slice_index:
            self.controller.set_slice(index)

    def _on_slice_changed(self, index: int) -> None:
        axis = self._slice_axis()
        if axis is not None and round(float(self.viewer.dims.point[axis])) != index:
            self._moving_dims = True
            try:
                self.viewer.dims.set_point(axis, index)
            finally:
                self._moving_dims = False
        self._update_kspace()


__all__ = ["CAM_COLORMAP", "CAM_OPACITY", "ERROR_COLORMAP", "Scene"]
