"""Teaching views: methods side by side at one slice, and the CAM failure-case table.

Both are subscribers of a :class:`~lfmri_viewer.controller.SessionController` like the main
widget; given an :class:`~lfmri_viewer.jupyter.LFMRIWidget` they share its session, so a
jump to a failure case moves the main viewer too.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from lfmri_core.display import ERROR_COLORMAP
from lfmri_core.errors import InputError
from lfmri_core.recon import available_methods, method_info
from lfmri_viewer.controller import SessionController
from lfmri_viewer.formatting import (
    FAILURE_COLUMNS,
    POINTER_HELP,
    POINTER_LABEL,
    READOUT_COLUMNS,
    failure_cells,
    failure_columns,
    number,
    readout_cells,
)
from lfmri_viewer.jupyter._figure import (
    FigureHost,
    box_window,
    draw_boxes,
    image_panel,
    show_image,
    zoom_to,
)
from lfmri_viewer.jupyter._session import BatchedRedraw, close_tree, session_of
from lfmri_viewer.jupyter._tables import html_table
from lfmri_viewer.results import Readout, readout
from lfmri_viewer.review import FailureCase


def _checked_slice(controller: SessionController, index: int) -> int:
    count = controller.num_slices
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        raise InputError(f"slice {index!r} does not exist: the volume has {count} slices (0..{count - 1})")
    return index


class _Subscriber:
    """Connections to a controller's events, undone by :meth:`_disconnect`."""

    _connections: list[tuple[Any, Callable[..., None]]]

    def _subscribe(self, pairs: list[tuple[Any, Callable[..., None]]]) -> None:
        self._connections = pairs
        for signal, slot in pairs:
            signal.connect(slot)

    def _disconnect(self) -> None:
        for signal, slot in getattr(self, "_connections", []):
            signal.disconnect(slot, missing_ok=True)
        self._connections = []


