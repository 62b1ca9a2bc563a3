"""Oracle lesion focus: a smooth map of the annotated boxes in place of Net_c's CAM.

An LF-MRI network with ``focus="oracle"`` (:class:`~lfmri_core.models.LFMRIConfig`) weighs its
lesion-focused module, and in training its lesion loss, with :func:`box_focus_map` of the
annotated boxes instead of a class activation map. It measures the ceiling of the lesion
mechanism (a perfect localiser) and can only run where boxes are known: evaluation on annotated
data, never a new scan.

The map of one box is its indicator blurred by a Gaussian of ``sigma`` pixels and scaled so its
peak is 1 (a box of a few pixels keeps a peak of 1, not the blurred indicator's lower one); the
map of several boxes is their pointwise maximum. Values lie in ``[0, 1]`` like a min-max
normalised CAM, and outside a few ``sigma`` of every box the map is 0.
"""

from __future__ import annotations

from collections.abc import Iterable

import math

import torch

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox

FOCUS_SIGMA = 2.0
"""Gaussian blur of the box indicators, pixels."""


def _gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a real ``(H, W)`` image, zero outside."""
    if sigma == 0:
        return image
    kernel = _gaussian_kernel(sigma, image.device)
    radius = kernel.numel() // 2
    x = image[None, None]
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, 1, -1), padding=(0, radius))
    return x[0, 0]


def box_focus_map(
    boxes: Iterable[LesionBox],
    image_shape: tuple[int, int],
    recon_shape: tuple[int, int] | None = None,
    *,
    sigma: float = FOCUS_SIGMA,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The oracle focus map of one slice's boxes on the full field of view.

    Parameters
    ----------
    boxes
        The slice's lesion boxes in the stored frame of the recon crop (their ``slice`` is not
        looked at; empty boxes are ignored).
    image_shape
        ``(H, W)`` of the network's image (the full field of view).
    recon_shape
        ``(rh, rw)`` of the recon crop the boxes refer to, centred in the image as
        :func:`~lfmri_core.physics.center_crop` places it; None: the image itself.
    sigma
        Gaussian blur in pixels (>= 0; 0 gives the plain indicator).
    device
        Where the map is made.

    Returns
    -------
    torch.Tensor
        float32 ``(H, W)`` in ``[0, 1]``: 1 inside every box of at least a few ``sigma``, 0 far
        from all of them (all zero without boxes).
    """
    height, width = (int(v) for v in image_shape)
    rh, rw = (height, width) if recon_shape is None else (int(v) for v in recon_shape)
    if not (0 < rh <= height and 0 < rw <= width):
        raise InputError(f"recon size {rh} x {rw} does not fit the {height} x {width} image")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 <= sigma < math.inf:
        raise InputError(f"focus sigma must be a finite number >= 0, got {sigma!r}")
    top, left = (height - rh) // 2, (width - rw) // 2
    out = torch.zeros((height, width), dtype=torch.float32, device=device)
    for box in boxes:
        if box.is_empty:
            continue
        if not box.fits((rh, rw)):
            raise InputError(f"lesion box {box.label!r} (rows {box.row0}:{box.row1}, cols {box.col0}:{box.col1}) "
                             f"lies outside the {rh} x {rw} recon frame")
        indicator = torch.zeros_like(out)
        indicator[top + box.row0 : top + box.row1, left + box.col0 : left + box.col1] = 1.0
        blurred = _blur(indicator, float(sigma))
        out = torch.maximum(out, blurred / blurred.max())
    return out


def box_focus_maps(
    boxes_per_slice: Iterable[Iterable[LesionBox]],
    image_shape: tuple[int, int],
    recon_shape: tuple[int, int] | None = None,
    *,
    sigma: float = FOCUS_SIGMA,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """:func:`box_focus_map` of each slice's boxes, stacked: float32 ``(slices, H, W)``."""
    maps = [box_focus_map(boxes, image_shape, recon_shape, sigma=sigma, device=device) for boxes in boxes_per_slice]
    if not maps:
        return torch.zeros((0, *image_shape), dtype=torch.float32, device=device)
    return torch.stack(maps)
