"""Property checks shared by every linear operator: adjointness, Gram, unitarity, +0.0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.physics import SenseOperator, apply_mask, fft2c, ifft2c, rss, sensitivity_combine
from tests.conftest import devices
from tests.tolerances import assert_close_in_norm, rounding_rtol

SHAPES = [(1, 4, 16, 12), (3, 2, 15, 9), (2, 8, 32, 32)]  # (slices, coils, H, W), odd sizes too


def _randn(shape: tuple[int, ...], gen: torch.Generator, device: str) -> torch.Tensor:
    return torch.randn(shape, dtype=torch.complex64, generator=gen).to(device)


def _masks(h: int, w: int, gen: torch.Generator) -> list[torch.Tensor | None]:
    line = torch.rand(w, generator=gen) < 0.4
    return [None, line, line[None, :], torch.rand(h, w, generator=gen) < 0.3]


def _inner(a: torch.Tensor, b: torch.Tensor) -> complex:
    return complex(torch.sum(a.conj().to(torch.complex128) * b.to(torch.complex128)))


def _norm(a: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a.to(torch.complex128)))


def _fft_rtol(shape: tuple[int, ...], passes: int, terms: int = 1) -> float:
    """complex64 rounding of ``passes`` 2-D FFTs over the last two axes of ``shape``."""
    return rounding_rtol(torch.complex64, fft_points=shape[-2] * shape[-1], fft_passes=passes, terms=terms)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("shape", SHAPES)
def test_fft_is_unitary_and_centered(shape: tuple[int, ...], device: str) -> None:
    gen = torch.Generator().manual_seed(0)
    x = _randn(shape, gen, device)
    k = fft2c(x)
    assert _norm(k) == pytest.approx(_norm(x), rel=_fft_rtol(shape, passes=1))
    assert_close_in_norm(ifft2c(k), x, _fft_rtol(shape, passes=2))
    # The definition from the fastMRI docs, with numpy in double precision: only our rounding.
    xn = x.cpu().numpy().astype(np.complex128)
    ref = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(xn, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    assert_close_in_norm(k, ref, _fft_rtol(shape, passes=1))
    # DC of a constant image sits at (H // 2, W // 2).
    ones = torch.ones(shape[-2:], dtype=torch.complex64, device=device)
    peak = torch.argmax(fft2c(ones).abs()).item()
    assert divmod(peak, shape[-1]) == (shape[-2] // 2, shape[-1] // 2)


def test_fft_matches_fastmri() -> None:
    import fastmri

    gen = torch.Generator().manual_seed(1)
    x = torch.randn((2, 3, 20, 14), dtype=torch.complex64, generator=gen)
    ours = fft2c(x)
    theirs = torch.view_as_complex(fastmri.fft2c(torch.view_as_real(x)).contiguous())
    assert_close_in_norm(ours, theirs, _fft_rtol(x.shape, passes=2))  # each side rounds once
    back = torch.view_as_complex(fastmri.ifft2c(torch.view_as_real(ours)).contiguous())
    assert_close_in_norm(ifft2c(ours), back, _fft_rtol(x.shape, passes=2))


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("shape", SHAPES)
def test_sense_adjoint_and_gram(shape: tuple[int, ...], device: str) -> None:
    gen = torch.Generator().manual_seed(2)
    s, c, h, w = shape
    maps = _randn((s, c, h, w), gen, device)
    for mask in _masks(h, w, gen):
        op = SenseOperator(maps, None if mask is None else mask.to(device))
        x = _randn((s, h, w), gen, device)
        y = _randn((s, c, h, w), gen, device)
        # Rounding bounds, in norm: each side rounds one FFT and a sum over coils, and
        # ||A|| <= max over pixels of sqrt(sum_c |S_c|^2) bounds the intermediate results.
        rtol = _fft_rtol(shape, passes=2, terms=c)
        op_norm2 = float((maps.abs() ** 2).sum(dim=-3).max())
        ax, ahy = op(x), op.H(y)
        lhs, rhs = _inner(ax, y), _inner(x, ahy)
        assert abs(lhs - rhs) <= rtol * (_norm(ax) * _norm(y) + _norm(x) * _norm(ahy))
        gram = op.gram(x)
        assert_close_in_norm(gram, op.adjoint(op.forward(x)), 2 * rtol, scale=op_norm2 * _norm(x))
        # A^H A is Hermitian positive semidefinite: <x, A^H A x> = ||A x||^2 >= 0.
        quad = _inner(x, gram)
        assert abs(quad - _norm(ax) ** 2) <= 2 * rtol * op_norm2 * _norm(x) ** 2


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("shape", [(2, 3, 10, 12), (1, 4, 12, 12), (2, 3, 15, 12), (1, 2, 10, 9)])
def test_sense_adjoint_matches_its_definition(shape: tuple[int, ...], device: str) -> None:
    """``A^H y = sum_c conj(S_c) ifft2c(M y_c)``, against numpy in double precision. Even sizes take
    the shift-free form (sign patterns, with overall sign -1 for 10 x 12 and +1 for 12 x 12), odd
    ones the shifts. Unsampled entries never reach the image, even NaN, and y is not modified."""
    gen = torch.Generator().manual_seed(7)
    s, c, h, w = shape
    maps = _randn((s, c, h, w), gen, device)
    line = torch.rand(w, generator=gen) < 0.4
    for mask in (None, line, torch.rand(h, w, generator=gen) < 0.3):
        y = _randn((s, c, h, w), gen, device)
        yn, mn = y.cpu().numpy().astype(np.complex128), maps.cpu().numpy().astype(np.complex128)
        if mask is not None:
            yn = np.where(np.broadcast_to(mask.numpy(), yn.shape), yn, 0)
            y[..., ~mask.to(device).expand(h, w)] = complex("nan")
        before = y.clone()
        coil_images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(yn, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
        expected = np.sum(np.conj(mn) * coil_images, axis=-3)
        op = SenseOperator(maps, None if mask is None else mask.to(device))
        for _ in range(2):  # the second call uses the cached sign patterns and maps
            assert_close_in_norm(op.adjoint(y), expected, _fft_rtol(shape, passes=1, terms=c),
                                 scale=_norm(torch.sum(maps.abs() * torch.nan_to_num(y).abs(), dim=-3)))
        assert torch.equal(torch.view_as_real(y).isnan(), torch.view_as_real(before).isnan())
        assert torch.equal(torch.nan_to_num(y), torch.nan_to_num(before))


def test_sense_adjoint_differentiates_through_maps() -> None:
    """Maps that require gradients: the shift-free adjoint keeps the graph (nothing cached), and
    its gradient is the shifted form's."""
    gen = torch.Generator().manual_seed(8)
    maps = torch.randn((2, 3, 10, 12), dtype=torch.complex64, generator=gen).requires_grad_()
    y = torch.randn((2, 3, 10, 12), dtype=torch.complex64, generator=gen)
    mask = torch.rand(12, generator=gen) < 0.5
    weights = torch.randn((2, 10, 12), dtype=torch.complex64, generator=gen)
    grads = []
    for image in (SenseOperator(maps, mask).adjoint(y),
                  torch.sum(maps.conj() * ifft2c(apply_mask(y, mask)), dim=-3)):
        (grad,) = torch.autograd.grad(torch.sum((image * weights).real), maps)
        grads.append(grad.resolve_conj())
    assert_close_in_norm(grads[0], grads[1], _fft_rtol(y.shape, passes=2, terms=3))


