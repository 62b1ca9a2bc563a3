"""The reference image of a k-space volume: the stored target, else the RSS of the fully sampled
k-space (shared by the CLI evaluation, the session controller and the napari reader)."""

from __future__ import annotations

import numpy as np
import torch

from lfmri_core.io.volume import KSpaceVolume
from lfmri_core.physics import as_complex_tensor, center_crop, ifft2c, rss


def reference_image(volume: KSpaceVolume) -> tuple[np.ndarray, bool]:
    """The reference image of an open volume.

    Parameters
    ----------
    volume
        An open volume (:func:`lfmri_core.io.volume.open_volume`: fastMRI, MRD, SKM-TEA, BART).

    Returns
    -------
    image
        float32, shape ``(slices, rh, rw)`` with ``(rh, rw) = info.recon_shape``: the stored
        target when the file has one, else the root-sum-of-squares of each slice's inverse
        centred FFT, centre-cropped to the recon size (how fastMRI makes
        ``reconstruction_rss``).
    from_target
        True when the image is the stored target.
    """
    target = volume.target_volume()
    if target is not None:
        return np.asarray(target, dtype=np.float32), True
    info = volume.info
    image = np.empty((info.num_slices, *info.recon_shape), dtype=np.float32)
    # One slice at a time: a whole multi-coil volume as complex tensors can take gigabytes.
    for index in range(info.num_slices):
        coil_images = ifft2c(as_complex_tensor(volume.kspace(index)))
        image[index] = center_crop(rss(coil_images), info.recon_shape).to(torch.float32).numpy()
    return image, False


__all__ = ["reference_image"]
