"""Smooth fields on a coarse grid: evaluation of trigonometric polynomials, bilinear
upsampling to the pixel grid and an estimate of the upsampling error.

The coarse grid has ``n`` points spread evenly over the pixel centres ``0 .. N - 1`` of an
axis (first and last pixel included), so ``torch.nn.functional.interpolate(...,
mode="bilinear", align_corners=True)`` maps it back onto the pixels exactly. Positions are
*centred* coordinates ``x - N // 2``, the image origin of the centred FFT.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def grid_coordinates(num_points: int, size: int, device: torch.device) -> torch.Tensor:
    """Centred coordinates (float64) of ``num_points`` grid points over ``size`` pixels."""
    if num_points >= size:
        points = torch.arange(size, dtype=torch.float64, device=device)
    else:
        points = torch.linspace(0, size - 1, num_points, dtype=torch.float64, device=device)
    return points - size // 2


def fourier_matrix(coordinates: torch.Tensor, frequencies: torch.Tensor, size: int) -> torch.Tensor:
    """``exp(2 pi i x f / size)`` for centred positions ``x`` (rows) and frequencies ``f``.

    Returns complex64 ``(len(coordinates), len(frequencies))``: the synthesis matrix of a
    trigonometric polynomial whose coefficient ``f`` is the k-space offset ``f`` from DC.
    """
    angle = (2 * math.pi / size) * coordinates[:, None].to(torch.float64) * frequencies[None, :].to(torch.float64)
    return torch.polar(torch.ones_like(angle), angle).to(torch.complex64)


def upsample(field: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of the last two axes from the coarse grid to ``size`` pixels.

    ``field`` is real or complex ``(batch, channels, n, m)``; the result has the same dtype
    and ``(batch, channels, *size)``.
    """
    if tuple(field.shape[-2:]) == tuple(size):
        return field
    if field.is_complex():
        real = F.interpolate(field.real.contiguous(), size=size, mode="bilinear", align_corners=True)
        imag = F.interpolate(field.imag.contiguous(), size=size, mode="bilinear", align_corners=True)
        return torch.complex(real, imag)
    return F.interpolate(field, size=size, mode="bilinear", align_corners=True)


def upsampling_error(field: torch.Tensor, size: tuple[int, int], vector_dim: int | None = None) -> torch.Tensor:
    """Estimated bilinear upsampling error per pixel, ``(..., H, W)``.

    Linear interpolation over a cell of width ``h`` errs by at most ``h^2 max|f''| / 8``;
    the second difference of the grid values estimates ``h^2 f''``. Each cell takes the
    largest estimate of its four corners, and each pixel that of its cell. Axes sampled at
    every pixel contribute nothing. With ``vector_dim`` the error is the Euclidean norm over
    that axis (a coil vector), which is then dropped.

    Parameters
    ----------
    field
        Real or complex ``(..., n, m)`` grid values (``n, m >= 3`` where upsampled).
    size
        Pixel grid ``(H, W)``.
    """
    grid = tuple(field.shape[-2:])
    error: torch.Tensor | float = 0.0
    for axis, (points, pixels) in enumerate(zip(grid, size)):
        if points >= pixels:
            continue
        dim = field.ndim - 2 + axis
        second = (field.narrow(dim, 0, points - 2) - 2 * field.narrow(dim, 1, points - 2) + field.narrow(dim, 2, points - 2)).abs()
        if vector_dim is not None:
            second = second.square().sum(dim=vector_dim).sqrt()
        edge = second.ndim - 2 + axis
        # the end points take their neighbour's estimate
        second = torch.cat([second.narrow(edge, 0, 1), second, second.narrow(edge, points - 3, 1)], dim=edge)
        error = error + second.float() / 8
    if not isinstance(error, torch.Tensor):
        shape = list(field.shape)
        if vector_dim is not None:
            del shape[vector_dim]
        error = torch.zeros(shape, dtype=torch.float32, device=field.device)
    # cell = largest of its corners; pixel -> its cell
    if min(grid) > 1:
        error = torch.maximum(
            torch.maximum(error[..., :-1, :-1], error[..., 1:, :-1]), torch.maximum(error[..., :-1, 1:], error[..., 1:, 1:])
        )
    rows = _cell_index(grid[0], size[0], field.device)
    cols = _cell_index(grid[1], size[1], field.device)
    return error.index_select(-2, rows).index_select(-1, cols)


def _cell_index(points: int, pixels: int, device: torch.device) -> torch.Tensor:
    """Index of the grid cell each pixel falls in (``align_corners=True`` geometry)."""
    if points >= pixels:
        return torch.arange(pixels, device=device).clamp(max=max(points - 2, 0))
    index = torch.div(torch.arange(pixels, device=device) * (points - 1), max(pixels - 1, 1), rounding_mode="floor")
    return index.clamp(max=points - 2)
