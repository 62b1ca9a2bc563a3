"""Conjugate gradients for Hermitian positive (semi)definite systems: the one CG of the project.

:class:`ConjugateGradient` steps one iteration per :meth:`~ConjugateGradient.update` (sigpy's
style, so CG-SENSE reports progress and can be cancelled) and stops as BART's ``conjgrad``
does; ADMM's inner solves use it too. :func:`conjugate_gradient` runs it for a fixed number of
iterations with out-of-place updates, so autograd differentiates through the iterations (the
data consistency of the unrolled networks, :mod:`lfmri_core.models.data_consistency`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lfmri_core.errors import InputError
from lfmri_core.physics.stepping import IterativeAlgorithm, real_dot, squared_norm

LinearMap = Callable[[torch.Tensor], torch.Tensor]
"""A linear map as a function ``x -> N x``; every :class:`~lfmri_core.physics.operator.LinearOperator` is one."""


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
        Hermitian positive semidefinite operator ``N`` (a
        :class:`~lfmri_core.physics.operator.LinearOperator` such as ``A.gram + Diagonal(w)``,
        or any function ``x -> N x``), batched like ``rhs``.
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
    differentiable
        True: out-of-place updates, so autograd can differentiate the result with respect to
        ``rhs``, ``x0`` and the operator's tensors. False: in-place updates (no autograd).
    normal_x0
        ``(N + l2_lambda I) x0`` when the caller already has it (it saves one application of
        ``N``); ignored without ``x0``.

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
        differentiable: bool = False,
        normal_x0: torch.Tensor | None = None,
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
        self.differentiable = differentiable
        if x0 is None:
            self.x = torch.zeros_like(rhs)
            self.r = rhs if differentiable else rhs.clone()
        else:
            self.x = x0 if differentiable else x0.clone()
            self.r = rhs - (self._apply(self.x) if normal_x0 is None else normal_x0)
        self.p = self.r if differentiable else self.r.clone()
        self.rs_old = squared_norm(self.r, batch_ndim)
        self.eps_squared = (tolerance**2) * squared_norm(rhs, batch_ndim) if tolerance else torch.zeros_like(self.rs_old)
        self.active = self.rs_old > 0
        if active is not None:
            self.active &= active.reshape(self.rs_old.shape).to(self.active.device)
        self.iterations_done = torch.zeros(self.rs_old.shape, dtype=torch.int64, device=rhs.device)

    def _apply(self, v: torch.Tensor) -> torch.Tensor:
        out = self.normal(v)
        if self.l2_lambda:
            out = torch.add(out, v, alpha=self.l2_lambda)  # out may be v itself (an identity)
        return out

    def update(self) -> None:
        ap = self._apply(self.p)
        pap = real_dot(self.p, ap, self.batch_ndim)
        # new tensors, not &=: autograd keeps the masks that torch.where used
        self.active = self.active & (pap != 0)
        self.iterations_done += self.active
        zero = torch.zeros((), dtype=pap.dtype, device=pap.device)
        alpha = torch.where(self.active, self.rs_old / torch.where(self.active, pap, 1), zero)
        if self.differentiable:
            self.x = torch.addcmul(self.x, self.p, alpha)
            self.r = torch.addcmul(self.r, ap, alpha, value=-1)
        else:
            self.x.addcmul_(self.p, alpha)
            self.r.addcmul_(ap, alpha, value=-1)
        rs_new = squared_norm(self.r, self.batch_ndim)
        beta = torch.where(self.active, rs_new / self.rs_old.clamp_min(torch.finfo(pap.dtype).tiny), zero)
        self.rs_old = torch.where(self.active, rs_new, self.rs_old)
        self.active = self.active & (rs_new > self.eps_squared)
        if self.differentiable:
            self.p = self.p * beta + self.r
        else:
            self.p.mul_(beta).add_(self.r)
        self.iteration += 1

    def done(self) -> bool:
        return self.iteration >= self.max_iterations or not bool(self.active.any())

    @property
    def result(self) -> torch.Tensor:
        return self.x


def conjugate_gradient(
    normal: LinearMap,
    rhs: torch.Tensor,
    x0: torch.Tensor,
    iterations: int,
    *,
    normal_x0: torch.Tensor | None = None,
    residual: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``iterations`` CG steps for ``normal(x) = rhs`` from the warm start ``x0``, differentiable.

    :class:`ConjugateGradient` without a tolerance, one system per item of the leading
    dimensions (the inner products run over the last two axes), and no host synchronisation:
    all ``iterations`` steps run (a system whose residual reaches exactly zero stays put, with
    no division by zero, so no NaN gradients either). Under ``torch.no_grad`` or
    ``torch.inference_mode`` the updates are in place.

    Parameters
    ----------
    normal
        Hermitian positive definite operator on complex ``(batch, H, W)``.
    rhs, x0
        Complex ``(batch, H, W)``; ``x0`` is not modified.
    iterations
        Number of CG steps (>= 0; 0 returns ``x0``).
    normal_x0
        ``normal(x0)`` if the caller has it: the initial residual is formed from it instead of
        one more application of ``normal``.
    residual
        Also return CG's residual ``r``, which equals ``rhs - normal(x)`` in exact arithmetic
        (CG updates it by recurrence, so to rounding): ``rhs - r`` is ``normal(x)`` without
        another application of ``normal``.

    Returns
    -------
    torch.Tensor or tuple
        ``x``, or ``(x, r)`` with ``residual``.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise InputError(f"conjugate gradient needs iterations >= 0, got {iterations!r}")
    if normal_x0 is not None and normal_x0.shape != x0.shape:
        raise InputError(f"normal_x0 of shape {tuple(normal_x0.shape)} does not match x0 of shape {tuple(x0.shape)}")
    if iterations == 0:
        if not residual:
            return x0
        return x0, rhs - (normal(x0) if normal_x0 is None else normal_x0)
    cg = ConjugateGradient(normal, rhs, x0, max_iterations=iterations, batch_ndim=max(rhs.ndim - 2, 0),
                           differentiable=torch.is_grad_enabled(), normal_x0=normal_x0)
    for _ in range(iterations):
        cg.update()
    return (cg.result, cg.r) if residual else cg.result
