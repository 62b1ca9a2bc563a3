"""ADMM with an inner conjugate-gradient x-update, one outer iteration per update."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lfmri_core.errors import InputError
from lfmri_core.physics.cg import ConjugateGradient, LinearMap
from lfmri_core.physics.operator import LinearOperator, Sum, as_operator
from lfmri_core.physics.stepping import IterativeAlgorithm
from lfmri_core.recon.iterative import Prox


@dataclass(frozen=True)
class SplitTerm:
    """One term ``g(G x)`` of an ADMM objective.

    Attributes
    ----------
    operator
        ``G``: image ``(*batch, ...)`` -> coefficients ``(*batch, ...)``; its adjoint and its
        normal operator ``G^H G`` enter the x-update.
    prox
        ``prox(v, alpha)`` of ``alpha * g`` on the coefficients.
    """

    operator: LinearOperator
    prox: Prox


class ADMM(IterativeAlgorithm):
    """``min_x 0.5 ||A x - y||^2 + sum_j g_j(G_j x)`` by over-relaxed ADMM, as BART's ``admm``.

    Per outer iteration (scaled form, ``z_j = u_j = 0`` at the start):

    1. ``x``: solve ``(A^H A + rho sum_j G_j^H G_j) x = A^H y + rho sum_j G_j^H (z_j - u_j)``
       by at most ``cg_iterations`` CG steps, warm-started at the previous ``x``, stopping at
       ``||r|| <= cg_tolerance ||rhs||``;
    2. over-relaxation ``h_j = relaxation G_j x + (1 - relaxation) z_j``;
    3. ``z_j = prox_j(h_j + u_j, 1 / rho)``; ``u_j = h_j + u_j - z_j``.

    Parameters
    ----------
    normal
        ``A^H A`` (a :class:`~lfmri_core.physics.operator.LinearOperator` such as ``A.gram``,
        or a function), batched like ``rhs``.
    rhs
        ``A^H y``, shape ``(*batch, ...)``.
    terms
        The split terms.
    rho
        Penalty parameter (> 0); BART's default 0.5.
    relaxation
        Over-relaxation in ``(0, 2)``; BART's 1.6.
    max_iterations
        Number of outer iterations (> 0).
    cg_iterations, cg_tolerance
        Inner CG limits (BART's ``-C`` 10 and 1e-3).
    max_total_cg_iterations
        Stop a problem once its inner CG iterations add up to more than this: the meaning of
        ``bart pics -i`` for ADMM, which counts CG iterations, not outer ones. None: no limit.
    batch_ndim
        Number of leading dimensions that index independent problems.

    Attributes
    ----------
    cg_iterations_done
        Inner CG iterations per problem so far, int64, shape ``(*batch, 1, ..., 1)``.
    """

    def __init__(
        self,
        normal: LinearMap,
        rhs: torch.Tensor,
        terms: Sequence[SplitTerm],
        *,
        rho: float = 0.5,
        relaxation: float = 1.6,
        max_iterations: int = 50,
        cg_iterations: int = 10,
        cg_tolerance: float = 1e-3,
        max_total_cg_iterations: int | None = None,
        batch_ndim: int = 1,
    ) -> None:
        if max_iterations < 1 or cg_iterations < 1:
            raise InputError(f"ADMM needs max_iterations and cg_iterations >= 1, got {max_iterations} and {cg_iterations}")
        if not rho > 0:
            raise InputError(f"ADMM needs rho > 0, got {rho}")
        if not 0 < relaxation < 2:
            raise InputError(f"ADMM over-relaxation must lie in (0, 2), got {relaxation}")
        if max_total_cg_iterations is not None and max_total_cg_iterations < 1:
            raise InputError(f"max_total_cg_iterations must be >= 1 or None, got {max_total_cg_iterations}")
        self.normal = normal
        self.rhs = rhs
        self.terms = list(terms)
        self.rho = float(rho)
        # the x-update's system A^H A + rho sum_j G_j^H G_j
        self.system = Sum(as_operator(normal), *(self.rho * term.operator.gram for term in self.terms))
        self.relaxation = float(relaxation)
        self.max_iterations = int(max_iterations)
        self.cg_iterations = int(cg_iterations)
        self.cg_tolerance = float(cg_tolerance)
        self.budget = max_total_cg_iterations
        self.batch_ndim = batch_ndim
        self.iteration = 0
        self.x = torch.zeros_like(rhs)
        self.z: list[torch.Tensor | None] = [None] * len(self.terms)  # zeros until the first update
        self.u: list[torch.Tensor | None] = [None] * len(self.terms)
        batch_shape = (*rhs.shape[:batch_ndim], *([1] * (rhs.ndim - batch_ndim)))
        self.cg_iterations_done = torch.zeros(batch_shape, dtype=torch.int64, device=rhs.device)
        self.active = torch.ones(batch_shape, dtype=torch.bool, device=rhs.device)

    def update(self) -> None:
        rhs = self.rhs
        if self.iteration > 0:
            rhs = rhs.clone()
            for term, z, u in zip(self.terms, self.z, self.u, strict=True):
                rhs.add_(term.operator.adjoint(z - u), alpha=self.rho)  # type: ignore[operator]
        first = self.iteration == 0
        cg = ConjugateGradient(
            self.system,
            rhs,
            None if first else self.x,
            max_iterations=self.cg_iterations,
            tolerance=self.cg_tolerance,
            batch_ndim=self.batch_ndim,
            active=self.active,
        )
        while not cg.done():
            cg.update()
        self.cg_iterations_done += cg.iterations_done
        x = cg.result
        all_active = bool(self.active.all())
        for j, term in enumerate(self.terms):
            gx = term.operator(x)
            z_old, u_old = self.z[j], self.u[j]
            if z_old is None or u_old is None:  # first iteration: z = u = 0
                v = gx * self.relaxation  # not in place: an operator may return its input
            else:
                v = torch.lerp(z_old, gx, self.relaxation).add_(u_old)
            z = term.prox(v.clone(), 1.0 / self.rho)
            u = v.sub_(z)
            if not all_active and z_old is not None and u_old is not None:
                keep = self.active.reshape(*self.active.shape[: self.batch_ndim], *([1] * (z.ndim - self.batch_ndim)))
                z = torch.where(keep, z, z_old)
                u = torch.where(keep, u, u_old)
            self.z[j], self.u[j] = z, u
        self.x = x if all_active else torch.where(self.active, x, self.x)
        if self.budget is not None:
            self.active &= self.cg_iterations_done <= self.budget
        self.iteration += 1

    def done(self) -> bool:
        return self.iteration >= self.max_iterations or not bool(self.active.any())

    @property
    def result(self) -> torch.Tensor:
        return self.x
