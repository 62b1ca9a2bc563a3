"""The "LF-MRI reconstruction" dock widget: controls, readouts and tables of one session.

The widget is a thin view of one :class:`~lfmri_viewer.controller.SessionController`: each
control translates its value into a controller call (a refused value becomes a napari error
notification and the control shows the controller's value again), and each controller event
redraws what depends on it. The layers are kept by :class:`~._scene.Scene`.

Jobs run in napari worker threads (:class:`WorkerRunner`, with napari's progress bar) so the
viewer never waits for a reconstruction; with ``LFMRI_VIEWER_SYNC=1`` they run on the GUI
thread instead (tests, debugging). Every action that asks for a path takes it as an argument
too, so it can be driven without a file dialog (``widget.open_file(path)``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QShowEvent
from qtpy.QtWidgets import QFileDialog, QWidget

from lfmri_core.display import WINDOW_PRESETS, describe_units
from lfmri_core.errors import InputError
from lfmri_viewer.controller import SessionController
from lfmri_viewer.formatting import (
    FAILURE_COLUMNS,
    READOUT_COLUMNS,
    READOUT_KEY_COLUMNS,
    failure_cells,
    failure_columns,
    readout_cells,
    timing_line,
)
from lfmri_viewer.jobs import Job, JobState, sync_requested
from lfmri_viewer.napari_plugin._animation import add_animation_tab
from lfmri_viewer.napari_plugin._layers import (
    BOXES_ROLE,
    REFERENCE_ROLE,
    ROLE_KEY,
    SOURCE_KEY,
    same_volume,
)
from lfmri_viewer.napari_plugin._mask_editor import MaskEditor
from lfmri_viewer.napari_plugin._offer import offered_methods
from lfmri_viewer.napari_plugin._qt_helpers import (
    blocked,
    fill,
    fit_dock,
    mask_pixmap,
    table_rows,
)
from lfmri_viewer.napari_plugin._runner import WorkerRunner
from lfmri_viewer.napari_plugin._scene import Scene
from lfmri_viewer.napari_plugin._sections import (
    ALL_COILS,
    CUSTOM_WINDOW,
    DEVICE_CHOICES,
    FILE_SEED,
    build_sections,
)
from lfmri_viewer.review import FailureCase
from lfmri_viewer.session_file import open_session, save_session

if TYPE_CHECKING:
    import napari
    from napari.layers import Layer

T = TypeVar("T")


class _Refused:
    """What :meth:`ReconstructionWidget._try` returns for an action the controller refused."""


REFUSED = _Refused()

VOLUME_FILTER = "k-space volumes (*.h5 *.cfl *.hdr);;All files (*)"
CSV_FILTER = "CSV files (*.csv);;All files (*)"
SESSION_FILTER = "LF-MRI sessions (*.json);;All files (*)"


class ReconstructionWidget(QWidget):
    """The "LF-MRI reconstruction" dock widget of the LF-MRI Viewer.

    Parameters
    ----------
    napari_viewer
        The viewer to dock into; its layers show the session (:class:`~._scene.Scene`).

    Attributes
    ----------
    controller
        The session this widget owns (auto-update on).
    scene
        Keeps the layers in step with :attr:`controller`.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.controller = SessionController(auto_update=True)
        self.runner: WorkerRunner | None = None
        if not sync_requested():
            self.runner = WorkerRunner()
            self.controller.runner = self.runner
        self.scene = Scene(napari_viewer, self.controller, on_error=show_error)
        self._failure_cases: list[FailureCase] = []
        self._shown_window: tuple[float, float] | None = None
        self.scene.window_listeners.append(self._on_window_changed)
        # A reader adds the boxes layer right after the reference; a volume opened from its
        # reference gets its missing layers made once the reader is done.
        self._ensure_inputs = QTimer(self)
        self._ensure_inputs.setSingleShot(True)
        self._ensure_inputs.timeout.connect(self.scene.ensure_inputs)

        self.mask_editor = MaskEditor(napari_viewer, self.controller, self.scene, on_error=show_error)
        self._build()
        self._connect()
        self._show_settings()
        self._show_mask()
        self._show_volume()
        self._show_job(None)
        napari_viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self.destroyed.connect(self.mask_editor.disconnect_all)
        self.destroyed.connect(functools.partial(_shut_down, self.controller, self.scene, self.runner,
                                                 napari_viewer, self._on_layer_inserted))
        for layer in list(napari_viewer.layers):
            self._take_layer(layer)
        self.animation = add_animation_tab(self)  # the "Movie" tab (lfmri_viewer.animation)

    # ------------------------------------------------------------------------------------------
    # building
    def _build(self) -> None:
        build_sections(self)

    def _connect(self) -> None:
        self.open_button.clicked.connect(lambda: self.open_file())
        self.annotations_button.clicked.connect(lambda: self.load_annotations())
        self.save_annotations_button.clicked.connect(lambda: self.save_annotations())
        self.save_session_button.clicked.connect(lambda: self.save_session())
        self.open_session_button.clicked.connect(lambda: self.open_session())
        self.acceleration.valueChanged.connect(lambda v: self._update(acceleration=float(v)))
        self.mask_type.currentTextChanged.connect(lambda name: self._update(mask=name))
        self.center_fraction.valueChanged.connect(lambda v: self._update(center_fraction=float(v)))
        self.seed.valueChanged.connect(lambda v: self._update(seed=None if v == FILE_SEED else int(v)))
        self.methods.itemChanged.connect(lambda _: self._update(methods=self.checked_methods()))
        self.device.currentIndexChanged.connect(lambda i: self._update(device=self.device.itemData(i)))
        self.virtual_coils.valueChanged.connect(lambda v: self._update(virtual_coils=None if v == ALL_COILS else int(v)))
        self.auto_update.toggled.connect(self.controller.set_auto_update)
        self.reconstruct_slice_button.clicked.connect(lambda: self.reconstruct_slice())
        self.reconstruct_volume_button.clicked.connect(lambda: self.reconstruct_volume())
        self.cancel_button.clicked.connect(lambda: self.cancel())
        self.cam_method.currentTextChanged.connect(self._on_cam_method)
        self.window_preset.currentTextChanged.connect(self._on_window_preset)
        self.link_contrast.toggled.connect(self.set_link_contrast)
        self.grid_mode.toggled.connect(self.set_grid)
        self.all_columns.toggled.connect(lambda _: self._show_columns())
        self.all_failure_columns.toggled.connect(lambda _: self._show_columns())
        self.failure_pointer.toggled.connect(lambda _: (self._show_failures(), self._show_columns()))
        self.cam_opacity.valueChanged.connect(lambda v: self.scene.set_cam_opacity(v / 100))
        self.failure_table.cellClicked.connect(lambda row, _: self.jump_to_failure(row))
        self.failure_table.cellActivated.connect(lambda row, _: self.jump_to_failure(row))
        self.export_png_button.clicked.connect(lambda: self.export_png())
        self.export_csv_button.clicked.connect(lambda: self.export_failure_csv())
        self.export_readouts_button.clicked.connect(lambda: self.export_readouts_csv())
        self.export_volumes_button.clicked.connect(lambda: self.export_volumes())

        events = self.controller.events
        events.volume_opened.connect(self._on_volume_opened)
        events.slice_changed.connect(self._on_slice_changed)
        events.settings_changed.connect(self._on_settings_changed)
        events.auto_update_changed.connect(self._show_auto_update)
        events.readouts_changed.connect(self._on_readouts_changed)
        events.boxes_changed.connect(lambda _: self._show_failures())
        events.job_started.connect(self._show_job)
        events.job_progress.connect(lambda job, _: self._show_job(job))
        events.job_finished.connect(self._show_job)
        events.notice.connect(_notify)

    # ------------------------------------------------------------------------------------------
    # user actions (each callable without the GUI)
    def _try(self, action: Callable[..., T], *args: Any, about: str | os.PathLike[str] | None = None,
             **kwargs: Any) -> T | _Refused:
        """Run a user action; a refused one (bad input, unreadable or unwritable file) becomes
        an error notification and gives :data:`REFUSED`. ``about``: the file the action is on,
        named in the message when the error does not name it."""
        try:
            return action(*args, **kwargs)
        except (InputError, OSError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            if about is not None and Path(about).name not in message:
                message = f"{Path(about).name}: {message}"
            show_error(message)
            return REFUSED

    def _update(self, **changes: Any) -> None:
        if self._try(self.controller.update, **changes) is REFUSED:
            self._show_settings()  # the controls go back to the settings in force

    def checked_methods(self) -> tuple[str, ...]:
        """The methods ticked in the list, in the list's order."""
        items = [self.methods.item(i) for i in range(self.methods.count())]
        return tuple(item.text() for item in items if item.checkState() == Qt.Checked)

    def set_methods(self, methods: Sequence[str]) -> None:
        """Tick exactly ``methods`` (one controller update)."""
        wanted = set(methods)
        unknown = wanted - {self.methods.item(i).text() for i in range(self.methods.count())}
        if unknown:
            show_error(f"method {min(unknown)!r} is not offered; choose from {', '.join(offered_methods())}")
            return
        with blocked(self.methods):
            for i in range(self.methods.count()):
                item = self.methods.item(i)
                item.setCheckState(Qt.Checked if item.text() in wanted else Qt.Unchecked)
        self._update(methods=self.checked_methods())

    def open_file(self, path: str | os.PathLike[str] | None = None) -> bool:
        """Open a volume (asks for it without ``path``) and make its layers; False if refused."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open a k-space volume", "", VOLUME_FILTER)
            if not path:
                return False
        return self._try(self.controller.open, path, about=path) is not REFUSED

    def load_annotations(self, path: str | os.PathLike[str] | None = None) -> bool:
        """Read the open volume's boxes from a fastMRI+ CSV (its ``*_file_list.csv`` beside it
        is used when present); False if refused."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Load fastMRI+ annotations", "", CSV_FILTER)
            if not path:
                return False
        csv_path = Path(path)
        file_list = csv_path.with_name(f"{csv_path.stem}_file_list.csv")
        count = self._try(self.controller.load_annotations, csv_path, file_list if file_list.is_file() else None,
                          about=csv_path)
        if isinstance(count, _Refused):
            return False
        show_info(f"{count} lesion boxes read from {csv_path.name}")
        return True

    def save_annotations(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Save the boxes as edited as a fastMRI+ CSV (asks for the path without one); None if
        cancelled or refused (an input file, say)."""
        if not self.controller.is_open:
            show_error("no volume is open: open one before saving its annotations")
            return None
        default = f"{self.controller.path.stem if self.controller.path else 'lfmri'}_boxes.csv"
        path = path if path is not None else self._ask_save_path("Save annotations (fastMRI+ CSV)", default)
        if path is None:
            return None
        saved = self._try(self.controller.save_annotations, path, about=path)
        if isinstance(saved, _Refused):
            return None
        show_info(f"{len(self.controller.all_boxes())} lesion boxes saved to {saved}")
        return saved

    def save_session(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Save the session (volume, slice, settings, a drawn mask) as JSON (asks for the path
        without one); None if cancelled or refused."""
        if not self.controller.is_open:
            show_error("no volume is open: open one before saving the session")
            return None
        path = path if path is not None else self._ask_save_path("Save session", "lfmri_session.json", SESSION_FILTER)
        if path is None:
            return None
        saved = self._try(save_session, self.controller, path, about=path)
        if isinstance(saved, _Refused):
            return None
        show_info(f"session saved to {saved}")
        return saved

    def open_session(self, path: str | os.PathLike[str] | None = None) -> bool:
        """Reopen a saved session (asks for it without ``path``); False if refused."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open a session", "", SESSION_FILTER)
            if not path:
                return False
        return self._try(open_session, self.controller, path, about=path) is not REFUSED

    def export_volumes(self, path: str | os.PathLike[str] | None = None) -> list[Path] | None:
        """Export the reconstruction, error map and CAM of the CAM method (default the last
        chosen method) as NIfTI (``.nii.gz``) or HDF5 (``.h5``); None if cancelled or refused."""
        if not self.controller.is_open:
            show_error("no volume is open: open one and reconstruct it before exporting")
            return None
        method = self.scene.cam_method or self.controller.settings.methods[-1]
        if path is None:
            path = self._ask_save_path(f"Export {method} volumes", f"{method}.nii.gz",
                                       "NIfTI (*.nii.gz *.nii);;HDF5 (*.h5)")
            if path is None:
                return None
        files = self._try(self.controller.export_volumes, path, method, about=path)
        if isinstance(files, _Refused):
            return None
        show_info(f"{method}: {', '.join(f.name for f in files)} saved in {Path(path).parent}")
        return files

    def reconstruct_slice(self) -> Job[Any] | None:
        """Reconstruct the current slice with the chosen methods (missing results only);
        None when nothing was started."""
        job = self._try(self.controller.reconstruct_slice)
        return None if isinstance(job, _Refused) else job

    def reconstruct_volume(self) -> Job[Any] | None:
        """Reconstruct every slice, the current one first; None when nothing was started."""
        job = self._try(self.controller.reconstruct_volume)
        return None if isinstance(job, _Refused) else job

    def cancel(self) -> None:
        """Stop the running job (results that came in stay)."""
        self.controller.cancel()

    def set_cam_opacity(self, opacity: float) -> None:
        """Opacity of the CAM overlay, ``[0, 1]`` (moves the slider)."""
        self.cam_opacity.setValue(round(100 * float(opacity)))

    def set_cam_method(self, method: str) -> None:
        """Show the CAM of ``method`` (one of the chosen methods); the failure table follows."""
        self.cam_method.setCurrentText(method)
        if self.cam_method.currentText() != method:
            show_error(f"no CAM for {method!r}: choose one of {', '.join(self.controller.settings.methods)}")

    def apply_window(self, preset: str) -> None:
        """Window/level preset for the reference and every reconstruction (moves the choice)."""
        self.window_preset.setCurrentText(preset)
        if self.window_preset.currentText() != preset:
            show_error(f"no window preset {preset!r}; choose one of {', '.join(WINDOW_PRESETS)}")

    def _on_window_preset(self, preset: str) -> None:
        if preset and preset != CUSTOM_WINDOW and self.controller.is_open:
            self._try(self.scene.apply_window, preset)
            self._shown_window = self.scene.window

    def set_link_contrast(self, on: bool) -> None:
        """Link (or unlink) the contrast of the reference and the reconstructions."""
        with blocked(self.link_contrast):
            self.link_contrast.setChecked(bool(on))
        self.scene.set_link_contrast(bool(on))

    def set_grid(self, on: bool) -> None:
        """Side by side: the reference and the reconstructions in napari's grid (or back)."""
        with blocked(self.grid_mode):
            self.grid_mode.setChecked(bool(on))
        self.scene.set_grid(bool(on))

    def _on_window_changed(self, window: tuple[float, float]) -> None:
        # The user moved a contrast slider: the preset shown is no longer in force.
        if self.window_preset.currentText() != CUSTOM_WINDOW and window != self._shown_window:
            with blocked(self.window_preset):
                self.window_preset.setCurrentText(CUSTOM_WINDOW)

    def fit_dock(self) -> None:
        """Widen the dock to the shown columns of the readout and failure tables (the wider)."""
        fit_dock(self, self.readout_table, max(self.readout_table.minimumWidth(), self.failure_table.minimumWidth()))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.fit_dock_timer.start()  # docked now: the dock's own minimum is napari's

    def _show_columns(self) -> None:
        """Key columns only, or every column ("all columns"), in each table."""
        readouts = READOUT_COLUMNS if self.all_columns.isChecked() else READOUT_KEY_COLUMNS
        failures = failure_columns(self.all_failure_columns.isChecked(), self.failure_pointer.isChecked())
        for table, columns, shown, fit in ((self.readout_table, READOUT_COLUMNS, readouts, self.fit_readout_columns),
                                           (self.failure_table, FAILURE_COLUMNS, failures, self.fit_failure_columns)):
            for c, column in enumerate(columns):
                table.setColumnHidden(c, column not in shown)
            fit()

    def _on_cam_method(self, method: str) -> None:
        if method and self._try(self.scene.set_cam_method, method) is not REFUSED:
            self._show_failures()

    def jump_to_failure(self, row: int) -> None:
        """Go to the slice of the failure table's ``row``."""
        if 0 <= row < len(self._failure_cases):
            self._try(self.controller.set_slice, self._failure_cases[row].slice)

    def _ask_save_path(self, title: str, default: str, file_filter: str = CSV_FILTER) -> str | None:
        """A path from the save dialog, or None when the user cancels it."""
        path, _ = QFileDialog.getSaveFileName(self, title, default, file_filter)
        return path or None

    def export_png(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Save the canvas as PNG (asks for the path without one)."""
        path = path if path is not None else self._ask_save_path("Export view", "lfmri_view.png", "PNG images (*.png)")
        if path is None:
            return None
        path = Path(path)
        if self._try(self.controller.check_output, path, about=path) is REFUSED:  # never over an input
            return None
        self.scene.redraw()  # the layers written since the event loop last ran
        if self._try(self.viewer.screenshot, str(path), canvas_only=True, flash=False, about=path) is REFUSED:
            return None
        show_info(f"view saved to {path}")
        return path

    def export_failure_csv(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Save the failure-case table (for the CAM method shown) as CSV."""
        path = path if path is not None else self._ask_save_path("Export failure cases", "lfmri_failure_cases.csv")
        if path is None:
            return None
        saved = self._try(self.controller.export_failure_csv, path, self.scene.cam_method, about=path,
                          pointer=self.failure_pointer.isChecked())
        if isinstance(saved, _Refused):
            return None
        show_info(f"failure cases saved to {saved}")
        return saved

    def export_readouts_csv(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Save the current slice's readouts (every method, timings in ms) as CSV."""
        path = path if path is not None else self._ask_save_path("Export readouts", "lfmri_readouts.csv")
        if path is None:
            return None
        saved = self._try(self.controller.export_readouts_csv, path, about=path)
        if isinstance(saved, _Refused):
            return None
        show_info(f"readouts saved to {saved}")
        return saved

    # ------------------------------------------------------------------------------------------
    # layers added by the reader or the sample contribution
    def _on_layer_inserted(self, event: Any) -> None:
        self._take_layer(event.value)

    def _take_layer(self, layer: Layer) -> None:
        source, role = layer.metadata.get(SOURCE_KEY), layer.metadata.get(ROLE_KEY)
        if source is None or role not in (REFERENCE_ROLE, BOXES_ROLE) or self.scene.owns(layer):
            return
        if not same_volume(source, self.controller.path if self.controller.is_open else None):
            with self.scene.adopting():
                if self._try(self.controller.open, source, about=source) is REFUSED:
                    return
            self._ensure_inputs.start(0)
        self.scene.adopt(layer)

    # ------------------------------------------------------------------------------------------
    # redraws
    def displayed_readouts(self) -> list[dict[str, str]]:
        """The readout table's rows as shown: ``{column: text}`` per method."""
        return table_rows(self.readout_table)

    def displayed_failures(self) -> list[dict[str, str]]:
        """The failure table's rows as shown."""
        return table_rows(self.failure_table)

    def _on_volume_opened(self, _: Any) -> None:
        self._show_window()
        self._show_volume()
        self._show_mask()
        self._show_cam_choices()
        self._show_readouts()
        self._show_failures()

    def _on_slice_changed(self, _: int) -> None:
        self._show_volume()
        self._show_readouts()

    def _on_settings_changed(self, _: Any) -> None:
        self._show_settings()
        self._show_mask()
        self._show_cam_choices()
        self._show_readouts()
        self._show_failures()

    def _on_readouts_changed(self, index: int) -> None:
        if not self.controller.is_open:
            return
        if index == self.controller.slice_index:
            self._show_readouts()
        # Only slices with boxes are failure cases (a slice losing its boxes sends boxes_changed).
        if self.controller.boxes(index):
            self._show_failures()

    def _show_volume(self) -> None:
        if not self.controller.is_open:
            self.volume_label.setText("No volume open: open a fastMRI .h5 or BART .cfl file, or a sample "
                                      "(File > Open Sample > LF-MRI Viewer).")
            return
        info, path = self.controller.info, self.controller.path
        assert path is not None
        rows, cols = info.recon_shape
        self.volume_label.setText(
            f"{path.name}: {info.num_slices} slices, {info.num_coils} coils, k-space {info.image_shape[0]} x "
            f"{info.image_shape[1]}, image {rows} x {cols}; slice {self.controller.slice_index}, "
            f"{len(self.controller.all_boxes())} lesion boxes"
        )
        self.units_label.setText(f"{describe_units(self.controller.display_frame)}; shown in the radiological "
                                 "display orientation (the fastMRI+ labelling frame)")

    def _show_window(self) -> None:
        """The new volume starts at the chosen preset (custom: its full range)."""
        preset = self.window_preset.currentText()
        if preset != CUSTOM_WINDOW:
            self._try(self.scene.apply_window, preset)
        self._shown_window = self.scene.window

    def _show_settings(self) -> None:
        settings = self.controller.settings
        with blocked(self.acceleration, self.mask_type, self.center_fraction, self.seed, self.methods, self.device,
                      self.virtual_coils):
            self.acceleration.setValue(settings.acceleration)
            self.mask_type.setCurrentText(settings.mask)
            self.center_fraction.setValue(settings.center_fraction)
            self.seed.setValue(FILE_SEED if settings.seed is None else settings.seed)
            for i in range(self.methods.count()):
                item = self.methods.item(i)
                item.setCheckState(Qt.Checked if item.text() in settings.methods else Qt.Unchecked)
            device = "cuda" if settings.device.startswith("cuda") else settings.device
            self.device.setCurrentIndex(max(self.device.findData(device), 0))
            self.virtual_coils.setValue(ALL_COILS if settings.virtual_coils is None else settings.virtual_coils)
        self._show_auto_update(self.controller.auto_update)

    def _show_auto_update(self, on: bool) -> None:
        with blocked(self.auto_update):
            self.auto_update.setChecked(on)

    def _show_mask(self) -> None:
        if not self.controller.is_open:
            self.mask_preview.clear()
            self.mask_label.setText("mask: open a volume to see it")
            return
        mask = self._try(self.controller.mask)
        if isinstance(mask, _Refused):
            return
        self.mask_preview.setPixmap(mask_pixmap(self.controller.mask_image()))
        settings = self.controller.settings
        source = ("stored in the file" if self.controller.is_undersampled_file
                  else "drawn" if settings.is_drawn else settings.mask)
        requested = "" if settings.is_drawn else f" (requested {settings.acceleration:g}x)"
        self.mask_label.setText(f"mask ({source}): achieved acceleration {mask.achieved_acceleration:.2f}x{requested}")

    def _show_cam_choices(self) -> None:
        with blocked(self.cam_method):
            self.cam_method.clear()
            self.cam_method.addItems(self.controller.settings.methods)
            if self.scene.cam_method is not None:
                self.cam_method.setCurrentText(self.scene.cam_method)

    def _show_readouts(self) -> None:
        readouts = list(self.controller.readouts().values()) if self.controller.is_open else []
        fill(self.readout_table, READOUT_COLUMNS, [readout_cells(r) for r in readouts])
        self.timing_label.setText("\n".join(timing_line(r) for r in readouts))

    def _show_failures(self) -> None:
        if not self.controller.is_open:
            self._failure_cases = []
        else:
            pointer = self.failure_pointer.isChecked()
            self._failure_cases = self.controller.failure_cases(self.scene.cam_method, pointer=pointer)
        fill(self.failure_table, FAILURE_COLUMNS, [failure_cells(c) for c in self._failure_cases])

    def _show_job(self, job: Job[Any] | None) -> None:
        running = job is not None and not job.finished
        self.cancel_button.setEnabled(running)
        if job is None:
            self.status.setText("")
        elif running:
            report = job.progress
            done = f" ({report.done}/{report.total})" if report.total else ""
            self.status.setText(f"{job.name}: {report.message or 'starting'}{done}")
        elif job.state is JobState.FAILED:
            self.status.setText(f"{job.name}: failed ({job.error})")
        else:
            self.status.setText(f"{job.name}: {job.state.value}")


# ----------------------------------------------------------------------------------------------
# helpers
def _notify(level: str, message: str) -> None:
    {"error": show_error, "warning": show_warning}.get(level, show_info)(message)


def _shut_down(controller: SessionController, scene: Scene, runner: WorkerRunner | None,
               viewer: napari.viewer.Viewer, on_inserted: Callable[[Any], None], *_: Any) -> None:
    """When the widget goes: stop its job, let its threads end, unhook from the viewer, close
    the volume.

    Safe in every state (no volume, a job running, called twice, the viewer or Qt objects gone
    first, as at the interpreter's exit): this runs in a Qt slot, where an exception makes
    PyQt abort the whole process. Each step is done when it can be and skipped when it cannot.
    """
    steps: list[Callable[[], Any]] = [controller.cancel]
    if runner is not None:
        steps.append(runner.wait)
    steps += [lambda: viewer.layers.events.inserted.disconnect(on_inserted), scene.disconnect, controller.close]
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - see the docstring: nothing may escape this slot
            continue


__all__ = ["ALL_COILS", "DEVICE_CHOICES", "FILE_SEED", "ReconstructionWidget", "WorkerRunner", "offered_methods"]
