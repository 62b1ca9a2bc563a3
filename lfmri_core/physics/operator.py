"""Linear operators that compose: ``A @ B``, ``A + B``, ``s * A``, ``A.H``, ``A.gram``.

In the style of mrpro's ``LinearOperator`` (and deepinv's ``LinearPhysics``): an operator has a
:meth:`~LinearOperator.forward` ``A x`` and an :meth:`~LinearOperator.adjoint` ``A^H y``, and
everything else is built from those two:

>>> A = SenseOperator(maps, mask)            # (..., H, W) -> (..., C, H, W)
>>> y = A(x)                                 # forward
>>> x0 = A.H(y)                              # adjoint, as an operator: A.H is a LinearOperator
>>> N = A.gram + Diagonal(2 * mu * cam**2)   # A^H A + diag(w), a LinearOperator again
>>> N(x)

:meth:`~LinearOperator.normal` applies ``A^H A``; it defaults to ``adjoint(forward(x))`` and an
operator with a cheaper way (the SENSE operator's FFT filter) overrides it, which
:attr:`~LinearOperator.gram` then uses. Scalars are Python numbers or 0-d tensors (a learnable
weight stays in the autograd graph); a tensor of weights is a :class:`Diagonal`.

Tensors are complex (or real) torch tensors on any device; the operators allocate their
results (an :class:`Identity` returns its input itself), never write into their inputs, and
keep the autograd graph, so a solver can be differentiated through them. A :class:`Sum` adds its
terms into its first operator's fresh result when autograd does not record (as a solver's
``out.add_(...)``), so an operator must not return a tensor it keeps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from numbers import Number

import torch

Scalar = complex | float | int | torch.Tensor
"""A Python number or a 0-d tensor."""


def _check_scalar(scalar: object) -> None:
    if isinstance(scalar, torch.Tensor):
        if scalar.ndim != 0:
            raise TypeError(f"an operator is scaled by a number or a 0-d tensor, got shape {tuple(scalar.shape)}; "
                            "use Diagonal for pointwise weights")
    elif not isinstance(scalar, Number) or isinstance(scalar, bool):
        raise TypeError(f"an operator is scaled by a number or a 0-d tensor, got {type(scalar).__name__}")


def _conj(scalar: Scalar) -> Scalar:
    if isinstance(scalar, torch.Tensor):
        return scalar.conj()
    return scalar.conjugate() if isinstance(scalar, complex) else scalar


class LinearOperator(ABC):
    """A linear map ``A`` with its adjoint; subclasses implement :meth:`forward` and :meth:`adjoint`.

    ``A(x)`` is ``A.forward(x)``. ``A.H`` is the adjoint and ``A.gram`` the normal operator
    ``A^H A``, both operators; ``A @ B``, ``A + B``, ``A - B``, ``-A``, ``s * A`` and ``A * s``
    are operators too.
    """

    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``A x``."""

    @abstractmethod
    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``A^H y``."""

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``A^H A x``; override where a cheaper way exists."""
        return self.adjoint(self.forward(x))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    def _add_forward(self, out: torch.Tensor, x: torch.Tensor, in_place: bool = False) -> torch.Tensor:
        """``out + A x`` (:class:`Sum` calls it; a scaled operator fuses the two steps).

        ``in_place``: ``out`` is the sum's own fresh result and autograd does not record, so the
        term may be added into it (:func:`_accumulate`) instead of allocating a new tensor.
        """
        return _accumulate(out, self.forward(x), in_place)

    @property
    def H(self) -> LinearOperator:
        """The adjoint ``A^H`` as an operator."""
        return Adjoint(self)

    @property
    def gram(self) -> LinearOperator:
        """The normal operator ``A^H A`` (Hermitian, positive semidefinite), applied by :meth:`normal`."""
        return Gram(self)

    def __matmul__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Composition(self, other)

    def __add__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Sum(self, other)

    def __sub__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Sum(self, Scaled(other, -1.0))

    def __neg__(self) -> LinearOperator:
        return Scaled(self, -1.0)

    def __mul__(self, scalar: Scalar) -> LinearOperator:
        if not isinstance(scalar, (Number, torch.Tensor)):
            return NotImplemented
        return Scaled(self, scalar)

    __rmul__ = __mul__


