"""The napari reader: k-space ``.h5`` files (fastMRI, M4Raw, ISMRMRD/MRD, SKM-TEA) and BART
``.cfl``/``.hdr`` arrays.

:func:`get_reader` only looks at the file (cheaply, never raising) and returns
:func:`read_volumes` for what it recognises; :func:`read_volumes` gives each volume's
reference image and its fastMRI+ lesion boxes (from annotation CSVs lying beside the file).
Files are opened read-only and never modified.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py

from lfmri_core.display import DisplayFrame
from lfmri_core.io.annotations import discover_annotations
from lfmri_core.io.mrd import mrd_group
from lfmri_core.io.volume import open_volume
from lfmri_viewer.napari_plugin._layers import LayerDataTuple, boxes_layer, reference_layer

PathOrPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
ReaderFunction = Callable[[PathOrPaths], list[LayerDataTuple]]


def _volume_path(path: str | os.PathLike[str]) -> Path | None:
    """The path to open for ``path``, or None when it is not a volume this reader takes.

    A BART array is opened through its ``.cfl`` path, so ``x.cfl`` and ``x.hdr`` are the same
    volume.
    """
    path = Path(path)
    try:
        if path.suffix == ".h5":
            if not path.is_file() or not h5py.is_hdf5(path):
                return None
            with h5py.File(path, "r") as f:
                # fastMRI, M4Raw and SKM-TEA files hold 'kspace'; ISMRMRD/MRD files a 'dataset' group.
                return path if isinstance(f.get("kspace"), h5py.Dataset) or mrd_group(f) is not None else None
        if path.suffix in (".cfl", ".hdr"):
            cfl, hdr = path.with_suffix(".cfl"), path.with_suffix(".hdr")
            return cfl if cfl.is_file() and hdr.is_file() else None
    except Exception:  # noqa: BLE001 - a reader must decline, not raise, on what it cannot read
        return None
    return None


def _paths(path: PathOrPaths) -> list[str | os.PathLike[str]]:
    return list(path) if isinstance(path, (list, tuple)) else [path]  # type: ignore[list-item]


def get_reader(path: PathOrPaths) -> ReaderFunction | None:
    """The reader for ``path`` (a path or a list of paths), or None if it cannot read them all.

    Accepted: ``.h5`` files that are HDF5 with a ``kspace`` dataset or an ISMRMRD/MRD
    ``dataset`` group, and ``.cfl``/``.hdr``
    files whose partner file exists. Never raises.
    """
    try:
        paths = _paths(path)
        if not paths or any(_volume_path(p) is None for p in paths):
            return None
    except Exception:  # noqa: BLE001 - e.g. a path argument of an unexpected type
        return None
    return read_volumes


def volume_layers(path: str | os.PathLike[str]) -> list[LayerDataTuple]:
    """The reference image layer and the lesion boxes layer of one volume file.

    Parameters
    ----------
    path
        A fastMRI ``.h5`` file, or a BART array (its ``.cfl`` or its ``.hdr``).

    Returns
    -------
    list[LayerDataTuple]
        ``[reference, boxes]`` (see :func:`~._layers.reference_layer` and
        :func:`~._layers.boxes_layer`), both in the volume's display frame; the boxes layer is
        empty when no annotation CSV beside the file names it.

    Raises
    ------
    InputError
        The file (or an annotation CSV beside it) is broken, or a box lies outside the image.
    """
    source = _volume_path(path) or Path(path)
    reference = reference_layer(source)
    image_shape = reference[0].shape
    with open_volume(source) as volume:
        frame = DisplayFrame.for_volume(volume.info, image_shape[1:])
    # fastMRI+ CSVs name files by stem: "file1000001" for file1000001.h5, "x" for x.cfl.
    named = source if source.suffix == ".h5" else source.with_suffix("")
    annotations = discover_annotations(named, frame_shape=image_shape[1:])
    boxes = ()
    if annotations is not None:
        annotations = annotations.within(image_shape[1:])
        annotations.validate(image_shape[0], image_shape[1:])
        boxes = annotations.boxes
    return [reference, boxes_layer(boxes, source, image_shape, frame)]


def read_volumes(path: PathOrPaths) -> list[LayerDataTuple]:
    """Layers of every volume in ``path`` (one path or several), two per volume.

    A BART array given by both its ``.cfl`` and its ``.hdr`` is read once.
    """
    sources = dict.fromkeys(_volume_path(p) or Path(p) for p in _paths(path))
    return [layer for source in sources for layer in volume_layers(source)]
