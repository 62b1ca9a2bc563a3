"""ESPIRiT coil sensitivities (Uecker et al., MRM 71:990-1001, 2014), compatible with BART's
``ecalib``.

1. Calibration matrix: every ``kernel_size`` patch of the calibration block (all coils) is a
   row; its leading right singular vectors (squared singular values above ``threshold``
   times the largest, BART's rule) span the signal subspace: the ESPIRiT kernels.
2. In image space the ESPIRiT operator is, at each pixel ``x``, the Hermitian ``C x C``
   matrix ``G(x) = (1 / kernel area) sum_k V_k(x) V_k(x)^H``, ``V_k`` the inverse DFT of
   kernel ``k``. ``G`` is a trigonometric polynomial with frequencies up to
   ``kernel_size - 1`` (its coefficients are the kernels' autocorrelations), so it can be
   evaluated exactly anywhere: BART evaluates it on a ``2 * kernel_size`` grid and
   sinc-interpolates to every pixel.
3. Maps: per pixel, the eigenvectors of ``G(x)`` with the largest eigenvalues (1 where the
   coil model holds), zeroed where the eigenvalue is ``<= crop``, their phase rotated so that
   the inner product with the first principal component of the calibration data is real and
   positive (BART's default; ``rotate_phase=False`` makes coil 0 real instead, BART's ``-P``).

Speed: BART runs 30 orthogonal iterations per pixel. We solve ``G`` exactly (``eigh``) on a
coarse grid (``grid`` points per axis) only, since the maps are smooth on the scale of the
kernel's reciprocal, and upsample bilinearly; where the estimated upsampling error of the
vectors exceeds ``refine_tol`` (near object edges, and along the lines where the maps are
nearly orthogonal to the phase reference, across which BART's phase convention turns fast),
or the eigenvalue is too close to ``crop`` to decide, the pixel is solved exactly at full
resolution. ``grid=None`` solves every pixel exactly. On a CPU the eigendecompositions are
spread over torch's thread count by hand (see :mod:`._threads`).

Accuracy: against every pixel solved exactly, the maps differ by about 1e-4 (median of
``|s - s_exact|``, unit vectors) and the crop masks agree; the eigenvalue maps are exact where
the crop is decided and upsampled elsewhere (errors up to about 1e-2 far below ``crop``).
Against BART, the maps agree to about 2e-4 except where its iterations have not converged
(second eigenvalue close to the first: noise-free data), where ours are the exact ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lfmri_core.coils._grid import fourier_matrix, grid_coordinates, upsample, upsampling_error
from lfmri_core.coils._threads import cpu_workers, run_parallel
from lfmri_core.coils.base import SENSITIVITY_METHODS, SensitivityEstimate, register_sensitivity_method
from lfmri_core.coils.calibration import (
    CalibrationRegion,
    MaskLike,
    check_size_pair,
    extract_calibration,
    find_calibration_region,
    principal_coil_vector,
    rotate_phase,
)
from lfmri_core.errors import InputError

__all__ = ["EspiritConfig", "espirit_sensitivities", "espirit_kernels", "gram_coefficients"]

# bytes of complex64 Gram matrices built at once
_CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class EspiritConfig:
    """ESPIRiT parameters; the defaults are BART ``ecalib``'s, except ``num_maps``.

    Attributes
    ----------
    calib_size
        Largest calibration block ``(rows, columns)``; an int means a square (BART ``-r``,
        default 24).
    kernel_size
        Kernel ``(rows, columns)`` (BART ``-k``, default 6).
    threshold
        Kernels kept: squared singular values of the calibration matrix above ``threshold``
        times the largest (BART ``-t``, default 0.001).
    crop
        Maps are zeroed where their eigenvalue is ``<= crop`` (BART ``-c``, default 0.8); 0
        keeps everything.
    num_maps
        Eigenvectors per pixel (BART ``-m``; BART's default is 2, ours 1, what SENSE takes).
    rotate_phase
        Phase relative to the first principal component of the calibration data (BART's
        default); False: relative to coil 0 (BART ``-P``).
    auto_calib
        Use the largest fully sampled centred block up to ``calib_size`` (BART); False:
        exactly ``calib_size``, which must be fully sampled.
    search_readout
        Slide the block along the readout to the position of largest energy (BART does).
    grid
        Points per axis of the coarse grid where eigenvectors are solved exactly before
        bilinear upsampling (>= 8); None solves every pixel exactly (slow on a CPU).
    refine_tol
        Estimated upsampling error of a unit coil vector above which a pixel is solved
        exactly at full resolution.
    """

    calib_size: tuple[int, int] = (24, 24)
    kernel_size: tuple[int, int] = (6, 6)
    threshold: float = 0.001
    crop: float = 0.8
    num_maps: int = 1
    rotate_phase: bool = True
    auto_calib: bool = True
    search_readout: bool = True
    grid: int | None = 96
    refine_tol: float = 1e-2

    def __post_init__(self) -> None:
        calib = check_size_pair(self.calib_size, "calib_size")
        kernel = check_size_pair(self.kernel_size, "kernel_size")
        if kernel[0] > calib[0] or kernel[1] > calib[1]:
            raise InputError(f"kernel_size {kernel} is larger than calib_size {calib}")
        object.__setattr__(self, "calib_size", calib)
        object.__setattr__(self, "kernel_size", kernel)
        if not _is_number(self.threshold) or not 0 < self.threshold < 1:
            raise InputError(f"threshold must be in the open interval (0, 1), got {self.threshold!r}")
        if not _is_number(self.crop) or not 0 <= self.crop < 1:
            raise InputError(f"crop must be in [0, 1), got {self.crop!r}")
        if not _is_int(self.num_maps) or self.num_maps < 1:
            raise InputError(f"num_maps must be an integer >= 1, got {self.num_maps!r}")
        for name in ("rotate_phase", "auto_calib", "search_readout"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.grid is not None and (not _is_int(self.grid) or self.grid < 8):
            raise InputError(f"grid must be an integer >= 8 or None, got {self.grid!r}")
        if not _is_number(self.refine_tol) or not self.refine_tol > 0:
            raise InputError(f"refine_tol must be a number > 0, got {self.refine_tol!r}")
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "crop", float(self.crop))
        object.__setattr__(self, "refine_tol", float(self.refine_tol))
        object.__setattr__(self, "num_maps", int(self.num_maps))
        if self.grid is not None:
            object.__setattr__(self, "grid", int(self.grid))


def espirit_kernels(calibration: torch.Tensor, kernel_size: tuple[int, int], threshold: float) -> torch.Tensor:
    """Signal-subspace kernels of one calibration block.

    Parameters
    ----------
    calibration
        Complex ``(coils, rows, columns)`` fully sampled k-space block.
    kernel_size
        ``(rows, columns)`` of a kernel, at most the block's.
    threshold
        Keep the right singular vectors whose squared singular value exceeds ``threshold``
        times the largest.

    Returns
    -------
    torch.Tensor
        complex64 ``(kernels, coils, kernel rows, kernel columns)``, orthonormal.
    """
    coils = calibration.shape[0]
    kh, kw = kernel_size
    peak = calibration.abs().max()
    if not peak > 0:
        raise InputError("the calibration region holds no signal (all zeros)")
    # double precision: with noise-free data the null space is exactly rank deficient, and a
    # single-precision eigensolver then meets denormal numbers (seconds instead of ms)
    patches = (calibration / peak).to(torch.complex128).unfold(1, kh, 1).unfold(2, kw, 1)  # (C, nr, nc, kh, kw)
    rows = patches.permute(1, 2, 0, 3, 4).reshape(-1, coils * kh * kw)  # a_r^T
    if rows.shape[0] >= rows.shape[1]:
        # sum_r a_r a_r^H
        values, vectors = torch.linalg.eigh(rows.T @ rows.conj())
    else:
        # the smaller Gram matrix of the patches: B = rows^T, eigvecs of B B^H = B q / sqrt(l)
        values, small = torch.linalg.eigh(rows.conj() @ rows.T)
        vectors = (rows.T @ small) / values.clamp_min(torch.finfo(values.dtype).tiny).sqrt()
    values = values.flip(0)
    vectors = vectors.flip(1)
    keep = int((values / values[0] > threshold).sum())
    kernels = vectors[:, :keep].T.reshape(keep, coils, kh, kw)
    return kernels.to(torch.complex64).contiguous()


def gram_coefficients(kernels: torch.Tensor) -> torch.Tensor:
    """Fourier coefficients of the pixel-wise ESPIRiT matrix ``G(x)``.

    ``G_cd(x) = sum_{a, b} w[c, d, a, b] exp(2 pi i (a x / H + b y / W))`` for centred pixel
    coordinates ``(x, y)``, with ``a`` in ``-(kh - 1) .. kh - 1`` (index ``a + kh - 1``) and
    ``b`` likewise: the autocorrelation of the kernels over the kernel area. An eigenvalue of
    ``G`` is at most 1.

    Parameters
    ----------
    kernels
        Complex ``(kernels, coils, kh, kw)`` from :func:`espirit_kernels`.

    Returns
    -------
    torch.Tensor
        complex64 ``(coils, coils, 2 kh - 1, 2 kw - 1)``.
    """
    _, _, kh, kw = kernels.shape
    size = (2 * kh - 1, 2 * kw - 1)
    # V_k(x) on a grid just fine enough for the products' frequencies (no wrap-around)
    images = torch.fft.ifft2(kernels, s=size, norm="forward")
    samples = torch.einsum("kcxy,kdxy->cdxy", images, images.conj()) / (kh * kw)
    coefficients = torch.fft.fft2(samples, norm="forward")
    return torch.fft.fftshift(coefficients, dim=(-2, -1)).contiguous()


@register_sensitivity_method("espirit", EspiritConfig)
def _espirit_batch(
    kspace: torch.Tensor, config: EspiritConfig, mask: MaskLike | None
) -> tuple[torch.Tensor, torch.Tensor, CalibrationRegion]:
    num_slices, num_coils, height, width = kspace.shape
    if config.num_maps > num_coils:
        raise InputError(f"num_maps={config.num_maps} exceeds the {num_coils} coils")
    region = find_calibration_region(
        kspace, config.calib_size, mask=mask, auto=config.auto_calib, search_readout=config.search_readout
    )
    kh, kw = config.kernel_size
    if region.size[0] < kh or region.size[1] < kw:
        raise InputError(
            f"the fully sampled calibration region is {region.size[0]} x {region.size[1]}, smaller than the "
            f"{kh} x {kw} kernel"
        )
    calibration = extract_calibration(kspace, region)
    with cpu_workers(kspace.device) as workers:
        reference = principal_coil_vector(calibration, config.rotate_phase)

        def coefficients_of(index: int) -> torch.Tensor:
            try:
                kernels = espirit_kernels(calibration[index], config.kernel_size, config.threshold)
            except InputError as err:
                raise InputError(f"slice {index}: {err}") from None
            return gram_coefficients(kernels)

        coefficients = torch.stack(run_parallel(coefficients_of, range(num_slices), workers))
        maps, values = _maps_from_coefficients(
            coefficients, (height, width), reference, config.num_maps, config.crop, config.grid, config.refine_tol, workers
        )
    return maps, values, region


def _maps_from_coefficients(
    coefficients: torch.Tensor,
    shape: tuple[int, int],
    reference: torch.Tensor,
    num_maps: int,
    crop: float,
    grid: int | None,
    refine_tol: float,
    workers: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maps and eigenvalues on the pixel grid from the Fourier coefficients of ``G``.

    Parameters
    ----------
    coefficients
        complex64 ``(slices, coils, coils, La, Lb)`` from :func:`gram_coefficients`.
    shape
        Image ``(H, W)``.
    reference
        complex ``(slices, coils)`` phase reference (:func:`principal_coil_vector`).
    workers
        Threads for the eigendecompositions (see :mod:`._threads`).

    Returns
    -------
    tuple
        Maps complex64 ``(slices, maps, coils, H, W)``, eigenvalues float32
        ``(slices, maps, H, W)``.
    """
    num_slices, num_coils = coefficients.shape[:2]
    height, width = shape
    device = coefficients.device
    freq_rows = torch.arange(coefficients.shape[-2], device=device) - coefficients.shape[-2] // 2
    freq_cols = torch.arange(coefficients.shape[-1], device=device) - coefficients.shape[-1] // 2
    points = (height, width) if grid is None else (min(grid, height), min(grid, width))
    synth_rows = fourier_matrix(grid_coordinates(points[0], height, device), freq_rows, height)
    synth_cols = fourier_matrix(grid_coordinates(points[1], width, device), freq_cols, width)
    values, vectors = _eigen_on_grid(coefficients, synth_rows, synth_cols, num_maps, workers)
    if points != (height, width):
        # upsample in BART's phase convention, the smooth one away from where the reference
        # is nearly orthogonal to the maps; the error estimate catches those places
        vectors = rotate_phase(vectors, reference[:, None, :, None, None], dim=2)
        vec_err = upsampling_error(vectors, (height, width), vector_dim=2)  # (S, M, H, W)
        val_err = upsampling_error(values, (height, width))
        vectors = upsample(vectors.reshape(num_slices, num_maps * num_coils, *points), (height, width))
        vectors = vectors.reshape(num_slices, num_maps, num_coils, height, width)
        values = upsample(values, (height, width))
        margin = 2 * val_err + 1e-3
        undecided = (values - crop).abs() <= margin
        inexact = (vec_err > refine_tol) & (values + margin > crop)
        refine = (undecided | inexact).any(dim=1)  # (S, H, W)
        where = torch.nonzero(refine)
        if where.shape[0]:
            _refine_pixels(coefficients, where, freq_rows, freq_cols, (height, width), num_maps, values, vectors, workers)
    # one pass: unit norm, phase relative to the reference (BART's fixphase2) and crop
    inner = torch.einsum("smcxy,sc->smxy", vectors, reference.conj())
    size = inner.abs()
    norm = vectors.abs().square().sum(dim=2).sqrt()
    keep = values > crop
    factor = torch.where(size > 0, inner.conj() / size.clamp_min(1e-30), torch.ones_like(inner))
    factor = factor * torch.where(keep, 1 / norm.clamp_min(1e-12), torch.zeros_like(norm))
    maps = vectors * factor[:, :, None]
    return maps, values


def _split(count: int, parts: int, most: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges covering ``count`` items: at least ``parts`` of them (when
    there are enough items), none longer than ``most``."""
    size = max(1, min(most, -(-count // max(parts, 1))))
    return [(start, min(count, start + size)) for start in range(0, count, size)]


def _eigen_on_grid(
    coefficients: torch.Tensor, synth_rows: torch.Tensor, synth_cols: torch.Tensor, num_maps: int, workers: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Leading eigenpairs of ``G`` on the grid ``rows x cols`` (the synthesis matrices).

    Returns eigenvalues ``(S, M, n, m)`` (descending) and vectors ``(S, M, C, n, m)``.
    """
    num_slices, num_coils = coefficients.shape[:2]
    n, m = synth_rows.shape[0], synth_cols.shape[0]
    values = torch.empty(num_slices, n, m, num_maps, dtype=torch.float32, device=coefficients.device)
    vectors = torch.empty(num_slices, n, m, num_coils, num_maps, dtype=torch.complex64, device=coefficients.device)
    # G summed over the column frequencies first: (slices, a, y * c * d)
    partial = torch.einsum("scdab,yb->saycd", coefficients, synth_cols).reshape(num_slices, synth_rows.shape[1], -1)
    most = max(1, _CHUNK_BYTES // (8 * m * num_coils * num_coils))
    tasks = [(s, start, stop) for s in range(num_slices) for start, stop in _split(n, workers, most)]

    def solve(task: tuple[int, int, int]) -> None:
        s, start, stop = task
        gram = (synth_rows[start:stop] @ partial[s]).reshape(-1, num_coils, num_coils)
        w, v = torch.linalg.eigh(gram)
        values[s, start:stop] = w[..., -num_maps:].flip(-1).reshape(stop - start, m, num_maps)
        vectors[s, start:stop] = v[..., -num_maps:].flip(-1).reshape(stop - start, m, num_coils, num_maps)

    run_parallel(solve, tasks, workers)
    return values.permute(0, 3, 1, 2), vectors.permute(0, 4, 3, 1, 2)


def _refine_pixels(
    coefficients: torch.Tensor,
    where: torch.Tensor,
    freq_rows: torch.Tensor,
    freq_cols: torch.Tensor,
    shape: tuple[int, int],
    num_maps: int,
    values: torch.Tensor,
    vectors: torch.Tensor,
    workers: int,
) -> None:
    """Solve ``G`` exactly at the pixels ``where`` (``(P, 3)``: slice, row, column, in the
    row-major order of ``torch.nonzero``), writing ``values`` and ``vectors`` in place."""
    height, width = shape
    num_coils = coefficients.shape[1]
    lb = coefficients.shape[-1]
    # G on one image row is sum_b R[c, d, b] exp(2 pi i b y / W): R per (slice, row) to refine
    row_keys, counts = torch.unique_consecutive(where[:, 0] * height + where[:, 1], return_counts=True)
    slices_of_rows = torch.div(row_keys, height, rounding_mode="floor")
    synth = fourier_matrix((row_keys % height - height // 2).to(torch.float64), freq_rows, height)  # (R, la)
    row_sums = torch.empty(row_keys.shape[0], num_coils * num_coils, lb, dtype=torch.complex64, device=coefficients.device)
    for s in torch.unique(slices_of_rows).tolist():
        pick = torch.nonzero(slices_of_rows == s)[:, 0]
        row_sums[pick] = torch.einsum("ra,cdab->rcdb", synth[pick], coefficients[s]).reshape(-1, num_coils * num_coils, lb)
    col_synth = fourier_matrix((where[:, 2] - width // 2).to(torch.float64), freq_cols, width).T.contiguous()  # (lb, P)
    counts_list = counts.tolist()
    ends = torch.cumsum(counts, 0).tolist()
    starts = [0, *ends[:-1]]
    # whole rows per task, tasks of about equal pixel counts
    size = max(1, min(_CHUNK_BYTES // (8 * num_coils * num_coils), -(-where.shape[0] // max(workers, 1))))
    tasks: list[tuple[int, int]] = []
    row_start = pending = 0
    for row, count in enumerate(counts_list):
        pending += count
        if pending >= size or row == len(counts_list) - 1:
            tasks.append((row_start, row + 1))
            row_start, pending = row + 1, 0

    def solve(task: tuple[int, int]) -> None:
        row_start, row_stop = task
        pieces = [row_sums[r] @ col_synth[:, starts[r] : ends[r]] for r in range(row_start, row_stop)]  # (C*C, n)
        gram = torch.cat(pieces, dim=1).T.reshape(-1, num_coils, num_coils)
        w, v = torch.linalg.eigh(gram)
        s, x, y = where[starts[row_start] : ends[row_stop - 1]].unbind(1)
        values[s, :, x, y] = w[..., -num_maps:].flip(-1)
        vectors[s, :, :, x, y] = v[..., -num_maps:].flip(-1).permute(0, 2, 1)

    run_parallel(solve, tasks, workers)


def espirit_sensitivities(
    kspace: np.ndarray | torch.Tensor, config: EspiritConfig | None = None, *, mask: MaskLike | None = None
) -> SensitivityEstimate:
    """ESPIRiT coil sensitivities; see :func:`~lfmri_core.coils.estimate_sensitivities`.

    Parameters
    ----------
    kspace
        Complex ``(coils, H, W)`` or ``(slices, coils, H, W)`` (numpy or torch).
    config
        :class:`EspiritConfig`; None for the defaults.
    mask
        Sampling pattern to find the calibration block from; None reads it from the data.

    Returns
    -------
    SensitivityEstimate
        Maps ``(slices, coils, H, W)`` (or ``(slices, maps, coils, H, W)``) and the
        eigenvalue maps ``(slices, H, W)`` (or ``(slices, maps, H, W)``).
    """
    return SENSITIVITY_METHODS["espirit"].estimate(kspace, config, mask=mask)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
