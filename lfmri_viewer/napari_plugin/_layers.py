"""Volumes and lesion boxes as napari layer data tuples (numpy only, no napari import).

Coordinates. The layers are 3-D with axes ``(slice, row, col)``; rows and columns are those of
the stored reconstruction frame (``reconstruction_rss[slice]`` as stored in the file, the
frame of :class:`~lfmri_core.io.annotations.LesionBox`). napari puts the centre of pixel
``(r, c)`` at the data coordinate ``(r, c)``, so pixel edges lie at half-integers: a box covering
rows ``row0 <= r < row1`` is drawn from ``row0 - 0.5`` to ``row1 - 0.5``, which outlines
exactly its pixels. Every layer carries the same world transform, that of the volume's
:class:`~lfmri_core.display.DisplayFrame` (``scale``, ``translate``, ``units``,
``axis_labels``): the world is the display frame, up/down flipped and in mm (pixels for a
volume without geometry), and a box drawn in the canvas comes back in data coordinates.

A layer data tuple is ``(data, kwargs, layer_type)``, what napari readers and sample-data
contributions return; ``kwargs`` are the keyword arguments of the layer's constructor.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lfmri_core.display import IMAGE_COLORMAP, DisplayFrame
from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.volume import open_volume
from lfmri_viewer.reference import reference_image

if TYPE_CHECKING:
    from napari.layers import Layer

#: ``(data, kwargs, layer_type)`` as napari's ``LayerDataTuple`` (kept napari-free here).
LayerDataTuple = tuple[Any, dict[str, Any], str]

#: Layer metadata keys the viewer uses to find its layers again.
SOURCE_KEY = "lfmri_source"
ROLE_KEY = "lfmri_role"
IMAGE_SHAPE_KEY = "lfmri_image_shape"
REFERENCE_ROLE = "reference"
BOXES_ROLE = "boxes"

#: Label given to a box drawn by hand (and to a shape whose label is missing).
DEFAULT_LABEL = "lesion"

BOX_COLOR = "yellow"
BOX_EDGE_WIDTH = 2
BOX_TEXT = {"string": "{label}", "color": BOX_COLOR, "anchor": "upper_left", "size": 10}
"""The label sits on the box's top left corner on screen (the anchor is in data coordinates:
``lower_left`` when the display frame flips the rows, see :func:`box_text`)."""
LABEL_LIFT = 0.025

_SUFFIXES = (".h5", ".cfl", ".hdr")


def volume_stem(path: str | os.PathLike[str]) -> str:
    """Name of a volume without its data suffix: ``/d/file1000001.h5`` -> ``file1000001``."""
    path = Path(path)
    return path.stem if path.suffix in _SUFFIXES else path.name


def _display_max(image: np.ndarray) -> float:
    top = float(np.nanmax(image)) if image.size else 0.0
    # napari rejects equal contrast limits; an all-zero (or all-NaN) image still gets a range.
    return top if math.isfinite(top) and top > 0 else 1.0


def frame_kwargs(frame: DisplayFrame | None, leading: int = 1) -> dict[str, Any]:
    """The layer keyword arguments of a layer in ``frame`` (none for None): a volume
    ``(slice, row, col)``, or with ``leading=0`` a 2-D image."""
    return {} if frame is None else frame.napari_transform(leading)


def reference_layer(volume_path: str | os.PathLike[str]) -> LayerDataTuple:
    """The reference image of a volume file as an image layer.

    Parameters
    ----------
    volume_path
        A fastMRI ``.h5`` file or a BART ``.cfl``/``.hdr`` array.

    Returns
    -------
    LayerDataTuple
        ``(image, kwargs, "image")``: ``image`` float32 ``(slices, rh, rw)`` (see
        :func:`lfmri_viewer.reference.reference_image`), named ``"<stem> reference"`` (``"<stem> RSS"`` when computed
        from k-space), gray, contrast limits ``[0, max]``, in the volume's display frame
        (:meth:`DisplayFrame.for_volume`).

    Raises
    ------
    InputError
        The file cannot be read as a k-space volume.
    """
    with open_volume(volume_path) as volume:
        image, from_target = reference_image(volume)
        frame = DisplayFrame.for_volume(volume.info, image.shape[1:])
    stem = volume_stem(volume_path)
    kwargs = {
        "name": f"{stem} reference" if from_target else f"{stem} RSS",
        "colormap": IMAGE_COLORMAP,
        "contrast_limits": [0.0, _display_max(image)],
        "metadata": {SOURCE_KEY: str(volume_path), ROLE_KEY: REFERENCE_ROLE},
        **frame_kwargs(frame),
    }
    return image, kwargs, "image"


def boxes_to_shapes(boxes: Sequence[LesionBox]) -> tuple[list[np.ndarray], dict[str, list[str]]]:
    """Lesion boxes as napari rectangles on a 3-D ``(slice, row, col)`` layer.

    Returns
    -------
    data
        One float64 array of shape ``(4, 3)`` per box: the corners ``(slice, row, col)`` in
        the order top-left, bottom-left, bottom-right, top-right, at the pixel edges
        (``row0 - 0.5``, ``row1 - 0.5``, ``col0 - 0.5``, ``col1 - 0.5``).
    features
        ``{"label": [box.label, ...]}``, one entry per box.
    """
    data = []
    for box in boxes:
        top, bottom = box.row0 - 0.5, box.row1 - 0.5
        left, right = box.col0 - 0.5, box.col1 - 0.5
        data.append(np.array(
            [[box.slice, top, left], [box.slice, bottom, left], [box.slice, bottom, right], [box.slice, top, right]],
            dtype=np.float64,
        ))
    return data, {"label": [box.label for box in boxes]}


def _nearest_edge(coordinate: float) -> int:
    # Pixel edges lie at k - 0.5: the nearest one is k = round(coordinate + 0.5), ties upwards.
    return math.floor(coordinate + 1.0)


def _label_text(label: object) -> str:
    # napari fills the features of a hand-drawn shape with its defaults, or NaN/None without.
    if label is None or (isinstance(label, float) and math.isnan(label)):
        return DEFAULT_LABEL
    text = str(label).strip()
    return text or DEFAULT_LABEL


def shapes_to_boxes(
    data: Sequence[np.ndarray],
    labels: Sequence[object],
    image_shape: tuple[int, int, int] | None = None,
) -> list[LesionBox]:
    """Lesion boxes from the shapes of a 3-D shapes layer (inverse of :func:`boxes_to_shapes`).

    Each shape becomes the box of its bounding box (rotated rectangles, polygons and ellipses
    included), with its edges rounded to the nearest pixel edges, so
    ``shapes_to_boxes(*boxes_to_shapes(boxes))`` gives ``boxes`` back exactly.

    Parameters
    ----------
    data
        Vertices per shape, each of shape ``(N, 3)`` with axes ``(slice, row, col)``; a shape
        drawn in napari's 2-D view of a slice has a constant slice coordinate.
    labels
        One label per shape; missing or blank ones become :data:`DEFAULT_LABEL`.
    image_shape
        ``(slices, rows, cols)`` of the image: slices are clipped to ``0 .. slices - 1``,
        rows and columns to the image (a box drawn past the border keeps its inside part and
        one drawn wholly outside becomes empty). None clips nothing.

    Raises
    ------
    InputError
        A shape is not 3-D, holds NaN or Inf, or spans several slices; the label count differs.
    """
    if len(labels) != len(data):
        raise InputError(f"got {len(data)} shapes but {len(labels)} labels")
    boxes = []
    for number, (vertices, label) in enumerate(zip(data, labels, strict=True)):
        points = np.asarray(vertices, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
            raise InputError(
                f"shape {number} has vertices of shape {points.shape}; expected (N, 3) with axes (slice, row, col)"
            )
        if not np.isfinite(points).all():
            raise InputError(f"shape {number} has NaN or infinite coordinates")
        slices = {math.floor(s + 0.5) for s in points[:, 0]}
        if len(slices) != 1:
            raise InputError(
                f"shape {number} spans slices {min(slices)}..{max(slices)}; draw each box on one slice"
            )
        index = slices.pop()
        row0, row1 = _nearest_edge(points[:, 1].min()), _nearest_edge(points[:, 1].max())
        col0, col1 = _nearest_edge(points[:, 2].min()), _nearest_edge(points[:, 2].max())
        if image_shape is not None:
            num_slices, height, width = image_shape
            index = min(max(index, 0), num_slices - 1)
            row0, row1 = (min(max(v, 0), height) for v in (row0, row1))
            col0, col1 = (min(max(v, 0), width) for v in (col0, col1))
        boxes.append(LesionBox(slice=index, label=_label_text(label), row0=row0, row1=row1, col0=col0, col1=col1))
    return boxes


def boxes_layer(
    boxes: Sequence[LesionBox],
    source: str | os.PathLike[str],
    image_shape: tuple[int, int, int],
    frame: DisplayFrame | None = None,
) -> LayerDataTuple:
    """Lesion boxes as a napari shapes layer (rectangles with their labels).

    Parameters
    ----------
    boxes
        Boxes in the stored reconstruction frame; may be empty (the layer then has no shape
        but is 3-D, ready for boxes drawn by hand, which get the label :data:`DEFAULT_LABEL`).
    source
        The volume file the boxes belong to (kept in the layer metadata).
    image_shape
        ``(slices, rh, rw)`` of the reference image, kept in the metadata as the clip shape
        for :func:`shapes_to_boxes`.
    frame
        The volume's display frame (the transform of its image layers); None: data = world.

    Returns
    -------
    LayerDataTuple
        ``(rectangles, kwargs, "shapes")`` with the data of :func:`boxes_to_shapes`:
        transparent faces, yellow edges and a yellow label at each box's upper left corner.
    """
    data, features = boxes_to_shapes(boxes)
    kwargs = {
        "name": f"{volume_stem(source)} lesion boxes",
        "ndim": 3,
        "shape_type": "rectangle",
        # An object column even when empty: napari would make an empty list a float column,
        # which cannot hold the default label of a box drawn later.
        "features": {"label": np.asarray(features["label"], dtype=object)},
        "feature_defaults": {"label": DEFAULT_LABEL},
        "face_color": "transparent",
        "edge_color": BOX_COLOR,
        "edge_width": BOX_EDGE_WIDTH,
        "text": box_text(frame),
        "metadata": {
            SOURCE_KEY: str(source),
            ROLE_KEY: BOXES_ROLE,
            IMAGE_SHAPE_KEY: tuple(int(n) for n in image_shape),
        },
        **frame_kwargs(frame),
    }
    return data, kwargs, "shapes"


def box_text(frame: DisplayFrame | None) -> dict[str, Any]:
    """The label text of the boxes layer, above each box's top left corner on screen.

    napari anchors text in data coordinates and hangs it below a ``lower_left`` anchor (in the
    y-down frame it assumes): in a flipped frame the label would cover the box's top. It is
    lifted by :data:`LABEL_LIFT` of the image height (in data rows), about a text line at the
    default zoom of a whole slice.
    """
    text = dict(BOX_TEXT)
    if frame is not None and frame.flip_rows:
        text["anchor"] = "lower_left"
        text["translation"] = [0.0, max(6.0, LABEL_LIFT * frame.shape[0]), 0.0]
    return text


def refill_layer(layer: Layer, data: Any, kwargs: dict[str, Any]) -> None:
    """Give a layer new data (any shape) and the attributes of ``kwargs`` that can change."""
    set_transform(layer, kwargs)
    layer.data = data
    for name in ("name", "metadata", "colormap", "contrast_limits"):
        if name in kwargs:
            setattr(layer, name, kwargs[name])


def set_transform(layer: Layer, kwargs: dict[str, Any]) -> None:
    """The display transform of ``kwargs`` (:meth:`DisplayFrame.napari_transform`), if any."""
    for name in ("scale", "translate", "units", "axis_labels"):
        if name in kwargs:
            setattr(layer, name, kwargs[name])


def same_volume(a: str | os.PathLike[str] | None, b: str | os.PathLike[str] | None) -> bool:
    """Whether two paths name the same volume (a BART array by its ``.cfl`` or its ``.hdr``)."""
    if a is None or b is None:
        return False

    def key(path: str | os.PathLike[str]) -> Path:
        resolved = Path(path).resolve()
        return resolved.with_suffix("") if resolved.suffix in (".cfl", ".hdr") else resolved

    return key(a) == key(b)
