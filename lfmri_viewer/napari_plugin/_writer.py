"""The napari writer of the lesion boxes layer: a fastMRI+ annotation CSV.

*File > Save Selected Layers...* on the boxes layer (choose "fastMRI+ lesion boxes" when
napari offers several CSV writers) writes ``file,slice,study_level,x,y,width,height,label``:
boxes mapped back to fastMRI+'s up/down flipped labelling frame, each with its label, the file
named by the volume's stem, so the reader (and fastMRI+ tools) read back exactly the boxes and
labels of the layer. napari's own Shapes CSV keeps corner coordinates and loses the labels.

The layer must be one the plugin made (its metadata names the volume and the image shape,
:func:`~._layers.boxes_layer`). The write is atomic and refuses the volume itself and the
fastMRI+ CSV the boxes were read from (:mod:`lfmri_core.io.protected`): inputs are never
overwritten.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import FileAnnotations, find_annotations, write_annotations
from lfmri_core.io.protected import protect_inputs
from lfmri_core.io.volume import volume_files
from lfmri_viewer.napari_plugin._layers import IMAGE_SHAPE_KEY, ROLE_KEY, SOURCE_KEY, BOXES_ROLE, shapes_to_boxes, volume_stem


def _labels(attributes: Mapping[str, Any], count: int) -> list[object]:
    features = attributes.get("features")
    if features is None or "label" not in features:
        return [None] * count
    return list(features["label"])


def write_boxes(path: str, data: Sequence[Any], attributes: Mapping[str, Any]) -> list[str]:
    """Write a boxes layer (``data``: its shapes; ``attributes``: the layer's state) as a
    fastMRI+ CSV at ``path``; returns ``[path]``.

    Raises
    ------
    InputError
        The layer is not an LF-MRI boxes layer, a shape spans slices, or ``path`` is an input.
    """
    metadata = attributes.get("metadata") or {}
    source, shape = metadata.get(SOURCE_KEY), metadata.get(IMAGE_SHAPE_KEY)
    if source is None or shape is None or metadata.get(ROLE_KEY) != BOXES_ROLE:
        raise InputError(f"layer {attributes.get('name', '')!r} is not an LF-MRI lesion boxes layer: its boxes have no "
                         "volume and image size to map them to the fastMRI+ frame (use napari's own CSV writer)")
    image_shape = tuple(int(n) for n in shape)
    boxes = [b for b in shapes_to_boxes(list(data), _labels(attributes, len(data)), image_shape) if not b.is_empty]
    boxes.sort(key=lambda b: b.slice)
    source = Path(source)
    named = source if source.suffix == ".h5" else source.with_suffix("")
    read: tuple[Path | None, ...] = ()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a CSV beside it that is not an annotation CSV: not one to protect
        try:
            found = find_annotations(named, frame_shape=image_shape[1:])
        except InputError:
            found = None
    study = ()
    if found is not None:
        read, study = (found.csv, found.file_list), found.annotations.study_findings
    record = FileAnnotations(file=volume_stem(source), boxes=tuple(boxes), study_findings=study, reviewed=True)
    with protect_inputs(*volume_files(source), *read):
        write_annotations(path, [record], frame_height=image_shape[1])
    return [str(path)]


__all__ = ["write_boxes"]
