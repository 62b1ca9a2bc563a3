"""Multi-coil MRI physics: centered orthonormal FFT, composable linear operators (the SENSE
operator among them), conjugate gradients, coil combination."""

from lfmri_core.physics.cg import ConjugateGradient, conjugate_gradient
from lfmri_core.physics.coil_combine import rss, sensitivity_combine
from lfmri_core.physics.fft import fft2c, ifft2c
from lfmri_core.physics.operator import (
    Adjoint,
    Composition,
    Diagonal,
    Gram,
    Identity,
    LinearOperator,
    Scaled,
    SelfAdjoint,
    Sum,
    as_operator,
)
from lfmri_core.physics.sense import SenseOperator, apply_mask
from lfmri_core.physics.transforms import as_complex_tensor, center_crop

__all__ = [
    "Adjoint",
    "Composition",
    "ConjugateGradient",
    "Diagonal",
    "Gram",
    "Identity",
    "LinearOperator",
    "Scaled",
    "SelfAdjoint",
    "SenseOperator",
    "Sum",
    "apply_mask",
    "as_complex_tensor",
    "as_operator",
    "center_crop",
    "conjugate_gradient",
    "fft2c",
    "ifft2c",
    "rss",
    "sensitivity_combine",
]
