"""NLINV (:mod:`lfmri_core.coils.nlinv`): unit-norm maps everywhere, close to the true maps,
batched like single slices, and its configuration checked. Against ``bart nlinv``:
``test_nlinv_bart.py``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lfmri_core.coils import NlinvConfig, estimate_sensitivities, nlinv_sensitivities
from lfmri_core.errors import InputError
from lfmri_core.masks import make_mask
from tests.core.coils.conftest import CoilData, coil_correlation, make_coil_data
from tests.tolerances import rounding_rtol


def test_unit_norm_everywhere_and_close_to_the_truth(coil_data: CoilData) -> None:
    mask = make_mask("equispaced", coil_data.kspace.shape, acceleration=4, center_fraction=0.06, seed=2)
    est = estimate_sensitivities(coil_data.kspace * mask.pattern, "nlinv", mask=mask)
    assert est.method == "nlinv" and est.eigenvalues is None and est.requested is None
    assert est.maps.shape == coil_data.kspace.shape and est.maps.dtype == torch.complex64
    norm = torch.linalg.vector_norm(est.maps, dim=0)
    torch.testing.assert_close(norm, torch.ones_like(norm), rtol=0, atol=rounding_rtol(torch.float32, terms=6))
    truth = coil_correlation(est.maps, coil_data.sensitivities)[coil_data.support]
    assert np.median(truth) > 0.995 and np.percentile(truth, 5) > 0.98


def test_batched_equals_single_slices(coil_data: CoilData) -> None:
    """Each slice is its own problem (its own scale, CG steps and stopping): batched, the maps
    are the single-slice ones up to rounding, amplified by 8 Gauss-Newton steps of up to 100
    conjugate-gradient iterations each (measured: below 1e-5)."""
    other = make_coil_data(coil_data.kspace.shape[1:], coils=6, seed=7)
    mask = make_mask("equispaced", coil_data.kspace.shape, acceleration=4, center_fraction=0.06, seed=2)
    stack = np.stack([coil_data.kspace, 3 * other.kspace]) * mask.pattern
    batched = nlinv_sensitivities(stack, mask=mask)
    for index in range(2):
        single = nlinv_sensitivities(stack[index], mask=mask)
        error = float(torch.linalg.vector_norm(batched.maps[index] - single.maps) / torch.linalg.vector_norm(single.maps))
        assert error < 1e-4, error


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"iterations": 0}, "iterations must be an integer >= 1"),
        ({"cg_iterations": 1.5}, "cg_iterations must be an integer >= 1"),
        ({"alpha": 0.0}, "alpha must be a number > 0"),
        ({"reduction": 1.0}, "reduction must be a number > 1"),
        ({"sobolev_a": float("nan")}, "sobolev_a must be a number > 0"),
        ({"cg_tolerance": 1.0}, "cg_tolerance must be in the open interval"),
        ({"rotate_phase": 1}, "rotate_phase must be True or False"),
    ],
)
def test_bad_configuration_is_one_line(params: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        NlinvConfig(**params)  # type: ignore[arg-type]
