"""The multi-coil SENSE operator ``A = M F S``, its adjoint and its normal operator.

- ``S``: multiply the image ``(..., H, W)`` by each coil sensitivity -> ``(..., C, H, W)``;
- ``F``: centered orthonormal 2-D FFT per coil (:func:`~lfmri_core.physics.fft.fft2c`);
- ``M``: keep sampled k-space locations, set the others to exactly ``+0.0``.

``A^H y = sum_c conj(S_c) F^H (M y_c)``. Everything is batched over any leading dimensions
(slices), runs on the device of its tensors and keeps complex64.

The normal operator without shifts
----------------------------------
``F_c = P F P^-1`` with ``P = fftshift`` and ``F`` the plain orthonormal FFT, so
``F_c^H M F_c = P^-1 F^H M' F P`` with ``M' = ifftshift(M)``. ``F^H M' F`` is a circular
convolution, which commutes with the circular shift ``P``: ``F_c^H M F_c = F^H M' F``, and

    A^H A x = sum_c conj(S_c) F^H M' F (S_c x)

needs no shifted copies. The same holds in the ``ifftshift``-ed image layout (``shifted=True``)
that the iterative solvers use, with ``S' = ifftshift(S)`` in place of ``S`` and
``x' = ifftshift(x)``: ``ifftshift(A^H A x) = sum_c conj(S'_c) F^H M' F (S'_c x')``, for odd
sizes too. A line mask (the same on every readout row) commutes with the readout FFT, which
cancels: 1-D FFTs along the phase encode suffice, half the work. Without a mask
``A^H A x = sum_c |S_c|^2 x``.

The adjoint without shifts
--------------------------
For an even length ``N`` a shift by ``N / 2`` is a modulation by ``(-1)^n`` on the other side
of the FFT, so per axis ``ifft_c(y)[n] = (-1)^(N/2) (-1)^n ifft(y (-1)^k)[n]``. In 2-D, with
``H`` and ``W`` even,

    A^H y = sum_c [s (-1)^(x+y) conj(S_c)] F^H [(-1)^(kx+ky) M y_c],    s = (-1)^(H/2 + W/2)

so the sign patterns go into the mask and into cached conjugate maps, and the adjoint of the
centred layout needs none of the four copies that ``fftshift`` and ``ifftshift`` make
(``torch.roll`` copies the whole coil array once per axis). Odd sizes take the shifts.
"""

from __future__ import annotations

import torch

from lfmri_core.errors import InputError
from lfmri_core.physics.fft import fft2c, ifft2c
from lfmri_core.physics.operator import LinearOperator

_DIMS = (-2, -1)


