"""The lesion-box part of the napari scene: the boxes layer <-> the session's boxes.

:class:`SceneBoxes` is a part of :class:`~._scene.Scene` (a base class of it): a box drawn,
moved, resized, relabelled or deleted in the shapes layer goes to
:meth:`SessionController.set_boxes`, slice by slice; a refused box is said and the layer is
redrawn from the session, as it is when annotations are loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from napari.layers import Shapes
from napari.layers.base import ActionType

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_viewer.controller import SessionController
from lfmri_viewer.napari_plugin._layers import (
    DEFAULT_LABEL,
    IMAGE_SHAPE_KEY,
    boxes_to_shapes,
    shapes_to_boxes,
)

_BOX_EDITS = {ActionType.ADDED, ActionType.CHANGED, ActionType.REMOVED}


class SceneBoxes:
    """Keeps the boxes layer and the session's boxes in step (see :class:`~._scene.Scene`)."""

    controller: SessionController
    boxes: Shapes | None
    on_error: Callable[[str], None]
    _writing_boxes: bool

    @property
    def _shape(self) -> tuple[int, int, int]:
        raise NotImplementedError

    def _set_boxes_layer(self, layer: Shapes) -> None:
        self.boxes = layer
        layer.events.data.connect(self._on_boxes_edited)
        layer.events.features.connect(self._on_box_labels_edited)

    def _layer_boxes(self, layer: Shapes) -> list[LesionBox]:
        shape = layer.metadata.get(IMAGE_SHAPE_KEY) or self._shape
        count = len(layer.data)
        labels = list(layer.features["label"])[:count] if "label" in layer.features else []
        # napari keeps stale feature rows when a layer's data is emptied.
        labels += [DEFAULT_LABEL] * (count - len(labels))
        return [b for b in shapes_to_boxes(layer.data, labels, tuple(shape)) if not b.is_empty]

    def _on_boxes_edited(self, event: Any) -> None:
        """A box was drawn, moved, resized or deleted: the controller gets the affected slices."""
        if self._writing_boxes or getattr(event, "action", None) not in _BOX_EDITS or self.boxes is None:
            return
        if not self.controller.is_open:
            return
        try:
            drawn = self._layer_boxes(self.boxes)
        except InputError as error:
            self.on_error(str(error))
            self._write_boxes()  # back to the boxes the readouts use
            return
        self._push_boxes(drawn)

    def _on_box_labels_edited(self, event: Any = None) -> None:
        """A box was relabelled (the layer's ``label`` feature edited): the controller gets the
        new labels. Geometry changes come through :meth:`_on_boxes_edited`: napari also sends
        features events while a shape is being added, which are left alone here."""
        if self._writing_boxes or self.boxes is None or not self.controller.is_open:
            return
        try:
            drawn = self._layer_boxes(self.boxes)
        except InputError:
            return  # a shape the data event refuses (and reports)
        current = self.controller.all_boxes()
        same_places = sorted(s[:5] for s in sorted_boxes(drawn)) == sorted(s[:5] for s in sorted_boxes(current))
        if same_places and sorted_boxes(drawn) != sorted_boxes(current):
            self._push_boxes(drawn)

    def _push_boxes(self, drawn: list[LesionBox]) -> None:
        """Give the controller the boxes of the layer, slice by slice (a refused box: an error
        and the layer redrawn from the controller)."""
        new: dict[int, list[LesionBox]] = {}
        for box in drawn:
            new.setdefault(box.slice, []).append(box)
        affected = sorted({b.slice for b in self.controller.all_boxes()} | set(new))
        refused: InputError | None = None
        self._writing_boxes = True
        try:
            for index in affected:
                self.controller.set_boxes(index, new.get(index, []))
        except InputError as error:
            refused = error
        finally:
            self._writing_boxes = False
        if refused is not None:
            self.on_error(str(refused))
            self._write_boxes()

    def _on_boxes_changed(self, index: int) -> None:
        if not self._writing_boxes:
            self._write_boxes()

    def _write_boxes(self) -> None:
        """Redraw the boxes layer from the controller (annotations loaded, or a box refused)."""
        if self.boxes is None or not self.controller.is_open:
            return
        data, features = boxes_to_shapes(self.controller.all_boxes())
        self._writing_boxes = True
        try:
            self.boxes.data = data
            # Reassigned in full: napari keeps stale rows when the shape count drops to zero,
            # and resets the defaults a hand-drawn box takes its label from.
            self.boxes.features = {"label": np.asarray(features["label"], dtype=object)}
            self.boxes.feature_defaults = {"label": DEFAULT_LABEL}
        finally:
            self._writing_boxes = False


def sorted_boxes(boxes: Iterator[LesionBox] | tuple[LesionBox, ...] | list[LesionBox]) -> list[tuple[object, ...]]:
    return sorted((b.slice, b.row0, b.row1, b.col0, b.col1, b.label) for b in boxes)


__all__ = ["SceneBoxes", "sorted_boxes"]
