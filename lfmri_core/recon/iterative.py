"""The stepping interface of the iterative solvers (sigpy's ``update()`` / ``done()``).

A solver is an object that does one iteration per :meth:`IterativeAlgorithm.update` call and
says when it has finished with :meth:`IterativeAlgorithm.done`, so any front end can drive it:
the CLI with a tqdm bar, napari from a worker thread, Jupyter with an ``IntProgress``, a test
step by step. :func:`run` drives one to the end with the registry's ``progress(done, total)``
and ``cancel()`` callbacks; :func:`steps` is the same loop as a generator (stardist-napari's
style) that yields ``(done, total)`` and returns the result.

Solvers are batched: the leading ``batch_ndim`` dimensions of their variables index
independent problems (slices), and every inner product, step length and stopping test is
taken per problem, so a batch of slices gives the same result as each slice alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator

import torch

from lfmri_core.recon.registry import CancelCallback, Cancelled, ProgressCallback

LinearMap = Callable[[torch.Tensor], torch.Tensor]
"""A linear operator as a function, e.g. the normal operator ``x -> A^H A x``."""

Prox = Callable[[torch.Tensor, float], torch.Tensor]
"""``prox(v, alpha)``: the proximal operator of ``alpha * g`` at ``v`` (``g`` holds its own lambda)."""


class IterativeAlgorithm(ABC):
    """One iteration per :meth:`update`; finished when :meth:`done` says so.

    Attributes
    ----------
    max_iterations
        Upper bound on the number of :meth:`update` calls (the ``total`` of progress reports).
    iteration
        Number of :meth:`update` calls so far.
    """

    max_iterations: int
    iteration: int

    @abstractmethod
    def update(self) -> None:
        """Do one iteration."""

    def done(self) -> bool:
        """True when no further iteration is needed."""
        return self.iteration >= self.max_iterations

    @property
    @abstractmethod
    def result(self) -> torch.Tensor:
        """The current solution."""


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


def reduce_dims(x: torch.Tensor, batch_ndim: int) -> tuple[int, ...]:
    """The dimensions an inner product of ``x`` sums over: all but the leading ``batch_ndim``."""
    return tuple(range(batch_ndim, x.ndim))


def real_dot(a: torch.Tensor, b: torch.Tensor, batch_ndim: int) -> torch.Tensor:
    """``Re <a, b>`` per problem, shape ``(*batch, 1, ..., 1)`` (broadcasts against ``a``).

    Computed on the real views (``ar * br + ai * bi``), which is what the Hermitian solvers
    need, without forming ``conj(a) * b``.
    """
    if a.is_complex():
        a, b = torch.view_as_real(a), torch.view_as_real(b)
        dims = reduce_dims(a, batch_ndim)
        return torch.sum(a * b, dim=dims, keepdim=True).squeeze(-1)
    return torch.sum(a * b, dim=reduce_dims(a, batch_ndim), keepdim=True)


def squared_norm(x: torch.Tensor, batch_ndim: int) -> torch.Tensor:
    """``||x||^2`` per problem, shape ``(*batch, 1, ..., 1)``."""
    return real_dot(x, x, batch_ndim)
