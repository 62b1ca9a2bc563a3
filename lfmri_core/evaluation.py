"""Scoring reconstructions against the fully sampled reference, globally and inside lesions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from lfmri_core.io.annotations import LesionBox
from lfmri_core.metrics import lf_metrics, volume_metrics


@dataclass(frozen=True)
class Scores:
    """Metrics of one reconstructed volume (or a subset of its slices).

    PSNR/SSIM/NMSE follow fastMRI's ``evaluate.py`` over the slices given; LF-PSNR/LF-SSIM are
    the lesion-focused metrics (see :mod:`lfmri_core.metrics.lesion`), NaN when none of the
    slices has a lesion box. The data range is the maximum of the reference over the slices
    scored.
    """

    psnr: float
    ssim: float
    nmse: float
    lf_psnr: float
    lf_ssim: float
    num_slices: int
    num_lesion_slices: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def score_volume(
    target: np.ndarray,
    reconstruction: np.ndarray,
    boxes: Sequence[LesionBox] = (),
    slices: Sequence[int] | None = None,
    maxval: float | None = None,
) -> Scores:
    """Score ``reconstruction`` against ``target``.

    Parameters
    ----------
    target, reconstruction
        Magnitude images ``(n, rh, rw)``; ``reconstruction[i]`` is slice ``slices[i]``.
    boxes
        Lesion boxes of the volume (slice indices of the *volume*).
    slices
        Volume slice index of each row (default ``0 .. n-1``).
    maxval
        Data range; default the maximum of ``target``. Pass the whole volume's maximum when
        scoring a subset of slices so the numbers match a full-volume run.
    """
    slices = list(range(len(target))) if slices is None else list(slices)
    position = {s: i for i, s in enumerate(slices)}
    local = [
        LesionBox(slice=position[b.slice], label=b.label, row0=b.row0, row1=b.row1, col0=b.col0, col1=b.col1)
        for b in boxes
        if b.slice in position
    ]
    maxval = float(target.max()) if maxval is None else float(maxval)
    glob = volume_metrics(target, reconstruction, maxval=maxval)
    lesion = lf_metrics(target, reconstruction, local, maxval=maxval)
    return Scores(
        psnr=float(glob["psnr"]),
        ssim=float(glob["ssim"]),
        nmse=float(glob["nmse"]),
        lf_psnr=float(lesion.lf_psnr),
        lf_ssim=float(lesion.lf_ssim),
        num_slices=len(slices),
        num_lesion_slices=lesion.num_lesion_slices,
    )
