"""The sections of the "LF-MRI reconstruction" dock widget: volume, sampling, reconstruction,
display, and the readout / failure / export tabs under them.

:func:`build_sections` makes the controls as attributes of the widget (``widget.acceleration``,
``widget.readout_table``, ...); the widget connects and fills them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lfmri_core.device import DEVICE_LABELS
from lfmri_core.display import WINDOW_PRESETS
from lfmri_core.masks import available_masks
from lfmri_viewer.formatting import ALL_COILS as ALL_COILS_TEXT
from lfmri_viewer.formatting import (
    FAILURE_COLUMNS,
    POINTER_HELP,
    POINTER_LABEL,
    READOUT_COLUMNS,
    SEED_FILE,
    SEED_HELP,
    VIRTUAL_COILS_HELP,
)
from lfmri_viewer.napari_plugin._offer import offered_methods
from lfmri_viewer.settings import DEVICES
from lfmri_viewer.napari_plugin._qt_helpers import SteadyLabel, keep_columns_whole
from lfmri_viewer.napari_plugin._qt_helpers import row as _row
from lfmri_viewer.napari_plugin._qt_helpers import table as _table

if TYPE_CHECKING:
    from lfmri_viewer.napari_plugin._widget import ReconstructionWidget

DEVICE_CHOICES = tuple((DEVICE_LABELS[d], d) for d in DEVICES)
"""``(shown, setting)`` pairs of the device choice (:data:`lfmri_core.device.DEVICE_CHOICES`)."""

FILE_SEED = -1
"""Seed box value shown as ``"file"``: fastMRI's per-file seed (``seed=None``)."""

ALL_COILS = 0
"""Virtual-coil box value shown as ``"all"``: no coil compression (``virtual_coils=None``)."""

CUSTOM_WINDOW = "custom"
"""Window choice shown once a contrast slider was moved by hand."""