def test_sense_broadcasts_one_map_set_over_slices() -> None:
    gen = torch.Generator().manual_seed(3)
    maps = torch.randn((4, 8, 8), dtype=torch.complex64, generator=gen)
    x = torch.randn((5, 8, 8), dtype=torch.complex64, generator=gen)
    batched = SenseOperator(maps)(x)
    assert batched.shape == (5, 4, 8, 8)
    assert_close_in_norm(batched[2], SenseOperator(maps)(x[2]), _fft_rtol(x.shape, passes=2))


def test_masked_values_are_positive_zero() -> None:
    gen = torch.Generator().manual_seed(4)
    k = -torch.rand((2, 3, 8, 10), generator=gen).to(torch.complex64) * (1 + 1j)
    mask = torch.zeros(10, dtype=torch.bool)
    mask[::3] = True
    out = torch.view_as_real(apply_mask(k, mask))
    unsampled = out[..., ~mask, :]
    assert (unsampled == 0).all() and not torch.signbit(unsampled).any()
    # Multiplying by the mask would have produced -0.0 here: the test data can detect it.
    assert torch.signbit(torch.view_as_real(k * mask)[..., ~mask, :]).any()
    op = SenseOperator(torch.ones((3, 8, 10), dtype=torch.complex64), mask[None])
    y = torch.view_as_real(op(-torch.rand((8, 10), generator=gen).to(torch.complex64)))
    assert not torch.signbit(y[..., ~mask, :]).any()


def test_coil_combination() -> None:
    import fastmri

    gen = torch.Generator().manual_seed(5)
    coils = torch.randn((2, 6, 9, 7), dtype=torch.complex64, generator=gen)
    # Sums of positive terms (|x_c|^2, |S_c|^2 x) do not cancel: elementwise relative bounds hold.
    rtol = rounding_rtol(torch.float32, terms=6)
    expected = fastmri.rss_complex(torch.view_as_real(coils), dim=1)
    torch.testing.assert_close(rss(coils), expected, rtol=rtol, atol=0)
    maps = torch.randn((6, 9, 7), dtype=torch.complex64, generator=gen)
    image = torch.randn((2, 9, 7), dtype=torch.complex64, generator=gen)
    torch.testing.assert_close(sensitivity_combine(maps * image[:, None], maps), image, rtol=rtol, atol=0)
    # S^H x does cancel across coils: relative to sum_c |S_c| |x_c|, and through two FFTs.
    plain = sensitivity_combine(coils, maps, normalize=False)
    scale = _norm(torch.sum(maps.abs() * coils.abs(), dim=-3))
    assert_close_in_norm(plain, SenseOperator(maps).H(fft2c(coils)), _fft_rtol(coils.shape, passes=2, terms=6), scale=scale)
    zero_maps = torch.zeros_like(maps)
    assert (sensitivity_combine(coils, zero_maps) == 0).all()


def test_sense_bad_input() -> None:
    maps = torch.ones((2, 8, 8), dtype=torch.complex64)
    with pytest.raises(InputError, match="must be complex"):
        SenseOperator(maps.real)
    nan_maps = maps.clone()
    nan_maps[0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        SenseOperator(nan_maps)
    with pytest.raises(InputError, match="mask of shape"):
        SenseOperator(maps, torch.ones(7, dtype=torch.bool))
    with pytest.raises(InputError, match="does not match coil maps"):
        SenseOperator(maps)(torch.ones((8, 9), dtype=torch.complex64))
