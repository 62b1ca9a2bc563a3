"""PD and PDFS look like their clinical counterparts: fat bright in PD and suppressed in PDFS,
fluid bright relative to marrow in PDFS; bones shrink towards the slice extremes."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from lfmri_core.synthetic import SyntheticVolume, get_geometry, render_tissue_fractions
from lfmri_core.synthetic.contrast import Tissue


def _pure(volume: SyntheticVolume, index: int, tissue: Tissue) -> np.ndarray:
    """Pixels made only of ``tissue``, away from its borders (stored frame, encoded grid)."""
    fractions = render_tissue_fractions(volume.config, index)
    return ndimage.binary_erosion(fractions.get(tissue, np.zeros(volume.encoded_shape)) > 0.999, iterations=3)


def _mean(volume: SyntheticVolume, index: int, mask: np.ndarray) -> float:
    assert mask.sum() > 50
    return float(np.mean(np.abs(volume.lesion_free_image[index])[mask]))


def test_fat_is_bright_in_pd_and_suppressed_in_pdfs(pd_volume: SyntheticVolume, pdfs_volume: SyntheticVolume) -> None:
    index = 8
    fat = _pure(pd_volume, index, Tissue.FAT)
    muscle = _pure(pd_volume, index, Tissue.MUSCLE)
    pd_ratio = _mean(pd_volume, index, fat) / _mean(pd_volume, index, muscle)
    pdfs_ratio = _mean(pdfs_volume, index, fat) / _mean(pdfs_volume, index, muscle)
    assert pd_ratio > 1.8
    assert pdfs_ratio < 0.6


def test_fluid_is_bright_against_marrow_in_pdfs(pd_volume: SyntheticVolume, pdfs_volume: SyntheticVolume) -> None:
    cysts = [b for b in pd_volume.boxes if b.label == "Periarticular cysts"]
    box = max(cysts, key=lambda b: b.area)
    crop_rows, crop_cols = get_geometry(pd_volume.config.geometry).crop
    # The middle of the cyst is pure fluid (boxes are relative to the recon crop).
    r0 = crop_rows.start + box.row0 + box.height // 3
    r1 = crop_rows.start + box.row1 - box.height // 3
    c0 = crop_cols.start + box.col0 + box.width // 3
    c1 = crop_cols.start + box.col1 - box.width // 3
    fluid = np.zeros(pd_volume.encoded_shape, dtype=bool)
    fluid[r0:r1, c0:c1] = True
    marrow = _pure(pd_volume, box.slice, Tissue.MARROW)

    def ratio(volume: SyntheticVolume) -> float:
        image = np.abs(volume.image[box.slice])
        return float(np.mean(image[fluid]) / np.mean(image[marrow]))

    assert ratio(pd_volume) < 1.2
    assert ratio(pdfs_volume) > 4.0
    assert ratio(pdfs_volume) > 4.0 * ratio(pd_volume)


def test_pd_and_pdfs_show_the_same_knee(pd_volume: SyntheticVolume, pdfs_volume: SyntheticVolume) -> None:
    assert pd_volume.boxes == pdfs_volume.boxes or {(b.label, b.slice) for b in pd_volume.boxes} == {
        (b.label, b.slice) for b in pdfs_volume.boxes
    }
    # Same anatomy: where PD has air, PDFS has air (up to the Gibbs ringing at the skin).
    pd = np.abs(pd_volume.lesion_free_image)
    pdfs = np.abs(pdfs_volume.lesion_free_image)
    pd_leg = pd > 0.02 * np.percentile(pd, 99)
    pdfs_leg = pdfs > 0.02 * np.percentile(pdfs, 99)
    assert np.mean(pd_leg == pdfs_leg) > 0.98


def test_bones_shrink_towards_the_slice_extremes(pd_volume: SyntheticVolume) -> None:
    n = pd_volume.kspace.shape[0]
    area = [float(render_tissue_fractions(pd_volume.config, i).get(Tissue.MARROW, np.zeros(1)).sum()) for i in (0, n // 4, n // 2, 3 * n // 4, n - 1)]
    assert area[0] < 0.6 * area[1] and area[-1] < 0.6 * area[-2]
    assert min(area[1:4]) > 0
