"""Small Qt helpers of the dock widget and scene: rows, tables, signal blocking, the mask preview,
one redraw per change."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from qtpy.QtCore import QCoreApplication, QEvent, QObject, QPoint, QSignalBlocker, Qt
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
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


def keep_columns_whole(table: QTableWidget, on_change: Callable[[], object] | None = None) -> Callable[[], None]:
    """Keep ``table`` at least as wide as its shown columns ask for (their titles and contents),
    so that a layout widens rather than cut the last column; ``on_change`` is called after the
    minimum changed (:func:`fit_dock` widens the dock the table is in). Returns the function
    that updates the minimum: call it after showing or hiding columns (a hidden column sends no
    resize).

    New contents only ever widen the minimum: a table emptied for new results and refilled a
    moment later keeps its width, so the dock is not laid out again (and the whole window
    repainted) twice per parameter change. The returned function sets the minimum to what the
    shown columns need now, narrower too. Room for the vertical scroll bar is kept, so that a
    long table does not need a horizontal one.
    """

    def needed() -> int:
        vertical = table.verticalHeader().width() if table.verticalHeader().isVisible() else 0
        scroll_bar = table.verticalScrollBar().sizeHint().width()
        return table.horizontalHeader().length() + vertical + 2 * table.frameWidth() + scroll_bar

    def set_minimum(width: int) -> None:
        if width != table.minimumWidth():
            table.setMinimumWidth(width)
            if on_change is not None:
                on_change()

    def widen(*_: object) -> None:
        set_minimum(max(needed(), table.minimumWidth()))

    def update() -> None:
        set_minimum(needed())

    table.horizontalHeader().sectionResized.connect(widen)
    table.horizontalScrollBar().rangeChanged.connect(widen)
    update()
    return update


def fit_dock(widget: QWidget, table: QTableWidget, width: int | None = None) -> None:
    """Make the dock ``widget`` sits in at least as wide as ``table`` (inside ``widget``) needs
    (:func:`keep_columns_whole`), widening it in its main window now when it is narrower.
    ``width``: the table width to make room for, when another table beside ``table`` (with the
    same margins, in another tab, say) needs more; default ``table.minimumWidth()``.

    napari's dock widgets carry a fixed minimum width of their own, so a larger minimum of the
    content does not reach the main window's dock area by itself. The room around the table
    (margins, frames, the dock's border) is measured as laid out now, since the layouts above
    the table take its new minimum only later. Nothing happens outside a dock; a floating dock
    only gets the minimum.
    """
    dock = widget.parentWidget()
    while dock is not None and not isinstance(dock, QDockWidget):
        dock = dock.parentWidget()
    if dock is None:
        return
    # The frames and margins between the dock's edges and the table's: the same on both sides.
    around = 2 * max(0, table.mapTo(dock, QPoint(0, 0)).x())
    needed = (table.minimumWidth() if width is None else width) + around
    dock.setMinimumWidth(needed)
    window = dock.parentWidget()
    if isinstance(window, QMainWindow) and not dock.isFloating() and dock.width() < needed:
        window.resizeDocks([dock], [needed], Qt.Horizontal)


class SteadyLabel(QLabel):
    """A word-wrapped label for text that changes while the user works (job status, timings,
    the mask's acceleration): it keeps the tallest height its texts have needed, so that a
    shorter text does not shrink it and a same-sized one moves nothing. A label that changed
    height would lay out the dock again and repaint the whole window on every new text, which
    under software OpenGL costs the reconstruction running beside it a good part of its CPU.
    The kept height is at most :attr:`STEADY_LINES` lines; a longer text still gets its room."""

    STEADY_LINES = 4

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)

    def setText(self, text: str | None) -> None:
        text = text or ""
        if text == self.text():
            return
        super().setText(text)
        height = self.heightForWidth(self.width()) if self.width() > 0 else self.sizeHint().height()
        # A long one-off text (an error) makes the label taller for itself, not for good.
        height = min(height, self.STEADY_LINES * self.fontMetrics().lineSpacing() + 2 * self.margin())
        if height > self.minimumHeight():
            self.setMinimumHeight(height)


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


class RedrawRequest(QObject):
    """Calls ``redraw`` once from the event loop, however often :meth:`post` is called before.

    A posted event of normal priority: Qt delivers it before the paint requests of the same
    turn (posted at low priority), so the layers are refreshed before the canvas paints and
    one change is painted once (a zero-delay timer would fire after the paint, and paint again).
    """

    TYPE = QEvent.Type(QEvent.registerEventType())

    def __init__(self, redraw: Callable[[], None]) -> None:
        super().__init__()
        self._redraw: Callable[[], None] | None = redraw
        self._posted = False

    def post(self) -> None:
        if not self._posted and self._redraw is not None:
            self._posted = True
            QCoreApplication.postEvent(self, QEvent(self.TYPE))

    def close(self) -> None:
        """Redraw no more (the scene stopped following its viewer)."""
        self._redraw = None

    def event(self, event: QEvent) -> bool:
        if event.type() == self.TYPE:
            self._posted = False
            if self._redraw is not None:
                self._redraw()
            return True
        return super().event(event)


__all__ = ["MASK_PREVIEW_SIZE", "RedrawRequest", "SteadyLabel", "blocked", "fill", "fit_dock", "keep_columns_whole", "mask_pixmap", "row", "table", "table_rows"]
