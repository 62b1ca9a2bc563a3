"""The iterative solvers on toy problems with known answers, and the stepping API."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import torch

from lfmri_core.errors import InputError
from lfmri_core.physics import Identity
from lfmri_core.recon import ADMM, FISTA, Cancelled, ConjugateGradient, SplitTerm, run, steps
from lfmri_core.recon.proximal import joint_soft_threshold, soft_threshold
from tests.conftest import devices
from tests.tolerances import assert_close_in_norm, rounding_rtol


def _cg_rtol(matrix: torch.Tensor, tolerance: float) -> float:
    """CG stops at ``||r|| <= tolerance ||b||``: the solution is then within ``cond(M)`` times
    that (and times the rounding of ``M v``) of the exact one, relative in norm."""
    rounding = rounding_rtol(matrix.dtype, terms=matrix.shape[-1])
    return float(torch.linalg.cond(matrix)) * (tolerance + rounding)


def _reference_atol(a: np.ndarray, y: np.ndarray, lam: float, x: np.ndarray) -> float:
    """How close :func:`_lasso_reference`'s L-BFGS-B answer is to the minimiser, in norm: it
    stops once the objective falls by less than ``ftol = 1e-15`` relative, so
    ``F(x) - F* <~ ftol F(x)``, and strong convexity (modulus ``mu``, the smallest eigenvalue
    of ``A^T A``) turns that into ``||x - x*|| <= sqrt(2 (F(x) - F*) / mu)``; 10 times that."""
    objective = 0.5 * float(np.sum((a @ x - y) ** 2)) + lam * float(np.abs(x).sum())
    mu = float(np.linalg.eigvalsh(a.T @ a)[0])
    return 10 * float(np.sqrt(2 * 1e-15 * objective / mu))


def _spd(n: int, gen: torch.Generator, dtype: torch.dtype = torch.complex128) -> torch.Tensor:
    a = torch.randn((n, n), generator=gen, dtype=dtype)
    return a.conj().T @ a + 0.5 * torch.eye(n, dtype=dtype)


@pytest.mark.parametrize("device", devices())
def test_cg_solves_a_random_spd_system(device: str) -> None:
    gen = torch.Generator().manual_seed(0)
    matrix = _spd(40, gen).to(device)
    b = torch.randn((1, 40), generator=gen, dtype=torch.complex128).to(device)
    cg = ConjugateGradient(lambda v: v @ matrix.T, b, max_iterations=200, tolerance=1e-12)
    x = run(cg)
    expected = torch.linalg.solve(matrix, b[0])
    assert_close_in_norm(x[0], expected, _cg_rtol(matrix, 1e-12))
    assert cg.iteration < 200  # stopped on the tolerance, as BART's conjgrad does


def test_cg_with_l2_lambda_and_warm_start() -> None:
    gen = torch.Generator().manual_seed(1)
    matrix = _spd(12, gen, torch.float64)
    b = torch.randn((1, 12), generator=gen, dtype=torch.float64)
    x0 = torch.randn((1, 12), generator=gen, dtype=torch.float64)
    x = run(ConjugateGradient(lambda v: v @ matrix.T, b, x0, l2_lambda=2.0, max_iterations=50, tolerance=1e-14))
    shifted = matrix + 2.0 * torch.eye(12, dtype=torch.float64)
    expected = torch.linalg.solve(shifted, b[0])
    assert_close_in_norm(x[0], expected, _cg_rtol(shifted, 1e-14))


def test_cg_batches_are_independent_problems() -> None:
    """Problems stop on their own residual; a batch gives what each problem gives alone."""
    gen = torch.Generator().manual_seed(2)
    scales = torch.tensor([1.0, 10.0, 0.1], dtype=torch.float64)[:, None]
    matrix = _spd(10, gen, torch.float64)
    b = torch.randn((3, 10), generator=gen, dtype=torch.float64) * scales

    def normal(v: torch.Tensor) -> torch.Tensor:
        return (v @ matrix.T) * scales  # a different operator per problem

    batched = run(ConjugateGradient(normal, b, max_iterations=6, tolerance=1e-3))
    for i in range(3):
        alone = run(ConjugateGradient(lambda v, i=i: (v @ matrix.T) * scales[i], b[i : i + 1], max_iterations=6, tolerance=1e-3))
        # the same 6 (or fewer) steps: their rounding only
        assert_close_in_norm(batched[i], alone[0], rounding_rtol(torch.float64, terms=10, steps=6))


def _lasso_reference(a: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """``min 0.5 ||A x - y||^2 + lam ||x||_1`` by L-BFGS-B on ``x = p - q``, ``p, q >= 0``."""
    n = a.shape[1]

    def objective(pq: np.ndarray) -> tuple[float, np.ndarray]:
        x = pq[:n] - pq[n:]
        residual = a @ x - y
        grad = a.T @ residual
        return 0.5 * residual @ residual + lam * pq.sum(), np.concatenate([grad + lam, -grad + lam])

    found = scipy.optimize.minimize(
        objective,
        np.zeros(2 * n),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * (2 * n),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
    )
    return found.x[:n] - found.x[n:]


def _lasso_fista(a: np.ndarray, y: np.ndarray, lam: float, iterations: int, momentum: bool = True) -> FISTA:
    at = torch.from_numpy(a)
    gram = at.T @ at
    step = 1.0 / float(torch.linalg.matrix_norm(gram, ord=2))
    rhs = (at.T @ torch.from_numpy(y))[None]
    prox = lambda v, alpha: soft_threshold(v, lam * alpha)  # noqa: E731
    return FISTA(lambda v: v @ gram.T, rhs, prox, step=step, max_iterations=iterations, momentum=momentum)


def test_fista_solves_the_lasso_like_scipy() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((30, 20))
    y = rng.standard_normal(30)
    expected = _lasso_reference(a, y, 2.0)
    fista = _lasso_fista(a, y, 2.0, 3000)
    run(fista)
    atol = _reference_atol(a, y, 2.0, expected)
    assert np.linalg.norm(fista.estimate[0].numpy() - expected) <= atol
    assert np.count_nonzero(fista.estimate[0].numpy()) == np.count_nonzero(np.abs(expected) > 1e-8)
    ist = _lasso_fista(a, y, 2.0, 20_000, momentum=False)
    run(ist)
    assert np.linalg.norm(ist.estimate[0].numpy() - expected) <= atol
    # both have converged (strongly convex: linearly), to the same point up to rounding
    assert_close_in_norm(ist.estimate[0], fista.estimate[0], float(np.linalg.cond(a.T @ a)) * rounding_rtol(np.float64, terms=30))


def test_fista_with_orthonormal_a_is_one_soft_threshold() -> None:
    """For orthonormal A the lasso's minimiser is soft(A^T y, lam), reached in one step of 1."""
    rng = np.random.default_rng(4)
    q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    y = rng.standard_normal(16)
    fista = FISTA(
        lambda v: v.clone(),
        torch.from_numpy(q.T @ y)[None],
        lambda v, alpha: soft_threshold(v, 0.3 * alpha),
        step=1.0,
        max_iterations=5,
    )
    run(fista)
    closed_form = np.sign(q.T @ y) * np.maximum(np.abs(q.T @ y) - 0.3, 0)
    assert_close_in_norm(fista.estimate[0], closed_form, rounding_rtol(np.float64, terms=16, steps=5))