def apply_mask(kspace: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the unsampled entries of ``kspace`` with exactly ``+0.0``.

    ``mask`` is boolean and broadcastable to ``kspace`` (``(W,)``, ``(1, W)`` or ``(H, W)``
    for line or 2-D masks). ``torch.where`` writes a fresh ``+0.0`` instead of multiplying,
    which would leave ``-0.0`` where the data were negative.
    """
    if mask is None:
        return kspace
    return torch.where(mask.to(device=kspace.device, dtype=torch.bool), kspace, torch.zeros((), dtype=kspace.dtype, device=kspace.device))


class SenseOperator(LinearOperator):
    """``A = M F S`` for multi-coil Cartesian MRI.

    Parameters
    ----------
    sensitivities
        Complex coil maps, shape ``(..., C, H, W)``; leading dimensions broadcast against the
        image's (one map set per slice, or one for all).
    mask
        Boolean sampling mask broadcastable to ``(..., C, H, W)`` (e.g. ``(1, W)`` for a line
        mask over phase-encode columns), or None for full sampling.
    shifted
        False: images are centred (the usual layout). True: images are in the ``ifftshift``-ed
        layout (:meth:`to_internal`), where the normal operator and the adjoint need no shifts
        of the image; k-space stays centred. The iterative solvers work in this layout.

    Attributes
    ----------
    line_mask
        True when the mask is the same on every readout row (the normal operator then uses
        1-D FFTs along the phase encode).

    Examples
    --------
    >>> A = SenseOperator(maps, mask)
    >>> y = A(x)            # (..., C, H, W) masked multi-coil k-space
    >>> x0 = A.H(y)         # adjoint: coil-combined image (..., H, W)
    >>> g = A.gram(x)       # A^H A x
    """

    def __init__(self, sensitivities: torch.Tensor, mask: torch.Tensor | None = None, *, shifted: bool = False) -> None:
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
        self.shifted = shifted
        self._maps = torch.fft.ifftshift(sensitivities, dim=_DIMS).contiguous() if shifted else sensitivities
        self._conj: torch.Tensor | None = None
        self._modulated_conj: torch.Tensor | None = None  # s (-1)^(x+y) conj(S): the adjoint without shifts
        self._kspace_signs: torch.Tensor | None = None  # (-1)^(kx+ky)
        self._buffer: torch.Tensor | None = None
        self.line_mask = False
        self._weights: torch.Tensor | None = None  # ifftshift(M) of the normal operator's FFTs
        self._adjoint_weights: torch.Tensor | None = None  # ifftshift(M) over both image axes
        if mask is not None:
            rows = mask if mask.ndim > 1 else mask[None]  # (..., 1 or H, W)
            self.line_mask = rows.shape[-2] == 1 or bool((rows == rows[..., :1, :]).all())
            # 0/1 of the maps' dtype: a real factor would be promoted to complex on every call
            weights = rows.to(sensitivities.dtype)
            if self.line_mask:
                self._weights = torch.fft.ifftshift(weights[..., :1, :], dim=-1)
            else:
                self._weights = torch.fft.ifftshift(weights, dim=_DIMS)
            if shifted:
                self._adjoint_weights = torch.fft.ifftshift(weights, dim=_DIMS)

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.sensitivities.shape[-2:])  # type: ignore[return-value]

    def to_internal(self, image: torch.Tensor) -> torch.Tensor:
        """A centred image in this operator's layout (``ifftshift`` when ``shifted``)."""
        return torch.fft.ifftshift(image, dim=_DIMS) if self.shifted else image

    def from_internal(self, image: torch.Tensor) -> torch.Tensor:
        """An image of this operator's layout, centred (``fftshift`` when ``shifted``)."""
        return torch.fft.fftshift(image, dim=_DIMS) if self.shifted else image

    def _check_image(self, image: torch.Tensor) -> None:
        if tuple(image.shape[-2:]) != self.image_shape:
            raise InputError(
                f"image of shape {tuple(image.shape)} does not match coil maps of shape "
                f"{tuple(self.sensitivities.shape)}"
            )

    def _check_kspace(self, kspace: torch.Tensor) -> None:
        if tuple(kspace.shape[-3:]) != tuple(self.sensitivities.shape[-3:]):
            raise InputError(
                f"k-space of shape {tuple(kspace.shape)} does not match coil maps of shape "
                f"{tuple(self.sensitivities.shape)}"
            )

    def _maps_conj(self) -> torch.Tensor:
        if self._conj is None:
            self._conj = self._maps.conj().resolve_conj()
        return self._conj

    def _adjoint_modulation(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(-1)^(kx+ky)`` and ``s (-1)^(x+y) conj(S)`` of the shift-free adjoint (even sizes, centred layout)."""
        if self._modulated_conj is None or self._kspace_signs is None or self.sensitivities.requires_grad:
            height, width = self.image_shape
            device = self.sensitivities.device
            rows = torch.arange(height, device=device)[:, None]
            cols = torch.arange(width, device=device)[None, :]
            odd = (rows + cols) % 2 == 1
            one = torch.ones((), dtype=self.sensitivities.dtype, device=device)
            signs = torch.where(odd, -one, one)
            overall = -1.0 if (height // 2 + width // 2) % 2 else 1.0
            modulated = self.sensitivities.conj() * (signs * overall)
            if self.sensitivities.requires_grad:  # learned maps: keep the graph, cache nothing
                return signs, modulated
            self._kspace_signs, self._modulated_conj = signs, modulated
        return self._kspace_signs, self._modulated_conj

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``A x``: image ``(..., H, W)`` -> masked coil k-space ``(..., C, H, W)``."""
        self._check_image(image)
        coil_images = self._maps * image.unsqueeze(-3)
        if self.shifted:
            spectrum = torch.fft.fftshift(torch.fft.fft2(coil_images, norm="ortho"), dim=_DIMS)
        else:
            spectrum = fft2c(coil_images)
        return apply_mask(spectrum, self.mask)

    def adjoint(self, kspace: torch.Tensor) -> torch.Tensor:
        """``A^H y``: coil k-space ``(..., C, H, W)`` -> image ``(..., H, W)`` (in this operator's layout)."""
        self._check_kspace(kspace)
        if not self.shifted:
            height, width = self.image_shape
            if height % 2 or width % 2:
                coil_images = ifft2c(apply_mask(kspace, self.mask))
                return torch.sum(self.sensitivities.conj() * coil_images, dim=-3)
            # shifts as sign patterns (module docstring): two passes instead of four copies
            signs, maps = self._adjoint_modulation()
            masked = apply_mask(kspace, self.mask)
            if masked is kspace or (torch.is_grad_enabled() and masked.requires_grad):
                masked = masked * signs
            else:
                masked.mul_(signs)
            coil_images = torch.fft.ifft2(masked, norm="ortho")
            return torch.sum(coil_images * maps, dim=-3)
        shifted = torch.fft.ifftshift(kspace, dim=_DIMS)
        if self._adjoint_weights is not None:
            shifted = shifted * self._adjoint_weights
        coil_images = torch.fft.ifft2(shifted, norm="ortho")
        return torch.sum(coil_images * self._maps_conj(), dim=-3)

    def normal(self, image: torch.Tensor) -> torch.Tensor:
        """``A^H A x`` without FFT shifts (see the module docstring); equals ``A^H(A x)`` to rounding.

        Reuses one coil-sized buffer between calls unless autograd records the call.
        """
        self._check_image(image)
        if self._weights is None:
            return torch.sum(self._maps_conj() * (self._maps * image.unsqueeze(-3)), dim=-3)
        if torch.is_grad_enabled() and (image.requires_grad or self._maps.requires_grad):
            coils = self._maps * image.unsqueeze(-3)
            if self.line_mask:
                filtered = torch.fft.ifft(torch.fft.fft(coils, dim=-1, norm="ortho") * self._weights, dim=-1, norm="ortho")
            else:
                filtered = torch.fft.ifft2(torch.fft.fft2(coils, norm="ortho") * self._weights, norm="ortho")
            return torch.sum(filtered * self._maps_conj(), dim=-3)
        coils = self._coil_buffer(image)
        torch.mul(self._maps, image.unsqueeze(-3), out=coils)
        # the FFTs write new tensors: with out= they compute into a temporary and copy it over,
        # which cost up to half of this call at 320 x 320 x 8 (2026-12-06, torch 2.13 CPU)
        if self.line_mask:
            spectrum = torch.fft.fft(coils, dim=-1, norm="ortho").mul_(self._weights)
            filtered = torch.fft.ifft(spectrum, dim=-1, norm="ortho")
        else:
            spectrum = torch.fft.fft2(coils, norm="ortho").mul_(self._weights)
            filtered = torch.fft.ifft2(spectrum, norm="ortho")
        return torch.sum(filtered.mul_(self._maps_conj()), dim=-3)

    def _coil_buffer(self, image: torch.Tensor) -> torch.Tensor:
        shape = torch.broadcast_shapes(self._maps.shape, image.unsqueeze(-3).shape)
        dtype = torch.promote_types(self._maps.dtype, image.dtype)
        buffer = self._buffer
        if (
            buffer is None
            or buffer.shape != shape
            or buffer.dtype != dtype
            # an inference-mode tensor cannot be written outside inference mode
            or (buffer.is_inference() and not torch.is_inference_mode_enabled())
        ):
            buffer = torch.empty(shape, dtype=dtype, device=self._maps.device)
            self._buffer = buffer
        return buffer
