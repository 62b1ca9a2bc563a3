"""Driving the stepping solvers (sigpy's ``update()`` / ``done()``) with progress and cancel.

A solver (:class:`~lfmri_core.physics.stepping.IterativeAlgorithm`) does one iteration per
``update()`` call and says when it has finished with ``done()``, so any front end can drive it:
the CLI with a tqdm bar, napari from a worker thread, Jupyter with an ``IntProgress``, a test
step by step. :func:`run` drives one to the end with the registry's ``progress(done, total)``
and ``cancel()`` callbacks; :func:`steps` is the same loop as a generator (stardist-napari's
style) that yields ``(done, total)`` and returns the result.

Solvers are batched: the leading ``batch_ndim`` dimensions of their variables index
independent problems (slices), and every inner product, step length and stopping test is
taken per problem, so a batch of slices gives the same result as each slice alone.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import torch

from lfmri_core.physics.stepping import IterativeAlgorithm
from lfmri_core.recon.registry import CancelCallback, Cancelled, ProgressCallback

__all__ = ["IterativeAlgorithm", "Prox", "run", "steps"]

Prox = Callable[[torch.Tensor, float], torch.Tensor]
"""``prox(v, alpha)``: the proximal operator of ``alpha * g`` at ``v`` (``g`` holds its own lambda)."""


def steps(
    algorithm: IterativeAlgorithm, *, cancel: CancelCallback | None = None
) -> Generator[tuple[int, int], None, torch.Tensor]:
    """Drive ``algorithm`` to the end, yielding ``(iterations done, max_iterations)`` after each.

    ``cancel`` is polled before every iteration; when it returns True, :class:`Cancelled` is
    raised. The generator's return value (``StopIteration.value``) is ``algorithm.result``.
    """
    while not algorithm.done():
        if cancel is not None and cancel():
            raise Cancelled(f"cancelled after {algorithm.iteration} of {algorithm.max_iterations} iterations")
        algorithm.update()
        yield algorithm.iteration, algorithm.max_iterations
    return algorithm.result


def run(
    algorithm: IterativeAlgorithm,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
) -> torch.Tensor:
    """Run ``algorithm`` to the end and return its result.

    ``progress(done, total)`` is called after every iteration and once more with
    ``done == total`` when the solver stops early (converged or out of budget), so a progress
    bar always completes. ``cancel`` as in :func:`steps`.
    """
    generator = steps(algorithm, cancel=cancel)
    last = (0, algorithm.max_iterations)
    while True:
        try:
            last = next(generator)
        except StopIteration as stop:
            result: torch.Tensor = stop.value
            break
        if progress is not None:
            progress(*last)
    if progress is not None and last[0] < last[1]:
        progress(last[1], last[1])
    return result
