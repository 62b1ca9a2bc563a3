"""Tolerances for floating-point results, derived from the precision and the problem size.

Two correct computations of the same quantity (another CPU's FFT or BLAS kernels, another SIMD
width, a batched against a single call; ``ATEN_CPU_CAPABILITY=default`` makes torch use its
portable kernels and so reproduces another machine) differ by their rounding errors, and
standard error analysis bounds those (N. J. Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., SIAM 2002; ``eps`` is the machine epsilon of the working precision,
1.2e-7 for float32 and complex64, 2.2e-16 for float64 and complex128):

- an FFT of ``n`` points, any radix: ``||fl(F x) - F x|| <= c eps log2(n) ||x||`` (Higham
  §24.1). The bound is in norm: one small output entry can be wrong by far more than ``eps``
  times itself, so an elementwise relative tolerance is meaningless for FFT results;
- a sum or inner product of ``n`` terms: ``n eps`` in the worst case, and with high
  probability ``sqrt(n) eps`` (the errors are independent: Higham and Mary, SIAM J. Sci.
  Comput. 41(5), 2019), relative to the sum of the magnitudes of the terms;
- an iterative method of ``k`` steps that contracts (CG, FISTA, ADMM on a convex problem)
  adds at most one step's rounding per step.

So a result computed through ``passes`` FFTs of ``n`` points, sums of ``m`` terms and ``k``
steps agrees with another computation of it to

    ``||a - b|| <= SAFETY * eps * k * (passes * log2(n) + sqrt(m)) * scale``,

with ``scale`` the norm of the result (or of the largest intermediate, where the result is a
small difference of large terms; an ill-conditioned solve multiplies by its condition number).
``SAFETY = 4`` covers the constants of these bounds. For float32 and our sizes (n <= 640 x 368,
m <= 1e5) this is 5e-7 to 2e-4 relative per step, while the rounding measured is about eps
(1e-7); a wrong sign, a missing factor (``sqrt(n)``, a conjugate, a step size) or a shifted
index changes a result by 1e-2 to 1 relative, orders of magnitude more, so the tests still
catch those. Tolerances of a different kind (convergence of an iterative reference, the
statistics of random draws, agreement with another program's algorithm) are not derived here:
each test states its own.
"""

from __future__ import annotations

import math

import numpy as np
import torch

SAFETY = 4.0
"""Multiple of the first-order error bounds, for their constants (radix, twiddle factors)."""

DTypeLike = torch.dtype | np.dtype | type


def eps(dtype: DTypeLike) -> float:
    """Machine epsilon of ``dtype``'s precision (a complex dtype: that of its real part)."""
    if isinstance(dtype, torch.dtype):
        return float(torch.finfo(dtype).eps)
    return float(np.finfo(dtype).eps)


def rounding_rtol(
    dtype: DTypeLike, *, fft_points: int = 1, fft_passes: int = 0, terms: int = 1, steps: int = 1
) -> float:
    """Relative (in norm) rounding tolerance of a result, see the module docstring.

    Parameters
    ----------
    dtype
        Working precision.
    fft_points
        Points of each FFT (``H * W`` for a 2-D one).
    fft_passes
        FFTs applied in sequence (forward and inverse count as two).
    terms
        Largest number of terms summed into one value (coils, pixels, a matrix product's
        inner dimension).
    steps
        Iterations of an iterative method the rounding accumulates over.
    """
    fft = fft_passes * math.log2(max(fft_points, 2))
    return SAFETY * eps(dtype) * max(steps, 1) * (fft + math.sqrt(max(terms, 1)))


def relative_error(actual: torch.Tensor | np.ndarray, expected: torch.Tensor | np.ndarray, scale: float | None = None) -> float:
    """``||actual - expected|| / scale`` in double precision; ``scale`` defaults to ``||expected||``."""
    a = np.asarray(actual.detach().cpu() if isinstance(actual, torch.Tensor) else actual)
    b = np.asarray(expected.detach().cpu() if isinstance(expected, torch.Tensor) else expected)
    a = a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)
    b = b.astype(np.complex128 if np.iscomplexobj(b) else np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} and {b.shape}"
    if scale is None:
        scale = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / scale


def assert_close_in_norm(
    actual: torch.Tensor | np.ndarray,
    expected: torch.Tensor | np.ndarray,
    rtol: float,
    *,
    scale: float | None = None,
    what: str = "",
) -> None:
    """Assert ``||actual - expected|| <= rtol * scale`` (``scale`` defaults to ``||expected||``)."""
    error = relative_error(actual, expected, scale)
    assert error <= rtol, f"{what + ': ' if what else ''}relative error {error:.3e} exceeds the tolerance {rtol:.3e}"


def learned_model_rtol(model: torch.nn.Module, kspace_shape: tuple[int, ...]) -> float:
    """float32 rounding of a learned model's image, relative in norm: the data consistency of
    each stage (``A^H y`` and a Gram operator per CG iteration: 2 FFTs each, summed over the
    coils) plus the convolutions (``9 x in-channels`` terms each, their errors adding up over
    the layers, as the steps of a method that does not amplify them).

    ``kspace_shape`` is ``(..., coils, H, W)``.
    """
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    fan_in = max(m.in_channels * m.kernel_size[0] * m.kernel_size[1] for m in convs)
    config = getattr(model, "config", None)
    passes = 2 * getattr(config, "num_stages", 1) * (getattr(config, "cg_iterations", 0) + 1)
    fft = rounding_rtol(torch.complex64, fft_points=kspace_shape[-2] * kspace_shape[-1], fft_passes=passes,
                        terms=kspace_shape[-3])
    return fft + rounding_rtol(torch.float32, terms=fan_in, steps=len(convs))
