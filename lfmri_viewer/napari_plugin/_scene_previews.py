"""The mask and k-space previews of the napari scene.

:class:`ScenePreviews` is a part of :class:`~._scene.Scene` (a base class of it): the sampling
mask of the current settings, written in place and drawn only while its layer is shown, and
the current slice's log k-space, read only while its layer is shown and written in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from napari.layers import Image

from lfmri_core.errors import InputError
from lfmri_viewer.controller import SessionController


class ScenePreviews:
    """The mask and k-space preview layers (a part of :class:`~._scene.Scene`)."""

    controller: SessionController
    mask: Image | None
    kspace: Image | None
    on_error: Callable[[str], None]

    def _update_mask(self) -> None:
        """The mask of the new settings, written in place (same shape: same volume) and drawn
        only when the layer is shown: replacing a hidden layer's data costs napari a full
        layer update on every change. A hidden layer is drawn when shown (:meth:`_on_mask_visible`)."""
        assert self.mask is not None
        image = self.controller.mask_image()
        if self.mask.data.shape != image.shape or not self.mask.data.flags.writeable:
            self.mask.data = image
            self.mask.contrast_limits = (0.0, 1.0)
            return
        np.copyto(self.mask.data, image)
        if self.mask.visible:
            self.mask.refresh()

    def _on_mask_visible(self, event: Any = None) -> None:
        if self.mask is not None and self.mask.visible:
            self.mask.refresh()

    def _on_kspace_visible(self, event: Any = None) -> None:
        self._update_kspace()

    def _update_kspace(self) -> None:
        # Reading every coil of a slice costs a little: only for a k-space layer being looked at.
        if self.kspace is None or not self.kspace.visible or not self.controller.is_open:
            return
        try:
            image = self.controller.kspace_image()
        except InputError as error:  # a damaged slice: said, and the other slices still show
            self.on_error(str(error))
            return
        top = float(image.max())
        limits = (0.0, top if top > 0 else 1.0)
        data = self.kspace.data
        if data.shape != image.shape or data.dtype != image.dtype or not data.flags.writeable:
            self.kspace.data = image
            self.kspace.contrast_limits = limits
            return
        # In place and one redraw: a new array costs napari a full layer update (dims, extent,
        # transforms) on every mask change while the layer is shown (the mask editor shows it).
        np.copyto(data, image)
        if tuple(self.kspace.contrast_limits) != limits:
            self.kspace.contrast_limits = limits
        self.kspace.refresh()


__all__ = ["ScenePreviews"]
