"""The one conjugate gradient: stepping (CG-SENSE, ADMM) and differentiable (unrolled data
consistency) are the same iterations; gradients through the fixed iterations are right."""

from __future__ import annotations

import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.models import solve_data_consistency
from lfmri_core.physics import (
    ConjugateGradient,
    Diagonal,
    Identity,
    SenseOperator,
    conjugate_gradient,
)
from tests.tolerances import assert_close_in_norm, rounding_rtol

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")),
]


def _problem(device: str, dtype: torch.dtype = torch.complex64, seed: int = 0, size: tuple[int, int] = (12, 10)):
    """A SENSE data-consistency system ``A^H A + diag(w)`` and a right-hand side, 2 slices."""
    gen = torch.Generator().manual_seed(seed)
    h, w = size
    maps = torch.randn((2, 4, h, w), dtype=dtype, generator=gen) / 2
    mask = torch.rand((1, w), generator=gen) < 0.5
    weights = torch.rand((2, h, w), dtype=torch.float64 if dtype == torch.complex128 else torch.float32, generator=gen) + 0.1
    rhs = torch.randn((2, h, w), dtype=dtype, generator=gen)
    x0 = torch.randn((2, h, w), dtype=dtype, generator=gen)
    op = SenseOperator(maps.to(device), mask.to(device))
    return op, weights.to(device), rhs.to(device), x0.to(device)


@pytest.mark.parametrize("device", DEVICES)
def test_the_differentiable_run_is_the_stepping_solver(device: str) -> None:
    op, weights, rhs, x0 = _problem(device)
    normal = op.gram + Diagonal(weights)
    stepping = ConjugateGradient(normal, rhs, x0, max_iterations=4)
    while not stepping.done():
        stepping.update()
    assert stepping.iteration == 4
    fixed = conjugate_gradient(normal, rhs, x0, 4)
    assert_close_in_norm(fixed, stepping.result, rounding_rtol(torch.complex64, fft_points=10, fft_passes=2, terms=120, steps=4))
    with torch.inference_mode():  # in-place updates there, the same numbers
        in_place = conjugate_gradient(normal, rhs, x0, 4)
    assert torch.equal(in_place, fixed)
    assert conjugate_gradient(normal, rhs, x0, 0) is x0
    with pytest.raises(InputError, match="iterations"):
        conjugate_gradient(normal, rhs, x0, -1)


def test_converges_to_the_dense_solution_and_stays_there() -> None:
    op, weights, rhs, x0 = _problem("cpu", torch.complex128, seed=1, size=(6, 5))
    normal = op.gram + Diagonal(weights)
    n = 2 * 6 * 5
    basis = torch.eye(n, dtype=torch.complex128).reshape(n, 2, 6, 5)
    matrix = torch.stack([normal(b).reshape(n) for b in basis], dim=1)
    expected = torch.linalg.solve(matrix, rhs.reshape(n)).reshape(rhs.shape)
    x = conjugate_gradient(normal, rhs, x0, 40)
    condition = float(torch.linalg.cond(matrix))
    assert_close_in_norm(x, expected, condition * rounding_rtol(torch.float64, terms=n, steps=40))
    # a warm start at the solution: a residual of rounding size, and the solution stays
    again = conjugate_gradient(normal, rhs, expected, 3)
    assert_close_in_norm(again, expected, condition * rounding_rtol(torch.float64, terms=n, steps=3))


