"""What keeps the napari viewer quick while a job runs in a worker thread: a short job opens no
progress bar, a job's reports reach the GUI thread in batches, a setting change leaves the shown
slice in place until its new result comes, and the dock's labels and tables do not change size
with their contents (see BENCHMARKS.md, "Jobs in worker threads")."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import pytest
from qtpy.QtWidgets import QTableWidget, QTableWidgetItem

import lfmri_viewer.napari_plugin._runner as runner_module
from lfmri_viewer.jobs import SYNC_ENV, Job, JobState, Progress, run_sync
from lfmri_viewer.napari_plugin._qt_helpers import SteadyLabel, keep_columns_whole
from lfmri_viewer.napari_plugin._runner import WorkerRunner
from lfmri_viewer.napari_plugin._widget import ReconstructionWidget
from tests.viewer.conftest import SmallDataset

pytestmark = pytest.mark.gui

MakeViewer = Callable[..., Any]


class RecordedBar:
    """Stands in for napari's ``progress``: records what a runner does with its bars."""

    opened: list[RecordedBar] = []

    def __init__(self, total: int = 0, desc: str = "") -> None:
        self.total, self.n, self.desc, self.closed = total, 0, desc, False
        RecordedBar.opened.append(self)

    def update(self, n: int) -> None:
        self.n += n

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[RecordedBar]:
    RecordedBar.opened = []
    monkeypatch.setattr(runner_module, "progress", RecordedBar)
    return RecordedBar.opened


def gated_job(gate: threading.Event, payloads: list[Any]) -> Job[str]:
    """A job that reports a payload, waits for ``gate``, reports two more and ends."""

    def work(job: Job[str]) -> Generator[Progress, None, str]:
        yield Progress(1, 3, "first", payload=["a"])
        assert gate.wait(20), "the test never opened the gate"
        yield Progress(2, 3, "second", payload=["b"])
        yield Progress(3, 3, "third", payload=["c"])
        return "done"

    return Job("gated", work, on_payload=payloads.extend)


def test_reports_come_in_batches_and_all_of_them_at_the_end(qtbot: Any, bars: list[RecordedBar]) -> None:
    payloads: list[Any] = []
    gate = threading.Event()
    runner = WorkerRunner(progress_delay_ms=60_000, report_batch_ms=60_000)
    job = gated_job(gate, payloads)
    runner(job)
    qtbot.wait(300)  # the first report was made long ago; the batch holds it
    assert payloads == [] and job.state is JobState.RUNNING
    gate.set()
    qtbot.waitUntil(lambda: job.finished, timeout=20_000)
    # The job's end delivers every waiting report, in order, before the job counts as done.
    assert job.state is JobState.DONE and payloads == ["a", "b", "c"] and job.progress.done == 3
    assert bars == []  # it ended before its progress bar was due

    # Without batching, the first payload is there while the job still waits.
    payloads.clear()
    gate = threading.Event()
    job = gated_job(gate, payloads)
    WorkerRunner(progress_delay_ms=60_000, report_batch_ms=0)(job)
    qtbot.waitUntil(lambda: payloads == ["a"], timeout=20_000)
    assert not job.finished
    gate.set()
    qtbot.waitUntil(lambda: job.finished, timeout=20_000)
    assert payloads == ["a", "b", "c"]


def test_a_long_job_gets_its_progress_bar_after_the_delay(qtbot: Any, bars: list[RecordedBar]) -> None:
    payloads: list[Any] = []
    gate = threading.Event()
    job = gated_job(gate, payloads)
    runner = WorkerRunner(progress_delay_ms=50, report_batch_ms=0)
    runner(job)
    qtbot.waitUntil(lambda: len(bars) == 1, timeout=20_000)
    bar = bars[0]
    assert not bar.closed and bar.total == 3 and bar.n == 1 and "first" in bar.desc  # caught up at once
    gate.set()
    qtbot.waitUntil(lambda: job.finished, timeout=20_000)
    qtbot.waitUntil(lambda: bar.closed, timeout=20_000)
    assert bar.n == 3 and "third" in bar.desc and len(bars) == 1 and not runner.bars


