"""Synthetic multi-coil knee MRI: the project's embedded default data.

Real fastMRI k-space needs a data-use agreement, so the demo, the tests and training default to
volumes synthesised here: sagittal proton-density (``PD``) or fat-suppressed PD (``PDFS``) knee
slices of a seeded 3-D knee model with fastMRI+ style lesions and their boxes, encoded by a
realistic receive coil array with noise, in fastMRI's geometry and stored orientation.

>>> from lfmri_core.synthetic import SyntheticConfig, generate_volume
>>> volume = generate_volume(SyntheticConfig(contrast="PDFS", seed=3))  # doctest: +SKIP
>>> volume.kspace.shape, volume.reconstruction_rss.shape  # doctest: +SKIP
((16, 8, 320, 320), (16, 320, 320))

Modules: :mod:`.geometry` (acquisition geometries), :mod:`.anatomy` (the knee model),
:mod:`.contrast` (tissue signals), :mod:`.lesions` (fastMRI+ lesions), :mod:`.coils` (coil
sensitivities and noise correlation), :mod:`.volume` (the pipeline), with helpers in
:mod:`.shapes`, :mod:`.raster`, :mod:`.texture` and :mod:`.compose`.
"""

from lfmri_core.synthetic.geometry import KneeGeometry, available_geometries, get_geometry
from lfmri_core.synthetic.lesions import LESION_LABELS
from lfmri_core.synthetic.volume import (
    SyntheticConfig,
    SyntheticVolume,
    generate_volume,
    lesions_for,
    render_tissue_fractions,
    slice_positions,
    subject_for,
)

__all__ = [
    "LESION_LABELS",
    "KneeGeometry",
    "SyntheticConfig",
    "SyntheticVolume",
    "available_geometries",
    "generate_volume",
    "get_geometry",
    "lesions_for",
    "render_tissue_fractions",
    "slice_positions",
    "subject_for",
]