def test_admm_with_an_identity_split_solves_the_lasso() -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((25, 10))
    y = rng.standard_normal(25)
    expected = _lasso_reference(a, y, 1.5)
    at = torch.from_numpy(a)
    gram = at.T @ at
    identity = SplitTerm(Identity(), lambda v, alpha: soft_threshold(v, 1.5 * alpha))
    rhs = (at.T @ torch.from_numpy(y))[None]
    admm = ADMM(lambda v: v @ gram.T, rhs, [identity], rho=2.0, max_iterations=400, cg_iterations=20, cg_tolerance=1e-12)
    assert np.linalg.norm(run(admm)[0].numpy() - expected) <= _reference_atol(a, y, 1.5, expected)


def test_admm_stops_on_the_total_cg_budget() -> None:
    """BART's ``-i`` for ADMM: stop once the inner CG iterations add up to more than it."""
    gen = torch.Generator().manual_seed(6)
    matrix = _spd(30, gen, torch.float64)
    b = torch.randn((1, 30), generator=gen, dtype=torch.float64)
    term = SplitTerm(Identity(), lambda v, alpha: soft_threshold(v, 0.1 * alpha))
    admm = ADMM(lambda v: v @ matrix.T, b, [term], max_iterations=100, cg_iterations=4, cg_tolerance=0.0, max_total_cg_iterations=10)
    run(admm)
    assert admm.iteration == 3 and int(admm.cg_iterations_done) == 12  # 4 + 4 + 4 > 10