class CompareView(widgets.VBox, _Subscriber, BatchedRedraw):
    """The reference and several methods at one slice, with the lesion boxes and per-panel
    PSNR and LF-PSNR (the teaching view: what each method does to the lesions).

    Top row: reference, then each method's reconstruction; bottom row (``errors=True``): the
    sampling mask, then each method's ``|error|`` on the controller's fixed error range.

    Parameters
    ----------
    session
        A :class:`SessionController`, or a view holding one (:class:`LFMRIWidget`).
    methods
        Methods to compare, in panel order (default: the session's methods).
    index
        Slice to show; None follows the session's current slice.
    zoom
        Show only the region around the slice's boxes (all of it without boxes).
    errors
        Add the row of error maps.
    compute
        Reconstruct the missing methods at once (with the session's runner: in a worker thread
        when the session's widget runs jobs in one, the panels fill in as results arrive).
    interactive
        ipympl canvas or static PNG; default: follow the matplotlib backend.
    """

    def __init__(
        self,
        session: SessionController | Any,
        methods: Sequence[str] | None = None,
        *,
        index: int | None = None,
        zoom: bool = False,
        errors: bool = True,
        compute: bool = True,
        interactive: bool | None = None,
    ) -> None:
        super().__init__()
        self.controller = session_of(session)
        chosen = tuple(methods) if methods else self.controller.settings.methods
        if not chosen:
            raise InputError("choose at least one method to compare")
        for name in chosen:
            method_info(name)  # InputError naming the choices
        self.methods = chosen
        self._fixed_index = None if index is None else _checked_slice(self.controller, index)
        self._rows: list[dict[str, str]] = []
        self._depth, self._dirty = 0, False

        columns = 1 + len(chosen)
        rows = 2 if errors else 1
        self._host = FigureHost((2.7 * columns, 2.9 * rows), interactive)
        self.figure = self._host.figure
        grid = self.figure.subplots(rows, columns, squeeze=False)
        self.axes: dict[str, Any] = {"reference": grid[0, 0]}
        self.images = {"reference": image_panel(grid[0, 0], (1, 1))}
        for column, method in enumerate(chosen, start=1):
            self.axes[method] = grid[0, column]
            self.images[method] = image_panel(grid[0, column], (1, 1))
            if errors:
                self.axes[f"error:{method}"] = grid[1, column]
                self.images[f"error:{method}"] = image_panel(grid[1, column], (1, 1), cmap=ERROR_COLORMAP)
        if errors:
            self.axes["mask"] = grid[1, 0]
            self.images["mask"] = image_panel(grid[1, 0], (1, 1))
        self._patches: list[Any] = []

        self.zoom_checkbox = widgets.Checkbox(value=zoom, description="zoom to lesions", indent=False)
        self.zoom_checkbox.observe(lambda _: self.refresh(), names="value")
        self.compute_button = widgets.Button(description="Compute missing", icon="play")
        self.compute_button.on_click(lambda _: self.compute())
        self.status_label = widgets.Label()
        self.readout_html = widgets.HTML()
        self.children = [widgets.HBox([self.zoom_checkbox, self.compute_button, self.status_label]),
                         self._host.widget, self.readout_html]

        events = self.controller.events
        self._subscribe([
            (events.volume_opened, lambda _: self._changed()),
            (events.slice_changed, self._on_slice_changed),
            (events.settings_changed, lambda _: self._changed()),
            (events.readouts_changed, self._on_slice_event),
            (events.boxes_changed, self._on_slice_event),
        ])
        with self._batch():
            if compute and self.controller.is_open:
                self.compute()
            self._dirty = True

    @property
    def index(self) -> int:
        """The slice shown."""
        return self.controller.slice_index if self._fixed_index is None else self._fixed_index

    def compute(self) -> None:
        """Reconstruct the methods that have no result at the shown slice yet."""
        with self._batch():
            try:
                self.controller.reconstruct_slice(self.index, methods=self.methods)
            except InputError as exc:
                self.status_label.value = str(exc)

    def readouts(self) -> dict[str, Readout]:
        """The readout of each compared method that has a result at the shown slice (computed
        with :func:`lfmri_viewer.results.readout`, as the controller's own readouts)."""
        controller, index = self.controller, self.index
        reference, boxes, maxval = controller.reference(index), controller.boxes(index), controller.maxval
        found = {}
        for method in self.methods:
            result = controller.result(method, index)
            if result is not None:
                found[method] = readout(result, reference, boxes, maxval, controller.pixel_mm)
        return found

    def displayed_readouts(self) -> list[dict[str, str]]:
        """The table under the figure as shown (columns :data:`READOUT_COLUMNS`)."""
        return [dict(row) for row in self._rows]

    def refresh(self) -> None:
        """Redraw from the controller's state."""
        self._dirty = False
        controller = self.controller
        if not controller.is_open:
            self.status_label.value = "no volume open"
            return
        index = self.index
        readouts = self.readouts()
        self._rows = [readout_cells(readouts[m]) for m in self.methods if m in readouts]
        self.readout_html.value = html_table(READOUT_COLUMNS, self._rows, css_class="lfmri-compare-readouts",
                                             empty="nothing computed at this slice yet")
        missing = [m for m in self.methods if m not in readouts]
        self.status_label.value = f"slice {index}" + (f" · not computed: {', '.join(missing)}" if missing else "")

        shape = controller.recon_shape
        maxval = controller.maxval
        limits = (0.0, maxval) if maxval else None
        frame = controller.display_frame
        reference = controller.reference(index)
        show_image(self.images["reference"], reference, limits, frame)
        self.axes["reference"].set_title(f"reference · slice {index}" if reference is not None else "no reference")
        for method in self.methods:
            result = controller.result(method, index)
            show_image(self.images[method], None if result is None else result.image, limits, frame)
            if method in readouts:
                r = readouts[method]
                self.axes[method].set_title(f"{method}\nPSNR {number(r.psnr)} · LF-PSNR {number(r.lf_psnr)} dB", fontsize=9)
            else:
                self.axes[method].set_title(f"{method}\nnot computed", fontsize=9)
            if f"error:{method}" in self.images:
                show_image(self.images[f"error:{method}"], controller.error_map(method, index), controller.error_limits(),
                           frame)
                self.axes[f"error:{method}"].set_title(f"|{method} − reference|", fontsize=9)
        if "mask" in self.images:
            try:
                mask = controller.mask()
                show_image(self.images["mask"], controller.mask_image(), (0.0, 1.0))
                self.axes["mask"].set_title(f"{mask.name} mask · {mask.achieved_acceleration:.1f}x", fontsize=9)
                zoom_to(self.axes["mask"], None, controller.info.image_shape)
            except InputError as exc:
                show_image(self.images["mask"], None)
                self.axes["mask"].set_title("no mask", fontsize=9)
                self.status_label.value = str(exc)

        for patch in self._patches:
            patch.remove()
        self._patches = []
        boxes = controller.boxes(index)
        window = box_window(boxes, shape) if self.zoom_checkbox.value else None
        for name, ax in self.axes.items():
            if name == "mask":
                continue
            self._patches += draw_boxes(ax, boxes, frame=frame)
            zoom_to(ax, window, shape, frame)
        self._host.refresh()

    def close(self) -> None:
        self._disconnect()
        self._host.close()
        close_tree(self.children)
        super().close()

    # ------------------------------------------------------------------------------------------
    def _on_slice_changed(self, _: int) -> None:
        if self._fixed_index is None:
            self._changed()

    def _on_slice_event(self, index: int) -> None:
        if self.controller.is_open and index in (-1, self.index):
            self._changed()


