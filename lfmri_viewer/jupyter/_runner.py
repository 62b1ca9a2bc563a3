"""Running controller jobs from a notebook: work in a thread, results on the kernel's loop.

A Jupyter kernel has no Qt event loop, but it has an asyncio loop on its main thread: it runs
the cells and handles widget messages (a slider moved) between them. :class:`ThreadRunner`
runs ``job.work()`` in one worker thread and hands every report, the result and any error back
to that loop with ``loop.call_soon_threadsafe`` (the asyncio loop under the kernel's tornado
``IOLoop``; ``IOLoop.add_callback`` is the same call).

Why the loop and not a lock: the controller's state (result cache, events) and the widgets are
then only ever touched on the kernel's main thread, exactly as napari touches them only on
the Qt thread. A lock would have to be taken by every reader too, including user code in
cells and matplotlib's drawing; scheduling onto the loop needs no cooperation from anyone.
The cost: reports are applied when the kernel is idle, so a cell that blocks (``time.sleep``,
a long computation) holds them back until it ends. Cells that need results at once use
``sync=True`` (or ``LFMRI_VIEWER_SYNC=1``), which runs jobs on the calling thread.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

from lfmri_viewer.jobs import Job, run_sync


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop running on this thread (a kernel's, inside a cell), or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class ThreadRunner:
    """A job runner (:data:`lfmri_viewer.jobs.Runner`) for notebooks.

    Jobs run one after another in a single daemon worker thread: the controller cancels the
    running job before it submits the next, so a queued job that was cancelled meanwhile ends
    at its first check, and two reconstructions never compete for the CPU.

    Parameters
    ----------
    loop
        The loop that applies reports (the state-owning thread's); default the loop running on
        the constructing thread. Without one (plain Python, a script) jobs run synchronously:
        there would be nobody to apply their reports.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop if loop is not None else running_loop()
        self._jobs: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def threaded(self) -> bool:
        """Whether jobs run in the worker thread (False: on the calling thread)."""
        return self._loop is not None and not self._loop.is_closed() and not self._closed

    def __call__(self, job: Job[Any]) -> None:
        if not self.threaded:
            run_sync(job)
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._serve, name="lfmri-jobs", daemon=True)
            self._thread.start()
        self._jobs.put(job)

    def close(self) -> None:
        """Stop the worker after the job it is running (later jobs run synchronously)."""
        self._closed = True
        self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._run(job)

    def _run(self, job: Job[Any]) -> None:
        loop = self._loop
        assert loop is not None
        try:
            try:
                generator = job.work()
                while True:
                    progress = next(generator)
                    loop.call_soon_threadsafe(job.report, progress)
            except StopIteration as stop:
                loop.call_soon_threadsafe(job.complete, stop.value)
            except Exception as exc:  # the job reports its failure; the worker keeps serving
                loop.call_soon_threadsafe(job.fail, exc)
        except RuntimeError:
            # The loop was closed under us (kernel shutting down): nobody is left to tell.
            job.cancel()


__all__ = ["ThreadRunner", "running_loop"]