class Adjoint(LinearOperator):
    """``A^H`` of an operator (what ``A.H`` returns); its ``.H`` is ``A`` again."""

    def __init__(self, operator: LinearOperator) -> None:
        self.operator = operator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.operator.adjoint(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.operator.forward(y)

    @property
    def H(self) -> LinearOperator:
        return self.operator


class Gram(LinearOperator):
    """``A^H A`` of an operator (what ``A.gram`` returns), by ``A.normal``; self-adjoint."""

    def __init__(self, operator: LinearOperator) -> None:
        self.operator = operator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.operator.normal(x)

    adjoint = forward

    @property
    def H(self) -> LinearOperator:
        return self


class Composition(LinearOperator):
    """``A @ B``: ``x -> A(B(x))``, adjoint ``B^H A^H``."""

    def __init__(self, outer: LinearOperator, inner: LinearOperator) -> None:
        self.outer = outer
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outer.forward(self.inner.forward(x))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.inner.adjoint(self.outer.adjoint(y))


class Sum(LinearOperator):
    """``A_1 + A_2 + ...`` (nested sums are flattened), all mapping the same spaces."""

    def __init__(self, *operators: LinearOperator) -> None:
        if not operators:
            raise ValueError("a sum needs at least one operator")
        flat: list[LinearOperator] = []
        for op in operators:
            flat.extend(op.operators if isinstance(op, Sum) else (op,))
        self.operators = tuple(flat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, *rest = self.operators
        out = first.forward(x)
        in_place = _writable(out, x)
        for op in rest:
            out = op._add_forward(out, x, in_place)
        return out

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        first, *rest = self.operators
        out = first.adjoint(y)
        in_place = _writable(out, y)
        for op in rest:
            out = _accumulate(out, op.adjoint(y), in_place)
        return out


def _writable(out: torch.Tensor, x: torch.Tensor) -> bool:
    """Whether a :class:`Sum` may add its further terms into ``out``, its first operator's result.

    The operators allocate their results, except those that return their input itself (an
    :class:`Identity`), so ``out`` is the sum's own unless it shares memory with ``x``. Autograd
    must not be recording either: then the terms are added out of place, as a differentiable
    solver needs. Adding in place saves a tensor of the image's size per application (the CG of
    ADMM's x-update applies its system once per iteration, as the solvers did before the
    operator algebra with ``out.add_(...)``).
    """
    if torch.is_grad_enabled() and (out.requires_grad or x.requires_grad):
        return False
    return out.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()


def _accumulate(out: torch.Tensor, term: torch.Tensor, in_place: bool, alpha: complex = 1) -> torch.Tensor:
    """``out + alpha * term``, into ``out`` when ``in_place`` and the sum keeps ``out``'s shape
    and dtype (and ``term`` carries no gradient), else as a new tensor; the same rounding either way."""
    if (
        in_place
        and term.shape == out.shape
        and term.dtype == out.dtype
        and not (term.requires_grad and torch.is_grad_enabled())
    ):
        return out.add_(term, alpha=alpha)
    return torch.add(out, term, alpha=alpha)


class Scaled(LinearOperator):
    """``s A`` for a scalar ``s`` (a Python number or a 0-d tensor); adjoint ``conj(s) A^H``."""

    def __init__(self, operator: LinearOperator, scalar: Scalar) -> None:
        _check_scalar(scalar)
        self.operator = operator
        self.scalar = scalar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scalar * self.operator.forward(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return _conj(self.scalar) * self.operator.adjoint(y)

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.scalar.abs().square() if isinstance(self.scalar, torch.Tensor) else abs(self.scalar) ** 2
        return weight * self.operator.normal(x)

    def _add_forward(self, out: torch.Tensor, x: torch.Tensor, in_place: bool = False) -> torch.Tensor:
        if isinstance(self.scalar, (int, float)):  # one fused kernel, as the solvers' ``add_(v, alpha=...)``
            return _accumulate(out, self.operator.forward(x), in_place, alpha=self.scalar)
        return _accumulate(out, self.scalar * self.operator.forward(x), in_place)


class Identity(LinearOperator):
    """``I``: returns its input itself (no copy)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    adjoint = forward
    normal = forward

    @property
    def H(self) -> LinearOperator:
        return self

    @property
    def gram(self) -> LinearOperator:
        return self


class Diagonal(LinearOperator):
    """Pointwise multiplication ``x -> w * x`` by weights broadcastable to ``x``; adjoint ``conj(w) * y``.

    Parameters
    ----------
    weights
        Real or complex tensor (a 0-d tensor is a scalar weight), e.g. ``(batch, H, W)`` for
        per-pixel weights of images ``(batch, H, W)``. It may carry gradients.
    """

    def __init__(self, weights: torch.Tensor) -> None:
        if not isinstance(weights, torch.Tensor):
            raise TypeError(f"Diagonal needs a tensor of weights, got {type(weights).__name__}")
        self.weights = weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weights * x

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return (self.weights.conj() if self.weights.is_complex() else self.weights) * y

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        return (self.weights.abs().square() if self.weights.is_complex() else self.weights.square()) * x


    @property
    def H(self) -> LinearOperator:
        return self if not self.weights.is_complex() else Diagonal(self.weights.conj())


class SelfAdjoint(LinearOperator):
    """A self-adjoint operator given as a function ``x -> N x`` (a normal operator built
    elsewhere, a matrix product in a test), so it composes with the others. The function
    returns a new tensor (or ``x`` itself), not one it keeps: a :class:`Sum` may add into it."""

    def __init__(self, apply: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.apply = apply

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x)

    adjoint = forward

    @property
    def H(self) -> LinearOperator:
        return self


def as_operator(normal: LinearOperator | Callable[[torch.Tensor], torch.Tensor]) -> LinearOperator:
    """``normal`` itself when it is a :class:`LinearOperator`, else :class:`SelfAdjoint` of the function."""
    return normal if isinstance(normal, LinearOperator) else SelfAdjoint(normal)
