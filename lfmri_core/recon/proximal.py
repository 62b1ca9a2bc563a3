"""Proximal operators and the finite-difference operator of total variation.

- :func:`soft_threshold`: prox of ``t ||x||_1`` for complex ``x`` (each entry shrinks its
  magnitude by ``t``, keeps its phase), BART's ``md_zsoftthresh``;
- :func:`joint_soft_threshold`: prox of ``t sum ||x||_2`` over groups along one dimension
  (isotropic TV thresholds the gradient vector of each pixel jointly);
- :class:`FiniteDifferences`: BART's ``linop_grad``: ``x[i] - x[i - 1]`` along each image axis
  with circular boundary, stacked on a new axis.
"""

from __future__ import annotations

import torch

from lfmri_core.physics.operator import LinearOperator


def soft_threshold(x: torch.Tensor, threshold: float, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """``x * max(|x| - t, 0) / |x|`` entrywise (0 where ``|x| <= t``).

    Parameters
    ----------
    x
        Real or complex tensor.
    threshold
        ``t >= 0``.
    out
        Optional output (may be ``x`` itself for an in-place update).
    """
    magnitude = x.abs()
    scale = (magnitude - threshold).clamp_min_(0).div_(magnitude.clamp_min_(torch.finfo(magnitude.dtype).tiny))
    return torch.mul(x, scale, out=out) if out is not None else x * scale


def joint_soft_threshold(x: torch.Tensor, threshold: float, dim: int) -> torch.Tensor:
    """Group soft threshold: ``x * max(||x||_dim - t, 0) / ||x||_dim``.

    ``||x||_dim`` is the Euclidean norm of the complex entries along ``dim`` (kept for
    broadcasting), so each group shrinks as a vector.
    """
    squares = torch.view_as_real(x).square().sum(-1) if x.is_complex() else x.square()
    # torch.linalg.vector_norm over one axis of a complex tensor is ~30x slower on the CPU
    norm = squares.sum(dim=dim, keepdim=True).sqrt_()
    scale = (norm - threshold).clamp_min_(0).div_(norm.clamp_min_(torch.finfo(norm.dtype).tiny))
    return x * scale


def _backward_difference(x: torch.Tensor, dim: int, out: torch.Tensor) -> torch.Tensor:
    """``out = x - roll(x, 1, dim)`` by slices (``torch.roll`` would copy ``x`` first)."""
    n = x.shape[dim]
    torch.sub(x.narrow(dim, 1, n - 1), x.narrow(dim, 0, n - 1), out=out.narrow(dim, 1, n - 1))
    torch.sub(x.narrow(dim, 0, 1), x.narrow(dim, n - 1, 1), out=out.narrow(dim, 0, 1))
    return out


def _forward_difference_add(x: torch.Tensor, dim: int, out: torch.Tensor) -> torch.Tensor:
    """``out += x - roll(x, -1, dim)``."""
    n = x.shape[dim]
    out.narrow(dim, 0, n - 1).add_(x.narrow(dim, 0, n - 1)).sub_(x.narrow(dim, 1, n - 1))
    out.narrow(dim, n - 1, 1).add_(x.narrow(dim, n - 1, 1)).sub_(x.narrow(dim, 0, 1))
    return out


class FiniteDifferences(LinearOperator):
    """Circular backward differences over the last two axes, stacked on axis ``-3``.

    ``G x = stack([x - roll(x, 1, -2), x - roll(x, 1, -1)], -3)``: image ``(..., H, W)`` ->
    gradient ``(..., 2, H, W)`` (readout difference first), as BART's ``linop_grad`` with flags
    3. The circular boundary makes ``G`` commute with circular shifts, so it can act on the
    ``ifftshift``-ed image unchanged.
    """

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = torch.empty((*image.shape[:-2], 2, *image.shape[-2:]), dtype=image.dtype, device=image.device)
        _backward_difference(image, -2, out[..., 0, :, :])
        _backward_difference(image, -1, out[..., 1, :, :])
        return out

    def adjoint(self, gradient: torch.Tensor) -> torch.Tensor:
        """``G^H g = sum_d (g_d - roll(g_d, -1, d))``: gradient ``(..., 2, H, W)`` -> image."""
        out = torch.zeros(gradient.shape[:-3] + gradient.shape[-2:], dtype=gradient.dtype, device=gradient.device)
        _forward_difference_add(gradient[..., 0, :, :], -2, out)
        _forward_difference_add(gradient[..., 1, :, :], -1, out)
        return out

    def normal(self, image: torch.Tensor) -> torch.Tensor:
        """``G^H G x``: the periodic 5-point Laplacian with a minus sign, ``4x - neighbours``."""
        return self.adjoint(self.forward(image))
