"""Software coil compression: fewer virtual coils from the principal components over coils.

Many-coil data (fastMRI knee: 15 coils, brain: up to 20) cost every coil-wise FFT in the
reconstruction. Most of the signal lives in a few combinations of the coils: the leading
eigenvectors ``U`` (``coils x virtual``) of the calibration data's coil covariance
``C = sum_k y_k y_k^H`` (Huang et al., MRI 2008; BART ``cc -S``, the same calibration region as
``ecalib``). The virtual coils are ``U^H y`` at every k-space sample. ``U`` has orthonormal columns,
so nothing is lost beyond the dropped components. The SENSE model carries over: compressing the
k-space compresses the coil maps alike (``U^H S``). Maps estimated from the compressed k-space
are the compressed coils' own maps.

>>> out = compress_coils(kspace, 8, mask=mask)      # doctest: +SKIP
>>> out.kspace.shape, float(out.energy[0])           # doctest: +SKIP
((16, 8, 640, 368), 0.998)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lfmri_core.coils.calibration import (
    MaskLike,
    as_kspace_batch,
    coil_principal_components,
    extract_calibration,
    find_calibration_region,
)
from lfmri_core.errors import InputError

DEFAULT_CALIBRATION = 24
"""Largest calibration block, ``(rows, columns)`` both (BART's ``-r`` default)."""


def virtual_coil_count(requested: int | None, num_coils: int) -> int | None:
    """The virtual coils a request asks for on ``num_coils``-coil data: None (keep every coil)
    when ``requested`` is None or at least ``num_coils``, else ``requested`` unchanged (a bad
    count is left for :func:`compress_coils` to refuse)."""
    return None if requested is None or requested >= num_coils else requested


@dataclass(frozen=True)
class CoilCompression:
    """What :func:`compress_coils` returns."""

    kspace: torch.Tensor
    """Virtual-coil k-space, complex ``(slices, virtual, H, W)`` (``(virtual, H, W)`` for 3-D input);
    unsampled entries stay exactly ``+0.0``."""
    matrix: torch.Tensor
    """Complex ``(slices, coils, virtual)``, orthonormal columns ``U``, strongest first: virtual coil
    ``v`` is ``sum_c conj(U[c, v]) y_c``. Each column's phase makes its last entry real and >= 0."""
    energy: torch.Tensor
    """Share of the calibration data's energy the virtual coils keep, float64 ``(slices,)``."""


def compress_coils(
    kspace: Any,
    num_virtual: int,
    *,
    mask: MaskLike | None = None,
    calib_size: int = DEFAULT_CALIBRATION,
) -> CoilCompression:
    """Compress each slice's coils to its ``num_virtual`` principal components.

    Parameters
    ----------
    kspace
        Complex ``(slices, coils, H, W)`` or ``(coils, H, W)``, numpy or torch; fully sampled or
        undersampled (its fully sampled centre is the calibration data).
    num_virtual
        Virtual coils, ``1 <= num_virtual <= coils``.
    mask
        The sampling mask, to locate the calibration block (default: read from the non-zero
        samples).
    calib_size
        Largest calibration block, as :func:`~lfmri_core.coils.find_calibration_region`.

    Raises
    ------
    InputError
        Bad k-space, a ``num_virtual`` out of range, or no sampled k-space centre (one line).
    """
    batch, has_slices = as_kspace_batch(kspace)
    num_coils = int(batch.shape[1])
    if isinstance(num_virtual, bool) or not isinstance(num_virtual, int) or not 1 <= num_virtual <= num_coils:
        raise InputError(f"coil compression needs 1 to {num_coils} virtual coils (the data have {num_coils}), got {num_virtual!r}")
    region = find_calibration_region(batch, calib_size, mask=mask)
    values, vectors = coil_principal_components(extract_calibration(batch, region))
    total = values.sum(-1)
    energy = torch.where(total > 0, values[..., :num_virtual].sum(-1) / total.clamp_min(1e-300), torch.ones_like(total))
    matrix = vectors[..., :num_virtual].to(batch.dtype)
    compressed = torch.einsum("scv,schw->svhw", matrix.conj(), batch)
    # unsampled samples stay exactly +0.0 (sums of signed zeros could give -0.0)
    sampled = (batch != 0).any(dim=1, keepdim=True)
    compressed = torch.where(sampled, compressed, torch.zeros((), dtype=compressed.dtype, device=compressed.device))
    if not has_slices:
        compressed = compressed[0]
    return CoilCompression(kspace=compressed, matrix=matrix, energy=energy)
