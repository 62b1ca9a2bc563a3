"""napari sample data: the embedded synthetic knee, PD and fat-suppressed PD.

The volumes are generated on first use into the cache folder (``$LFMRI_CACHE/sample``, about a
minute once) by :func:`lfmri_sample_data.ensure_sample_data` and read by the plugin's reader,
so a sample opens exactly like the file would.

napari calls a sample-data command on the GUI thread and adds the layers it returns. When the
sample is cached, that is all. On first use, in a viewer, the command instead starts the
generation in a worker thread (napari's ``create_worker``), shows a notification and a napari
progress bar (the activity dock), and returns a transparent placeholder layer at once (napari
refuses a sample that returns no layer); when the volumes are written, the placeholder makes
way for the sample's layers. Without a viewer (a script) the sample is generated in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lfmri_core.errors import InputError
from lfmri_sample_data import ensure_sample_data, is_current, manifest
from lfmri_viewer.napari_plugin._layers import LayerDataTuple
from lfmri_viewer.napari_plugin._reader import volume_layers

PLACEHOLDER_KEY = "lfmri_sample_placeholder"
"""Layer metadata key of the placeholder shown while a sample is generated (value: contrast)."""


def _stem(contrast: str) -> str:
    stems = {v["contrast"]: v["stem"] for v in manifest()["volumes"]}
    if contrast not in stems:
        raise InputError(f"no sample volume with contrast {contrast!r} (have: {', '.join(stems)})")
    return stems[contrast]


def _path_in(paths: list[Path], contrast: str) -> Path:
    stem = _stem(contrast)
    return next(p for p in paths if p.suffix == ".h5" and p.stem == stem)


def sample_path(contrast: str) -> Path:
    """Path of the sample volume of one contrast (``"PD"`` or ``"PDFS"``), generated if missing."""
    _stem(contrast)
    return _path_in(ensure_sample_data(), contrast)


_running: list[Any] = []
"""The generation worker in flight (at most one: a second sample asked for meanwhile waits for it)."""


def _generate_in_background(viewer: Any, contrast: str) -> LayerDataTuple:
    """Generate the sample off the GUI thread (or join the generation under way); the
    placeholder layer to show meanwhile."""
    from napari.layers import Layer
    from napari.utils.notifications import show_error, show_info

    def finished(paths: list[Path]) -> None:
        for layer in [la for la in viewer.layers if la.metadata.get(PLACEHOLDER_KEY) == contrast]:
            viewer.layers.remove(layer)
        for data, kwargs, layer_type in volume_layers(_path_in(paths, contrast)):
            viewer.add_layer(Layer.create(data, kwargs, layer_type))
        show_info(f"LF-MRI sample ({contrast}) ready")

    def failed(error: Exception) -> None:
        for layer in [la for la in viewer.layers if la.metadata.get(PLACEHOLDER_KEY) == contrast]:
            viewer.layers.remove(layer)
        show_error(f"could not generate the LF-MRI sample: {error}")

    fresh = not _running
    worker = _new_worker() if fresh else _running[0]
    worker.returned.connect(finished)
    worker.errored.connect(failed)
    if fresh:
        worker.start()
    show_info(f"Generating the LF-MRI sample data (first use, about a minute on 2 cores); the {contrast} volume "
              "opens when it is ready")
    return (np.zeros((1, 1), np.float32),
            {"name": f"LF-MRI sample ({contrast}): generating...", "opacity": 0.0,
             "metadata": {PLACEHOLDER_KEY: contrast}}, "image")


def _new_worker() -> Any:
    from napari.qt.threading import create_worker
    from napari.utils import progress
    from qtpy.QtCore import QObject, Signal

    class _Relay(QObject):
        # Emitted in the worker thread, delivered on the GUI thread (a queued connection):
        # napari's progress bar is a GUI object and is only touched there.
        step = Signal(int, int)

    relay = _Relay()
    bar = progress(total=0, desc="Generating the LF-MRI sample")

    def advance(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    def done() -> None:
        bar.close()
        _running.clear()

    relay.step.connect(advance)
    worker = create_worker(ensure_sample_data, progress=relay.step.emit, _start_thread=False)
    worker.lfmri_relay = relay  # kept alive as long as the worker emits through it
    worker.finished.connect(done)
    _running.append(worker)
    return worker


def _sample_layers(contrast: str) -> list[LayerDataTuple]:
    _stem(contrast)
    if not is_current():
        import napari

        viewer = napari.current_viewer()
        if viewer is not None:
            return [_generate_in_background(viewer, contrast)]
    return volume_layers(sample_path(contrast))


def knee_pd() -> list[LayerDataTuple]:
    """Synthetic knee (PD): the reference image and lesion boxes of the PD sample volume."""
    return _sample_layers("PD")


def knee_pdfs() -> list[LayerDataTuple]:
    """Synthetic knee (PDFS): the reference image and lesion boxes of the PDFS sample volume."""
    return _sample_layers("PDFS")
