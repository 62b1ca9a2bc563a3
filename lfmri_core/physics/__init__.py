"""Multi-coil MRI physics: centered orthonormal FFT, SENSE operator, coil combination."""

from lfmri_core.physics.coil_combine import rss, sensitivity_combine
from lfmri_core.physics.fft import fft2c, ifft2c
from lfmri_core.physics.sense import SenseOperator, apply_mask
from lfmri_core.physics.transforms import as_complex_tensor, center_crop

__all__ = [
    "SenseOperator",
    "apply_mask",
    "as_complex_tensor",
    "center_crop",
    "fft2c",
    "ifft2c",
    "rss",
    "sensitivity_combine",
]
