"""Properties of the classical methods: recovery, data consistency, batching, devices, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from skimage.data import shepp_logan_phantom
from skimage.transform import resize

from lfmri_core.errors import InputError
from lfmri_core.masks import make_mask
from lfmri_core.physics import SenseOperator, fft2c, ifft2c
from lfmri_core.recon import (
    Cancelled,
    CgSense,
    CgSenseParams,
    CsTvParams,
    CsWavelet,
    CsWaveletParams,
    ZeroFilledSense,
    available_methods,
    build_method,
    method_info,
)
from tests.conftest import devices
from tests.tolerances import assert_close_in_norm, rounding_rtol

FAST = {
    "cg-sense": {"iterations": 20},
    "cs-wavelet": {"iterations": 20},
    "cs-tv": {"iterations": 6},
    "zero-filled-sense": {},
}
SENSE_METHODS = list(FAST)


def _sense_rtol(kspace: torch.Tensor, *, passes: int = 2, steps: int = 1) -> float:
    """complex64 rounding of ``passes`` FFTs over the image and a sum over the coils per
    step, for ``steps`` iterations (relative, in norm)."""
    return rounding_rtol(torch.complex64, fft_points=kspace.shape[-2] * kspace.shape[-1], fft_passes=passes,
                         terms=kspace.shape[-3], steps=steps)


def _coil_maps(coils: int, height: int, width: int, *, normalise: bool = True, seed: int = 0) -> torch.Tensor:
    """Smooth complex maps of coils around the object, ``(coils, H, W)``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    maps = []
    for c in range(coils):
        angle = 2 * np.pi * c / coils + rng.uniform(0, 0.3)
        cy, cx = 1.2 * np.sin(angle), 1.2 * np.cos(angle)
        magnitude = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.6)
        phase = np.exp(1j * (0.7 * c + 0.8 * yy * np.cos(angle) + 0.5 * xx))
        maps.append(magnitude * phase)
    stack = np.stack(maps)
    if normalise:
        stack = stack / np.sqrt(np.sum(np.abs(stack) ** 2, axis=0))
    return torch.from_numpy(stack.astype(np.complex64))


