"""Running the session's jobs in napari worker threads (:class:`WorkerRunner`)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Generator
from typing import Any

from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils import progress
from qtpy.QtCore import QThread, QThreadPool

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


def _finish(job: Job[Any], value: Any) -> None:
    if isinstance(value, _Failed):
        job.fail(value.error)
    else:
        job.complete(value)


class WorkerRunner:
    """Runs controller jobs in napari worker threads, reporting back on the GUI thread.

    Yields go to :meth:`Job.report`, the return value to :meth:`Job.complete` and an exception
    to :meth:`Job.fail` (a :class:`Cancelled` makes the job cancelled), all delivered by Qt on
    the GUI thread; each job gets a napari progress bar in the activity dock.
    """

    def __init__(self) -> None:
        self.workers: set[GeneratorWorker] = set()
        # A pool of our own, not Qt's global one: Qt converts and scales images (napari's
        # activity spinner, for one) on the global pool while the GUI thread holds the GIL, so
        # workers waiting for the GIL in the global pool's threads would deadlock the GUI.
        self.pool = QThreadPool()
        self.pool.setMaxThreadCount(max(2, QThread.idealThreadCount()))

    def __call__(self, job: Job[Any]) -> None:
        bar = progress(total=0, desc=job.name)

        def on_progress(_: Job[Any], report: Progress) -> None:
            if bar.total != report.total:
                bar.total = report.total
            if report.done > bar.n:
                bar.update(report.done - bar.n)
            if report.message:
                bar.set_description(f"{job.name}: {report.message}")

        def on_aborted() -> None:
            # napari's activity dock can stop a worker itself; the job must still end.
            job.cancel()
            job.fail(Cancelled(f"{job.name} cancelled"))

        job.progress_listeners.append(on_progress)
        # Handlers given to create_worker: with an "errored" handler superqt does not re-raise.
        worker: GeneratorWorker = create_worker(_drive, job, _start_thread=False, _connect={
            "yielded": job.report,
            "returned": functools.partial(_finish, job),
            "errored": job.fail,
            "aborted": on_aborted,
            "finished": bar.close,
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


__all__ = ["WorkerRunner"]
