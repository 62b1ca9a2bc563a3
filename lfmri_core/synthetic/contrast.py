"""Tissue classes and their signal in proton density (PD) and fat-suppressed PD (PDFS) images.

Signals are relative to subcutaneous fat in PD (= 1.0). They follow the appearance of the
fastMRI knee protocols (``CORPD_FBK`` and ``CORPDFS_FBK``): in PD fat and fatty marrow are
bright, fluid intermediate-bright, cartilage intermediate, muscle intermediate-low, and
menisci, tendons, ligaments and cortical bone dark; fat suppression darkens fat and marrow so
that fluid becomes the brightest tissue and cartilage stands out against the marrow.
"""

from __future__ import annotations

import enum

from lfmri_core.errors import InputError


class Tissue(enum.Enum):
    FAT = "fat"
    MARROW = "marrow"
    CORTEX = "cortex"
    CARTILAGE = "cartilage"
    FLUID = "fluid"
    MUSCLE = "muscle"
    TENDON = "tendon"
    LIGAMENT = "ligament"
    MENISCUS = "meniscus"
    SKIN = "skin"
    ARTERY = "artery"
    VEIN = "vein"
    EDEMA = "edema"


#: fastMRI's acquisition code of each contrast.
ACQUISITIONS = {"PD": "CORPD_FBK", "PDFS": "CORPDFS_FBK"}

SIGNAL: dict[str, dict[Tissue, float]] = {
    "PD": {
        Tissue.FAT: 1.00,
        Tissue.MARROW: 0.86,
        Tissue.CORTEX: 0.03,
        Tissue.CARTILAGE: 0.60,
        Tissue.FLUID: 0.74,
        Tissue.MUSCLE: 0.42,
        Tissue.TENDON: 0.05,
        Tissue.LIGAMENT: 0.16,
        Tissue.MENISCUS: 0.05,
        Tissue.SKIN: 0.50,
        Tissue.ARTERY: 0.22,
        Tissue.VEIN: 0.50,
        Tissue.EDEMA: 0.55,
    },
    "PDFS": {
        Tissue.FAT: 0.10,
        Tissue.MARROW: 0.12,
        Tissue.CORTEX: 0.03,
        Tissue.CARTILAGE: 0.55,
        Tissue.FLUID: 1.00,
        Tissue.MUSCLE: 0.30,
        Tissue.TENDON: 0.05,
        Tissue.LIGAMENT: 0.15,
        Tissue.MENISCUS: 0.05,
        Tissue.SKIN: 0.30,
        Tissue.ARTERY: 0.12,
        Tissue.VEIN: 0.45,
        Tissue.EDEMA: 0.62,
    },
}


def check_contrast(contrast: str) -> str:
    """Return ``contrast`` if known, else raise :class:`InputError`."""
    if contrast not in SIGNAL:
        raise InputError(f"contrast {contrast!r} is unknown; choose one of {', '.join(SIGNAL)}")
    return contrast