def _phantom(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Shepp-Logan, resized, with a smooth phase (complex64 ``(H, W)``)."""
    magnitude = resize(shepp_logan_phantom(), (height, width), anti_aliasing=True)
    yy, xx = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    return torch.from_numpy((magnitude * np.exp(1j * (0.4 * yy + 0.2 * xx + 0.1 * seed))).astype(np.complex64))


def _problem(slices: int = 1, coils: int = 6, height: int = 64, width: int = 56, *, mask_name: str = "random", noise: float = 0.0):
    images = torch.stack([_phantom(height, width, seed=s) * (1 + 0.5 * s) for s in range(slices)])
    maps = torch.stack([_coil_maps(coils, height, width, seed=s) for s in range(slices)])
    full = fft2c(maps * images[:, None])
    if noise:
        gen = torch.Generator().manual_seed(9)
        full = full + noise * torch.randn(full.shape, dtype=torch.complex64, generator=gen)
    mask = make_mask(mask_name, full.shape, acceleration=4, center_fraction=0.1, seed=1).to_tensor(full.shape)
    kspace = torch.where(mask, full, torch.zeros((), dtype=full.dtype))
    return images, maps, kspace, mask


def test_the_registry_lists_the_classical_methods() -> None:
    names = available_methods()
    assert {"zero-filled", "zero-filled-sense", "cg-sense", "cs-wavelet", "cs-tv"} <= set(names)
    for name in SENSE_METHODS:
        assert method_info(name).needs_sensitivities
    assert not method_info("zero-filled").needs_sensitivities
    method = build_method("cs-wavelet", lam=0.01, iterations=7, wavelet="haar")
    assert isinstance(method, CsWavelet) and method.params == CsWaveletParams(lam=0.01, iterations=7, wavelet="haar")
    with pytest.raises(InputError, match="cg-sense has no parameter 'lamda'; its parameters: lam, iterations, scaling"):
        build_method("cg-sense", lamda=0.1)


def test_parameters_are_frozen_with_bart_defaults() -> None:
    params = CsTvParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.lam = 1.0  # type: ignore[misc]
    assert (params.rho, params.relaxation, params.cg_iterations, params.cg_tolerance) == (0.5, 1.6, 10, 1e-3)
    assert (CsWaveletParams().wavelet, CsWaveletParams().step, CsWaveletParams().seed) == ("dau2", 0.95, 1)


@pytest.mark.parametrize("device", devices())
def test_cg_sense_recovers_the_image_from_full_noiseless_data(device: str) -> None:
    images = torch.stack([_phantom(48, 40, seed=s) for s in range(2)]).to(device)
    maps = torch.stack([_coil_maps(5, 48, 40, normalise=False, seed=s) for s in range(2)]).to(device)
    kspace = fft2c(maps * images[:, None])
    mask = torch.ones((48, 40), dtype=torch.bool, device=device)
    recon = CgSense(CgSenseParams(lam=0.0, iterations=40))(kspace, mask, sensitivities=maps)
    assert recon.shape == images.shape and recon.dtype == torch.complex64 and recon.device.type == device
    # 40 iterations at condition ~25 have converged (the CG factor 0.66 ** 40 < 1e-7): what is
    # left is the rounding of A^H A times its condition number, max / min of sum_c |S_c|^2
    energy = maps.abs().square().sum(dim=1)
    assert_close_in_norm(recon, images, float(energy.max() / energy.min()) * _sense_rtol(kspace))


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("name", SENSE_METHODS)
def test_better_than_zero_filled(name: str, device: str) -> None:
    """Each iterative method fits the data better than zero filling and is closer to the truth."""
    images, maps, kspace, mask = _problem(noise=0.002, mask_name="poisson")
    images, maps, kspace, mask = images.to(device), maps.to(device), kspace.to(device), mask.to(device)
    zero_filled = build_method("zero-filled-sense")(kspace, mask, sensitivities=maps)
    iterations = {"cg-sense": {"iterations": 30}, "cs-wavelet": {"iterations": 30}, "cs-tv": {"iterations": 10}}
    recon = build_method(name, **iterations.get(name, {}))(kspace, mask, sensitivities=maps)
    op = SenseOperator(maps, mask)

    def residual(image: torch.Tensor) -> float:
        return float(torch.linalg.vector_norm(op(image) - kspace))

    def error(image: torch.Tensor) -> float:
        return float(torch.linalg.vector_norm(image - images))

    if name == "zero-filled-sense":
        assert_close_in_norm(recon, op.H(kspace), _sense_rtol(kspace))  # normalised maps: sum |S|^2 = 1
        return
    assert residual(recon) < 0.5 * residual(zero_filled)
    assert error(recon) < 0.8 * error(zero_filled)


@pytest.mark.parametrize("name", SENSE_METHODS)
def test_batched_equals_per_slice(name: str) -> None:
    _, maps, kspace, mask = _problem(slices=3, mask_name="poisson")
    params = dict(FAST[name])
    if name == "cs-tv":
        params.update(iterations=50, max_total_cg_iterations=35)  # slices may stop at different times
    method = build_method(name, **params)
    batched = method(kspace, mask, sensitivities=maps)
    rtol = _sense_rtol(kspace, passes=4, steps=params.get("iterations", 1))  # a Gram operator per iteration
    for s in range(3):
        alone = method(kspace[s : s + 1], mask, sensitivities=maps[s : s + 1])[0]
        assert_close_in_norm(batched[s], alone, rtol)


def test_one_map_set_serves_all_slices() -> None:
    _, maps, kspace, mask = _problem(slices=2)
    shared = maps[:1]
    both = CgSense()(kspace, mask, sensitivities=shared)
    rtol = _sense_rtol(kspace, passes=4, steps=CgSenseParams().iterations)
    assert_close_in_norm(both[1], CgSense()(kspace[1:], mask, sensitivities=shared[0])[0], rtol)


@pytest.mark.parametrize("mask_shape", ["line", "2d"])
@pytest.mark.parametrize("size", [(32, 24), (33, 25)])
def test_shifted_normal_operator_is_the_sense_gram(mask_shape: str, size: tuple[int, int]) -> None:
    gen = torch.Generator().manual_seed(4)
    h, w = size
    maps = torch.randn((2, 3, h, w), dtype=torch.complex64, generator=gen)
    mask = (torch.rand((1, w), generator=gen) < 0.4) if mask_shape == "line" else (torch.rand((h, w), generator=gen) < 0.4)
    x = torch.randn((2, h, w), dtype=torch.complex64, generator=gen)
    y = torch.randn((2, 3, h, w), dtype=torch.complex64, generator=gen)
    fast, reference = SenseOperator(maps, mask, shifted=True), SenseOperator(maps, mask)
    assert fast.line_mask == (mask_shape == "line")
    gram = fast.from_internal(fast.normal(fast.to_internal(x)))
    # relative to ||A||^2 ||x|| and ||A|| ||y||, ||A||^2 <= max over pixels of sum_c |S_c|^2
    op_norm2 = float(maps.abs().square().sum(dim=1).max())
    rtol = _sense_rtol(y, passes=4)
    assert_close_in_norm(gram, reference.gram(x), rtol, scale=op_norm2 * float(torch.linalg.vector_norm(x)))
    assert_close_in_norm(fast.from_internal(fast.adjoint(y)), reference.H(y), rtol,
                         scale=op_norm2**0.5 * float(torch.linalg.vector_norm(y)))


def test_zero_filled_sense_normalises_by_the_map_energy() -> None:
    images, _, _, _ = _problem()
    maps = _coil_maps(6, 64, 56, normalise=False)[None]
    full = fft2c(maps * images[:, None])
    mask = torch.ones((1, 56), dtype=torch.bool)
    recon = ZeroFilledSense()(full, mask, sensitivities=maps)
    energy = torch.sum(maps.abs() ** 2, dim=1)
    inside = energy > 1e-6
    # the FFTs' rounding is divided by sqrt(sum_c |S_c|^2) at each pixel: weighted by it, the
    # error is the FFTs' own
    weight = energy.sqrt()
    assert_close_in_norm((recon * weight)[inside], (images * weight)[inside], _sense_rtol(full))
    expected = torch.sum(maps.conj() * ifft2c(full), dim=1) / energy
    assert_close_in_norm(recon, expected, rounding_rtol(torch.complex64, terms=6))  # the same FFT, summed


@pytest.mark.parametrize("name", ["cg-sense", "cs-wavelet", "cs-tv"])
def test_progress_cancel_and_stepping(name: str) -> None:
    _, maps, kspace, mask = _problem()
    method = build_method(name, iterations=5)
    reports: list[tuple[int, int]] = []
    method(kspace, mask, sensitivities=maps, progress=lambda d, t: reports.append((d, t)))
    assert reports == [(i, 5) for i in range(1, 6)]
    calls = iter([False, False, True])
    with pytest.raises(Cancelled):
        method(kspace, mask, sensitivities=maps, cancel=lambda: next(calls))
    solver = method.solver(kspace, mask, sensitivities=maps)  # type: ignore[attr-defined]
    while not solver.done():
        solver.update()
    assert solver.iteration == 5
    assert torch.equal(solver.result, method(kspace, mask, sensitivities=maps))  # the same steps


def test_explicit_scaling_changes_only_the_meaning_of_lambda() -> None:
    """With lam = 0 the data scale cancels (CG is scale-equivariant)."""
    _, maps, kspace, mask = _problem()
    estimated = CgSense(CgSenseParams(lam=0.0, iterations=10))(kspace, mask, sensitivities=maps)
    fixed = CgSense(CgSenseParams(lam=0.0, iterations=10, scaling=123.0))(kspace, mask, sensitivities=maps)
    assert_close_in_norm(fixed, estimated, _sense_rtol(kspace, passes=4, steps=10))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"iterations": 0}, "iterations must be an integer >= 1, got 0"),
        ({"iterations": -3}, "iterations must be an integer >= 1, got -3"),
        ({"iterations": 2.5}, "iterations must be an integer >= 1, got 2.5"),
        ({"lam": -0.1}, "lam must be a finite number >= 0, got -0.1"),
        ({"lam": float("nan")}, "lam must be a finite number >= 0"),
        ({"scaling": 0.0}, "scaling must be a finite number > 0"),
    ],
)
@pytest.mark.parametrize("name", ["cg-sense", "cs-wavelet", "cs-tv"])
def test_bad_parameters(name: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_method(name, **params)


def test_bad_method_specific_parameters() -> None:
    with pytest.raises(InputError, match="unknown wavelet 'db8'"):
        CsWaveletParams(wavelet="db8")
    with pytest.raises(InputError, match="relaxation must lie in"):
        CsTvParams(relaxation=2.5)
    with pytest.raises(InputError, match="rho must be"):
        CsTvParams(rho=0)
    with pytest.raises(InputError, match="cg_iterations must be"):
        CsTvParams(cg_iterations=0)


@pytest.mark.parametrize("name", SENSE_METHODS)
def test_bad_inputs(name: str) -> None:
    _, maps, kspace, mask = _problem(slices=2)
    method = build_method(name, **FAST[name])
    cases: list[tuple[dict[str, object], str]] = [
        ({"sensitivities": None}, "needs coil sensitivities"),
        ({"sensitivities": maps[..., :-1]}, r"coil sensitivities of shape \(2, 6, 64, 55\) do not match k-space of shape \(2, 6, 64, 56\)"),
        ({"sensitivities": maps[:, :-1]}, "do not match k-space"),
        ({"sensitivities": torch.cat([maps, maps])}, "do not match k-space"),
        ({"sensitivities": torch.where(maps.abs() > 0.5, torch.tensor(float("nan"), dtype=maps.dtype), maps)}, "contain NaN or Inf"),
        ({"sensitivities": maps.abs()}, "must be complex"),
        ({"mask": mask[..., :-1]}, r"mask of shape \(1, 55\) does not fit k-space"),
        ({"mask": torch.ones((63, 56), dtype=torch.bool)}, "does not fit k-space"),
        ({"mask": torch.full((1, 56), 0.5)}, "must be boolean"),
        ({"kspace": kspace[0]}, r"must have shape \(slices, coils, H, W\)"),
        ({"kspace": kspace.abs()}, "k-space must be complex"),
        ({"kspace": kspace * float("inf")}, "k-space contains NaN or Inf"),
    ]
    for change, message in cases:
        arguments = {"kspace": kspace, "mask": mask, "sensitivities": maps, **change}
        with pytest.raises(InputError, match=message) as raised:
            method(arguments["kspace"], arguments["mask"], sensitivities=arguments["sensitivities"])
        assert "\n" not in str(raised.value) and str(raised.value).startswith(name)