def test_joint_soft_threshold_shrinks_vectors() -> None:
    v = torch.tensor([[[3.0 + 0j], [4.0 + 0j]], [[0.3 + 0j], [0.4j]]])  # groups along dim 1
    out = joint_soft_threshold(v, 1.0, dim=1)
    rtol = rounding_rtol(torch.complex64)  # a norm of 2 values, a division and a product
    torch.testing.assert_close(out[0, :, 0], torch.tensor([2.4 + 0j, 3.2 + 0j]), rtol=rtol, atol=0)
    assert (out[1] == 0).all()
    torch.testing.assert_close(soft_threshold(torch.tensor([3j, -0.5]), 1.0), torch.tensor([2j, 0]), rtol=rtol, atol=0)


def _cg_toy() -> ConjugateGradient:
    gen = torch.Generator().manual_seed(7)
    matrix = _spd(20, gen, torch.float64)
    return ConjugateGradient(lambda v: v @ matrix.T, torch.ones((1, 20), dtype=torch.float64), max_iterations=8)


def test_stepping_yields_progress_and_returns_the_result() -> None:
    solver = _cg_toy()
    generator = steps(solver)
    seen = []
    with pytest.raises(StopIteration) as stop:
        while True:
            seen.append(next(generator))
    assert seen == [(i, 8) for i in range(1, 9)]
    assert stop.value.value is solver.result
    # sigpy style: a front end can drive update()/done() itself
    manual = _cg_toy()
    while not manual.done():
        manual.update()
    assert torch.equal(manual.result, solver.result)


def test_run_reports_progress_and_honours_cancel() -> None:
    reports: list[tuple[int, int]] = []
    run(_cg_toy(), progress=lambda done, total: reports.append((done, total)))
    assert reports[-1] == (8, 8) and len(reports) == 8
    polls = iter([False, False, False, True])
    solver = _cg_toy()
    with pytest.raises(Cancelled, match="after 3 of 8"):
        run(solver, cancel=lambda: next(polls))
    assert solver.iteration == 3


def test_early_stop_still_completes_the_progress_bar() -> None:
    gen = torch.Generator().manual_seed(8)
    matrix = _spd(5, gen, torch.float64)
    reports: list[tuple[int, int]] = []
    solver = ConjugateGradient(lambda v: v @ matrix.T, torch.ones((1, 5), dtype=torch.float64), max_iterations=50, tolerance=1e-10)
    run(solver, progress=lambda done, total: reports.append((done, total)))
    assert solver.iteration <= 6 and reports[-1] == (50, 50)


def test_solver_arguments_are_checked() -> None:
    b = torch.ones((1, 3))
    with pytest.raises(InputError, match="max_iterations"):
        ConjugateGradient(lambda v: v, b, max_iterations=0)
    with pytest.raises(InputError, match="step"):
        FISTA(lambda v: v, b, lambda v, a: v, step=0.0, max_iterations=3)
    with pytest.raises(InputError, match="rho"):
        ADMM(lambda v: v, b, [], rho=0.0)
    with pytest.raises(InputError, match="over-relaxation"):
        ADMM(lambda v: v, b, [], relaxation=2.0)
