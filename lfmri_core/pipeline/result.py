"""What the slice pipeline gives for one slice: :class:`SliceResult`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lfmri_core.masks import SamplingMask


@dataclass(frozen=True, eq=False)
class SliceResult:
    """One method's reconstruction of one slice, explained and scored (numpy, on the CPU).

    What :func:`~lfmri_core.pipeline.run_slices` yields, what the viewers cache and show, and
    where ``lfmri evaluate``'s per-slice numbers come from. The metrics are those of
    :func:`~lfmri_core.metrics.score_slice` against the reference given to the pipeline (NaN
    without one); the LF metrics use the boxes given then (a viewer re-pools :attr:`ssim_map`
    in boxes edited later, with :func:`~lfmri_core.metrics.lesion_scores`).
    """

    method: str
    """The registered method name."""
    slice: int
    """Slice index in the volume."""
    image: np.ndarray
    """Magnitude, float32 ``(rh, rw)`` (centre-cropped to the recon size)."""
    cam: np.ndarray | None = None
    """Net_c's class-0 ("any lesion") CAM on ``image``, float32 ``(rh, rw)`` in ``[0, 1]``; None
    without a classifier."""
    lesion_probability: float | None = None
    """Net_c's "any lesion" probability (:func:`~lfmri_core.pipeline.lesion_probability` of
    ``class_logits[0]``); None without a classifier."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds: ``compression``, ``maps``, ``reconstruction``, ``classifier``, ``metrics`` (with a
    reference) and ``total`` (reading the k-space and building the method included). Slices
    reconstructed in one call share its time equally."""
    device: str = "cpu"
    """The torch device the work ran on."""
    psnr: float = math.nan
    """Whole-slice PSNR in dB on the volume's data range; NaN without a reference."""
    ssim: float = math.nan
    nmse: float = math.nan
    lf_psnr: float = math.nan
    """dB inside the union of the slice's boxes; NaN without boxes or reference."""
    lf_ssim: float = math.nan
    ssim_map: np.ndarray | None = field(default=None, repr=False)
    """Local SSIM, float32 ``(rh, rw)``, behind ``ssim`` and ``lf_ssim``; None without a reference."""
    class_logits: np.ndarray | None = None
    """Net_c's logits, float32 ``(classes,)``; None without a classifier."""
    class_scores: np.ndarray | None = None
    """``sigmoid(class_logits)`` in float32, ``(classes,)``; None without a classifier."""
    mask: SamplingMask | None = None
    """The sampling mask applied (header padding included)."""
    mask_key: tuple[object, ...] = ()
    """The caller's name for the mask setting (the viewer's cache key); empty unless given."""
    virtual_coils: int | None = None
    """The virtual coils the k-space was compressed to; None: all coils."""
    coil_maps: str | None = None
    """The coil maps the method got: the estimation method (``"nlinv"`` where ESPIRiT's maps
    failed their checks), ``"lowres"`` for the learned methods' own, None for methods without."""
    coil_map_warnings: tuple[str, ...] = ()
    """What the coil-map checks found, one line each."""

    @property
    def recon_seconds(self) -> float:
        """Seconds of the reconstruction proper: coil compression, coil maps and the method
        (neither Net_c nor the metrics; what ``lfmri recon`` and ``lfmri evaluate`` report)."""
        return sum(self.timings.get(key, 0.0) for key in ("compression", "maps", "reconstruction"))


__all__ = ["SliceResult"]
