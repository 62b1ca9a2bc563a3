"""BART's data scaling for ``pics``, so a regularisation weight means the same in both.

``bart pics`` divides the k-space by a factor it estimates from the data (unless ``-w`` gives
one) before solving, and with ``-S`` multiplies the image back. The estimate
(``estimate_scaling`` in ``src/sense/optcom.c`` and ``extract_calib2`` in ``src/misc/mri.c``,
v0.8.00), per slice here:

1. take the central ``min(32, W)`` phase-encode columns over the whole readout;
2. grow a centred calibration block (readout and phase encode in turn, each up to 32) while
   every sample in it is acquired (a sample is acquired where any coil is non-zero);
3. slide the block along the readout to the position of maximum k-space energy;
4. modulate the block by BART's ``fftmod`` (``pics`` applies it to all k-space before the
   estimate; ``(-1)^(i + j)`` for even sizes, a half-pixel shift of an odd-sized block's
   image), inverse-FFT it (unitary), combine the coils by root-sum-of-squares, sort the
   magnitudes, and take the 90th percentile ``p90`` unless the maximum lies far above it
   (``max - p90 >= 2 (p90 - median)``, then the maximum);
5. divide by ``sqrt(H / block_h * W / block_w)`` (the resolution of the block).

A zero estimate becomes 1, as in BART.
"""

from __future__ import annotations

import math

import torch

from lfmri_core.errors import InputError

#: Largest calibration block BART uses for the estimate, per axis.
CALIBRATION_SIZE = 32


def _calibration_block(acquired: torch.Tensor) -> tuple[int, int, int]:
    """BART's ``calib_geom``: block height, width and column offset inside ``acquired`` (H, w)."""
    dims = list(acquired.shape)
    block = [1, 1]
    stop = [False, False]
    while not all(stop):
        for axis in (0, 1):
            if block[axis] == dims[axis] or block[axis] >= CALIBRATION_SIZE:
                stop[axis] = True
            if stop[axis]:
                continue
            block[axis] += 1
            top, left = (dims[0] - block[0]) // 2, (dims[1] - block[1]) // 2
            if not bool(acquired[top : top + block[0], left : left + block[1]].all()):
                block[axis] -= 1
                stop[axis] = True
    return block[0], block[1], (dims[1] - block[1]) // 2


def _fftmod_phase(length: int, index: torch.Tensor) -> torch.Tensor:
    center = length // 2
    return (index.to(torch.float64) - center / 2.0) * (center / length)


def _fftmod(height: int, width: int, top: int, left: int, block_h: int, block_w: int, device: torch.device) -> torch.Tensor:
    """BART's ``fftmod`` factors (``(-1)^(i + j)`` up to a constant for even sizes) on a block."""
    rows = _fftmod_phase(height, torch.arange(top, top + block_h, device=device))
    cols = _fftmod_phase(width, torch.arange(left, left + block_w, device=device))
    phase = rows[:, None] + cols[None, :]
    return torch.polar(torch.ones_like(phase), 2 * math.pi * phase).to(torch.complex64)


def bart_scaling(kspace: torch.Tensor) -> torch.Tensor:
    """The factor ``bart pics`` divides each slice's k-space by.

    Parameters
    ----------
    kspace
        Undersampled multi-coil k-space, complex ``(slices, coils, H, W)`` (unacquired entries
        exactly zero, as BART infers the pattern from the data).

    Returns
    -------
    torch.Tensor
        float32 ``(slices,)`` on the device of ``kspace``.
    """
    if kspace.ndim != 4 or not kspace.is_complex():
        raise InputError(f"k-space must be complex (slices, coils, H, W), got {kspace.dtype} {tuple(kspace.shape)}")
    _, _, height, width = kspace.shape
    columns = min(CALIBRATION_SIZE, width)
    start = (width - columns) // 2
    scales = []
    for slice_kspace in kspace:
        center = slice_kspace[:, :, start : start + columns]
        acquired = (center != 0).any(dim=0)
        block_h, block_w, left = _calibration_block(acquired)
        cols = center[:, :, left : left + block_w]
        # energy of each readout position of the block, first maximum wins as in BART
        row_energy = torch.sum(cols.abs().square(), dim=(0, 2), dtype=torch.float64)
        windows = row_energy.unfold(0, block_h, 1).sum(dim=1)
        top = int(torch.argmax(windows))
        block = cols[:, top : top + block_h, :] * _fftmod(height, width, top, start + left, block_h, block_w, kspace.device)
        image = torch.fft.ifft2(block, norm="ortho")
        magnitude = torch.sqrt(torch.sum(image.abs().square(), dim=0)).flatten()
        values = torch.sort(magnitude).values
        count = values.numel()
        median, p90, peak = (float(values[i]) for i in (count // 2, int(math.trunc(count * 0.9)), count - 1))
        scale = p90 if (peak - p90) < 2 * (p90 - median) else peak
        rescale = math.sqrt(height / block_h) * math.sqrt(width / block_w)
        scale /= rescale
        scales.append(scale if scale != 0 else 1.0)
    return torch.tensor(scales, dtype=torch.float32, device=kspace.device)
