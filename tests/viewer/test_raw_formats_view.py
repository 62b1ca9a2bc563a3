"""ISMRMRD/MRD raw data in the front ends: the napari reader and the Jupyter widget open an MRD
file like the fastMRI file of the same k-space (same reference image, same reconstruction)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lfmri_core.io.fastmri_h5 import write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from lfmri_viewer.jupyter import LFMRIWidget
from lfmri_viewer.napari_plugin._reader import get_reader, read_volumes
from tests.core.io.mrd_files import kspace_lines, mrd_header, phantom_kspace, write_mrd
from tests.tolerances import assert_close_in_norm, rounding_rtol

# Two orders of the same FFTs (the readout crop before or after the 2-D transform), four coils.
TOL = rounding_rtol(np.complex64, fft_points=64 * 32, fft_passes=4, terms=4)


def _pair(folder: Path) -> tuple[Path, Path]:
    """The same phantom k-space (readout oversampled 2x) as a fastMRI file and as an MRD file."""
    kspace = phantom_kspace(2, 4, 64, 32)
    fastmri = write_volume(folder / "same.h5", kspace, encoding=EncodingInfo.for_shape((64, 32), (32, 32)))
    xml = mrd_header(encoded=(64, 32), recon=(32, 32), encoded_fov=(64, 32), recon_fov=(32, 32), slices=2)
    return fastmri, write_mrd(folder / "raw.h5", xml, kspace_lines(kspace))


def test_napari_reader_opens_mrd_like_fastmri(tmp_path: Path) -> None:
    fastmri, mrd = _pair(tmp_path)
    assert get_reader(str(mrd)) is read_volumes
    (mine, _, kind), (boxes, _, _) = read_volumes(str(mrd))
    (theirs, _, _), _ = read_volumes(str(fastmri))
    assert kind == "image" and mine.shape == theirs.shape == (2, 32, 32)
    assert_close_in_norm(mine, theirs, TOL, what="MRD vs fastMRI reference layer")
    assert len(boxes) == 0


def test_jupyter_widget_opens_mrd_like_fastmri(tmp_path: Path) -> None:
    fastmri, mrd = _pair(tmp_path)
    widgets = [LFMRIWidget(path, methods=("zero-filled",), sync=True, interactive=False) for path in (mrd, fastmri)]
    try:
        mine, theirs = (w.controller for w in widgets)
        assert mine.path == mrd and mine.num_slices == theirs.num_slices == 2
        assert_close_in_norm(mine.reference(), theirs.reference(), TOL, what="reference")
        np.testing.assert_array_equal(widgets[0].images["reference"].get_array(), mine.reference())
        # One mask for both (the default seed is the file name, which differs): the same image,
        # as masking columns commutes with removing the readout oversampling.
        for controller in (mine, theirs):
            controller.update(seed=5)
        ours, ref = mine.result("zero-filled"), theirs.result("zero-filled")
        assert ours is not None and ref is not None
        assert_close_in_norm(ours.image, ref.image, TOL, what="zero-filled image")
        # The images and references differ by TOL in norm; the zero-filled error at 4x is well
        # above 1% of the image, so its RMSE (and PSNR) moves by at most a hundred times that.
        assert np.isfinite(ref.psnr) and abs(ours.psnr - ref.psnr) <= 20 * np.log10(1 + 100 * 2 * TOL)
    finally:
        for w in widgets:
            w.close()
