"""Long work as jobs that any front end can run: a generator of progress, cancellable.

A :class:`Job` wraps a generator function (the stardist-napari pattern): ``job.work()``
yields :class:`Progress` and returns its result; it touches no shared state, so it may run
in a worker thread. The front end feeds what the generator yields to :meth:`Job.report`, its
return value to :meth:`Job.complete` and an exception to :meth:`Job.fail`, on the thread that
owns the state (napari's ``thread_worker`` signals do exactly that). :func:`run_sync` does all
of it on the calling thread, for the command line, tests and ``LFMRI_VIEWER_SYNC=1``.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from lfmri_core.errors import InputError
from lfmri_core.recon.registry import Cancelled

T = TypeVar("T")

SYNC_ENV = "LFMRI_VIEWER_SYNC"
"""Set to ``1`` to make the front ends run every job synchronously (tests, debugging)."""


def sync_requested() -> bool:
    """Whether ``LFMRI_VIEWER_SYNC`` asks front ends to run jobs on the calling thread."""
    return os.environ.get(SYNC_ENV, "").strip().lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class Progress:
    """One progress report: ``done`` of ``total`` units, with what is being done."""

    done: int
    total: int
    message: str = ""
    payload: Any = None
    """Partial results to apply on the state-owning thread (e.g. slices finished so far)."""

    @property
    def fraction(self) -> float:
        """``done / total`` in ``[0, 1]`` (1 for an empty job)."""
        return 1.0 if self.total <= 0 else min(max(self.done / self.total, 0.0), 1.0)


class JobState(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Job(Generic[T]):
    """A named unit of long work with progress, cancel and a completion step.

    Parameters
    ----------
    name
        What the job does, shown by front ends ("reconstruct slice 7").
    work
        Generator function ``work(job) -> Generator[Progress, None, T]``; it should poll
        :meth:`is_cancelled` (or pass it on as a ``cancel`` callback) and may raise
        :class:`~lfmri_core.recon.Cancelled`.
    on_complete
        Applies the result on the state-owning thread; not called for a cancelled job.
    on_payload
        Applies a progress report's ``payload`` on the state-owning thread as it arrives (not
        after a cancel), so long jobs show their results one by one.
    """

    def __init__(
        self,
        name: str,
        work: Callable[[Job[T]], Generator[Progress, None, T]],
        on_complete: Callable[[T], None] | None = None,
        on_payload: Callable[[Any], None] | None = None,
    ) -> None:
        self.name = name
        self._work = work
        self._on_complete = on_complete
        self._on_payload = on_payload
        self._cancel = threading.Event()
        self.state = JobState.PENDING
        self.progress = Progress(0, 0, "")
        self.error: str | None = None
        self.result: T | None = None
        self.progress_listeners: list[Callable[[Job[Any], Progress], None]] = []
        self.finish_listeners: list[Callable[[Job[Any]], None]] = []

    def __repr__(self) -> str:
        return f"Job({self.name!r}, {self.state.value})"

    # -- cancel ---------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the job to stop; safe from any thread. A finished job stays finished."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        """Whether :meth:`cancel` was called (the ``cancel`` callback the core expects)."""
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)

    # -- the generator, for whichever thread runs it ------------------------------------------
    def work(self) -> Generator[Progress, None, T]:
        """The job's generator; marks the job running."""
        self.state = JobState.RUNNING
        return self._work(self)

    # -- results, on the state-owning thread -----------------------------------------------------
    def report(self, progress: Progress) -> None:
        if self.finished:
            return
        self.progress = progress
        if progress.payload is not None and self._on_payload is not None and not self.is_cancelled():
            self._on_payload(progress.payload)
        for listener in list(self.progress_listeners):
            listener(self, progress)

    def complete(self, result: T) -> None:
        """Apply ``result`` (unless cancelled meanwhile) and mark the job done."""
        if self.finished:
            return
        if self.is_cancelled():
            self._finish(JobState.CANCELLED)
            return
        self.result = result
        if self._on_complete is not None:
            try:
                self._on_complete(result)
            except InputError as exc:
                self.fail(exc)
                return
        self._finish(JobState.DONE)

    def fail(self, error: BaseException | str) -> None:
        """Mark the job failed (or cancelled, for :class:`Cancelled`) with a one-line reason."""
        if self.finished:
            return
        if isinstance(error, Cancelled) or self.is_cancelled():
            self._finish(JobState.CANCELLED)
            return
        self.error = error if isinstance(error, str) else _one_line(error)
        self._finish(JobState.FAILED)

    def _finish(self, state: JobState) -> None:
        self.state = state
        for listener in list(self.finish_listeners):
            listener(self)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    message = text[0] if text else ""
    if isinstance(error, InputError):
        return message or "bad input"
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def run_sync(job: Job[T]) -> Job[T]:
    """Run ``job`` to the end on this thread; errors end up in ``job.error``, never raised."""
    try:
        generator = job.work()
        while True:
            job.report(next(generator))
    except StopIteration as stop:
        job.complete(stop.value)
    except Exception as exc:  # a job reports its failure; the caller's loop keeps running
        job.fail(exc)
    return job


Runner = Callable[[Job[Any]], None]
"""How a front end runs a job: start it (now or in a thread) and route its reports back."""


__all__ = ["SYNC_ENV", "Job", "JobState", "Progress", "Runner", "run_sync", "sync_requested"]
