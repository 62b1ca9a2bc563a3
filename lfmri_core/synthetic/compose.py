"""Painter's-algorithm compositing of tissue layers on a grid.

A renderer calls ``painter.paint(tissue, window, fraction, texture)`` layer after layer; each
layer replaces the given fraction of what lies below it. :class:`SignalPainter` accumulates the
image, :class:`FractionPainter` the fraction of each tissue in every pixel (for tests and for
placing lesions), with the same rendering code.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from lfmri_core.synthetic.contrast import Tissue
from lfmri_core.synthetic.raster import Grid, Window


class Painter(Protocol):
    def paint(self, tissue: Tissue, window: Window, fraction: np.ndarray, texture: np.ndarray | float = 1.0) -> None:
        """Cover ``fraction`` (shape of ``window``, values in [0, 1]) of each pixel with
        ``tissue``; ``texture`` multiplies the tissue's signal (scalar or window-shaped)."""


    def keep(self, window: Window, fraction: np.ndarray) -> None:
        """Keep only ``fraction`` of everything painted so far (the rest becomes air)."""


class SignalPainter:
    """Composites signal intensities; ``signal_of(tissue)`` gives each tissue's base signal."""

    def __init__(self, grid: Grid, signal_of: dict[Tissue, float]) -> None:
        self.grid = grid
        self.signal_of = signal_of
        self.image = np.zeros(grid.shape, dtype=np.float32)

    def paint(self, tissue: Tissue, window: Window, fraction: np.ndarray, texture: np.ndarray | float = 1.0) -> None:
        if window.empty:
            return
        region = self.image[window.rows, window.cols]
        region += fraction * (np.float32(self.signal_of[tissue]) * texture - region)

    def keep(self, window: Window, fraction: np.ndarray) -> None:
        if not window.empty:
            self.image[window.rows, window.cols] *= fraction


class FractionPainter:
    """Accumulates the fraction of every tissue in every pixel (they sum to at most 1; the
    rest is air)."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.fractions: dict[Tissue, np.ndarray] = {}

    def paint(self, tissue: Tissue, window: Window, fraction: np.ndarray, texture: np.ndarray | float = 1.0) -> None:
        if window.empty:
            return
        keep = 1.0 - fraction
        for frac in self.fractions.values():
            frac[window.rows, window.cols] *= keep
        target = self.fractions.setdefault(tissue, np.zeros(self.grid.shape, dtype=np.float32))
        target[window.rows, window.cols] += fraction

    def keep(self, window: Window, fraction: np.ndarray) -> None:
        if window.empty:
            return
        for frac in self.fractions.values():
            frac[window.rows, window.cols] *= fraction

    def get(self, tissue: Tissue) -> np.ndarray:
        return self.fractions.get(tissue, np.zeros(self.grid.shape, dtype=np.float32))
