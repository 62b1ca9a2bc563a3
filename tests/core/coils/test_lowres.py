"""The fast low-resolution estimate: unit norm inside its support, zero outside, close to
ESPIRiT and to the true maps (up to phase), same phase convention as ESPIRiT."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lfmri_core.coils import LowResConfig, estimate_sensitivities, lowres_sensitivities
from tests.conftest import devices
from tests.core.coils.conftest import CoilData, coil_correlation, make_coil_data, map_atol
from tests.tolerances import rounding_rtol


@pytest.fixture(scope="module")
def data() -> CoilData:
    return make_coil_data((200, 168), coils=8, seed=3, noise=5e-3)


def test_unit_norm_inside_and_zero_outside(data: CoilData) -> None:
    est = estimate_sensitivities(data.kspace, "lowres")
    assert est.maps.shape == data.kspace.shape and est.maps.dtype == torch.complex64
    assert est.eigenvalues is None and est.method == "lowres"
    norm = torch.linalg.vector_norm(est.maps, dim=0)
    kept = norm > 0
    torch.testing.assert_close(norm[kept], torch.ones_like(norm[kept]), rtol=0, atol=rounding_rtol(torch.float32, terms=8))
    assert bool(kept.numpy()[data.support].all())
    assert 0.3 < float(kept.float().mean()) < 0.95


def test_close_to_espirit_and_to_the_truth(data: CoilData) -> None:
    low = estimate_sensitivities(data.kspace, "lowres")
    esp = estimate_sensitivities(data.kspace)
    both = (torch.linalg.vector_norm(low.maps, dim=0) > 0) & (esp.eigenvalues > 0.8)
    corr = coil_correlation(low.maps, esp.maps)[both.numpy()]
    assert np.median(corr) > 0.999 and np.percentile(corr, 5) > 0.99
    # the same phase convention, so the maps agree without the phase freedom too
    diff = torch.linalg.vector_norm(low.maps - esp.maps, dim=0)[both]
    assert float(diff.median()) < 0.05
    truth = coil_correlation(low.maps, data.sensitivities)[data.support]
    assert np.median(truth) > 0.999


def test_threshold_zero_keeps_everything_and_batches(data: CoilData) -> None:
    other = make_coil_data((200, 168), coils=8, seed=4, noise=5e-3)
    batched = lowres_sensitivities(np.stack([data.kspace, other.kspace]), LowResConfig(threshold=0.0))
    assert batched.maps.shape == (2, *data.kspace.shape)
    assert bool((torch.linalg.vector_norm(batched.maps, dim=1) > 0.99).all())
    single = lowres_sensitivities(other.kspace, LowResConfig(threshold=0.0))
    torch.testing.assert_close(batched.maps[1], single.maps, atol=map_atol(other.kspace.shape), rtol=0)


@pytest.mark.parametrize("device", devices())
def test_runs_on_the_device_of_the_input(data: CoilData, device: str) -> None:
    cpu = estimate_sensitivities(data.kspace, "lowres")
    est = estimate_sensitivities(torch.from_numpy(data.kspace).to(device), "lowres")
    assert est.maps.device.type == device
    # a map is its pixel's coil values over their RSS, which is at least `threshold` times the
    # maximum where kept: the rounding (relative to the maximum) grows by up to 1 / threshold
    atol = map_atol(data.kspace.shape) / LowResConfig().threshold
    torch.testing.assert_close(est.maps.cpu(), cpu.maps, atol=atol, rtol=0)
