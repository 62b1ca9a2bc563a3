"""The reference image of a k-space volume (computed in :mod:`lfmri_core.recon.reference`)."""

from lfmri_core.recon.reference import reference_image

__all__ = ["reference_image"]
