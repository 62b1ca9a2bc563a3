"""Conjugate gradient for Hermitian positive (semi)definite systems, one iteration per update."""

from __future__ import annotations

import torch

from lfmri_core.errors import InputError
from lfmri_core.recon.iterative import IterativeAlgorithm, LinearMap, squared_norm, real_dot


class ConjugateGradient(IterativeAlgorithm):
    """Solve ``(N + l2_lambda I) x = rhs`` by conjugate gradients, per problem of a batch.

    With ``N = A^H A`` and ``rhs = A^H y`` this is Tikhonov-regularised least squares
    ``min ||A x - y||^2 + l2_lambda ||x||^2`` (BART ``pics -l2 -r l2_lambda``). The steps follow
    BART's ``conjgrad``: a problem stops when ``||r||^2 <= (tolerance * ||rhs||)^2`` after an
    update, or when ``<p, N p>`` vanishes; stopped problems keep their solution while the others
    go on.

    Parameters
    ----------
    normal
        Hermitian positive semidefinite operator ``N``, batched like ``rhs``.
    rhs
        Right-hand side, shape ``(*batch, ...)``; real or complex.
    x0
        Starting point (default zeros); it is not modified.
    l2_lambda
        Tikhonov weight, >= 0.
    max_iterations
        Number of iterations (> 0).
    tolerance
        Relative residual at which a problem stops; 0 (BART's default) runs all iterations.
    batch_ndim
        Number of leading dimensions that index independent problems.
    active
        Optional boolean per problem (shape ``batch``): False freezes that problem at ``x0``.

    Attributes
    ----------
    iterations_done
        Iterations each problem has really done, int64, shape ``(*batch, 1, ..., 1)``.
    """

    def __init__(
        self,
        normal: LinearMap,
        rhs: torch.Tensor,
        x0: torch.Tensor | None = None,
        *,
        l2_lambda: float = 0.0,
        max_iterations: int = 30,
        tolerance: float = 0.0,
        batch_ndim: int = 1,
        active: torch.Tensor | None = None,
    ) -> None:
        if max_iterations < 1:
            raise InputError(f"conjugate gradient needs max_iterations >= 1, got {max_iterations}")
        if l2_lambda < 0 or tolerance < 0:
            raise InputError(f"l2_lambda and tolerance must be >= 0, got {l2_lambda} and {tolerance}")
        self.normal = normal
        self.l2_lambda = float(l2_lambda)
        self.max_iterations = int(max_iterations)
        self.iteration = 0
        self.batch_ndim = batch_ndim
        if x0 is None:
            self.x = torch.zeros_like(rhs)
            self.r = rhs.clone()
        else:
            self.x = x0.clone()
            self.r = rhs - self._apply(self.x)
        self.p = self.r.clone()
        self.rs_old = squared_norm(self.r, batch_ndim)
        self.eps_squared = (tolerance**2) * squared_norm(rhs, batch_ndim)
        self.active = self.rs_old > 0
        if active is not None:
            self.active &= active.reshape(self.rs_old.shape).to(self.active.device)
        self.iterations_done = torch.zeros(self.rs_old.shape, dtype=torch.int64, device=rhs.device)

    def _apply(self, v: torch.Tensor) -> torch.Tensor:
        out = self.normal(v)
        if self.l2_lambda:
            out = out.add_(v, alpha=self.l2_lambda)
        return out

    def update(self) -> None:
        ap = self._apply(self.p)
        pap = real_dot(self.p, ap, self.batch_ndim)
        self.active &= pap != 0
        self.iterations_done += self.active
        zero = torch.zeros((), dtype=pap.dtype, device=pap.device)
        alpha = torch.where(self.active, self.rs_old / torch.where(self.active, pap, 1), zero)
        self.x.addcmul_(self.p, alpha)
        self.r.addcmul_(ap, alpha, value=-1)
        rs_new = squared_norm(self.r, self.batch_ndim)
        beta = torch.where(self.active, rs_new / self.rs_old.clamp_min(torch.finfo(pap.dtype).tiny), zero)
        self.rs_old = torch.where(self.active, rs_new, self.rs_old)
        self.active &= rs_new > self.eps_squared
        self.p.mul_(beta).add_(self.r)
        self.iteration += 1

    def done(self) -> bool:
        return self.iteration >= self.max_iterations or not bool(self.active.any())

    @property
    def result(self) -> torch.Tensor:
        return self.x
