"""The SENSE normal operator ``A^H A`` as the iterative solvers apply it, without FFT shifts.

:class:`~lfmri_core.physics.SenseOperator` is the reference definition (centered FFTs). The
solvers apply ``A^H A`` hundreds of times, so they work on the ``ifftshift``-ed image instead:
with ``x' = ifftshift(x)``, ``S' = ifftshift(S)`` and ``M' = ifftshift(M)``,

    ifftshift(A^H A x) = sum_c conj(S'_c) F^H M' F (S'_c x')

with plain (uncentred) orthonormal FFTs: the shifts cancel, for odd sizes too. When the mask
is a set of phase-encode lines (the same along the readout), ``F_readout`` commutes with it
and cancels as well, so the normal operator needs only 1-D FFTs along the phase encode,
half the work of 2-D FFTs. Buffers are reused between calls.
"""

from __future__ import annotations

import torch

_DIMS = (-2, -1)


class ShiftedSense:
    """``A^H A`` and ``A^H`` of SENSE on ``ifftshift``-ed images.

    Parameters
    ----------
    sensitivities
        Coil maps, complex64 ``(slices or 1, coils, H, W)``.
    mask
        Boolean sampling mask, shape ``(H, W)`` (a line mask broadcast to it is detected).

    Attributes
    ----------
    line_mask
        True when the mask is the same on every readout row (1-D FFTs suffice).
    """

    def __init__(self, sensitivities: torch.Tensor, mask: torch.Tensor) -> None:
        height, width = sensitivities.shape[-2:]
        mask = mask.to(device=sensitivities.device, dtype=torch.bool).expand(height, width)
        self.maps = torch.fft.ifftshift(sensitivities, dim=_DIMS).contiguous()
        self.maps_conj = self.maps.conj().resolve_conj()
        self.line_mask = bool((mask == mask[:1]).all())
        weights = torch.fft.ifftshift(mask, dim=_DIMS).to(torch.float32)
        self.weights = weights[0] if self.line_mask else weights
        self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    @staticmethod
    def to_internal(image: torch.Tensor) -> torch.Tensor:
        """``ifftshift`` over the last two axes: the solvers' image from a centred one."""
        return torch.fft.ifftshift(image, dim=_DIMS)

    @staticmethod
    def from_internal(image: torch.Tensor) -> torch.Tensor:
        """``fftshift`` over the last two axes: back to the centred image."""
        return torch.fft.fftshift(image, dim=_DIMS)

    def _coil_buffers(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (*image.shape[:-2], self.maps.shape[-3], *image.shape[-2:])
        if self._buffers is None or self._buffers[0].shape != shape:
            self._buffers = (
                torch.empty(shape, dtype=self.maps.dtype, device=self.maps.device),
                torch.empty(shape, dtype=self.maps.dtype, device=self.maps.device),
            )
        return self._buffers

    def adjoint(self, kspace: torch.Tensor) -> torch.Tensor:
        """``ifftshift(A^H y)``: centred k-space ``(slices, coils, H, W)`` -> image ``(slices, H, W)``."""
        shifted = torch.fft.ifftshift(kspace, dim=_DIMS) * self.weights
        coil_images = torch.fft.ifft2(shifted, norm="ortho")
        return torch.sum(coil_images.mul_(self.maps_conj), dim=-3)

    def normal(self, image: torch.Tensor) -> torch.Tensor:
        """``ifftshift(A^H A x)`` from ``x' = ifftshift(x)``, shape ``(slices, H, W)``."""
        coils, spectrum = self._coil_buffers(image)
        torch.mul(self.maps, image.unsqueeze(-3), out=coils)
        if self.line_mask:
            torch.fft.fft(coils, dim=-1, norm="ortho", out=spectrum)
            spectrum.mul_(self.weights)
            torch.fft.ifft(spectrum, dim=-1, norm="ortho", out=coils)
        else:
            torch.fft.fft2(coils, norm="ortho", out=spectrum)
            spectrum.mul_(self.weights)
            torch.fft.ifft2(spectrum, norm="ortho", out=coils)
        return torch.sum(coils.mul_(self.maps_conj), dim=-3)

    __call__ = normal
