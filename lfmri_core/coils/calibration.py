"""The fully sampled calibration block at the k-space centre, and input checks shared by the
coil-sensitivity estimators.

Conventions: k-space is complex ``(slices, coils, H, W)``; ``H`` (rows) is the fully sampled
readout, ``W`` (columns) the phase encode, DC at ``(H // 2, W // 2)`` (centered FFT). An
unsampled k-space location holds exactly ``0`` in every coil (what
:meth:`~lfmri_core.masks.SamplingMask.apply` writes), so the sampling pattern can be read off
the data when no mask is given.

The calibration block is found the way BART's ``ecalib`` finds it (``calib_geom`` in BART's
``misc/mri.c``): starting from one sample at the centre, the block grows by one row, then one
column, alternately, as long as it stays fully sampled and within the size limit; then, since
the readout is fully sampled, it slides along the readout to the position of largest energy
(BART does this because echoes are not always centred). We only slide through positions
where the block stays fully sampled, which for line masks is every position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lfmri_core.errors import InputError
from lfmri_core.masks import SamplingMask

__all__ = [
    "CalibrationRegion",
    "as_kspace_batch",
    "check_size_pair",
    "coil_principal_components",
    "extract_calibration",
    "find_calibration_region",
    "principal_coil_vector",
    "rotate_phase",
    "sampling_pattern",
]

MaskLike = SamplingMask | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class CalibrationRegion:
    """Where the calibration block lies in each slice.

    Attributes
    ----------
    size
        ``(rows, columns)`` of the block: readout x phase encode samples.
    starts
        First ``(row, column)`` of the block, one pair per slice (the readout position can
        differ between slices when it is searched for the largest energy).
    """

    size: tuple[int, int]
    starts: tuple[tuple[int, int], ...]

    def slices(self, index: int) -> tuple[slice, slice]:
        """Row and column slices of the block in slice ``index``."""
        row, col = self.starts[index]
        return slice(row, row + self.size[0]), slice(col, col + self.size[1])


def check_size_pair(value: Any, name: str, *, minimum: int = 1) -> tuple[int, int]:
    """``value`` (an int or a pair of ints) as ``(rows, columns)``, each ``>= minimum``."""
    pair = (value, value) if _is_int(value) else value
    try:
        rows, cols = pair
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an integer or a pair of integers (rows, columns), got {value!r}") from None
    if not (_is_int(rows) and _is_int(cols)) or rows < minimum or cols < minimum:
        raise InputError(f"{name} must be integers >= {minimum}, got {value!r}")
    return int(rows), int(cols)


def as_kspace_batch(kspace: Any) -> tuple[torch.Tensor, bool]:
    """Checked complex64 k-space ``(slices, coils, H, W)`` on the input's device.

    Parameters
    ----------
    kspace
        numpy array or torch tensor, complex, shape ``(coils, H, W)`` or
        ``(slices, coils, H, W)``.

    Returns
    -------
    tuple
        The k-space as a 4-D complex64 tensor, and whether the input had a slice axis.
    """
    if isinstance(kspace, np.ndarray):
        if not np.iscomplexobj(kspace):
            raise InputError(f"k-space must be complex, got dtype {kspace.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(kspace, dtype=np.complex64))
    elif isinstance(kspace, torch.Tensor):
        if not kspace.is_complex():
            raise InputError(f"k-space must be complex, got dtype {kspace.dtype}")
        tensor = kspace.to(torch.complex64)
    else:
        raise InputError(f"k-space must be a numpy array or a torch tensor, got {type(kspace).__name__}")
    if tensor.ndim not in (3, 4):
        raise InputError(f"k-space must have shape (coils, H, W) or (slices, coils, H, W), got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise InputError(f"k-space of shape {tuple(tensor.shape)} is empty")
    # a sum is finite unless something is NaN or Inf (or sums past float32's range: then look)
    if not bool(torch.isfinite(torch.view_as_real(tensor).sum())) and not bool(torch.isfinite(torch.view_as_real(tensor)).all()):
        raise InputError("k-space contains NaN or Inf")
    has_slices = tensor.ndim == 4
    return (tensor if has_slices else tensor.unsqueeze(0)), has_slices


def sampling_pattern(kspace: torch.Tensor, mask: MaskLike | None = None) -> np.ndarray:
    """Boolean ``(H, W)`` pattern of the locations sampled in every slice.

    From ``mask`` when given (a :class:`~lfmri_core.masks.SamplingMask`, or a boolean
    ``(W,)`` line mask or ``(H, W)`` array/tensor), otherwise the locations where some coil
    holds a non-zero sample, in all slices (BART's ``estimate_pattern``).

    Parameters
    ----------
    kspace
        Complex ``(slices, coils, H, W)``.
    """
    height, width = kspace.shape[-2:]
    if mask is None:
        return (kspace != 0).any(dim=1).all(dim=0).cpu().numpy()
    if isinstance(mask, SamplingMask):
        pattern = np.asarray(mask.pattern)
    elif isinstance(mask, torch.Tensor):
        pattern = mask.detach().cpu().numpy()
    elif isinstance(mask, np.ndarray):
        pattern = mask
    else:
        raise InputError(f"mask must be a SamplingMask, a numpy array or a torch tensor, got {type(mask).__name__}")
    if pattern.dtype != np.bool_:
        if not np.isin(pattern, (0, 1)).all():
            raise InputError(f"mask must be boolean or hold only 0 and 1, got dtype {pattern.dtype} with other values")
        pattern = pattern.astype(bool)
    if pattern.ndim == 1:
        pattern = pattern[None, :]
    if pattern.ndim != 2 or pattern.shape[-1] != width or pattern.shape[0] not in (1, height):
        raise InputError(f"mask of shape {tuple(pattern.shape)} does not fit k-space of {height} x {width} (expected (W,) or (H, W))")
    return np.broadcast_to(pattern, (height, width))


def find_calibration_region(
    kspace: torch.Tensor,
    max_size: int | Sequence[int],
    *,
    mask: MaskLike | None = None,
    pattern: np.ndarray | None = None,
    auto: bool = True,
    search_readout: bool = True,
) -> CalibrationRegion:
    """The fully sampled calibration block, as BART's ``ecalib`` finds it.

    Parameters
    ----------
    kspace
        Complex ``(slices, coils, H, W)``.
    max_size
        Largest ``(rows, columns)`` of the block, or one int for both (BART's ``-r``);
        clipped to ``(H, W)``.
    mask
        Sampling mask to read the pattern from (see :func:`sampling_pattern`).
    pattern
        Boolean ``(H, W)`` sampling pattern, instead of ``mask``; with neither, the pattern
        is read from the non-zero samples (in the central columns only, all that is needed).
    auto
        True grows the largest fully sampled centred block up to ``max_size``; False takes
        a centred block of exactly ``max_size`` (no readout search: BART's fixed block) and
        requires it to be fully sampled.
    search_readout
        Slide the block along the readout to the position of largest energy (BART does);
        False keeps it centred.

    Raises
    ------
    InputError
        When the k-space centre is not sampled, or a fixed block is not fully sampled.
    """
    num_slices, _, height, width = kspace.shape
    max_rows, max_cols = check_size_pair(max_size, "calib_size")
    limit = (min(max_rows, height), min(max_cols, width))
    # BART first cuts the phase-encode window to the limit, then centres the block in it;
    # with odd sizes the two integer halvings differ from one, so we do the same.
    window = (height, limit[1])
    offset = (0, (width - limit[1]) // 2)
    if pattern is None:
        if mask is not None:
            pattern = sampling_pattern(kspace, mask)
        else:
            # only the central columns matter: read those
            pattern = np.zeros((height, width), dtype=bool)
            columns = slice(offset[1], offset[1] + limit[1])
            pattern[:, columns] = (kspace[..., columns] != 0).any(dim=1).all(dim=0).cpu().numpy()

    def start(size: list[int] | tuple[int, int], axis: int) -> int:
        return offset[axis] + (window[axis] - size[axis]) // 2

    def fully_sampled(size: list[int] | tuple[int, int]) -> bool:
        r0, c0 = start(size, 0), start(size, 1)
        return bool(pattern[r0 : r0 + size[0], c0 : c0 + size[1]].all())

    if auto:
        size = [1, 1]
        if not fully_sampled(size):
            if not bool((kspace != 0).any()):
                raise InputError("k-space is all zero: nothing to calibrate from")
            raise InputError("the k-space centre is not sampled: there is no calibration region")
        stop = [False, False]
        while not all(stop):
            for axis in (0, 1):
                if size[axis] >= limit[axis]:
                    stop[axis] = True
                if stop[axis]:
                    continue
                size[axis] += 1
                if not fully_sampled(size):
                    size[axis] -= 1
                    stop[axis] = True
        block = (size[0], size[1])
    else:
        block = limit
        if not fully_sampled(block):
            raise InputError(f"the centred {block[0]} x {block[1]} calibration region is not fully sampled")
    row0, col0 = start(block, 0), start(block, 1)
    if not auto or not search_readout or block[0] == height:
        return CalibrationRegion(block, ((row0, col0),) * num_slices)
    cols = slice(col0, col0 + block[1])
    # readout positions where the whole block stays sampled
    row_ok = torch.from_numpy(np.ascontiguousarray(pattern[:, cols].all(axis=1)).astype(np.float32))
    valid = torch.nn.functional.avg_pool1d(row_ok[None, None], block[0], stride=1)[0, 0] > 1 - 1e-6
    energy = kspace[:, :, :, cols].abs().square().sum(dim=(1, 3)).to(torch.float64)  # (slices, H)
    window_energy = torch.nn.functional.avg_pool1d(energy[:, None], block[0], stride=1)[:, 0]
    window_energy = torch.where(valid.to(window_energy.device), window_energy, -1.0)
    best = torch.argmax(window_energy, dim=1).tolist()  # first maximum, as BART
    return CalibrationRegion(block, tuple((int(r), col0) for r in best))


def extract_calibration(kspace: torch.Tensor, region: CalibrationRegion) -> torch.Tensor:
    """The calibration blocks, complex ``(slices, coils, rows, columns)``."""
    if len(set(region.starts)) == 1:
        rows, cols = region.slices(0)
        return kspace[:, :, rows, cols]
    blocks = []
    for index in range(kspace.shape[0]):
        rows, cols = region.slices(index)
        blocks.append(kspace[index, :, rows, cols])
    return torch.stack(blocks)


def principal_coil_vector(calibration: torch.Tensor, enabled: bool = True) -> torch.Tensor:
    """Reference coil vector per slice for the phase of the maps, complex ``(slices, coils)``.

    The first principal component of the calibration data over coils (BART's ``scc``),
    scaled so that its last entry is real and positive (as LAPACK returns it to BART). With
    ``enabled=False`` the first coil (BART's ``ecalib -P``).

    Parameters
    ----------
    calibration
        Complex ``(slices, coils, rows, columns)``.
    """
    num_slices, num_coils = calibration.shape[:2]
    if not enabled:
        ref = torch.zeros(num_slices, num_coils, dtype=torch.complex64, device=calibration.device)
        ref[:, 0] = 1
        return ref
    _, vectors = coil_principal_components(calibration)
    return vectors[..., 0].to(torch.complex64)


def coil_principal_components(calibration: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal components over coils of each slice's calibration data (BART's ``scc``).

    Eigen-decomposition of the coil covariance ``C = sum_k y_k y_k^H``: eigenvalues float64
    ``(slices, coils)``, largest first, and eigenvectors complex128 ``(slices, coils, coils)``
    (column ``v`` for eigenvalue ``v``), each scaled so that its last entry is real and >= 0
    (as LAPACK returns them to BART).

    Parameters
    ----------
    calibration
        Complex ``(slices, coils, rows, columns)``.
    """
    num_slices, num_coils = calibration.shape[:2]
    data = calibration.reshape(num_slices, num_coils, -1).to(torch.complex128)
    values, vectors = torch.linalg.eigh(data @ data.mH)  # ascending
    values, vectors = values.flip(-1), vectors.flip(-1)
    last = vectors[..., -1:, :]
    phase = torch.where(last.abs() > 0, last.conj() / last.abs().clamp_min(1e-300), torch.ones_like(last))
    return values, vectors * phase


def rotate_phase(vectors: torch.Tensor, reference: torch.Tensor, dim: int) -> torch.Tensor:
    """Rotate each coil vector so that its inner product with ``reference`` is real >= 0.

    BART's ``fixphase2``: ``v * conj(phase(sum_c v_c conj(r_c)))``, leaving vectors with a
    zero inner product unchanged.

    Parameters
    ----------
    vectors
        Complex tensor with coils along ``dim``.
    reference
        Complex reference vectors, broadcastable to ``vectors`` (coils along ``dim``).
    """
    inner = torch.sum(vectors * reference.conj(), dim=dim, keepdim=True)
    size = inner.abs()
    phase = torch.where(size > 0, inner / size.clamp_min(1e-30), torch.ones_like(inner))
    return vectors * phase.conj()


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
