"""Small Qt helpers of the dock widget: rows, tables, signal blocking, the mask preview."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from qtpy.QtCore import QSignalBlocker, Qt
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

MASK_PREVIEW_SIZE = 160
"""Longest side of the mask preview, in screen pixels."""


def row(*widgets: QWidget) -> QHBoxLayout:
    layout = QHBoxLayout()
    for widget in widgets:
        layout.addWidget(widget)
    return layout


def table(columns: Sequence[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    for c, column in enumerate(columns):
        # Units on a second header line keep the columns narrow; the column's name stays its key.
        item = QTableWidgetItem(column.replace(" (", "\n("))
        item.setData(Qt.UserRole, column)
        table.setHorizontalHeaderItem(c, item)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.setSelectionMode(QAbstractItemView.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    return table


def fill(table: QTableWidget, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, column in enumerate(columns):
            table.setItem(r, c, QTableWidgetItem(row[column]))


def table_rows(table: QTableWidget) -> list[dict[str, str]]:
    columns = [table.horizontalHeaderItem(c).data(Qt.UserRole) for c in range(table.columnCount())]
    return [
        {column: (item.text() if (item := table.item(r, c)) is not None else "") for c, column in enumerate(columns)}
        for r in range(table.rowCount())
    ]


class blocked:
    """Block the signals of several widgets while the view shows the model's values."""

    def __init__(self, *widgets: QWidget) -> None:
        self._widgets = widgets
        self._blockers: list[QSignalBlocker] = []

    def __enter__(self) -> None:
        self._blockers = [QSignalBlocker(w) for w in self._widgets]

    def __exit__(self, *_: object) -> None:
        for blocker in self._blockers:
            blocker.unblock()
        self._blockers = []


def mask_pixmap(image: np.ndarray) -> QPixmap:
    """A mask ``(H, W)`` in ``[0, 1]`` as a gray pixmap whose longest side is the preview size."""
    gray = np.ascontiguousarray(np.clip(image, 0.0, 1.0) * 255, dtype=np.uint8)
    height, width = gray.shape
    qimage = QImage(gray.data, width, height, width, QImage.Format_Grayscale8).copy()
    scale = MASK_PREVIEW_SIZE / max(height, width)
    return QPixmap.fromImage(qimage).scaled(
        max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)), Qt.KeepAspectRatio, Qt.FastTransformation
    )


__all__ = ["MASK_PREVIEW_SIZE", "blocked", "fill", "mask_pixmap", "row", "table", "table_rows"]
