"""Properties of the ESPIRiT maps: unit norm where kept, zero where cropped, the true maps up
to a phase, SENSE consistency, the coarse-grid speed-up against the exact solution, batching,
devices and input forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lfmri_core.coils import EspiritConfig, espirit_sensitivities, estimate_sensitivities
from lfmri_core.physics import SenseOperator, ifft2c, rss
from tests.conftest import devices
from tests.core.coils.conftest import CoilData, coil_correlation, make_coil_data, map_atol
from tests.tolerances import rounding_rtol


@pytest.fixture(scope="module")
def large_data() -> CoilData:
    """Larger than the default coarse grid (96 points), so that the upsampling path runs."""
    return make_coil_data((200, 168), coils=8, seed=3)


@pytest.fixture(scope="module")
def large_estimate(large_data: CoilData):  # noqa: ANN201
    return estimate_sensitivities(large_data.kspace)


def test_maps_are_unit_norm_where_kept_and_zero_where_cropped(large_estimate) -> None:  # noqa: ANN001
    maps, values = large_estimate.maps, large_estimate.eigenvalues
    assert maps.dtype == torch.complex64 and values.dtype == torch.float32
    norm = torch.linalg.vector_norm(maps, dim=0)
    keep = values > 0.8
    assert keep.float().mean() > 0.3
    torch.testing.assert_close(norm[keep], torch.ones_like(norm[keep]), rtol=0, atol=rounding_rtol(torch.float32, terms=8))
    assert bool((maps[:, ~keep] == 0).all())
    # eigenvalues of a matrix of norm <= 1, built through FFTs: in [0, 1] up to rounding
    atol = map_atol(maps.shape)
    assert float(values.max()) <= 1 + atol and float(values.min()) >= -atol


def test_maps_are_the_true_maps_up_to_phase(large_data: CoilData, large_estimate) -> None:  # noqa: ANN001
    corr = coil_correlation(large_estimate.maps, large_data.sensitivities)
    assert np.median(corr[large_data.support]) > 0.9999
    assert np.percentile(corr[large_data.support], 1) > 0.999
    assert bool(large_estimate.eigenvalues.numpy()[large_data.support].min() > 0.8)


def test_sense_adjoint_reproduces_the_image_up_to_phase(large_data: CoilData, large_estimate) -> None:  # noqa: ANN001
    kspace = torch.from_numpy(large_data.kspace)
    combined = SenseOperator(large_estimate.maps).adjoint(kspace)
    reference = rss(ifft2c(kspace))
    inside = torch.from_numpy(large_data.support)
    error = torch.linalg.vector_norm((combined.abs() - reference)[inside]) / torch.linalg.vector_norm(reference[inside])
    assert error < 1e-3
    # and the maps reproduce the coil images from the combined image
    coil_images = ifft2c(kspace)
    projected = large_estimate.maps * combined
    residual = torch.linalg.vector_norm((projected - coil_images)[:, inside]) / torch.linalg.vector_norm(coil_images[:, inside])
    assert residual < 1e-2


def test_phase_is_relative_to_the_principal_component(large_data: CoilData, large_estimate) -> None:  # noqa: ANN001
    rows, cols = large_estimate.calibration.slices(0)
    calib = torch.from_numpy(large_data.kspace[:, rows, cols]).reshape(8, -1).to(torch.complex128)
    principal = torch.linalg.eigh(calib @ calib.mH)[1][:, -1].to(torch.complex64)
    inner = torch.einsum("chw,c->hw", large_estimate.maps, principal.conj())
    keep = large_estimate.eigenvalues > 0.8
    # one common phase (the principal component's is arbitrary), zero phase spread
    phase = torch.angle(inner[keep] * inner[keep][0].conj())
    assert float(phase.abs().max()) < 1e-3


def test_coil0_real_without_phase_rotation(coil_data: CoilData) -> None:
    est = estimate_sensitivities(coil_data.kspace, rotate_phase=False)
    keep = est.eigenvalues > 0.8
    first = est.maps[0][keep]
    # made real by multiplying with its own conjugate phase: a rounding of |S| <= 1 is left
    assert float(first.imag.abs().max()) <= rounding_rtol(torch.float32) and float(first.real.min()) >= 0


@pytest.mark.parametrize("data_shape", [(200, 168), (128, 300)])
def test_coarse_grid_agrees_with_the_exact_solution(data_shape: tuple[int, int]) -> None:
    data = make_coil_data(data_shape, coils=5, seed=7)
    fast = estimate_sensitivities(data.kspace)
    exact = estimate_sensitivities(data.kspace, grid=None)
    both = (fast.eigenvalues > 0.8) & (exact.eigenvalues > 0.8)
    assert float(((fast.eigenvalues > 0.8) != (exact.eigenvalues > 0.8)).float().mean()) < 1e-3
    assert float((fast.maps - exact.maps).abs()[:, both].max()) < 2e-2
    assert float(torch.linalg.vector_norm(fast.maps - exact.maps, dim=0)[both].median()) < 1e-3
    assert float((fast.eigenvalues - exact.eigenvalues).abs().max()) < 2e-2


def test_batched_equals_per_slice() -> None:
    slices = [make_coil_data((120, 104), coils=6, seed=s, noise=1e-2).kspace for s in (0, 1, 2)]
    batched = estimate_sensitivities(np.stack(slices))
    assert batched.maps.shape == (3, 6, 120, 104) and batched.eigenvalues.shape == (3, 120, 104)
    for index, kspace in enumerate(slices):
        single = estimate_sensitivities(kspace)
        assert batched.calibration.starts[index] == single.calibration.starts[0]
        torch.testing.assert_close(batched.maps[index], single.maps, atol=map_atol(kspace.shape), rtol=0)
        torch.testing.assert_close(batched.eigenvalues[index], single.eigenvalues, atol=map_atol(kspace.shape), rtol=0)


def test_shapes_and_input_forms(coil_data: CoilData) -> None:
    kspace = coil_data.kspace
    one = estimate_sensitivities(kspace)
    assert one.maps.shape == kspace.shape and one.eigenvalues.shape == kspace.shape[-2:]
    four = estimate_sensitivities(kspace[None])
    assert four.maps.shape == (1, *kspace.shape) and four.eigenvalues.shape == (1, *kspace.shape[-2:])
    two = estimate_sensitivities(torch.from_numpy(kspace), num_maps=2)
    assert two.maps.shape == (2, *kspace.shape) and two.eigenvalues.shape == (2, *kspace.shape[-2:])
    assert bool((two.eigenvalues[0] >= two.eigenvalues[1]).all())
    torch.testing.assert_close(two.maps[0], one.maps, atol=map_atol(kspace.shape), rtol=0)
    # complex128 numpy, torch, the direct function and a config object give the same maps
    same = espirit_sensitivities(torch.from_numpy(kspace.astype(np.complex128)), EspiritConfig())
    assert torch.equal(same.maps, one.maps)
    assert one.method == "espirit" and isinstance(one.config, EspiritConfig)


def test_deterministic(coil_data: CoilData) -> None:
    first = estimate_sensitivities(coil_data.kspace)
    second = estimate_sensitivities(coil_data.kspace)
    assert torch.equal(first.maps, second.maps) and torch.equal(first.eigenvalues, second.eigenvalues)


@pytest.mark.parametrize("device", devices())
def test_runs_on_the_device_of_the_input(large_data: CoilData, large_estimate, device: str) -> None:  # noqa: ANN001
    est = estimate_sensitivities(torch.from_numpy(large_data.kspace).to(device))
    assert est.maps.device.type == device and est.eigenvalues.device.type == device
    keep = (est.eigenvalues.cpu() > 0.8) & (large_estimate.eigenvalues > 0.8)
    corr = coil_correlation(est.maps, large_estimate.maps)
    assert np.median(corr[keep.numpy()]) > 0.99999
    assert float(keep.float().mean()) > 0.3


def test_crop_zero_keeps_every_pixel(coil_data: CoilData) -> None:
    est = estimate_sensitivities(coil_data.kspace, crop=0.0)
    norm = torch.linalg.vector_norm(est.maps, dim=0)
    kept = norm[est.eigenvalues > 0]
    torch.testing.assert_close(kept, torch.ones_like(kept), rtol=0, atol=rounding_rtol(torch.float32, terms=coil_data.kspace.shape[0]))


def test_calibration_from_a_mask_argument(coil_data: CoilData) -> None:
    """With a mask the calibration block follows the mask, not the (here full) data."""
    pattern = np.zeros(coil_data.kspace.shape[-1], dtype=bool)
    width = pattern.shape[0]
    pattern[width // 2 - 8 : width // 2 + 8] = True
    est = estimate_sensitivities(coil_data.kspace, mask=pattern)
    assert est.calibration.size == (24, 16)
    assert est.calibration.starts[0][1] == width // 2 - 8


def test_threads_are_restored_and_concurrent_calls_agree(coil_data: CoilData) -> None:
    from concurrent.futures import ThreadPoolExecutor

    before = torch.get_num_threads()
    single = estimate_sensitivities(coil_data.kspace)
    assert torch.get_num_threads() == before
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: estimate_sensitivities(coil_data.kspace), range(3)))
    assert torch.get_num_threads() == before
    # concurrent calls share no state; each may split its work over other threads (MKL sums in
    # another order then, e.g. with MKL_CBWR set), so they agree to rounding
    for est in results:
        torch.testing.assert_close(est.maps, single.maps, atol=map_atol(coil_data.kspace.shape), rtol=0)


def test_two_maps_on_the_coarse_grid_agree_with_the_exact_solution() -> None:
    data = make_coil_data((200, 168), coils=6, seed=7)
    fast = estimate_sensitivities(data.kspace, num_maps=2, crop=0.1)
    exact = estimate_sensitivities(data.kspace, num_maps=2, crop=0.1, grid=None)
    for index in range(2):
        keep = exact.eigenvalues[index] > 0.1
        assert float(keep.float().mean()) > 0.3
        assert torch.equal(fast.eigenvalues[index] > 0.1, keep)
        corr = coil_correlation(fast.maps[index], exact.maps[index])[keep.numpy()]
        assert corr.min() > 0.999
