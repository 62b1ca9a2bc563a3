"""Centered, orthonormal 2-D Fourier transforms as fastMRI defines them.

``fft2c(x) = fftshift(fft2(ifftshift(x), norm="ortho"))`` over the last two axes, so the
k-space center (DC) sits at index ``(H // 2, W // 2)`` and the transform is unitary:
``||fft2c(x)|| == ||x||``. Works on complex tensors of any leading shape and any device.
"""

from __future__ import annotations

import torch

_DIMS = (-2, -1)


def fft2c(image: torch.Tensor) -> torch.Tensor:
    """Centered orthonormal 2-D FFT over the last two axes.

    Parameters
    ----------
    image
        Complex tensor, shape ``(..., H, W)``.

    Returns
    -------
    torch.Tensor
        k-space, same shape and dtype, DC at ``(H // 2, W // 2)``.
    """
    shifted = torch.fft.ifftshift(image, dim=_DIMS)
    return torch.fft.fftshift(torch.fft.fft2(shifted, dim=_DIMS, norm="ortho"), dim=_DIMS)


def ifft2c(kspace: torch.Tensor) -> torch.Tensor:
    """Centered orthonormal 2-D inverse FFT over the last two axes (adjoint of :func:`fft2c`).

    Parameters
    ----------
    kspace
        Complex tensor, shape ``(..., H, W)``, DC at ``(H // 2, W // 2)``.
    """
    shifted = torch.fft.ifftshift(kspace, dim=_DIMS)
    return torch.fft.fftshift(torch.fft.ifft2(shifted, dim=_DIMS, norm="ortho"), dim=_DIMS)

