"""The method registry and the one-line :class:`InputError` for every bad input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

from lfmri_core.coils import (
    SENSITIVITY_METHODS,
    EspiritConfig,
    LowResConfig,
    available_sensitivity_methods,
    espirit_sensitivities,
    estimate_sensitivities,
    register_sensitivity_method,
)
from lfmri_core.coils.calibration import find_calibration_region
from lfmri_core.errors import InputError
from tests.core.coils.conftest import make_coil_data

KSPACE = make_coil_data((48, 40), coils=4, seed=2).kspace


def test_registry_lists_the_methods() -> None:
    assert available_sensitivity_methods()[:2] == ("espirit", "lowres")
    assert SENSITIVITY_METHODS["espirit"].config_type is EspiritConfig
    assert SENSITIVITY_METHODS["lowres"].config_type is LowResConfig


def test_a_registered_method_is_reachable_by_name() -> None:
    @dataclass(frozen=True)
    class OnesConfig:
        calib_size: tuple[int, int] = (8, 8)
        value: float = 1.0

    @register_sensitivity_method("test-ones", OnesConfig)
    def ones(kspace: torch.Tensor, config: OnesConfig, mask: Any):  # noqa: ANN202
        region = find_calibration_region(kspace, config.calib_size, mask=mask)
        maps = torch.full((kspace.shape[0], 1, *kspace.shape[1:]), config.value, dtype=torch.complex64)
        return maps, None, region

    try:
        est = estimate_sensitivities(KSPACE, "test-ones", calib_size=6, value=0.5)
        assert est.maps.shape == KSPACE.shape and bool((est.maps == 0.5).all())
        assert est.calibration.size == (6, 6) and est.config == OnesConfig(6, 0.5)
        with pytest.raises(InputError, match="already registered"):
            register_sensitivity_method("test-ones", OnesConfig)(ones)
    finally:
        del SENSITIVITY_METHODS["test-ones"]


def test_calib_size_reaches_the_config() -> None:
    est = estimate_sensitivities(KSPACE, calib_size=(16, 12), kernel_size=4)
    assert est.calibration.size == (16, 12)
    assert est.config.calib_size == (16, 12) and est.config.kernel_size == (4, 4)


def _zero_centre() -> np.ndarray:
    kspace = KSPACE.copy()
    kspace[..., 19:21] = 0  # BART starts from one sample at (N - 1) // 2
    return kspace


def _narrow_centre() -> np.ndarray:
    kspace = KSPACE.copy()
    kspace[..., :18] = 0
    kspace[..., 22:] = 0
    return kspace


def _nan() -> np.ndarray:
    kspace = KSPACE.copy()
    kspace[1, 3, 4] = np.nan
    return kspace


def _inf() -> torch.Tensor:
    kspace = torch.from_numpy(KSPACE.copy())
    kspace[0, 0, 0] = complex(float("inf"), 0)
    return kspace


CASES: list[tuple[str, Callable[[], object], str]] = [
    ("rank 2", lambda: estimate_sensitivities(KSPACE[0]), "shape (coils, H, W) or (slices, coils, H, W)"),
    ("rank 5", lambda: estimate_sensitivities(KSPACE[None, None]), "shape (coils, H, W) or (slices, coils, H, W)"),
    ("real", lambda: estimate_sensitivities(np.abs(KSPACE)), "must be complex"),
    ("real tensor", lambda: estimate_sensitivities(torch.ones(2, 8, 8)), "must be complex"),
    ("list", lambda: estimate_sensitivities(KSPACE.tolist()), "numpy array or a torch tensor"),
    ("empty", lambda: estimate_sensitivities(np.zeros((0, 8, 8), np.complex64)), "empty"),
    ("nan", lambda: estimate_sensitivities(_nan()), "NaN or Inf"),
    ("inf", lambda: estimate_sensitivities(_inf(), "lowres"), "NaN or Inf"),
    ("all zero", lambda: estimate_sensitivities(np.zeros_like(KSPACE)), "all zero"),
    ("all zero lowres", lambda: estimate_sensitivities(np.zeros_like(KSPACE), "lowres"), "all zero"),
    ("centre unsampled", lambda: estimate_sensitivities(_zero_centre()), "centre is not sampled"),
    # with the fallback on, NLINV replaces ESPIRiT here (tests/core/coils/test_fallback.py)
    ("calib smaller than kernel", lambda: estimate_sensitivities(_narrow_centre(), fallback=False), "smaller than the 6 x 6 kernel"),
    ("calib smaller than kernel, raw", lambda: espirit_sensitivities(_narrow_centre()), "smaller than the 6 x 6 kernel"),
    ("kernel larger than calib", lambda: estimate_sensitivities(KSPACE, calib_size=4), "larger than calib_size"),
    ("kernel larger than image", lambda: estimate_sensitivities(KSPACE[..., :5], fallback=False), "smaller than the 6 x 6 kernel"),
    ("fixed calib unsampled", lambda: estimate_sensitivities(_narrow_centre(), auto_calib=False), "not fully sampled"),
    ("too many maps", lambda: estimate_sensitivities(KSPACE, num_maps=5), "exceeds the 4 coils"),
    ("unknown method", lambda: estimate_sensitivities(KSPACE, "walsh"), "unknown coil sensitivity method 'walsh'"),
    ("unknown option", lambda: estimate_sensitivities(KSPACE, kernel=5), "has no option kernel"),
    ("calib_size bad", lambda: estimate_sensitivities(KSPACE, calib_size=(24, 0)), "calib_size must be integers >= 1"),
    ("calib_size type", lambda: estimate_sensitivities(KSPACE, calib_size="big"), "calib_size must be an integer or a pair"),
    ("threshold", lambda: EspiritConfig(threshold=0), "threshold must be in the open interval"),
    ("crop", lambda: EspiritConfig(crop=1.0), "crop must be in [0, 1)"),
    ("num_maps", lambda: EspiritConfig(num_maps=0), "num_maps must be an integer >= 1"),
    ("grid", lambda: EspiritConfig(grid=4), "grid must be an integer >= 8 or None"),
    ("refine_tol", lambda: EspiritConfig(refine_tol=float("nan")), "refine_tol must be a number > 0"),
    ("flag", lambda: EspiritConfig(rotate_phase="yes"), "rotate_phase must be True or False"),
    ("lowres threshold", lambda: LowResConfig(threshold=-0.1), "threshold must be in [0, 1)"),
    ("lowres grid", lambda: LowResConfig(grid=2), "grid must be an integer >= 8"),
    ("wrong config type", lambda: espirit_sensitivities(KSPACE, LowResConfig()), "takes a EspiritConfig"),
    ("mask shape", lambda: estimate_sensitivities(KSPACE, mask=np.ones(7, bool)), "does not fit k-space of 48 x 40"),
    ("mask type", lambda: estimate_sensitivities(KSPACE, mask=[1, 0]), "mask must be a SamplingMask"),
]


@pytest.mark.parametrize(("name", "call", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_one_line_input_error(name: str, call: Callable[[], object], message: str) -> None:
    with pytest.raises(InputError) as err:
        call()
    assert message in str(err.value), str(err.value)
    assert "\n" not in str(err.value)