class FailureCasesView(widgets.VBox, _Subscriber):
    """Slices ranked by how far Net_c's CAM misses the annotated lesions, each with a button
    that moves the session to that slice (:meth:`SessionController.failure_cases`; only slices
    already reconstructed with the method count).

    Parameters
    ----------
    session
        A :class:`SessionController`, or a view holding one (:class:`LFMRIWidget`).
    method
        Whose reconstructions the CAMs were computed on (default: the session's last method).
    """

    def __init__(self, session: SessionController | Any, method: str | None = None) -> None:
        super().__init__()
        self.controller = session_of(session)
        chosen = method or self.controller.settings.methods[-1]
        method_info(chosen)
        options = tuple(dict.fromkeys((*(m for m in available_methods() if not method_info(m).needs_boxes), chosen)))
        self.method_dropdown = widgets.Dropdown(options=options, value=chosen, description="CAM on")
        self.method_dropdown.observe(lambda _: self.refresh(), names="value")
        self.compute_button = widgets.Button(description="Reconstruct all slices", icon="forward",
                                             tooltip="every slice with this method, so every annotated slice gets a CAM")
        self.compute_button.on_click(lambda _: self._reconstruct_all())
        self.summary_label = widgets.Label()
        self.pointer_checkbox = widgets.Checkbox(value=False, description=POINTER_LABEL, tooltip=POINTER_HELP,
                                                 indent=False)
        self.pointer_checkbox.observe(lambda _: self.refresh(), names="value")
        self.table = widgets.GridBox(layout=widgets.Layout(
            grid_template_columns=f"repeat({len(FAILURE_COLUMNS) + 1}, auto)", grid_gap="2px 12px"))
        self.jump_buttons: list[widgets.Button] = []
        self._rows: list[dict[str, str]] = []
        self._cases: list[FailureCase] = []
        self.children = [widgets.HBox([self.method_dropdown, self.compute_button, self.summary_label]),
                         self.pointer_checkbox, self.table]
        events = self.controller.events
        self._subscribe([
            (events.volume_opened, lambda _: self.refresh()),
            (events.slice_changed, lambda _: self._mark_current()),
            (events.readouts_changed, lambda _: self.refresh()),
            (events.boxes_changed, lambda _: self.refresh()),
        ])
        self.refresh()

    @property
    def method(self) -> str:
        return str(self.method_dropdown.value)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns shown: :data:`FAILURE_COLUMNS`, without Net_c's refined pointer unless asked for."""
        return failure_columns(True, bool(self.pointer_checkbox.value))

    def displayed_failures(self) -> list[dict[str, str]]:
        """The table as shown: one ``{column: text}`` per slice, the shown :attr:`columns`."""
        return [dict(row) for row in self._rows]

    def jump(self, row: int) -> None:
        """Move the session to the slice of table row ``row`` (what its button does)."""
        self.controller.set_slice(self._cases[row].slice)

    def refresh(self) -> None:
        """Rebuild the table from the controller's state (only when its rows changed)."""
        controller = self.controller
        cases = controller.failure_cases(self.method, pointer=self.pointer_checkbox.value) if controller.is_open else []
        columns = self.columns
        rows = [{c: cells[c] for c in columns} for cells in (failure_cells(case) for case in cases)]
        misses = sum(not case.hit for case in cases)
        self.summary_label.value = (f"{len(cases)} annotated slices with a CAM, {misses} missed"
                                    if cases else "no annotated slice has a CAM from this method yet")
        if rows == self._rows and [c.slice for c in cases] == [c.slice for c in self._cases]:
            self._mark_current()
            return
        self._rows, self._cases = rows, cases
        self.table.layout.grid_template_columns = f"repeat({len(columns) + 1}, auto)"
        cells: list[widgets.Widget] = [widgets.HTML(f"<b>{html.escape(c)}</b>") for c in columns]
        cells.append(widgets.HTML(""))
        self.jump_buttons = []
        for number_, (case, row) in enumerate(zip(cases, rows, strict=True)):
            cells += [widgets.Label(row[c]) for c in columns]
            button = widgets.Button(description=f"go to slice {case.slice}", layout=widgets.Layout(width="auto"))
            button.on_click(lambda _, n=number_: self.jump(n))
            self.jump_buttons.append(button)
            cells.append(button)
        old = self.table.children
        self.table.children = cells
        for widget in old:
            widget.close()
        self._mark_current()

    def close(self) -> None:
        self._disconnect()
        close_tree(self.children)
        super().close()

    def _mark_current(self) -> None:
        current = self.controller.slice_index if self.controller.is_open else -1
        for case, button in zip(self._cases, self.jump_buttons, strict=True):
            button.button_style = "info" if case.slice == current else ""

    def _reconstruct_all(self) -> None:
        try:
            self.controller.reconstruct_volume(methods=[self.method])
        except InputError as exc:
            self.summary_label.value = str(exc)


__all__ = ["CompareView", "FailureCasesView"]
