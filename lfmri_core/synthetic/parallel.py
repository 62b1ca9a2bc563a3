"""Generating synthetic volumes in a process pool."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

R = TypeVar("R")


def one_thread() -> None:
    """Pool initializer: one torch thread per process (the pool, not threads, fills the cores)."""
    import torch

    torch.set_num_threads(1)


def map_jobs(function: Callable[..., R], jobs: Sequence[tuple[Any, ...]], workers: int = 1) -> Iterator[R]:
    """``function(*job)`` for every job, in order.

    With ``workers`` > 1 (and more than one job) the jobs run in a pool of that many processes,
    started with ``spawn`` (a forked child would inherit the parent's torch thread pools and
    locks) and one torch thread each; ``function`` must then be importable (module level).
    """
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield function(*job)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context, initializer=one_thread) as pool:
        yield from pool.map(function, *zip(*jobs))
