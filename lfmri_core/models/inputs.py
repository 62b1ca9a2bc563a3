"""The coil maps every learned model is trained and run with, and the readout window it runs on.

Learned models see ``A^H Y`` through coil maps estimated from the undersampled k-space's fully
sampled centre. Training and inference must use the same estimate, so both call
:func:`model_sensitivities`: the fast low-resolution maps (:mod:`lfmri_core.coils.lowres`) over
the whole field of view (threshold 0), whose root-sum-of-squares is 1 everywhere, so ``|A^H Y|``
of fully sampled data is close to the RSS reference the models are scored against.

k-space whose readout is oversampled (fastMRI's 640 rows for a 320-row recon) runs through a
learned model on a *readout window* (:func:`readout_window_rows`, :func:`readout_window`): the
recon rows plus :data:`READOUT_MARGIN` rows on each side. The models are trained on row windows
(:mod:`lfmri_core.training.batch`), and for a line mask every readout row is its own
data-consistency problem, so the rows far outside the recon crop only cost time.
"""

from __future__ import annotations

import torch

from lfmri_core.coils import estimate_sensitivities
from lfmri_core.coils.calibration import MaskLike
from lfmri_core.errors import InputError

MODEL_MAPS = "lowres"
"""Sensitivity method of the learned models."""

MODEL_MAP_OPTIONS: dict[str, object] = {"threshold": 0.0}
"""Its options."""


def model_sensitivities(kspace: torch.Tensor, mask: MaskLike | None) -> torch.Tensor:
    """Coil maps for a learned model.

    Parameters
    ----------
    kspace
        Undersampled k-space, complex ``(batch, coils, H, W)``, unsampled entries 0.
    mask
        The sampling mask (boolean ``(W,)``/``(1, W)``/``(H, W)`` tensor or a
        :class:`~lfmri_core.masks.SamplingMask`); it locates the calibration block.

    Returns
    -------
    torch.Tensor
        Complex64 maps ``(batch, coils, H, W)`` on the k-space's device.
    """
    if isinstance(mask, torch.Tensor) and mask.ndim == 2 and mask.shape[0] == 1:
        mask = mask[0]
    return estimate_sensitivities(kspace, MODEL_MAPS, mask=mask, **MODEL_MAP_OPTIONS).maps


READOUT_MARGIN = 64
"""Rows a learned model gets on each side of the recon rows (:func:`readout_window_rows`).

Five stages of the shipped denoisers see 5 x 5 = 25 rows to each side; 64 leaves room for
the other learned models and puts the window's edge in the background of typical data. On
synthetic fastMRI-sized knees (640 x 368 x 15, 20 subjects, 96 slices of which 69 with lesions,
the shipped LF-MRI of 2026-12-06) the window was 1.4x faster than the whole readout, with no
difference in PSNR or LF-PSNR at 4x and +0.14 dB PSNR, +0.31 dB LF-PSNR at 8x (docs/lfmri.md,
"A readout window for oversampled k-space")."""


def check_readout_margin(margin: object) -> int | None:
    """``margin`` as a row count (an integer ``>= 0``) or None; else :class:`InputError`."""
    if margin is None:
        return None
    if isinstance(margin, bool) or not isinstance(margin, int) or margin < 0:
        raise InputError(f"the readout margin must be a whole number of rows >= 0 or None, got {margin!r}")
    return margin


def readout_window_rows(height: int, recon_rows: int, margin: int | None = READOUT_MARGIN) -> slice | None:
    """The image rows a learned model runs on for a centred recon crop of ``recon_rows``.

    Parameters
    ----------
    height
        Image rows ``H`` (readout samples).
    recon_rows
        Rows of the centre crop that is kept (fastMRI's: it starts at ``(H - recon_rows) // 2``).
    margin
        Rows kept on each side of the crop; None for the whole readout.

    Returns
    -------
    slice or None
        ``start .. start + recon_rows + 2 margin`` with ``start = (H - recon_rows) // 2 - margin``,
        so the window's own centre crop is the recon crop; None where the window would not be
        smaller than the image (data without readout oversampling, or ``margin`` None).
    """
    margin = check_readout_margin(margin)
    if margin is None:
        return None
    if not 0 < recon_rows <= height:
        raise InputError(f"a recon crop of {recon_rows} rows does not fit an image of {height}")
    start = (height - recon_rows) // 2 - margin
    stop = start + recon_rows + 2 * margin
    if start <= 0 or stop > height:
        return None
    return slice(start, stop)


def readout_window(kspace: torch.Tensor, rows: slice) -> torch.Tensor:
    """k-space of the image rows ``rows`` only: the window cut in hybrid (x, ky) space.

    A centred orthonormal inverse FFT along the readout (axis -2), the cut, and the forward FFT
    back. Image values are unchanged inside the window (orthonormal transforms of each length),
    and phase-encode sampling is untouched: for a line mask (the same columns sampled in every
    row) the result is the undersampled k-space of the windowed image. Unsampled columns come
    out zero, but possibly as ``-0.0``: apply the mask again where ``+0.0`` matters.

    Parameters
    ----------
    kspace
        Complex ``(..., H, W)``, DC at ``(H // 2, W // 2)``; not modified.
    rows
        Image rows to keep (:func:`readout_window_rows`).

    Returns
    -------
    torch.Tensor
        Complex ``(..., rows, W)``, DC at the window's centre.
    """
    hybrid = torch.fft.fftshift(torch.fft.ifft(torch.fft.ifftshift(kspace, dim=-2), dim=-2, norm="ortho"), dim=-2)
    window = hybrid[..., rows, :]
    return torch.fft.fftshift(torch.fft.fft(torch.fft.ifftshift(window, dim=-2), dim=-2, norm="ortho"), dim=-2)
