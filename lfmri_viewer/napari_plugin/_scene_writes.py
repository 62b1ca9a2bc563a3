"""Writing the session's results into the napari scene's layer stacks.

:class:`SceneWrites` is a part of :class:`~._scene.Scene` (a base class of it): each slice of a
reconstruction, error or CAM stack is written only when the result it shows changes, and the
layers written to are refreshed once, from the event loop, before Qt paints.
"""

from __future__ import annotations

import weakref
from typing import Any

from napari.layers import Image, Layer

from lfmri_viewer.controller import SessionController
from lfmri_viewer.napari_plugin._qt_helpers import RedrawRequest
from lfmri_viewer.results import SliceResult

_ZEROS = object()
"""What a layer record holds for a slice written with zeros (no result)."""


class SceneWrites:
    """The results written into the layer stacks (a part of :class:`~._scene.Scene`)."""

    controller: SessionController
    reconstructions: dict[str, Image]
    errors: dict[str, Image]
    cam: Image | None
    _cam_method: str | None
    _drawn: dict[int, tuple[Any, dict[int, object]]]
    _stale: dict[int, Layer]
    _refill_due: bool
    _redraw_request: RedrawRequest

    def redraw(self) -> None:
        """Refresh the layers written to since the last redraw, once each.

        Writes mark their layers and the event loop refreshes them when it next runs, before
        Qt paints (:class:`~lfmri_viewer.napari_plugin._qt_helpers.RedrawRequest`), so the
        writes of one change (a setting's refill, then its results when the job runs in place)
        cost one refresh per layer, not one per write, and one paint. Call it to refresh at once
        (before a screenshot, say).
        """
        stale, self._stale = self._stale, {}
        for layer in stale.values():
            layer.refresh()

    def _refresh_soon(self, layers: list[Layer]) -> None:
        """Refresh ``layers`` at the next :meth:`redraw`."""
        for layer in layers:
            self._stale[id(layer)] = layer
        if self._stale:
            self._redraw_request.post()

    def _refill(self, keep_current: bool = False) -> None:
        """Rewrite every stack from the controller's results for the current settings (only the
        slices whose result changed; only the layers written to are refreshed).

        ``keep_current``: the current slice keeps what it shows where its new result is not
        there yet (a job is making it); the job's end empties what it did not bring
        (:meth:`_on_job_finished`)."""
        self._refill_due = False
        current = self.controller.slice_index if keep_current else None
        for index in range(self.controller.num_slices):
            self._write_slice(index, keep_missing=index == current)

    def _drawn_before(self, layer: Layer, index: int, result: SliceResult | None) -> bool:
        """Whether slice ``index`` of ``layer`` shows ``result`` (None: zeros) already; records
        that it does from now on. A layer given a new array forgets what it showed."""
        data, drawn = self._drawn.get(id(layer), (None, {}))
        if data is not layer.data:
            drawn = {}
            self._drawn[id(layer)] = (layer.data, drawn)
        previous = drawn.get(index)
        # Weak references: a result dropped from the cache is not kept alive by the layer record.
        if previous is _ZEROS if result is None else isinstance(previous, weakref.ref) and previous() is result:
            return True
        drawn[index] = _ZEROS if result is None else weakref.ref(result)
        return False

    def _write_slice(self, index: int, methods: list[str] | None = None, keep_missing: bool = False) -> list[Layer]:
        """Write the results of ``methods`` (default all shown) on slice ``index`` into their
        layers, skipping what a layer shows already; the layers written to are returned and
        refreshed at the next :meth:`redraw`. ``keep_missing``: a method without a result keeps
        what its layers show (see :meth:`_refill`)."""
        touched: list[Layer] = []
        for method in methods or list(self.reconstructions):
            result = self.controller.result(method, index)
            if result is None and keep_missing:
                self._refill_due = True
                continue
            recon = self.reconstructions.get(method)
            if recon is not None and not self._drawn_before(recon, index, result):
                recon.data[index] = 0.0 if result is None else result.image
                touched.append(recon)
            error = self.errors.get(method)
            if error is not None and not self._drawn_before(error, index, result):
                difference = self.controller.error_map(method, index) if result is not None else None
                error.data[index] = 0.0 if difference is None else difference
                touched.append(error)
            if self.cam is not None and method == self._cam_method and not self._drawn_before(self.cam, index, result):
                self.cam.data[index] = 0.0 if result is None or result.cam is None else result.cam
                touched.append(self.cam)
        self._refresh_soon(touched)
        return touched

    def _on_job_finished(self, _: Any) -> None:
        if self._refill_due and self.controller.is_open:
            self._refill()


__all__ = ["SceneWrites"]
