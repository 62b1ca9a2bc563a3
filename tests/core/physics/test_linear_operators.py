"""Property checks shared by every linear operator, over the devices present.

Each case builds an operator, input and output shapes, an upper bound of its norm and the FFT
work of one application; every case is checked for adjointness ``<A x, y> = <x, A^H y>``, for
``A.gram = A^H A`` (Hermitian, positive semidefinite) and for the laws of the algebra
(composition, sum, difference, scalar multiples, adjoint views). Tolerances are rounding bounds
from :mod:`tests.tolerances`, relative to the norms involved.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from lfmri_core.physics import (
    Diagonal,
    Identity,
    LinearOperator,
    SelfAdjoint,
    SenseOperator,
)
from lfmri_core.recon.proximal import FiniteDifferences
from tests.tolerances import rounding_rtol

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")),
]


@dataclass(frozen=True)
class Case:
    """An operator on ``device``: ``A``, the input and output shapes, ``||A||`` bounded above,
    and the rounding of one application relative to ``||A|| ||x||``."""

    operator: LinearOperator
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    norm: float
    rtol: float


def _randn(shape: tuple[int, ...], gen: torch.Generator, device: str, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype, generator=gen).to(device)


def _sense_rtol(shape: tuple[int, ...], coils: int) -> float:
    # forward and adjoint: an FFT each and a sum over the coils; the operator algebra adds a
    # few elementwise roundings
    return rounding_rtol(torch.complex64, fft_points=shape[-2] * shape[-1], fft_passes=4, terms=coils + 4)


def _sense(device: str, gen: torch.Generator, *, mask: str, shifted: bool, size: tuple[int, int] = (15, 9)) -> Case:
    slices, coils, (h, w) = 2, 3, size
    maps = _randn((slices, coils, h, w), gen, device)
    masks = {
        "none": None,
        "line": torch.rand((1, w), generator=gen) < 0.5,
        "2d": torch.rand((h, w), generator=gen) < 0.4,
        "line-as-2d": (torch.rand((1, w), generator=gen) < 0.5).expand(h, w),
    }
    m = masks[mask]
    op = SenseOperator(maps, None if m is None else m.to(device), shifted=shifted)
    norm = math.sqrt(float(maps.abs().square().sum(dim=1).max()))
    return Case(op, (slices, h, w), (slices, coils, h, w), norm, _sense_rtol((h, w), coils))


def _diagonal(device: str, gen: torch.Generator, *, complex_weights: bool) -> Case:
    shape = (2, 7, 6)
    weights = _randn(shape, gen, device, torch.complex64 if complex_weights else torch.float32)
    return Case(Diagonal(weights), shape, shape, float(weights.abs().max()), rounding_rtol(torch.complex64, terms=4))


def _finite_differences(device: str, gen: torch.Generator) -> Case:
    # ||G||^2 <= 8: each of the two differences has norm <= 2
    return Case(FiniteDifferences(), (2, 8, 6), (2, 2, 8, 6), math.sqrt(8), rounding_rtol(torch.complex64, terms=8))


def _matrix(device: str, gen: torch.Generator) -> Case:
    a = _randn((6, 6), gen, device)
    hermitian = a.conj().T @ a
    op = SelfAdjoint(lambda v: v @ hermitian.T)
    return Case(op, (3, 6), (3, 6), float(torch.linalg.matrix_norm(hermitian, ord=2)), rounding_rtol(torch.complex64, terms=6))


# name -> builder(device, gen); compound operators from the algebra as well as the primitives
CASES: dict[str, Callable[[str, torch.Generator], Case]] = {
    "identity": lambda d, g: Case(Identity(), (2, 5, 4), (2, 5, 4), 1.0, rounding_rtol(torch.complex64)),
    "diagonal-real": lambda d, g: _diagonal(d, g, complex_weights=False),
    "diagonal-complex": lambda d, g: _diagonal(d, g, complex_weights=True),
    "finite-differences": _finite_differences,
    "self-adjoint-matrix": _matrix,
    "sense-no-mask": lambda d, g: _sense(d, g, mask="none", shifted=False),
    "sense-line": lambda d, g: _sense(d, g, mask="line", shifted=False),
    "sense-2d": lambda d, g: _sense(d, g, mask="2d", shifted=False, size=(16, 12)),
    "sense-shifted-line": lambda d, g: _sense(d, g, mask="line-as-2d", shifted=True),
    "sense-shifted-2d": lambda d, g: _sense(d, g, mask="2d", shifted=True),
    "sense-shifted-no-mask": lambda d, g: _sense(d, g, mask="none", shifted=True, size=(8, 10)),
}


def _compound(name: str) -> Callable[[str, torch.Generator], Case]:
    def build(device: str, gen: torch.Generator) -> Case:
        sense = _sense(device, gen, mask="line", shifted=False)
        weights = _randn(sense.in_shape, gen, device, torch.float32).abs()
        wmax = float(weights.max())
        if name == "sense-adjoint":
            return Case(sense.operator.H, sense.out_shape, sense.in_shape, sense.norm, sense.rtol)
        if name == "sense-gram-plus-diagonal":  # the unrolled network's data-consistency system
            return Case(sense.operator.gram + Diagonal(weights), sense.in_shape, sense.in_shape,
                        sense.norm**2 + wmax, 2 * sense.rtol)
        if name == "sense-at-diagonal":
            return Case(sense.operator @ Diagonal(weights), sense.in_shape, sense.out_shape, sense.norm * wmax, sense.rtol)
        if name == "scaled-tensor":
            s = torch.tensor(0.7 - 1.3j, dtype=torch.complex64, device=device)
            return Case(s * sense.operator, sense.in_shape, sense.out_shape, 1.5 * sense.norm, sense.rtol)
        if name == "sense-minus-scaled":
            return Case(sense.operator - (0.5 + 2j) * sense.operator, sense.in_shape, sense.out_shape, 3.1 * sense.norm,
                        2 * sense.rtol)
        if name == "gradient-gram-plus-identity":  # the ADMM x-update's system
            return Case(Identity() + 0.5 * FiniteDifferences().gram, (2, 8, 6), (2, 8, 6), 5.0,
                        rounding_rtol(torch.complex64, terms=16))
        raise AssertionError(name)

    return build


for _name in ("sense-adjoint", "sense-gram-plus-diagonal", "sense-at-diagonal", "scaled-tensor", "sense-minus-scaled",
              "gradient-gram-plus-identity"):
    CASES[_name] = _compound(_name)


def _inner(a: torch.Tensor, b: torch.Tensor) -> complex:
    return complex(torch.sum(a.conj().to(torch.complex128) * b.to(torch.complex128)))


def _norm(a: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a.to(torch.complex128)))


def _close(actual: torch.Tensor, expected: torch.Tensor, bound: float) -> None:
    error = _norm(actual - expected)
    assert error <= bound, f"error {error:.3e} exceeds the rounding bound {bound:.3e}"


def _setup(name: str, device: str, seed: int = 0) -> tuple[Case, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    case = CASES[name](device, gen)
    return case, _randn(case.in_shape, gen, device), _randn(case.out_shape, gen, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_adjointness(name: str, device: str) -> None:
    case, x, y = _setup(name, device)
    ax, ahy = case.operator(x), case.operator.H(y)
    assert ax.shape == case.out_shape and ahy.shape == case.in_shape
    assert ax.device.type == device and ahy.device.type == device
    lhs, rhs = _inner(ax, y), _inner(x, ahy)
    assert abs(lhs - rhs) <= case.rtol * (_norm(ax) * _norm(y) + _norm(x) * _norm(ahy))
    _close(case.operator.adjoint(y), ahy, case.rtol * case.norm * _norm(y))  # the view and the method agree


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_gram_is_adjoint_of_forward(name: str, device: str) -> None:
    case, x, _ = _setup(name, device, seed=1)
    op = case.operator
    gram = op.gram(x)
    bound = 2 * case.rtol * case.norm**2 * _norm(x)
    _close(gram, op.H(op(x)), bound)
    _close(op.normal(x), gram, bound)
    _close(op.gram.H(x), gram, bound)  # Hermitian
    # positive semidefinite: <x, A^H A x> = ||A x||^2, real and >= 0
    quad = _inner(x, gram)
    assert abs(quad - _norm(op(x)) ** 2) <= bound * _norm(x)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_algebra_laws(name: str, device: str) -> None:
    case, x, y = _setup(name, device, seed=2)
    op = case.operator
    gen = torch.Generator().manual_seed(3)
    scale = case.norm * _norm(x)
    bound = 2 * case.rtol * scale
    s = 0.3 - 1.7j
    assert op.H.H(x).equal(op(x))
    _close((s * op)(x), s * op(x), bound * abs(s))
    _close((op * s)(x), s * op(x), bound * abs(s))
    _close((s * op).H(y), s.conjugate() * op.H(y), 2 * case.rtol * case.norm * _norm(y) * abs(s))
    _close((-op)(x), -op(x), bound)
    _close((op + op)(x), 2 * op(x), bound)
    _close((op + 2.0 * op - op)(x), 2 * op(x), 4 * bound)
    _close((op + 2.0 * op).H(y), 3 * op.H(y), 6 * case.rtol * case.norm * _norm(y))
    # composition with a diagonal on either side, and its adjoint B^H A^H
    inner = Diagonal(_randn(case.in_shape, gen, device))
    outer = Diagonal(_randn(case.out_shape, gen, device))
    _close((op @ inner)(x), op(inner(x)), bound * float(inner.weights.abs().max()))
    chain = outer @ op @ inner
    wmax = float(inner.weights.abs().max() * outer.weights.abs().max())
    _close(chain.H(y), inner.H(op.H(outer.H(y))), 2 * case.rtol * case.norm * wmax * _norm(y))
    _close(chain.gram(x), chain.H(chain(x)), 4 * case.rtol * (case.norm * wmax) ** 2 * _norm(x))


def test_scalars_must_be_numbers_or_0d_tensors() -> None:
    op = Identity()
    with pytest.raises(TypeError, match="0-d tensor"):
        torch.ones(3) * op
    with pytest.raises(TypeError, match="0-d tensor"):
        op * torch.ones(3)
    with pytest.raises(TypeError):
        op @ torch.ones(3)
    assert isinstance(torch.tensor(2.0) * op, LinearOperator)


def test_gradients_flow_through_the_algebra() -> None:
    """A weight inside a composed operator gets the gradient of the analytic derivative."""
    gen = torch.Generator().manual_seed(4)
    case = _sense("cpu", gen, mask="line", shifted=False)
    sense = case.operator
    assert isinstance(sense, SenseOperator)
    x = _randn(case.in_shape, gen, "cpu")
    mu = torch.tensor(0.8, requires_grad=True)
    out = (sense.gram + Diagonal(2 * mu))(x)
    loss = torch.sum(out.real)
    loss.backward()
    # d/dmu sum Re(A^H A x + 2 mu x) = 2 sum Re(x)
    expected = 2 * float(x.real.sum())
    assert abs(float(mu.grad) - expected) <= rounding_rtol(torch.float32, terms=x.numel()) * float(x.abs().sum()) * 2


def test_shifted_layout_is_the_centred_operator_conjugated_by_ifftshift() -> None:
    """``shifted=True`` is the same operator on ``ifftshift``-ed images: forward, adjoint, normal."""
    gen = torch.Generator().manual_seed(5)
    maps = _randn((2, 3, 15, 9), gen, "cpu")
    mask = torch.rand((15, 9), generator=gen) < 0.4
    centred, shifted = SenseOperator(maps, mask), SenseOperator(maps, mask, shifted=True)
    x = _randn((2, 15, 9), gen, "cpu")
    y = _randn((2, 3, 15, 9), gen, "cpu")
    rtol = _sense_rtol((15, 9), 3)
    norm = math.sqrt(float(maps.abs().square().sum(dim=1).max()))
    _close(shifted(shifted.to_internal(x)), centred(x), rtol * norm * _norm(x))
    _close(shifted.from_internal(shifted.H(y)), centred.H(y), rtol * norm * _norm(y))
    _close(shifted.from_internal(shifted.gram(shifted.to_internal(x))), centred.gram(x), 2 * rtol * norm**2 * _norm(x))
    assert centred.to_internal(x) is x and centred.from_internal(x) is x
    assert not centred.line_mask and SenseOperator(maps, mask[:1].expand(15, 9)).line_mask


def test_the_normal_operator_reuses_its_buffer_only_outside_autograd() -> None:
    gen = torch.Generator().manual_seed(6)
    maps = _randn((1, 3, 8, 6), gen, "cpu")
    op = SenseOperator(maps, torch.rand((1, 6), generator=gen) < 0.5)
    x = _randn((1, 8, 6), gen, "cpu")
    first = op.normal(x)
    again = op.normal(x)
    assert torch.equal(first, again) and first.data_ptr() != again.data_ptr()  # the results are new tensors
    with torch.inference_mode():
        inference = op.normal(x)
    assert torch.equal(inference, first)
    assert torch.equal(op.normal(x), first)  # a buffer made in inference mode is replaced outside it
    leaf = x.clone().requires_grad_(True)
    traced = op.normal(leaf)
    assert traced.grad_fn is not None
    _close(traced.detach(), first, _sense_rtol((8, 6), 3) * _norm(first))


def test_sum_adds_into_its_own_result_and_never_into_the_input() -> None:
    """Without autograd a sum adds its terms into its first operator's fresh result (ADMM's
    ``A^H A + rho G^H G``), with the rounding of the out-of-place sum; an input that the first
    operator returns itself (an identity) is never written, also through the adjoint."""
    gen = torch.Generator().manual_seed(8)
    maps = _randn((1, 3, 15, 9), gen, "cpu")
    mask = torch.rand((1, 9), generator=gen) < 0.5
    sense = SenseOperator(maps, mask, shifted=True)
    gradient = FiniteDifferences()
    x = _randn((1, 15, 9), gen, "cpu")
    x_before = x.clone()
    with torch.no_grad():
        system = sense.gram + 0.5 * gradient.gram
        expected = torch.add(sense.normal(x), gradient.normal(x), alpha=0.5)
        assert torch.equal(system(x), expected)
        assert torch.equal(x, x_before)
        for operator in (Identity() + 2.0 * Identity(), Identity() + Diagonal(torch.full((15, 9), 2.0))):
            assert torch.equal(operator(x), torch.add(x, x, alpha=2.0))
            assert torch.equal(operator.adjoint(x), torch.add(x, x, alpha=2.0))
            assert torch.equal(x, x_before)


def test_sum_stays_differentiable() -> None:
    """With an input that requires gradients the sum adds out of place: ``d Re<v, N x> / dx = N v``."""
    gen = torch.Generator().manual_seed(9)
    maps = _randn((1, 3, 15, 9), gen, "cpu")
    sense = SenseOperator(maps, torch.rand((1, 9), generator=gen) < 0.5, shifted=True)
    system = sense.gram + 0.5 * Diagonal(torch.rand((15, 9), generator=gen))
    x = _randn((1, 15, 9), gen, "cpu").requires_grad_()
    v = _randn((1, 15, 9), gen, "cpu")
    torch.sum(v.conj() * system(x)).real.backward()
    assert x.grad is not None
    expected = system(v)
    tol = rounding_rtol(torch.complex64, fft_points=15 * 9, fft_passes=4, terms=3 + 4)
    assert float((x.grad - expected).norm()) <= tol * float(expected.norm()) * 4
