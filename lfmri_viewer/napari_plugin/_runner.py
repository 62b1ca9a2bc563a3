"""Running the session's jobs in napari worker threads (:class:`WorkerRunner`)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Generator
from typing import Any

from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils import progress
from qtpy.QtCore import QThread, QThreadPool, QTimer

from lfmri_core.recon.registry import Cancelled
from lfmri_viewer.jobs import Job, Progress


class _Failed:
    """A job's exception, carried out of the worker thread as its return value."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _drive(job: Job[Any]) -> Generator[Progress, None, Any]:
    """``job.work()`` as a generator function (what ``create_worker`` makes a thread of).

    Exceptions come back as a :class:`_Failed` value: superqt takes a ``RuntimeError`` raised
    by a generator (which :class:`Cancelled` is) for a deleted worker and then never says that
    the worker finished.
    """
    try:
        return (yield from job.work())
    except Exception as error:  # noqa: BLE001 - every failure is the job's, reported by job.fail
        return _Failed(error)


PROGRESS_DELAY_MS = 700
"""A job gets its napari progress bar only once it has run this long. napari animates the
activity indicator of every open bar; on the GUI thread that costs paints and the GIL that the
worker needs, so an interactive reconstruction (well under a second) ran 2-3x slower with it
(see BENCHMARKS.md, "Jobs in worker threads"). The dock's status line shows every job at once."""


class _DelayedBar:
    """A napari progress bar for one job, opened :data:`PROGRESS_DELAY_MS` after the job started
    if it is still running, then kept up to date with its reports; closed when the job ends."""

    def __init__(self, job: Job[Any], delay_ms: int) -> None:
        self.job = job
        self.bar: progress | None = None
        self.timer = QTimer(singleShot=True, interval=delay_ms, timeout=self.open)
        self.timer.start()

    def open(self) -> None:
        if not self.job.finished:  # the timer fires once, and not after close()
            self.bar = progress(total=0, desc=self.job.name)
            self.show(self.job.progress)

    def show(self, report: Progress) -> None:
        bar = self.bar
        if bar is None:
            return
        if bar.total != report.total:
            bar.total = report.total
        if report.done > bar.n:
            bar.update(report.done - bar.n)
        if report.message:
            bar.set_description(f"{self.job.name}: {report.message}")

    def close(self) -> None:
        self.timer.stop()
        if self.bar is not None:
            self.bar.close()


REPORT_BATCH_MS = 600
"""A job's reports (its results among them) reach the GUI thread in batches: the first report
after a quiet spell waits at most this long for the ones after it, and the job's end delivers
every waiting report at once. An interactive change (zero-filled in tens of milliseconds,
LF-MRI a few hundred) is then drawn once, after both, instead of drawing zero-filled while
LF-MRI still computes: on two cores that drawing slowed the reconstruction beside it by more
than it took (see BENCHMARKS.md, "Jobs in worker threads"). A volume's slices still appear
one after another."""


class _Reports:
    """The reports of one job, held back for at most ``delay_ms`` and delivered in order."""

    def __init__(self, job: Job[Any], delay_ms: int) -> None:
        self.job = job
        self.pending: list[Progress] = []
        self.timer = QTimer(singleShot=True, interval=delay_ms, timeout=self.flush)

    def add(self, report: Progress) -> None:
        self.pending.append(report)
        if not self.timer.isActive():
            self.timer.start()

    def flush(self) -> None:
        self.timer.stop()
        pending, self.pending = self.pending, []
        for report in pending:
            self.job.report(report)


def _finish(job: Job[Any], value: Any) -> None:
    if isinstance(value, _Failed):
        job.fail(value.error)
    else:
        job.complete(value)


class WorkerRunner:
    """Runs controller jobs in napari worker threads, reporting back on the GUI thread.

    Yields go to :meth:`Job.report` (in batches, see :data:`REPORT_BATCH_MS`), the return
    value to :meth:`Job.complete` and an exception to :meth:`Job.fail` (a :class:`Cancelled`
    makes the job cancelled), all delivered by Qt on the GUI thread; a job still running after ``progress_delay_ms`` (default
    :data:`PROGRESS_DELAY_MS`) gets a napari progress bar in the activity dock.
    """

    def __init__(self, progress_delay_ms: int = PROGRESS_DELAY_MS, report_batch_ms: int = REPORT_BATCH_MS) -> None:
        self.progress_delay_ms = progress_delay_ms
        self.report_batch_ms = report_batch_ms
        self.bars: dict[int, _DelayedBar] = {}
        """The progress bar of each running job (by ``id(job)``), open or still waiting."""
        self.workers: set[GeneratorWorker] = set()
        # A pool of our own, not Qt's global one: Qt converts and scales images (napari's
        # activity spinner, for one) on the global pool while the GUI thread holds the GIL, so
        # workers waiting for the GIL in the global pool's threads would deadlock the GUI.
        self.pool = QThreadPool()
        self.pool.setMaxThreadCount(max(2, QThread.idealThreadCount()))

    def __call__(self, job: Job[Any]) -> None:
        bar = _DelayedBar(job, self.progress_delay_ms)
        self.bars[id(job)] = bar
        reports = _Reports(job, self.report_batch_ms)

        def on_returned(value: Any) -> None:
            reports.flush()
            _finish(job, value)

        def on_errored(error: Exception) -> None:
            reports.flush()
            job.fail(error)

        def on_progress(_: Job[Any], report: Progress) -> None:
            bar.show(report)

        def on_finished() -> None:
            bar.close()
            self.bars.pop(id(job), None)

        def on_aborted() -> None:
            # napari's activity dock can stop a worker itself; the job must still end.
            reports.flush()
            job.cancel()
            job.fail(Cancelled(f"{job.name} cancelled"))

        job.progress_listeners.append(on_progress)
        # Handlers given to create_worker: with an "errored" handler superqt does not re-raise.
        worker: GeneratorWorker = create_worker(_drive, job, _start_thread=False, _connect={
            "yielded": reports.add,
            "returned": on_returned,
            "errored": on_errored,
            "aborted": on_aborted,
            "finished": on_finished,
        })
        worker.finished.connect(functools.partial(self.workers.discard, worker))
        self.workers.add(worker)
        self.pool.start(worker)

    def wait(self, timeout_ms: int = 10_000) -> None:
        """Wait for every started worker thread to end (after cancelling their jobs).

        Safe in every state: a worker or the pool whose Qt object is gone already (at the
        interpreter's exit, PyQt deletes the objects Python owns in no set order) is skipped.
        """
        for worker in list(self.workers):
            with contextlib.suppress(RuntimeError):  # "wrapped C/C++ object ... has been deleted"
                worker.quit()
        with contextlib.suppress(RuntimeError):
            self.pool.waitForDone(timeout_ms)


__all__ = ["PROGRESS_DELAY_MS", "REPORT_BATCH_MS", "WorkerRunner"]
