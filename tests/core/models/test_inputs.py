"""The learned models' inputs: the readout window for oversampled k-space."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lfmri_core.weights as shipped
from lfmri_core.errors import InputError
from lfmri_core.models import load_weights
from lfmri_core.models.inputs import READOUT_MARGIN, readout_window, readout_window_rows
from lfmri_core.physics import apply_mask, center_crop
from tests.tolerances import assert_close_in_norm, rounding_rtol


def _ifft2c(k: np.ndarray) -> np.ndarray:
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


@pytest.mark.parametrize(
    ("height", "recon", "margin", "expected"),
    [
        (640, 320, 64, slice(96, 544)),  # fastMRI knee: 448 of 640 rows
        (640, 320, 0, slice(160, 480)),
        (641, 320, 64, slice(96, 544)),  # the crop starts at (641 - 320) // 2 = 160
        (640, 321, 64, slice(95, 544)),
        (320, 320, 64, None),  # no oversampling: the whole image
        (448, 320, 64, None),  # the window would be the image
        (450, 320, 64, slice(1, 449)),
        (640, 320, None, None),
    ],
)
def test_window_rows_keep_the_recon_crop_at_their_centre(height: int, recon: int, margin: int | None,
                                                        expected: slice | None) -> None:
    rows = readout_window_rows(height, recon, margin)
    assert rows == expected
    if rows is not None:
        image = np.arange(height)
        window = image[rows]
        assert len(window) == recon + 2 * (margin or 0) and rows.stop <= height
        # the window's own centre crop is the image's centre crop, row for row
        np.testing.assert_array_equal(center_crop(window[:, None], (recon, 1)), center_crop(image[:, None], (recon, 1)))


@pytest.mark.parametrize("bad", [-1, 2.5, True, "64"])
def test_a_bad_margin_is_one_line(bad: object) -> None:
    with pytest.raises(InputError, match="readout margin must be a whole number of rows >= 0 or None"):
        readout_window_rows(640, 320, bad)  # type: ignore[arg-type]


def test_a_recon_crop_larger_than_the_image_is_refused() -> None:
    with pytest.raises(InputError, match="a recon crop of 330 rows does not fit an image of 320"):
        readout_window_rows(320, 330)


@pytest.mark.parametrize(("height", "rows"), [(64, slice(8, 40)), (63, slice(7, 40)), (64, slice(9, 42))])
def test_the_window_is_the_kspace_of_the_windowed_image(height: int, rows: slice) -> None:
    """Against numpy in double precision: the window's image is the full image's rows, for
    even and odd sizes, with a line mask applied before (its columns stay unsampled)."""
    rng = np.random.default_rng(7)
    kspace = (rng.standard_normal((2, 3, height, 20)) + 1j * rng.standard_normal((2, 3, height, 20))).astype(np.complex64)
    line = torch.zeros(1, 20, dtype=torch.bool)
    line[0, [1, 4, 8, 9, 10, 11, 15]] = True
    undersampled = apply_mask(torch.from_numpy(kspace), line)
    before = undersampled.clone()
    window = readout_window(undersampled, rows)
    assert window.shape == (2, 3, rows.stop - rows.start, 20) and window.dtype == torch.complex64
    torch.testing.assert_close(undersampled, before, rtol=0, atol=0)  # input not modified
    expected = _ifft2c(undersampled.numpy().astype(np.complex128))[..., rows, :]
    # two 1-D FFTs of `height` and the window's rows, then one 2-D inverse FFT to compare
    rtol = rounding_rtol(torch.complex64, fft_points=height * 20, fft_passes=3)
    assert_close_in_norm(_ifft2c(window.numpy().astype(np.complex128)), expected, rtol)
    # unsampled columns stay zero (in magnitude; the pipeline masks again for +0.0)
    assert (window[..., ~line[0]] == 0).all()
    assert apply_mask(window, line)[..., ~line[0]].abs().max() == 0


def test_the_default_margin_covers_the_shipped_networks_receptive_field() -> None:
    """The shipped LF-MRI's stages see at most ``stages x depth`` rows to each side (3 x 3
    convolutions, one row per layer): the window's edge never reaches the recon crop."""
    model = load_weights(shipped.shipped_weights("lfmri"), kind="lfmri")
    convs = [m for m in model.denoisers[0].modules() if isinstance(m, torch.nn.Conv2d)]
    reach = model.config.num_stages * sum(m.kernel_size[0] // 2 * m.dilation[0] for m in convs)
    assert 0 < reach <= READOUT_MARGIN