def build_sections(widget: ReconstructionWidget) -> None:
    """Make the widget's controls (its attributes) and lay them out in ``widget``."""
    content = QWidget()
    column = QVBoxLayout(content)

    volume = QGroupBox("Volume")
    volume_layout = QVBoxLayout(volume)
    widget.volume_label = QLabel()
    widget.volume_label.setWordWrap(True)
    widget.open_button = QPushButton("Open file…")
    widget.annotations_button = QPushButton("Load annotations (CSV)…")
    widget.save_annotations_button = QPushButton("Save annotations (CSV)…")
    widget.save_annotations_button.setToolTip("the lesion boxes as edited, as a fastMRI+ CSV (labels kept)")
    volume_layout.addWidget(widget.volume_label)
    volume_layout.addLayout(_row(widget.open_button, widget.annotations_button))
    volume_layout.addWidget(widget.save_annotations_button)
    widget.save_session_button = QPushButton("Save session…")
    widget.save_session_button.setToolTip("the volume, slice and settings (a drawn mask too) as JSON")
    widget.open_session_button = QPushButton("Open session…")
    volume_layout.addLayout(_row(widget.save_session_button, widget.open_session_button))
    column.addWidget(volume)

    sampling = QGroupBox("Sampling")
    form = QFormLayout(sampling)
    widget.acceleration = QDoubleSpinBox()
    widget.acceleration.setRange(1.0, 64.0)
    widget.acceleration.setDecimals(1)
    widget.acceleration.setSingleStep(1.0)
    widget.acceleration.setSuffix("x")
    widget.acceleration.setKeyboardTracking(False)
    widget.mask_type = QComboBox()
    widget.mask_type.addItems(available_masks())
    widget.center_fraction = QDoubleSpinBox()
    widget.center_fraction.setRange(0.005, 0.5)
    widget.center_fraction.setDecimals(3)
    widget.center_fraction.setSingleStep(0.01)
    widget.center_fraction.setKeyboardTracking(False)
    widget.seed = QSpinBox()
    widget.seed.setRange(FILE_SEED, 2**31 - 1)
    widget.seed.setSpecialValueText(SEED_FILE)
    widget.seed.setToolTip(SEED_HELP)
    widget.seed.setKeyboardTracking(False)
    widget.mask_preview = QLabel()
    widget.mask_preview.setAlignment(Qt.AlignCenter)
    widget.mask_label = SteadyLabel()
    form.addRow("acceleration", widget.acceleration)
    form.addRow("mask", widget.mask_type)
    form.addRow("centre fraction", widget.center_fraction)
    form.addRow("seed", widget.seed)
    form.addRow(widget.mask_preview)
    form.addRow(widget.mask_label)
    column.addWidget(sampling)
    column.addWidget(widget.mask_editor)

    recon = QGroupBox("Reconstruction")
    recon_layout = QFormLayout(recon)
    widget.methods = QListWidget()
    for name in offered_methods():
        item = QListWidgetItem(name)
        item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
        item.setCheckState(Qt.Unchecked)
        widget.methods.addItem(item)
    widget.methods.setMaximumHeight(170)
    widget.device = QComboBox()
    for shown, value in DEVICE_CHOICES:
        widget.device.addItem(shown, value)
    widget.virtual_coils = QSpinBox()
    widget.virtual_coils.setRange(ALL_COILS, 64)
    widget.virtual_coils.setSpecialValueText(ALL_COILS_TEXT)
    widget.virtual_coils.setToolTip(VIRTUAL_COILS_HELP)
    widget.virtual_coils.setKeyboardTracking(False)
    widget.auto_update = QCheckBox("auto-update (slice and settings changes)")
    widget.reconstruct_slice_button = QPushButton("Reconstruct slice")
    widget.reconstruct_volume_button = QPushButton("Reconstruct volume")
    widget.cancel_button = QPushButton("Cancel")
    widget.status = SteadyLabel()
    recon_layout.addRow("methods", widget.methods)
    recon_layout.addRow("device", widget.device)
    recon_layout.addRow("virtual coils", widget.virtual_coils)
    recon_layout.addRow(widget.auto_update)
    recon_layout.addRow(_row(widget.reconstruct_slice_button, widget.reconstruct_volume_button, widget.cancel_button))
    recon_layout.addRow(widget.status)
    column.addWidget(recon)

    display = QGroupBox("Display")
    display_layout = QFormLayout(display)
    widget.window_preset = QComboBox()
    widget.window_preset.addItems([*WINDOW_PRESETS, CUSTOM_WINDOW])
    widget.window_preset.setToolTip("window/level of the reference and every reconstruction, from the "
                                  "reference's histogram")
    widget.link_contrast = QCheckBox("link contrast (reference and reconstructions)")
    widget.link_contrast.setChecked(widget.scene.link_contrast)
    widget.grid_mode = QCheckBox("side by side (grid: reference and reconstructions)")
    widget.units_label = QLabel()
    widget.units_label.setWordWrap(True)
    widget.cam_method = QComboBox()
    widget.cam_opacity = QSlider(Qt.Horizontal)
    widget.cam_opacity.setRange(0, 100)
    widget.cam_opacity.setValue(round(100 * widget.scene.cam_opacity))
    display_layout.addRow("window", widget.window_preset)
    display_layout.addRow(widget.link_contrast)
    display_layout.addRow(widget.grid_mode)
    display_layout.addRow("CAM of", widget.cam_method)
    display_layout.addRow("CAM opacity", widget.cam_opacity)
    display_layout.addRow(widget.units_label)
    column.addWidget(display)

    # Readouts, failure cases and exports in tabs under the scrolling controls (a splitter
    # between them): always on screen, each one click away, none below the others.
    widget.results_tabs = QTabWidget()
    readouts = QWidget()
    readouts_layout = QVBoxLayout(readouts)
    readouts_layout.setContentsMargins(2, 2, 2, 2)
    widget.readout_table = _table(READOUT_COLUMNS)
    # The dock widens rather than cut a column (all columns on: about 650 px); a timer makes
    # one widening of a burst of column resizes.
    widget.fit_dock_timer = QTimer(widget)
    widget.fit_dock_timer.setSingleShot(True)
    widget.fit_dock_timer.timeout.connect(widget.fit_dock)
    widget.fit_readout_columns = keep_columns_whole(widget.readout_table, on_change=widget.fit_dock_timer.start)
    widget.all_columns = QCheckBox("all columns")
    widget.all_columns.setToolTip("also the CAM peak distance to the nearest box (px and mm), p(lesion) and time")
    widget.timing_label = SteadyLabel()
    widget.timing_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    readouts_layout.addWidget(widget.readout_table)
    readouts_layout.addWidget(widget.all_columns)
    readouts_layout.addWidget(widget.timing_label)
    widget.results_tabs.addTab(readouts, "Readouts (slice)")

    failures = QWidget()
    failures_layout = QVBoxLayout(failures)
    failures_layout.setContentsMargins(2, 2, 2, 2)
    failures_label = QLabel("CAM misses first; click a row to go to its slice")
    failures_label.setWordWrap(True)
    widget.failure_table = _table(FAILURE_COLUMNS)
    widget.fit_failure_columns = keep_columns_whole(widget.failure_table, on_change=widget.fit_dock_timer.start)
    widget.all_failure_columns = QCheckBox("all columns")
    widget.all_failure_columns.setToolTip("also the CAM peak distance in px, the CAM energy inside the boxes and the "
                                          "number of boxes")
    widget.failure_pointer = QCheckBox(POINTER_LABEL)
    widget.failure_pointer.setToolTip(POINTER_HELP)
    failures_layout.addWidget(failures_label)
    failures_layout.addWidget(widget.failure_table)
    failures_layout.addLayout(_row(widget.all_failure_columns, widget.failure_pointer))
    widget.results_tabs.addTab(failures, "Failure cases")

    export = QWidget()
    export_layout = QVBoxLayout(export)
    widget.export_png_button = QPushButton("Export view (PNG)…")
    widget.export_csv_button = QPushButton("Export failure table (CSV)…")
    widget.export_readouts_button = QPushButton("Export readouts (CSV)…")
    widget.export_volumes_button = QPushButton("Export volumes (NIfTI / HDF5)…")
    widget.export_volumes_button.setToolTip("the reconstruction, error map and CAM of the CAM method, every slice "
                                          "reconstructed so far, with the file's geometry")
    export_layout.addWidget(widget.export_png_button)
    export_layout.addWidget(widget.export_csv_button)
    export_layout.addWidget(widget.export_readouts_button)
    export_layout.addWidget(widget.export_volumes_button)
    export_layout.addStretch(1)
    widget.results_tabs.addTab(export, "Export")
    widget._show_columns()
    column.addStretch(1)

    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(content)
    # Room for the vertical scroll bar, so that the controls never scroll sideways.
    scroll.setMinimumWidth(content.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    widget.splitter = QSplitter(Qt.Vertical)
    widget.splitter.setChildrenCollapsible(False)
    widget.splitter.addWidget(scroll)
    widget.splitter.addWidget(widget.results_tabs)
    widget.splitter.setStretchFactor(0, 3)
    widget.splitter.setStretchFactor(1, 2)
    widget.controls_scroll = scroll
    outer.addWidget(widget.splitter)


__all__ = ["ALL_COILS", "CUSTOM_WINDOW", "DEVICE_CHOICES", "FILE_SEED", "build_sections"]