def test_gradients_through_the_iterations() -> None:
    """autograd through a fixed number of CG steps against central finite differences
    (complex128; gradcheck's own tolerances), with respect to rhs, warm start and weights."""
    op, weights, rhs, x0 = _problem("cpu", torch.complex128, seed=2, size=(5, 4))

    def solve(rhs: torch.Tensor, x0: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return conjugate_gradient(op.gram + Diagonal(weights), rhs, x0, 3)

    inputs = (rhs.requires_grad_(True), x0.requires_grad_(True), weights.requires_grad_(True))
    assert torch.autograd.gradcheck(solve, inputs)


def test_cg_sense_normal_operator_with_l2_is_the_same_iteration() -> None:
    """CG-SENSE composes ``A.gram + lam I``; the solver's own ``l2_lambda`` gives the same steps."""
    op, _, rhs, _ = _problem("cpu", seed=3)
    composed = ConjugateGradient(op.gram + 0.05 * Identity(), rhs, max_iterations=6)
    builtin = ConjugateGradient(op.gram, rhs, l2_lambda=0.05, max_iterations=6)
    for solver in (composed, builtin):
        while not solver.done():
            solver.update()
    assert torch.equal(composed.result, builtin.result)


def test_data_consistency_gradient_reaches_the_weights() -> None:
    op, weights, rhs, x0 = _problem("cpu", seed=4)
    mu1 = torch.tensor(0.4, requires_grad=True)
    mu2 = torch.tensor(0.3, requires_grad=True)
    cam = weights.clamp(0, 1)
    out = solve_data_consistency(op, rhs, x0, x0 * 0.9, mu1, lesion_target=x0 * 1.1, cam=cam, mu2=mu2, iterations=3)
    out.abs().sum().backward()
    assert mu1.grad is not None and mu2.grad is not None
    assert torch.isfinite(mu1.grad) and torch.isfinite(mu2.grad) and float(mu1.grad) != 0 and float(mu2.grad) != 0


class _Counting:
    """A linear map that counts its applications."""

    def __init__(self, normal) -> None:  # type: ignore[no-untyped-def]
        self.normal, self.calls = normal, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.normal(x)


@pytest.mark.parametrize("grad", [False, True], ids=["in-place", "differentiable"])
def test_a_known_normal_x0_saves_one_application_and_the_residual_gives_normal_x(grad: bool) -> None:
    """``normal_x0`` replaces the initial residual's application of ``N``; the returned residual
    ``r`` satisfies ``rhs - r = N x`` to rounding (CG's recurrence), in place and differentiable."""
    op, weights, rhs, x0 = _problem("cpu", seed=5)
    normal = op.gram + Diagonal(weights)
    steps = 3
    tol = rounding_rtol(torch.complex64, fft_points=10, fft_passes=2, terms=120, steps=steps + 1)
    with torch.set_grad_enabled(grad):
        counted = _Counting(normal)
        plain = conjugate_gradient(counted, rhs, x0, steps)
        assert counted.calls == steps + 1
        counted.calls = 0
        x, r = conjugate_gradient(counted, rhs, x0, steps, normal_x0=normal(x0), residual=True)
        assert counted.calls == steps
        assert_close_in_norm(x, plain, tol)
        assert_close_in_norm(rhs - r, normal(x), tol * 4)  # N x is about as large as rhs here
        # no steps: x0 itself, and its residual
        same, r0 = conjugate_gradient(normal, rhs, x0, 0, residual=True)
        assert same is x0
        assert_close_in_norm(r0, rhs - normal(x0), tol)
    with pytest.raises(InputError, match="normal_x0 of shape"):
        conjugate_gradient(normal, rhs, x0, 2, normal_x0=x0[:1])


def test_data_consistency_hands_its_gram_to_the_next_stage() -> None:
    """``return_gram`` gives ``A^H A X`` (to rounding) for free, and a stage started with it as
    ``gram_x0`` solves what a stage that applies ``A^H A`` to its start solves."""
    op, weights, rhs, x0 = _problem("cpu", seed=6)
    mu1 = torch.tensor(0.4)
    cam = weights.clamp(0, 1)
    tol = rounding_rtol(torch.complex64, fft_points=10, fft_passes=2, terms=120, steps=8)
    x1, gram1 = solve_data_consistency(op, rhs, x0, x0 * 0.9, mu1, lesion_target=x0 * 1.1, cam=cam, mu2=torch.tensor(0.3),
                                       iterations=3, return_gram=True)
    assert_close_in_norm(gram1, op.normal(x1), tol * 4)
    counted = _Counting(op.normal)
    op.normal = counted  # type: ignore[method-assign]
    reused = solve_data_consistency(op, rhs, x1, x1 * 0.8, mu1 * 2, iterations=3, gram_x0=gram1)
    assert counted.calls == 3
    fresh = solve_data_consistency(op, rhs, x1, x1 * 0.8, mu1 * 2, iterations=3)
    assert counted.calls == 3 + 4
    assert_close_in_norm(reused, fresh, tol * 4)
