"""Drawing the sampling mask by hand: the edits both front ends make, on one session; no GUI.

A :class:`MaskDrawing` starts from the mask in force (a preset, or the mask drawn so far),
takes edits (toggle a phase-encode line, set several, paint 2-D points) on a pattern of its
own, which a view can show at once, and :meth:`~MaskDrawing.commit` hands the pattern to the
session as a :class:`~lfmri_core.masks.DrawnMaskSpec` (``update(drawn_mask=...)``): the
reconstructions, error maps and readouts then follow as for any setting change. Front ends
commit after a short pause in the edits (napari: a timer; Jupyter: each click), so a drag
over ten lines reconstructs once.

Patterns are in the k-space frame: ``(W,)`` over the phase-encode columns for a line mask,
``(H, W)`` for a 2-D mask (DC at ``(H // 2, W // 2)``). Columns outside the file's acquired
phase-encode range (ISMRMRD header padding) carry no data and cannot be sampled.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.masks import DrawnMaskSpec
from lfmri_viewer.controller import SessionController

DEBOUNCE_MS = 150
"""Pause in the edits after which a front end commits a drawn mask, milliseconds."""


class MaskDrawing:
    """Edits of the sampling mask of one session, committed as a drawn mask.

    Parameters
    ----------
    session
        The session whose mask is drawn; it must have a fully sampled volume open (a file
        that stores undersampled k-space keeps its own mask).
    """

    def __init__(self, session: SessionController) -> None:
        self.session = session
        self._pattern: np.ndarray | None = None

    # -- the pattern being drawn ------------------------------------------------------------
    def _check(self) -> None:
        if not self.session.is_open:
            raise InputError("no volume is open: open one before drawing its mask")
        if self.session.is_undersampled_file:
            raise InputError(f"{self.session.info.name} stores undersampled k-space: its own mask is used and "
                             "cannot be drawn")

    @property
    def pattern(self) -> np.ndarray:
        """The pattern being drawn (a copy): the mask in force until the first edit."""
        return np.array(self._current(), copy=True)

    def _current(self) -> np.ndarray:
        """The edited pattern, else the mask in force (not to be written to)."""
        self._check()
        return self._pattern if self._pattern is not None else self.session.mask().pattern

    def _editable(self) -> np.ndarray:
        self._check()
        if self._pattern is None:
            self._pattern = np.array(self.session.mask().pattern, dtype=bool, copy=True)
        return self._pattern

    @property
    def pending(self) -> bool:
        """Whether there are edits not yet committed."""
        return self._pattern is not None

    def discard(self) -> None:
        """Forget uncommitted edits (the next edit starts from the mask in force)."""
        self._pattern = None

    @property
    def is_1d(self) -> bool:
        """Whether the pattern is a line mask ``(W,)``."""
        return self._current().ndim == 1

    def image(self) -> np.ndarray:
        """The pattern as an ``(H, W)`` boolean image (a line mask broadcast over the rows)."""
        pattern = self._current()
        height, width = self.session.info.image_shape
        return np.broadcast_to(pattern, (height, width)).copy() if pattern.ndim == 1 else np.array(pattern, copy=True)

    def acquired_columns(self) -> tuple[int, int]:
        """Half-open range of phase-encode columns that carry data (the header's padding)."""
        return self.session.info.encoding.padding

    def _column(self, column: int) -> int:
        width = self.session.info.image_shape[1]
        if isinstance(column, bool) or not isinstance(column, int | np.integer) or not 0 <= column < width:
            raise InputError(f"phase-encode line {column!r} does not exist: k-space has {width} columns (0..{width - 1})")
        left, right = self.acquired_columns()
        if not left <= column < right:
            raise InputError(f"phase-encode line {column} carries no data: the file acquired columns {left}..{right - 1}")
        return int(column)

    # -- edits --------------------------------------------------------------------------------
    def toggle_line(self, column: int) -> bool:
        """Toggle phase-encode line ``column`` (a 2-D mask: the whole column, sampled unless it
        was fully sampled). Returns whether the line is sampled now."""
        column = self._column(column)
        pattern = self._editable()
        on = not bool(pattern[..., column].all())
        pattern[..., column] = on
        return on

    def set_lines(self, columns: Iterable[int], sampled: bool) -> None:
        """Sample (or unsample) the phase-encode lines ``columns``."""
        checked = [self._column(c) for c in columns]
        self._editable()[..., checked] = bool(sampled)

    def set_points(self, pattern: np.ndarray) -> None:
        """Replace the pattern by a painted ``(H, W)`` one (a line mask becomes 2-D)."""
        pattern = np.asarray(pattern)
        shape = self.session.info.image_shape
        if pattern.shape != shape:
            raise InputError(f"a painted mask must have the k-space shape {shape}, got {pattern.shape}")
        painted = pattern.astype(bool)
        left, right = self.acquired_columns()
        painted[:, :left] = False
        painted[:, right:] = False
        self._pattern = painted

    def paint(self, rows: np.ndarray, columns: np.ndarray, sampled: bool) -> None:
        """Sample (or unsample) the k-space points ``(rows[i], columns[i])`` (a line mask
        becomes 2-D)."""
        image = self.image()
        image[np.asarray(rows, dtype=int), np.asarray(columns, dtype=int)] = bool(sampled)
        self.set_points(image)

    # -- to the session -----------------------------------------------------------------------
    def _spec_of(self, pattern: np.ndarray) -> DrawnMaskSpec:
        return DrawnMaskSpec(pattern)

    def commit(self) -> DrawnMaskSpec | None:
        """Give the session the drawn pattern (reconstructions follow); None when nothing was
        edited. A pattern the session refuses (nothing sampled, say) raises
        :class:`InputError`, and the edits are forgotten."""
        if self._pattern is None:
            return None
        pattern, self._pattern = self._pattern, None
        spec = self._spec_of(pattern)
        self.session.update(drawn_mask=spec)
        return spec

    def reset(self) -> None:
        """Back to the preset mask (the drawn one dropped)."""
        self._pattern = None
        self.session.update(drawn_mask=None)


def column_at(x: float, width: int) -> int | None:
    """The phase-encode column under a data coordinate ``x`` (pixel centres at integers), or
    None outside ``0..width - 1``."""
    column = int(np.floor(float(x) + 0.5))
    return column if 0 <= column < width else None


__all__ = ["DEBOUNCE_MS", "MaskDrawing", "column_at"]
