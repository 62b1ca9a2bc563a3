"""The notebook viewer: controls, a figure and the live metrics table on one session controller.

:class:`LFMRIWidget` is a subscriber of :class:`~lfmri_viewer.controller.SessionController`
(the mpl-interactions pattern): a moved control calls the controller, and the controller's
events redraw the figure and the table. The napari plugin subscribes to the same controller
in the same way, and both tables are filled by :mod:`lfmri_viewer.formatting`, so the two
front ends show the same strings for the same state.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from lfmri_core.display import (
    WINDOW_PRESETS,
)
from lfmri_core.errors import InputError
from lfmri_core.inference import SHIPPED, ClassifierArg
from lfmri_core.io.fastmri_h5 import VolumeInfo
from lfmri_core.masks import available_masks
from lfmri_core.recon import available_methods
from lfmri_viewer.controller import SessionController
from lfmri_viewer.formatting import (
    ALL_COILS,
    READOUT_COLUMNS,
    READOUT_KEY_COLUMNS,
    SEED_FILE,
    SEED_HELP,
    VIRTUAL_COILS_HELP,
    readout_cells,
    timing_line,
)
from lfmri_viewer.jobs import Job, JobState, Progress, run_sync, sync_requested
from lfmri_viewer.jupyter._animation import MovieControls
from lfmri_viewer.jupyter._mask_click import MaskClicks
from lfmri_viewer.jupyter._panels import PANELS, FigurePanels
from lfmri_viewer.jupyter._runner import ThreadRunner
from lfmri_viewer.jupyter._session import (
    SAMPLE_NAMES,
    BatchedRedraw,
    Source,
    close_tree,
    open_source,
    session_of,
)
from lfmri_viewer.jupyter._tables import html_table
from lfmri_viewer.session_file import open_session, save_session
from lfmri_viewer.settings import DEVICES, ReconSettings, offered_methods

_WIDE = {"description_width": "initial"}
REDRAW_INTERVAL_S = 0.6
"""Least seconds between redraws while a threaded job runs (see ``LFMRIWidget._may_refresh``)."""


class LFMRIWidget(widgets.VBox, BatchedRedraw, FigurePanels):
    """The LF-MRI Viewer in a notebook.

    >>> LFMRIWidget("PD")                                 # doctest: +SKIP

    shows the embedded sample's middle slice reconstructed with the default methods, and
    reconstructs again whenever a control moves.

    Parameters
    ----------
    source
        A volume file, or ``"PD"`` / ``"PDFS"`` for the embedded sample; None keeps what the
        controller has open. A file that cannot be read raises
        :class:`~lfmri_core.errors.InputError` (one line).
    controller
        Share an existing session (a notebook's other views, a script); default a new one.
    methods
        Methods to reconstruct with (default: the controller's).
    sync
        Run jobs on the calling thread (True), or in a worker thread with results applied on
        the kernel's loop (False; see :mod:`lfmri_viewer.jupyter._runner`). Default: True only
        when ``LFMRI_VIEWER_SYNC=1``. The widget installs this runner on the controller.
    auto_update
        Reconstruct the current slice whenever the slice or a setting changes.
    interactive
        ipympl canvas (True) or a static PNG re-shown on each update (False); default: follow
        the matplotlib backend (``%matplotlib widget`` or ``inline``).
    classifier
        Net_c for the CAMs when a new controller is made (``"shipped"``, a weights file or None).

    Attributes
    ----------
    controller
        The session this widget shows and drives.
    figure
        The matplotlib figure: panels :data:`PANELS` in :attr:`axes`, image artists in
        :attr:`images` (``"cam_overlay"`` is the CAM drawn over the reconstruction).
    """

    def __init__(
        self,
        source: Source | None = None,
        *,
        controller: SessionController | None = None,
        methods: tuple[str, ...] | list[str] | None = None,
        sync: bool | None = None,
        auto_update: bool = True,
        interactive: bool | None = None,
        classifier: ClassifierArg = SHIPPED,
    ) -> None:
        super().__init__()
        if controller is None:
            settings = ReconSettings(methods=tuple(methods)) if methods else None
            controller = SessionController(settings, classifier=classifier)
        elif methods:
            controller.update(methods=tuple(methods))
        self.controller = controller
        self.sync = sync_requested() if sync is None else bool(sync)
        self.runner: ThreadRunner | None = None if self.sync else ThreadRunner()
        controller.runner = run_sync if self.runner is None else self.runner
        if source is not None:
            open_source(controller, source)  # a file that cannot be read raises here, in the cell

        self._syncing = False
        self._depth = 0
        self._dirty = False
        self._rows: list[dict[str, str]] = []
        self._job: Job[Any] | None = None
        self._job_started = 0.0
        self._last_refresh = 0.0
        self._view_method = controller.settings.methods[-1]
        self._build_controls(auto_update)
        self._build_figure(interactive)
        self.mask_clicks = MaskClicks(controller, self.figure, self.axes, self._apply)
        self.children = [
            self.title_html,
            widgets.HBox([self.slice_slider, self.acceleration_slider, self.center_fraction_slider]),
            widgets.HBox([self.mask_dropdown, self.seed_input, self.device_dropdown, self.virtual_coils_input]),
            self.mask_clicks.box,
            widgets.HBox([self.methods_select,
                          widgets.VBox([self.view_dropdown, self.boxes_checkbox, self.cam_checkbox, self.opacity_slider]),
                          widgets.VBox([self.window_dropdown, self.link_contrast_checkbox, self.units_label])]),
            widgets.HBox([self.auto_checkbox, self.reconstruct_button, self.volume_button, self.cancel_button]),
            widgets.HBox([self.progress_bar, self.status_label]),
            widgets.HBox([self.output_path, self.save_annotations_button, self.save_session_button,
                          self.export_volumes_button]),
            self.notice_html,
            self._host.widget,
            self.readout_html,
            self.all_columns_checkbox,
            self.timing_html,
        ]
        self.movie_controls = MovieControls(controller, interactive=interactive)  # lfmri_viewer.animation
        self.children = (*self.children, self.movie_controls)
        self._connect()
        with self._batch():
            if controller.is_open:
                self._on_volume_opened(controller.info)
            self._sync_controls()
            self._guarded(lambda: controller.set_auto_update(auto_update))
            self._dirty = True

    # ------------------------------------------------------------------------------------------
    # construction
    def _build_controls(self, auto_update: bool) -> None:
        s = self.controller.settings
        self.title_html = widgets.HTML()
        self.slice_slider = widgets.IntSlider(value=0, min=0, max=0, description="slice", continuous_update=False)
        self.acceleration_slider = widgets.FloatSlider(
            value=s.acceleration, min=1.0, max=max(16.0, s.acceleration), step=1.0, readout_format=".1f",
            description="acceleration", continuous_update=False, style=_WIDE)
        self.center_fraction_slider = widgets.FloatSlider(
            value=s.center_fraction, min=0.01, max=0.5, step=0.01, readout_format=".2f",
            description="centre fraction", continuous_update=False, style=_WIDE)
        self.mask_dropdown = widgets.Dropdown(options=available_masks(), value=s.mask, description="mask")
        # Spelled as napari spells them: seed "file" or a number, virtual coils "all" or a number.
        self.seed_input = widgets.Combobox(value=_seed_text(s.seed), options=(SEED_FILE,), description="seed",
                                           ensure_option=False, continuous_update=False, tooltip=SEED_HELP, layout=widgets.Layout(width="180px"))
        self.device_dropdown = widgets.Dropdown(options=self._device_options(s), value=s.device, description="device")
        self.virtual_coils_input = widgets.Dropdown(
            options=[(ALL_COILS, 0), *((str(n), n) for n in range(1, 65))], value=s.virtual_coils or 0,
            description="virtual coils", style=_WIDE, tooltip=VIRTUAL_COILS_HELP, layout=widgets.Layout(width="200px"))
        self.methods_select = widgets.SelectMultiple(options=self._method_options(s), value=s.methods,
                                                     description="methods", rows=min(8, len(available_methods())))
        self.view_dropdown = widgets.Dropdown(options=s.methods, value=self._view_method, description="show")
        self.boxes_checkbox = widgets.Checkbox(value=True, description="lesion boxes", indent=False)
        self.cam_checkbox = widgets.Checkbox(value=True, description="CAM overlay", indent=False)
        self.opacity_slider = widgets.FloatSlider(value=0.4, min=0.0, max=1.0, step=0.05, description="CAM opacity",
                                                  continuous_update=False, style=_WIDE)
        self.window_dropdown = widgets.Dropdown(options=WINDOW_PRESETS, value=WINDOW_PRESETS[0], description="window",
                                                tooltip="window/level of the reference and the reconstruction")
        self.link_contrast_checkbox = widgets.Checkbox(value=True, description="link contrast (reference and reconstructions)",
                                                       indent=False)
        self.units_label = widgets.HTML()
        # The same choice as napari's dock, on by default: a notebook is wide enough for every column.
        self.all_columns_checkbox = widgets.Checkbox(value=True, description="all columns", indent=False,
                                                     tooltip="also the CAM peak distance (px and mm), p(lesion) and time")
        self.auto_checkbox = widgets.Checkbox(value=auto_update, description="reconstruct on change", indent=False)
        fit = widgets.Layout(width="auto")
        self.reconstruct_button = widgets.Button(description="Reconstruct slice", icon="play", layout=fit)
        self.volume_button = widgets.Button(description="Reconstruct volume", icon="forward", layout=fit)
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True, layout=fit)
        self.output_path = widgets.Text(
            value="", placeholder="boxes.csv, or recon.nii.gz / recon.h5", description="save to", style=_WIDE,
            layout=widgets.Layout(width="360px"))
        self.save_annotations_button = widgets.Button(
            description="Save annotations", icon="save", layout=fit,
            tooltip="the lesion boxes as a fastMRI+ CSV (flipped frame, labels kept) at the path on the left")
        self.save_session_button = widgets.Button(
            description="Save session", icon="save", layout=fit,
            tooltip="the volume, slice and settings (a drawn mask too) as JSON at the path on the left")
        self.export_volumes_button = widgets.Button(
            description="Export volumes", icon="download", layout=fit,
            tooltip="the shown method's reconstruction, error map and CAM as NIfTI (.nii.gz) or HDF5 (.h5)")
        self.progress_bar = widgets.IntProgress(value=0, min=0, max=1)
        self.status_label = widgets.Label()
        self.notice_html = widgets.HTML()
        self.readout_html = widgets.HTML()
        self.timing_html = widgets.HTML()

        setting_controls: dict[str, widgets.ValueWidget] = {
            "acceleration": self.acceleration_slider, "center_fraction": self.center_fraction_slider,
            "mask": self.mask_dropdown, "device": self.device_dropdown,
        }
        for name, control in setting_controls.items():
            control.observe(self._setting_observer(name), names="value")
        self.slice_slider.observe(self._on_slice_control, names="value")
        self.methods_select.observe(self._on_methods_control, names="value")
        self.seed_input.observe(self._on_seed_control, names="value")
        self.virtual_coils_input.observe(self._on_virtual_coils_control, names="value")
        self.view_dropdown.observe(self._on_view_control, names="value")
        for control in (self.boxes_checkbox, self.cam_checkbox, self.opacity_slider, self.window_dropdown,
                        self.link_contrast_checkbox, self.all_columns_checkbox):
            control.observe(lambda _: self._changed(), names="value")
        self.auto_checkbox.observe(self._on_auto_control, names="value")
        self.reconstruct_button.on_click(lambda _: self._apply(self.controller.reconstruct_slice))
        self.volume_button.on_click(lambda _: self._apply(self.controller.reconstruct_volume))
        self.cancel_button.on_click(lambda _: self.controller.cancel())
        self.save_annotations_button.on_click(lambda _: self.save_annotations(self.output_path.value))
        self.save_session_button.on_click(lambda _: self.save_session(self.output_path.value))
        self.export_volumes_button.on_click(lambda _: self.export_volumes(self.output_path.value))

    def _connect(self) -> None:
        events = self.controller.events
        self._connections: list[tuple[Any, Callable[..., None]]] = [
            (events.volume_opened, self._on_volume_opened),
            (events.slice_changed, self._on_slice_changed),
            (events.settings_changed, self._on_settings_changed),
            (events.auto_update_changed, self._on_auto_update_changed),
            (events.readouts_changed, self._on_slice_event),
            (events.boxes_changed, self._on_slice_event),
            (events.job_started, self._on_job_started),
            (events.job_progress, self._on_job_progress),
            (events.job_finished, self._on_job_finished),
            (events.notice, self._on_notice),
        ]
        for signal, slot in self._connections:
            signal.connect(slot)

    # ------------------------------------------------------------------------------------------
    # public
    def load(self, source: Source) -> VolumeInfo:
        """Open another volume (file or ``"PD"`` / ``"PDFS"``) in this widget's session."""
        with self._batch():
            return open_source(self.controller, source)

    def save_annotations(self, path: str | os.PathLike[str]) -> Path | None:
        """Save the session's boxes as a fastMRI+ CSV (the "Save annotations" button, with the
        path typed beside it); None when refused (the message is the widget's notice)."""
        if not str(path).strip():
            self._on_notice("error", "type the CSV file to save the annotations to in 'save to'")
            return None
        try:
            saved = self.controller.save_annotations(Path(str(path).strip()))
        except (InputError, OSError) as exc:
            self._on_notice("error", str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            return None
        self._on_notice("info", f"{len(self.controller.all_boxes())} lesion boxes saved to {saved}")
        return saved

    def save_session(self, path: str | os.PathLike[str]) -> Path | None:
        """Save the session (volume, slice, settings, a drawn mask) as JSON (the "Save session"
        button, with the path typed beside it); None when refused (the message is the notice)."""
        if not str(path).strip():
            self._on_notice("error", "type the JSON file to save the session to in 'save to'")
            return None
        try:
            saved = save_session(self.controller, Path(str(path).strip()))
        except (InputError, OSError) as exc:
            self._on_notice("error", str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            return None
        self._on_notice("info", f"session saved to {saved}")
        return saved

    def open_session(self, path: str | os.PathLike[str]) -> bool:
        """Reopen a saved session (volume, slice, settings, a drawn mask); False when refused."""
        opened: list[object] = []
        with self._batch():
            self._guarded(lambda: opened.append(open_session(self.controller, path)))
        return bool(opened)

    def export_volumes(self, path: str | os.PathLike[str]) -> list[Path] | None:
        """Export the shown method's reconstruction, error map and CAM (NIfTI for ``.nii.gz``,
        else HDF5) with the file's geometry; None when refused (the message is the notice)."""
        if not str(path).strip():
            self._on_notice("error", "type the file to export to in 'save to' (.nii.gz or .h5)")
            return None
        notices: list[tuple[str, str]] = []
        collect = lambda level, message: notices.append((level, message))
        self.controller.events.notice.connect(collect)
        try:
            files = self.controller.export_volumes(Path(str(path).strip()), self._view_method)
        except (InputError, OSError) as exc:
            self._on_notice("error", str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            return None
        finally:
            self.controller.events.notice.disconnect(collect)
        done = f"{self._view_method}: saved {', '.join(str(f) for f in files)}"
        self._on_notice("warning" if notices else "info", "; ".join([*(m for _, m in notices), done]))
        return files

    async def wait(self, timeout_s: float | None = None) -> None:
        """Wait until the session has no running job, letting the kernel apply its results.

        In a cell, ``await viewer.wait()``: unlike ``time.sleep``, awaiting keeps the kernel's
        loop turning, which is where a threaded job's results arrive. Raises ``TimeoutError``
        after ``timeout_s`` seconds.
        """
        start = time.monotonic()
        while self.controller.current_job is not None:
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                raise TimeoutError(f"{self.controller.current_job.name} still running after {timeout_s:g} s")
            await asyncio.sleep(0.02)

    @property
    def view_method(self) -> str:
        """The method whose reconstruction, error and CAM the figure shows."""
        return self._view_method

    def displayed_readouts(self) -> list[dict[str, str]]:
        """The metrics table as shown: one ``{column: text}`` per method, columns
        :data:`~lfmri_viewer.formatting.READOUT_COLUMNS`."""
        return [dict(row) for row in self._rows]

    def _may_refresh(self) -> bool:
        """While this widget's job runs in the worker thread, the figure and table wait for it:
        they are redrawn when it ends, and meanwhile at most once per :data:`REDRAW_INTERVAL_S`
        (a volume's slices still appear as they come). So a change is drawn once, with its
        results, instead of once empty and once per method (a static figure is a PNG render each
        time). Jobs on the calling thread (``sync``) finish before anything is drawn anyway."""
        job = self._job
        if self.runner is None or not self.runner.threaded or job is None or job.finished:
            return True
        return time.perf_counter() - max(self._last_refresh, self._job_started) >= REDRAW_INTERVAL_S

    def refresh(self) -> None:
        """Redraw the figure and the table from the controller's state."""
        self._dirty = False
        self._last_refresh = time.perf_counter()
        controller = self.controller
        if not controller.is_open:
            self.title_html.value = "<b>LF-MRI Viewer</b>: no volume open"
            self._rows = []
            self.readout_html.value = html_table(READOUT_COLUMNS, [], css_class="lfmri-readouts", empty="no volume open")
            return
        readouts = controller.readouts()
        self._rows = [readout_cells(r) for r in readouts.values()]
        columns = READOUT_COLUMNS if self.all_columns_checkbox.value else READOUT_KEY_COLUMNS
        self.readout_html.value = html_table(columns, self._rows, css_class="lfmri-readouts",
                                             empty="not reconstructed yet for these settings")
        self.timing_html.value = "<br>".join(
            f"<small>{html.escape(timing_line(r))}</small>" for r in readouts.values())
        self._draw(readouts.get(self._view_method))
        self._host.refresh()

    def close(self) -> None:
        """Disconnect from the controller, stop the worker thread and close the widgets."""
        for signal, slot in getattr(self, "_connections", []):
            signal.disconnect(slot, missing_ok=True)
        self._connections = []
        if self.runner is not None:
            self.runner.close()
            if self.controller.runner is self.runner:
                self.controller.runner = run_sync
        self.mask_clicks.close()
        self._host.close()
        close_tree(self.children)
        super().close()

    # ------------------------------------------------------------------------------------------
    # controls -> controller
    def _guarded(self, action: Callable[[], Any]) -> None:
        """Run ``action``; bad input becomes a one-line notice and the controls show the state."""
        try:
            action()
        except InputError as exc:
            self._on_notice("error", str(exc))
            self._sync_controls()

    def _apply(self, action: Callable[[], Any]) -> None:
        self.notice_html.value = ""
        with self._batch():
            self._guarded(action)

    def _setting_observer(self, name: str) -> Callable[[dict[str, Any]], None]:
        def observe(change: dict[str, Any]) -> None:
            if not self._syncing:
                self._apply(lambda: self.controller.update(**{name: change["new"]}))
        return observe

    def _on_slice_control(self, change: dict[str, Any]) -> None:
        if not self._syncing and self.controller.is_open:
            self._apply(lambda: self.controller.set_slice(int(change["new"])))

    def _on_methods_control(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self._apply(lambda: self.controller.update(methods=tuple(change["new"])))

    def _on_virtual_coils_control(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self._apply(lambda: self.controller.update(virtual_coils=int(change["new"]) or None))

    def _on_seed_control(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        text = str(change["new"]).strip()
        if text.lower() == SEED_FILE:
            self._apply(lambda: self.controller.update(seed=None))
        elif text.isdigit():
            self._apply(lambda: self.controller.update(seed=int(text)))
        elif text:  # a half-typed value waits; anything else is said, and the control shows the seed in force
            self._on_notice("error", f"seed must be {SEED_FILE!r} or a non-negative integer, got {text!r}")
            self._sync_controls()

    def _on_view_control(self, change: dict[str, Any]) -> None:
        if not self._syncing and change["new"] is not None:
            self._view_method = str(change["new"])
            self._changed()

    def _on_auto_control(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self._apply(lambda: self.controller.set_auto_update(bool(change["new"])))

    @contextlib.contextmanager
    def _setting_controls(self) -> Iterator[None]:
        """Set controls from the state without their observers calling the controller back."""
        previous, self._syncing = self._syncing, True
        try:
            yield
        finally:
            self._syncing = previous

    def _sync_controls(self) -> None:
        controller, s = self.controller, self.controller.settings
        with self._setting_controls():
            if controller.is_open:
                self.slice_slider.max = controller.num_slices - 1
                self.slice_slider.value = controller.slice_index
            self.acceleration_slider.max = max(self.acceleration_slider.max, s.acceleration)
            self.acceleration_slider.value = s.acceleration
            self.center_fraction_slider.min = min(self.center_fraction_slider.min, s.center_fraction)
            self.center_fraction_slider.value = s.center_fraction
            self.mask_dropdown.value = s.mask
            self.seed_input.value = _seed_text(s.seed)
            self.device_dropdown.options = self._device_options(s)
            self.device_dropdown.value = s.device
            self.virtual_coils_input.value = s.virtual_coils or 0
            self.methods_select.options = self._method_options(s)
            self.methods_select.value = s.methods
            if self._view_method not in s.methods:
                self._view_method = s.methods[-1]
            self.view_dropdown.options = s.methods
            self.view_dropdown.value = self._view_method
            self.auto_checkbox.value = controller.auto_update

    @staticmethod
    def _device_options(settings: ReconSettings) -> tuple[str, ...]:
        return DEVICES if settings.device in DEVICES else (*DEVICES, settings.device)

    @staticmethod
    def _method_options(settings: ReconSettings) -> tuple[str, ...]:
        return offered_methods(settings.methods)

    # ------------------------------------------------------------------------------------------
    # controller events -> view
    def _on_volume_opened(self, info: VolumeInfo) -> None:
        ky, kx = info.image_shape
        self.title_html.value = (
            f"<b>{html.escape(info.name)}</b> · {html.escape(str(info.acquisition or 'unknown acquisition'))} · "
            f"{info.num_slices} slices · {info.num_coils} coils · k-space {ky} x {kx}")
        self.mask_clicks.volume_opened()
        self._sync_controls()
        self._changed()

    def _on_slice_changed(self, index: int) -> None:
        with self._setting_controls():
            self.slice_slider.value = index
        self._changed()

    def _on_settings_changed(self, _: ReconSettings) -> None:
        self._sync_controls()
        self._changed()

    def _on_auto_update_changed(self, on: bool) -> None:
        with self._setting_controls():
            self.auto_checkbox.value = on

    def _on_slice_event(self, index: int) -> None:
        if self.controller.is_open and index in (-1, self.controller.slice_index):
            self._changed()

    def _on_job_started(self, job: Job[Any]) -> None:
        self._job, self._job_started = job, time.perf_counter()
        self.progress_bar.bar_style = ""
        self.progress_bar.max, self.progress_bar.value = 1, 0
        self.status_label.value = f"{job.name}…"
        self.cancel_button.disabled = False

    def _on_job_progress(self, job: Job[Any], progress: Progress) -> None:
        if job is not self._job:
            return
        self.progress_bar.max = max(progress.total, 1)
        self.progress_bar.value = min(progress.done, self.progress_bar.max)
        self.status_label.value = f"{job.name}: {progress.message}"

    def _on_job_finished(self, job: Job[Any]) -> None:
        if job is not self._job:
            return  # a job replaced by a newer one: its end says nothing about what is shown
        self.cancel_button.disabled = True
        seconds = time.perf_counter() - self._job_started
        if job.state is JobState.DONE:
            self.progress_bar.value = self.progress_bar.max
            self.progress_bar.bar_style = "success"
            self.status_label.value = f"{job.name}: done in {seconds:.1f} s"
        elif job.state is JobState.CANCELLED:
            self.progress_bar.bar_style = "warning"
            self.status_label.value = f"{job.name}: cancelled"
        else:
            self.progress_bar.bar_style = "danger"
            self.status_label.value = f"{job.name}: failed"
        if self._dirty or job.state is not JobState.DONE:  # a job's last result is often drawn already
            self._changed()

    def _on_notice(self, level: str, message: str) -> None:
        color = {"info": "#333", "warning": "#a60", "error": "#b00"}.get(level, "#333")
        self.notice_html.value = f'<span style="color:{color}">{html.escape(level)}: {html.escape(message)}</span>'


def _seed_text(seed: int | None) -> str:
    return SEED_FILE if seed is None else str(seed)


__all__ = ["PANELS", "SAMPLE_NAMES", "LFMRIWidget", "Source", "open_source", "session_of"]
