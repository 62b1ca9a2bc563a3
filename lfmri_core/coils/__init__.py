"""Coil sensitivity estimation from the fully sampled k-space centre.

- :func:`estimate_sensitivities`: the entry point, by method name (:data:`SENSITIVITY_METHODS`,
  :func:`register_sensitivity_method`, :func:`available_sensitivity_methods`).
- ``"espirit"``: ESPIRiT (:func:`espirit_sensitivities`, :class:`EspiritConfig`), BART ``ecalib``
  compatible: same calibration region, kernels, threshold, crop and phase convention.
- ``"lowres"``: a fast low-resolution estimate for interactive use (:func:`lowres_sensitivities`,
  :class:`LowResConfig`).
- ``"nlinv"``: joint estimation of image and smooth maps from all sampled lines (BART
  ``nlinv``; :func:`nlinv_sensitivities`, :class:`NlinvConfig`), for few calibration lines.
- Checks (:mod:`.checks`): ESPIRiT on a calibration region too small for its kernel (fewer
  than 10 centre lines for the 6 x 6 kernel), or whose maps explain too little of the
  calibration data, is replaced by NLINV, with a :class:`CalibrationWarning` (:mod:`.fallback`).
- :func:`find_calibration_region`: BART's automatic calibration region.
- :func:`compress_coils`: fewer virtual coils from the principal components (BART ``cc -S``).

k-space is complex ``(slices, coils, H, W)`` (or ``(coils, H, W)``), ``H`` readout, ``W`` phase
encode, DC at ``(H // 2, W // 2)``; maps come back complex64 on the k-space's device, for
:class:`~lfmri_core.physics.SenseOperator`.

>>> est = estimate_sensitivities(kspace)            # doctest: +SKIP
>>> est.maps.shape, est.eigenvalues.shape            # doctest: +SKIP
((16, 8, 320, 320), (16, 320, 320))
"""

from lfmri_core.coils.base import (
    SENSITIVITY_METHODS,
    SensitivityEstimate,
    SensitivityMethod,
    available_sensitivity_methods,
    estimate_sensitivities,
    register_sensitivity_method,
)
from lfmri_core.coils.calibration import CalibrationRegion, find_calibration_region, sampling_pattern
from lfmri_core.coils.checks import MIN_COVERAGE, MIN_KERNEL_POSITIONS, CalibrationWarning, finding_kind, map_coverage
from lfmri_core.coils.compression import CoilCompression, compress_coils, virtual_coil_count

# imported for their registrations, ESPIRiT first so it leads available_sensitivity_methods()
from lfmri_core.coils.espirit import EspiritConfig, espirit_kernels, espirit_sensitivities, gram_coefficients  # isort: skip
from lfmri_core.coils.lowres import LowResConfig, lowres_sensitivities  # isort: skip
from lfmri_core.coils.nlinv import NlinvConfig, nlinv_sensitivities  # isort: skip
import lfmri_core.coils.fallback  # isort: skip  # noqa: F401  # registers ESPIRiT's checks and fallback

__all__ = [
    "MIN_COVERAGE",
    "MIN_KERNEL_POSITIONS",
    "SENSITIVITY_METHODS",
    "CalibrationRegion",
    "CalibrationWarning",
    "CoilCompression",
    "EspiritConfig",
    "LowResConfig",
    "NlinvConfig",
    "SensitivityEstimate",
    "SensitivityMethod",
    "available_sensitivity_methods",
    "compress_coils",
    "virtual_coil_count",
    "espirit_sensitivities",
    "espirit_kernels",
    "estimate_sensitivities",
    "find_calibration_region",
    "finding_kind",
    "gram_coefficients",
    "lowres_sensitivities",
    "map_coverage",
    "nlinv_sensitivities",
    "register_sensitivity_method",
    "sampling_pattern",
]
