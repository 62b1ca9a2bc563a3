"""Classical SENSE reconstructions: ``cg-sense``, ``cs-wavelet``, ``cs-tv`` and ``zero-filled-sense``.

Each solves BART ``pics``'s problem for Cartesian multi-coil data, slice by slice (batched)::

    x = argmin 0.5 ||M F S x - y / s||^2 + R(x),   image = s * x

- ``cg-sense``: ``R = lam / 2 ||x||^2`` (``bart pics -l2 -r lam``), conjugate gradients on the
  normal equations ``(A^H A + lam I) x = A^H y / s``;
- ``cs-wavelet``: ``R = lam ||W x||_1`` with BART's Daubechies-2 wavelet and cycle spinning
  (``bart pics -l1 -r lam``), FISTA with step 0.95; like BART it returns the last
  gradient-stepped iterate (see :class:`~lfmri_core.recon.fista.FISTA`);
- ``cs-tv``: ``R = lam sum |grad x|`` (isotropic, circular) (``bart pics -R T:3:0:lam``),
  ADMM with rho 0.5, over-relaxation 1.6 and 10 inner CG iterations; ``iterations`` counts
  outer iterations, BART's ``-i`` is ``max_total_cg_iterations`` (inner CG iterations in all);
- ``zero-filled-sense``: ``sum_c conj(S_c) x_c / sum_c |S_c|^2`` of the zero-filled coil
  images (no iterations).

``s`` is BART's data scale (:func:`~lfmri_core.recon.scaling.bart_scaling`, per slice) unless
the parameters fix it (BART's ``-w``), so ``lam`` means what it means to BART, and the image
comes back in the units of the data (BART's ``-S``). Conventions: k-space complex64
``(slices, coils, H, W)``, ``H`` readout, ``W`` phase encode, centered orthonormal FFT; maps
``(slices or 1, coils, H, W)``; mask boolean ``(W,)``, ``(1, W)`` or ``(H, W)``.

The solvers get their normal operators composed from :mod:`lfmri_core.physics`: ``A.gram + lam *
Identity()`` (``cg-sense``), ``A.gram`` (``cs-wavelet``) and ``A.gram + rho * G.gram`` with ``G``
the finite differences (``cs-tv``'s x-update, built by :class:`~lfmri_core.recon.admm.ADMM`),
``A`` the :class:`~lfmri_core.physics.SenseOperator` in the solvers' ``ifftshift``-ed image
layout (``shifted=True``, see :mod:`lfmri_core.physics.sense`).

Every iterative method is also available as a stepping solver (:meth:`CgSense.solver` etc.,
``update()`` / ``done()`` / ``result``) for front ends that drive the iterations themselves.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from lfmri_core.errors import InputError
from lfmri_core.physics import Identity, LinearOperator, SenseOperator, ifft2c, sensitivity_combine
from lfmri_core.physics.cg import ConjugateGradient
from lfmri_core.physics.stepping import IterativeAlgorithm
from lfmri_core.recon.admm import ADMM, SplitTerm
from lfmri_core.recon.fista import FISTA
from lfmri_core.recon.iterative import run
from lfmri_core.recon.proximal import FiniteDifferences, joint_soft_threshold
from lfmri_core.recon.registry import CancelCallback, ProgressCallback, register_method
from lfmri_core.recon.scaling import bart_scaling
from lfmri_core.recon.wavelet_transform import WAVELET_FILTERS, WaveletSoftThreshold

# -- parameters ----------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_iterations(value: Any, name: str) -> None:
    if not _is_int(value) or value < 1:
        raise InputError(f"{name} must be an integer >= 1, got {value!r}")


def _check_number(value: Any, name: str, *, positive: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise InputError(f"{name} must be a finite number {'>' if positive else '>='} 0, got {value!r}")


def _check_scaling(value: Any) -> None:
    if value is not None:
        _check_number(value, "scaling", positive=True)


@dataclass(frozen=True)
class CgSenseParams:
    """``cg-sense``: Tikhonov-regularised SENSE by conjugate gradients.

    Attributes
    ----------
    lam
        l2 weight (BART ``-l2 -r lam``), >= 0, relative to the scaled data.
    iterations
        CG iterations (BART ``-i``), >= 1.
    scaling
        Data scale ``s`` (BART ``-w``); None estimates it per slice as BART does.
    """

    lam: float = 0.01
    iterations: int = 30
    scaling: float | None = None

    def __post_init__(self) -> None:
        _check_number(self.lam, "lam")
        _check_iterations(self.iterations, "iterations")
        _check_scaling(self.scaling)


@dataclass(frozen=True)
class CsWaveletParams:
    """``cs-wavelet``: l1-wavelet regularised SENSE by FISTA.

    Attributes
    ----------
    lam
        l1 weight (BART ``-l1 -r lam``), >= 0.
    iterations
        FISTA iterations (BART ``-i``), >= 1.
    wavelet
        ``"dau2"`` (BART's default) or ``"haar"`` (BART ``--wavelet``).
    cycle_spinning
        Random circular shifts before each thresholding, BART's sequence (``-n`` turns it off).
    seed
        Start of the shift sequence (BART: 1).
    step
        FISTA step size (BART ``-s``, default 0.95); assumes ``||A^H A|| <= 1``, true for
        maps normalised to ``sum_c |S_c|^2 <= 1`` (ESPIRiT).
    eigen_step
        Divide ``step`` by ``max sum_c |S_c|^2`` (BART ``-e``, which estimates the same bound by
        power iteration), for unnormalised maps.
    scaling
        Data scale ``s`` (BART ``-w``); None estimates it per slice as BART does.
    """

    lam: float = 0.005
    iterations: int = 100
    wavelet: str = "dau2"
    cycle_spinning: bool = True
    seed: int = 1
    step: float = 0.95
    eigen_step: bool = False
    scaling: float | None = None

    def __post_init__(self) -> None:
        _check_number(self.lam, "lam")
        _check_iterations(self.iterations, "iterations")
        if self.wavelet not in WAVELET_FILTERS:
            raise InputError(f"unknown wavelet {self.wavelet!r}; choose one of {', '.join(WAVELET_FILTERS)}")
        if not isinstance(self.cycle_spinning, bool) or not isinstance(self.eigen_step, bool):
            raise InputError("cycle_spinning and eigen_step must be True or False")
        if not _is_int(self.seed) or self.seed < 0:
            raise InputError(f"seed must be an integer >= 0, got {self.seed!r}")
        _check_number(self.step, "step", positive=True)
        _check_scaling(self.scaling)


@dataclass(frozen=True)
class CsTvParams:
    """``cs-tv``: isotropic total-variation regularised SENSE by ADMM.

    The defaults here and in :class:`CgSenseParams` / :class:`CsWaveletParams` gave the best
    PSNR of a coarse lambda grid on the synthetic knee (4x random lines, 320 x 320 x 8 and
    640 x 368 x 15).

    Attributes
    ----------
    lam
        TV weight (BART ``-R T:3:0:lam``), >= 0.
    iterations
        Outer ADMM iterations, >= 1.
    cg_iterations
        Inner CG iterations per x-update (BART ``-C``, default 10).
    rho
        ADMM penalty (BART ``-u``, default 0.5), > 0.
    relaxation
        Over-relaxation in (0, 2) (BART's fixed 1.6).
    cg_tolerance
        Inner CG stops at ``||r|| <= cg_tolerance ||rhs||`` (BART's 1e-3).
    max_total_cg_iterations
        Also stop once the inner CG iterations add up to more than this: what ``bart pics -i``
        means for ADMM. None: only ``iterations`` limits.
    scaling
        Data scale ``s`` (BART ``-w``); None estimates it per slice as BART does.
    """

    lam: float = 0.01
    iterations: int = 20
    cg_iterations: int = 10
    rho: float = 0.5
    relaxation: float = 1.6
    cg_tolerance: float = 1e-3
    max_total_cg_iterations: int | None = None
    scaling: float | None = None

    def __post_init__(self) -> None:
        _check_number(self.lam, "lam")
        _check_iterations(self.iterations, "iterations")
        _check_iterations(self.cg_iterations, "cg_iterations")
        _check_number(self.rho, "rho", positive=True)
        _check_number(self.relaxation, "relaxation", positive=True)
        if not self.relaxation < 2:
            raise InputError(f"relaxation must lie in (0, 2), got {self.relaxation!r}")
        _check_number(self.cg_tolerance, "cg_tolerance")
        if self.max_total_cg_iterations is not None:
            _check_iterations(self.max_total_cg_iterations, "max_total_cg_iterations")
        _check_scaling(self.scaling)


ParamsT = TypeVar("ParamsT", CgSenseParams, CsWaveletParams, CsTvParams)


def _build_params(cls: type[ParamsT], method: str, params: dict[str, Any]) -> ParamsT:
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise InputError(f"{method} has no parameter {', '.join(map(repr, unknown))}; its parameters: {', '.join(names)}")
    return cls(**params)


# -- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SenseInputs:
    """Checked inputs of a SENSE reconstruction, on one device.

    Attributes
    ----------
    kspace
        Masked k-space, complex64 ``(slices, coils, H, W)``.
    mask
        Boolean ``(H, W)``.
    sensitivities
        complex64 ``(slices or 1, coils, H, W)``.
    """

    kspace: torch.Tensor
    mask: torch.Tensor
    sensitivities: torch.Tensor


def check_sense_inputs(
    kspace: torch.Tensor, mask: torch.Tensor, sensitivities: torch.Tensor | None, method: str
) -> SenseInputs:
    """Validate and normalise the inputs of a SENSE method (one-line :class:`InputError`\\ s).

    The mask is applied to the k-space (unsampled entries ``+0.0``); maps and mask move to the
    k-space's device; complex128 becomes complex64.
    """
    kspace = torch.as_tensor(kspace)
    if not kspace.is_complex():
        raise InputError(f"{method}: k-space must be complex, got {kspace.dtype}")
    if kspace.ndim != 4:
        raise InputError(f"{method}: k-space must have shape (slices, coils, H, W), got {tuple(kspace.shape)}")
    kspace = kspace.to(torch.complex64)
    if not bool(torch.isfinite(torch.view_as_real(kspace)).all()):
        raise InputError(f"{method}: k-space contains NaN or Inf")
    slices, coils, height, width = kspace.shape
    if sensitivities is None:
        raise InputError(f"{method} needs coil sensitivities of shape (slices, coils, H, W) = (*, {coils}, {height}, {width})")
    maps = torch.as_tensor(sensitivities)
    if not maps.is_complex():
        raise InputError(f"{method}: coil sensitivities must be complex, got {maps.dtype}")
    if maps.ndim == 3:
        maps = maps.unsqueeze(0)
    if maps.ndim != 4 or tuple(maps.shape[1:]) != (coils, height, width) or maps.shape[0] not in (1, slices):
        raise InputError(
            f"{method}: coil sensitivities of shape {tuple(maps.shape)} do not match k-space of shape {tuple(kspace.shape)}"
        )
    maps = maps.to(device=kspace.device, dtype=torch.complex64)
    if not bool(torch.isfinite(torch.view_as_real(maps)).all()):
        raise InputError(f"{method}: coil sensitivities contain NaN or Inf")
    mask_tensor = torch.as_tensor(mask, device=kspace.device)
    while mask_tensor.ndim > 2 and mask_tensor.shape[0] == 1:
        mask_tensor = mask_tensor[0]
    if mask_tensor.dtype != torch.bool:
        if mask_tensor.is_complex() or not bool(((mask_tensor == 0) | (mask_tensor == 1)).all()):
            raise InputError(f"{method}: the mask must be boolean (or hold only 0 and 1), got {mask_tensor.dtype}")
        mask_tensor = mask_tensor != 0
    try:
        if mask_tensor.ndim > 2 or torch.broadcast_shapes(mask_tensor.shape, (height, width)) != (height, width):
            raise RuntimeError
    except RuntimeError:
        raise InputError(
            f"{method}: mask of shape {tuple(mask_tensor.shape)} does not fit k-space of shape {tuple(kspace.shape)}; "
            f"expected (W,), (1, W) or (H, W) with H={height}, W={width}"
        ) from None
    mask_tensor = mask_tensor.expand(height, width)
    zero = torch.zeros((), dtype=kspace.dtype, device=kspace.device)
    return SenseInputs(torch.where(mask_tensor, kspace, zero), mask_tensor, maps)


def _scales(inputs: SenseInputs, scaling: float | None) -> torch.Tensor:
    """Per-slice data scale, shape ``(slices, 1, 1)``."""
    if scaling is None:
        scale = bart_scaling(inputs.kspace)
    else:
        scale = torch.full((inputs.kspace.shape[0],), float(scaling), device=inputs.kspace.device)
    return scale.reshape(-1, 1, 1)


# -- the stepping wrapper ------------------------------------------------------------------


class SenseReconstruction(IterativeAlgorithm):
    """A solver on the scaled, shifted problem, whose :attr:`result` is the centred image.

    ``update()`` / ``done()`` step the inner solver; :attr:`result` undoes the FFT shift and
    the data scaling, giving a complex64 image ``(slices, H, W)``.
    """

    def __init__(self, solver: IterativeAlgorithm, sense: SenseOperator, scale: torch.Tensor) -> None:
        self.solver = solver
        self.sense = sense
        self.scale = scale
        self.max_iterations = solver.max_iterations
        self.iteration = solver.iteration

    def update(self) -> None:
        self.solver.update()
        self.iteration = self.solver.iteration

    def done(self) -> bool:
        return self.solver.done()

    @property
    def result(self) -> torch.Tensor:
        return self.sense.from_internal(self.solver.result) * self.scale


def _sense_problem(inputs: SenseInputs, scale: torch.Tensor) -> tuple[SenseOperator, torch.Tensor]:
    """The SENSE operator in the solvers' (``ifftshift``-ed) image layout and ``A^H y / s``."""
    sense = SenseOperator(inputs.sensitivities, inputs.mask, shifted=True)
    rhs = sense.adjoint(inputs.kspace) / scale
    return sense, rhs


class _SenseMethod:
    """Shared ``__call__`` of the iterative methods: build the solver, run it."""

    name = ""

    def solver(self, kspace: torch.Tensor, mask: torch.Tensor, *, sensitivities: torch.Tensor | None) -> SenseReconstruction:
        raise NotImplementedError

    def __call__(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        *,
        sensitivities: torch.Tensor | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> torch.Tensor:
        """Reconstruct: complex64 image ``(slices, H, W)`` in the units of ``kspace``.

        Raises :class:`~lfmri_core.recon.registry.Cancelled` when ``cancel()`` returns True
        (polled before every iteration); ``progress(done, total)`` after every iteration.
        """
        return run(self.solver(kspace, mask, sensitivities=sensitivities), progress=progress, cancel=cancel)


class CgSense(_SenseMethod):
    """``cg-sense`` (see :class:`CgSenseParams`)."""

    name = "cg-sense"

    def __init__(self, params: CgSenseParams | None = None) -> None:
        self.params = params or CgSenseParams()

    def solver(self, kspace: torch.Tensor, mask: torch.Tensor, *, sensitivities: torch.Tensor | None) -> SenseReconstruction:
        """The stepping solver; one ``update()`` is one CG iteration."""
        inputs = check_sense_inputs(kspace, mask, sensitivities, self.name)
        scale = _scales(inputs, self.params.scaling)
        sense, rhs = _sense_problem(inputs, scale)
        lam = self.params.lam
        normal: LinearOperator = sense.gram + lam * Identity() if lam else sense.gram
        cg = ConjugateGradient(normal, rhs, max_iterations=self.params.iterations)
        return SenseReconstruction(cg, sense, scale)


class CsWavelet(_SenseMethod):
    """``cs-wavelet`` (see :class:`CsWaveletParams`)."""

    name = "cs-wavelet"

    def __init__(self, params: CsWaveletParams | None = None) -> None:
        self.params = params or CsWaveletParams()

    def solver(self, kspace: torch.Tensor, mask: torch.Tensor, *, sensitivities: torch.Tensor | None) -> SenseReconstruction:
        """The stepping solver; one ``update()`` is one FISTA iteration."""
        p = self.params
        inputs = check_sense_inputs(kspace, mask, sensitivities, self.name)
        scale = _scales(inputs, p.scaling)
        sense, rhs = _sense_problem(inputs, scale)
        height, width = rhs.shape[-2:]
        prox = WaveletSoftThreshold(
            p.lam, p.wavelet, cycle_spinning=p.cycle_spinning, seed=p.seed, base_shift=(height // 2, width // 2)
        )
        step = p.step
        if p.eigen_step:
            energy = float(torch.sum(inputs.sensitivities.abs().square(), dim=-3).max())
            step = step / energy if energy > 0 else step
        fista = FISTA(sense.gram, rhs, prox, step=step, max_iterations=p.iterations)
        return SenseReconstruction(fista, sense, scale)


class CsTv(_SenseMethod):
    """``cs-tv`` (see :class:`CsTvParams`)."""

    name = "cs-tv"

    def __init__(self, params: CsTvParams | None = None) -> None:
        self.params = params or CsTvParams()

    def solver(self, kspace: torch.Tensor, mask: torch.Tensor, *, sensitivities: torch.Tensor | None) -> SenseReconstruction:
        """The stepping solver; one ``update()`` is one outer ADMM iteration."""
        p = self.params
        inputs = check_sense_inputs(kspace, mask, sensitivities, self.name)
        scale = _scales(inputs, p.scaling)
        sense, rhs = _sense_problem(inputs, scale)
        lam = p.lam
        term = SplitTerm(FiniteDifferences(), prox=lambda v, alpha: joint_soft_threshold(v, lam * alpha, dim=-3))
        admm = ADMM(
            sense.gram,
            rhs,
            [term],
            rho=p.rho,
            relaxation=p.relaxation,
            max_iterations=p.iterations,
            cg_iterations=p.cg_iterations,
            cg_tolerance=p.cg_tolerance,
            max_total_cg_iterations=p.max_total_cg_iterations,
        )
        return SenseReconstruction(admm, sense, scale)


class ZeroFilledSense:
    """``zero-filled-sense``: ``sum_c conj(S_c) F^H(M y_c) / sum_c |S_c|^2`` (0 where the maps vanish)."""

    name = "zero-filled-sense"

    def __call__(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        *,
        sensitivities: torch.Tensor | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> torch.Tensor:
        inputs = check_sense_inputs(kspace, mask, sensitivities, self.name)
        image = sensitivity_combine(ifft2c(inputs.kspace), inputs.sensitivities)
        if progress is not None:
            progress(1, 1)
        return image


# -- registration --------------------------------------------------------------------------


@register_method(
    "zero-filled-sense",
    "zero-filled coil images combined with the coil sensitivities (A^H y / sum |S|^2)",
    needs_sensitivities=True,
)
def _zero_filled_sense() -> ZeroFilledSense:
    return ZeroFilledSense()


@register_method(
    "cg-sense",
    "Tikhonov-regularised SENSE by conjugate gradients (bart pics -l2)",
    needs_sensitivities=True,
)
def _cg_sense(**params: Any) -> CgSense:
    return CgSense(_build_params(CgSenseParams, "cg-sense", params))


@register_method(
    "cs-wavelet",
    "l1-wavelet (Daubechies-2) compressed-sensing SENSE by FISTA (bart pics -l1)",
    needs_sensitivities=True,
)
def _cs_wavelet(**params: Any) -> CsWavelet:
    return CsWavelet(_build_params(CsWaveletParams, "cs-wavelet", params))


@register_method(
    "cs-tv",
    "total-variation compressed-sensing SENSE by ADMM (bart pics -R T)",
    needs_sensitivities=True,
)
def _cs_tv(**params: Any) -> CsTv:
    return CsTv(_build_params(CsTvParams, "cs-tv", params))
