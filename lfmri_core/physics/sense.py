"""The multi-coil SENSE operator ``A = M F S`` and its adjoint.

- ``S``: multiply the image ``(..., H, W)`` by each coil sensitivity -> ``(..., C, H, W)``;
- ``F``: centered orthonormal 2-D FFT per coil (:func:`~lfmri_core.physics.fft.fft2c`);
- ``M``: keep sampled k-space locations, set the others to exactly ``+0.0``.

``A^H y = sum_c conj(S_c) F^H (M y_c)`` and the normal (Gram) operator ``A^H A``. Everything
is batched over any leading dimensions (slices), runs on the device of its tensors and keeps
complex64.
"""

from __future__ import annotations

import torch

from lfmri_core.errors import InputError
from lfmri_core.physics.fft import fft2c, ifft2c


def apply_mask(kspace: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the unsampled entries of ``kspace`` with exactly ``+0.0``.

    ``mask`` is boolean and broadcastable to ``kspace`` (``(W,)``, ``(1, W)`` or ``(H, W)``
    for line or 2-D masks). ``torch.where`` writes a fresh ``+0.0`` instead of multiplying,
    which would leave ``-0.0`` where the data were negative.
    """
    if mask is None:
        return kspace
    return torch.where(mask.to(device=kspace.device, dtype=torch.bool), kspace, torch.zeros((), dtype=kspace.dtype, device=kspace.device))


class SenseOperator:
    """``A = M F S`` for multi-coil Cartesian MRI.

    Parameters
    ----------
    sensitivities
        Complex coil maps, shape ``(..., C, H, W)``; leading dimensions broadcast against the
        image's (one map set per slice, or one for all).
    mask
        Boolean sampling mask broadcastable to ``(..., C, H, W)`` (e.g. ``(1, W)`` for a line
        mask over phase-encode columns), or None for full sampling.

    Examples
    --------
    >>> A = SenseOperator(maps, mask)
    >>> y = A(x)            # (..., C, H, W) masked multi-coil k-space
    >>> x0 = A.H(y)         # adjoint: coil-combined image (..., H, W)
    >>> g = A.gram(x)       # A^H A x
    """

    def __init__(self, sensitivities: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        if not sensitivities.is_complex():
            raise InputError(f"coil sensitivities must be complex, got {sensitivities.dtype}")
        if sensitivities.ndim < 3:
            raise InputError(f"coil sensitivities must have shape (..., coils, H, W), got {tuple(sensitivities.shape)}")
        if not torch.isfinite(torch.view_as_real(sensitivities)).all():
            raise InputError("coil sensitivities contain NaN or Inf")
        if mask is not None:
            mask = mask.to(device=sensitivities.device, dtype=torch.bool)
            try:
                torch.broadcast_shapes(mask.shape, sensitivities.shape[-3:])
            except RuntimeError:
                raise InputError(
                    f"mask of shape {tuple(mask.shape)} does not fit k-space of shape "
                    f"{tuple(sensitivities.shape[-3:])}"
                ) from None
        self.sensitivities = sensitivities
        self.mask = mask
        self._shifted_mask: torch.Tensor | None = None
        self._conj: torch.Tensor | None = None

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.sensitivities.shape[-2:])  # type: ignore[return-value]

    def _check_image(self, image: torch.Tensor) -> None:
        if tuple(image.shape[-2:]) != self.image_shape:
            raise InputError(
                f"image of shape {tuple(image.shape)} does not match coil maps of shape "
                f"{tuple(self.sensitivities.shape)}"
            )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``A x``: image ``(..., H, W)`` -> masked coil k-space ``(..., C, H, W)``."""
        self._check_image(image)
        return apply_mask(fft2c(self.sensitivities * image.unsqueeze(-3)), self.mask)

    __call__ = forward

    def adjoint(self, kspace: torch.Tensor) -> torch.Tensor:
        """``A^H y``: coil k-space ``(..., C, H, W)`` -> image ``(..., H, W)``."""
        if tuple(kspace.shape[-3:]) != tuple(self.sensitivities.shape[-3:]):
            raise InputError(
                f"k-space of shape {tuple(kspace.shape)} does not match coil maps of shape "
                f"{tuple(self.sensitivities.shape)}"
            )
        coil_images = ifft2c(apply_mask(kspace, self.mask))
        return torch.sum(self.sensitivities.conj() * coil_images, dim=-3)

    def H(self, kspace: torch.Tensor) -> torch.Tensor:  # noqa: N802 - the usual name for A^H
        """Alias of :meth:`adjoint`."""
        return self.adjoint(kspace)

    def gram(self, image: torch.Tensor) -> torch.Tensor:
        """Normal operator ``A^H A x``.

        ``F_c^H M F_c`` is a (circular) convolution, so it commutes with the shifts inside the
        centred FFT: ``F_c^H M F_c = F^H M' F`` with ``M' = ifftshift(M)`` and the plain FFT,
        which saves four shifted copies per call. A line mask (constant along the fully sampled
        readout ``H``: shape ``(W,)`` or ``(..., 1, W)``) needs only 1-D FFTs along the phase
        encode, since the readout FFT cancels; without a mask the Gram operator is
        ``sum_c |S_c|^2 x`` (no FFT at all). All equal ``A^H(A x)`` to rounding.
        """
        self._check_image(image)
        coil_images = self.sensitivities * image.unsqueeze(-3)
        if self.mask is None:
            filtered = coil_images
        elif self.mask.ndim == 1 or self.mask.shape[-2] == 1:
            weights = self._gram_weights(dims=(-1,))
            filtered = torch.fft.ifft(weights * torch.fft.fft(coil_images, dim=-1), dim=-1)
        else:
            weights = self._gram_weights(dims=(-2, -1))
            filtered = torch.fft.ifft2(weights * torch.fft.fft2(coil_images, dim=(-2, -1)), dim=(-2, -1))
        if self._conj is None:
            self._conj = self.sensitivities.conj().resolve_conj()
        return torch.sum(self._conj * filtered, dim=-3)

    def _gram_weights(self, dims: tuple[int, ...]) -> torch.Tensor:
        """The mask moved to the plain FFT's layout (``ifftshift``), as 0/1 of the maps' dtype
        (a real factor would be promoted to complex on every call)."""
        if self._shifted_mask is None:
            assert self.mask is not None
            mask = self.mask if self.mask.ndim > 1 else self.mask[None]
            self._shifted_mask = torch.fft.ifftshift(mask.to(self.sensitivities.dtype), dim=dims)
        return self._shifted_mask
