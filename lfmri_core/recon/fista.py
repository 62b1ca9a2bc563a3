"""FISTA (and plain IST) for ``min_x 0.5 ||A x - y||^2 + g(x)``, one iteration per update."""

from __future__ import annotations

import math

import torch

from lfmri_core.errors import InputError
from lfmri_core.physics.cg import LinearMap
from lfmri_core.physics.stepping import IterativeAlgorithm
from lfmri_core.recon.iterative import Prox


class FISTA(IterativeAlgorithm):
    """Fast iterative shrinkage-thresholding (Beck and Teboulle 2009) in BART's order.

    Each iteration, as BART's ``fista``: threshold ``x = prox(z, step)``; Nesterov momentum
    ``v = x + (t_k - 1) / t_{k+1} (x - x_prev)``; gradient step
    ``z = v + step (A^H y - A^H A v)``. The problem's gradient enters only through the normal
    operator and ``rhs = A^H y``.

    Parameters
    ----------
    normal
        ``A^H A`` (e.g. ``A.gram`` of a :class:`~lfmri_core.physics.operator.LinearOperator`),
        batched like ``rhs``.
    rhs
        ``A^H y``, shape ``(*batch, ...)``.
    prox
        ``prox(v, alpha)``: proximal operator of ``alpha * g``; it may work in place on ``v``.
    step
        Step size ``tau`` (> 0); converges for ``tau <= 1 / ||A^H A||``.
    max_iterations
        Number of iterations (> 0).
    x0
        Starting point (default zeros); it is not modified.
    momentum
        False gives IST (no momentum).

    Notes
    -----
    Two readings of the iterate exist: :attr:`result` is BART's output, the gradient-stepped
    point ``z`` left by the last iteration (what ``bart pics -l1`` writes); :attr:`estimate`
    is the last thresholded point ``x = prox(z)``, the minimiser's estimate (for the lasso,
    exactly sparse). They coincide in the limit only when ``g`` is smooth.
    """

    def __init__(
        self,
        normal: LinearMap,
        rhs: torch.Tensor,
        prox: Prox,
        *,
        step: float,
        max_iterations: int,
        x0: torch.Tensor | None = None,
        momentum: bool = True,
    ) -> None:
        if max_iterations < 1:
            raise InputError(f"FISTA needs max_iterations >= 1, got {max_iterations}")
        if not step > 0:
            raise InputError(f"FISTA needs a step size > 0, got {step}")
        self.normal = normal
        self.rhs = rhs
        self.prox = prox
        self.step = float(step)
        self.max_iterations = int(max_iterations)
        self.momentum = momentum
        self.iteration = 0
        self.z = torch.zeros_like(rhs) if x0 is None else x0.clone()
        self.x_prev = self.z.clone()
        self.t = 1.0

    def update(self) -> None:
        x = self.prox(self.z, self.step)
        if self.momentum:
            t_next = (1.0 + math.sqrt(1.0 + 4.0 * self.t * self.t)) / 2.0
            # v = x + (t - 1) / t_next * (x - x_prev); x_prev takes x (buffers swap, no copy)
            factor = (self.t - 1.0) / t_next
            v = torch.lerp(x, self.x_prev, -factor) if factor else x.clone()
            self.x_prev, self.t = x, t_next
        else:
            v, self.x_prev = x.clone(), x
        gradient = self.normal(v)
        # in place on the operator's new tensor; an identity returns v itself
        gradient = gradient - self.rhs if gradient is v else gradient.sub_(self.rhs)
        self.z = v.sub_(gradient, alpha=self.step)
        self.iteration += 1

    @property
    def result(self) -> torch.Tensor:
        return self.z

    @property
    def estimate(self) -> torch.Tensor:
        """The last thresholded iterate ``prox(z)`` (``x0`` before the first iteration)."""
        return self.x_prev