def test_a_setting_change_keeps_the_shown_slice_until_its_result(make_napari_viewer: MakeViewer, small_dataset: SmallDataset,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SYNC_ENV, "1")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("lfmri-viewer", "LF-MRI reconstruction")
    assert isinstance(widget, ReconstructionWidget)
    widget.set_methods(("zero-filled",))
    assert widget.open_file(small_dataset.h5)
    c, scene = widget.controller, widget.scene
    current = c.slice_index
    other = (current + 1) % c.num_slices
    c.reconstruct_slice(other)  # a second slice with a result, to see it emptied at once
    layers = [scene.reconstructions["zero-filled"], scene.errors["zero-filled"]]
    shown = [layer.data[current].copy() for layer in layers]
    assert all(np.abs(s).max() > 0 for s in shown) and np.abs(layers[0].data[other]).max() > 0

    held: list[Job[Any]] = []
    c.runner = held.append  # jobs wait until the test runs them
    widget.seed.setValue(5)
    assert len(held) == 1 and c.result("zero-filled") is None
    for layer, before in zip(layers, shown, strict=True):
        np.testing.assert_array_equal(layer.data[current], before)  # not emptied while its job runs
        assert not layer.data[other].any()  # no job brings this one: emptied now
    run_sync(held.pop())
    result = c.result("zero-filled")
    assert result is not None
    np.testing.assert_array_equal(layers[0].data[current], result.image)
    assert not np.array_equal(layers[0].data[current], shown[0])

    # A job that ends without the result (cancelled): the slice is emptied when it ends.
    widget.seed.setValue(6)
    job = held.pop()
    assert layers[0].data[current].any()
    widget.cancel()
    run_sync(job)
    assert job.state is JobState.CANCELLED and c.result("zero-filled") is None
    assert not layers[0].data[current].any() and not layers[1].data[current].any()

    # Without auto-update nothing is coming: a change empties the slice at once.
    c.runner = run_sync
    widget.seed.setValue(7)
    assert layers[0].data[current].any()
    widget.auto_update.setChecked(False)
    widget.seed.setValue(8)
    assert not layers[0].data[current].any()


def test_steady_label_only_grows(qtbot: Any) -> None:
    label = SteadyLabel()
    qtbot.addWidget(label)
    label.setFixedWidth(120)
    label.show()
    label.setText("one line")
    one = label.minimumHeight()
    label.setText("a text long enough to need several lines at a width of 120 pixels, surely")
    several = label.minimumHeight()
    assert several > one > 0
    label.setText("short")
    assert label.minimumHeight() == several and label.text() == "short"
    label.setText(" ".join(["a very long error message"] * 30))  # a one-off: kept to a few lines
    cap = SteadyLabel.STEADY_LINES * label.fontMetrics().lineSpacing()
    assert several <= label.minimumHeight() <= cap < label.heightForWidth(label.width())


def test_table_minimum_width_follows_contents_up_and_columns_both_ways(qtbot: Any) -> None:
    table = QTableWidget(0, 2)
    qtbot.addWidget(table)
    table.show()
    changes: list[int] = []
    fit = keep_columns_whole(table, on_change=lambda: changes.append(table.minimumWidth()))
    narrow = table.minimumWidth()
    table.setRowCount(1)
    table.setItem(0, 0, QTableWidgetItem("a rather long cell, wider than the title"))
    table.resizeColumnsToContents()
    wide = table.minimumWidth()
    assert wide > narrow and changes[-1] == wide
    table.setRowCount(0)  # emptied for new results: the width stays
    table.resizeColumnsToContents()
    assert table.minimumWidth() == wide
    fit()  # asked for after a change of columns: what the columns need now, narrower too
    assert table.minimumWidth() < wide
