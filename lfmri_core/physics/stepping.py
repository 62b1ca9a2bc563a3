"""The stepping interface of the iterative solvers (sigpy's ``update()`` / ``done()``) and the
per-problem inner products they share.

A solver is an object that does one iteration per :meth:`IterativeAlgorithm.update` call and
says when it has finished with :meth:`IterativeAlgorithm.done`, so any front end can drive it
(:func:`lfmri_core.recon.iterative.run` and :func:`~lfmri_core.recon.iterative.steps` add the
progress and cancel callbacks).

Solvers are batched: the leading ``batch_ndim`` dimensions of their variables index
independent problems (slices), and every inner product, step length and stopping test is
taken per problem, so a batch of slices gives the same result as each slice alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


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
