"""Coil combination: root-sum-of-squares and sensitivity-weighted (SENSE) combination."""

from __future__ import annotations

import torch

COIL_DIM = -3


def rss(coil_images: torch.Tensor, dim: int = COIL_DIM) -> torch.Tensor:
    """Root-sum-of-squares over coils, as fastMRI's ``reconstruction_rss``.

    Parameters
    ----------
    coil_images
        Complex (or real) tensor, shape ``(..., coils, H, W)``.

    Returns
    -------
    torch.Tensor
        Real tensor ``(..., H, W)``: ``sqrt(sum_c |x_c|^2)``.
    """
    return torch.sqrt(torch.sum(coil_images.abs() ** 2, dim=dim))


def sensitivity_combine(
    coil_images: torch.Tensor,
    sensitivities: torch.Tensor,
    *,
    normalize: bool = True,
    eps: float = 1e-12,
) -> torch.Tensor:
    """Sensitivity-weighted coil combination ``sum_c conj(S_c) x_c / sum_c |S_c|^2``.

    With ``normalize=False`` this is the plain adjoint ``S^H x`` (what the SENSE adjoint
    applies); with maps normalised to ``sum_c |S_c|^2 = 1`` the two agree. Where all maps vanish
    (outside the object) the normalised combination is 0.

    Parameters
    ----------
    coil_images
        Complex ``(..., coils, H, W)``.
    sensitivities
        Complex ``(..., coils, H, W)``, broadcastable to ``coil_images``.

    Returns
    -------
    torch.Tensor
        Complex ``(..., H, W)``.
    """
    combined = torch.sum(sensitivities.conj() * coil_images, dim=COIL_DIM)
    if not normalize:
        return combined
    energy = torch.sum(sensitivities.abs() ** 2, dim=COIL_DIM)
    return torch.where(energy > eps, combined / energy.clamp_min(eps), torch.zeros_like(combined))
