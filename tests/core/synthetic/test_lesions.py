"""Lesions and their boxes: exact extents, plausible sizes, lesion-free slices and volumes."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from lfmri_core.io.annotations import LesionBox
from lfmri_core.synthetic import LESION_LABELS, SyntheticVolume, get_geometry, lesions_for

#: Median width x height (pixels at 0.5 mm) of the fastMRI+ knee boxes.
MEDIAN_SIZE = {
    "Meniscus Tear": (25, 15),
    "Cartilage - Partial Thickness loss/defect": (29, 11),
    "Bone- Subchondral edema": (25, 25),
    "Joint Effusion": (53, 135),
    "Periarticular cysts": (46, 70),
}
#: Changes smaller than this (relative to the image maximum) are numerical noise.
TOLERANCE = 1e-3


def _changed(volume: SyntheticVolume) -> np.ndarray:
    rows, cols = get_geometry(volume.config.geometry).crop
    assert volume.lesion_free_image is not None
    diff = np.abs(volume.image - volume.lesion_free_image)[:, rows, cols]
    return diff > TOLERANCE * np.abs(volume.image).max()


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


@pytest.mark.parametrize("name", ["pd_volume", "pdfs_volume", "effusion_volume"])
def test_boxes_are_the_exact_extent_of_what_the_lesions_change(name: str, request: pytest.FixtureRequest) -> None:
    volume: SyntheticVolume = request.getfixturevalue(name)
    changed = _changed(volume)
    assert volume.boxes
    for index in range(volume.kspace.shape[0]):
        boxes = [b for b in volume.boxes if b.slice == index]
        expected = _bbox(changed[index])
        if not boxes:
            assert expected is None, f"slice {index} changed without a box"
            continue
        for box in boxes:
            assert box.fits((320, 320)) and not box.is_empty
            # Tight: every edge of the box touches a changed pixel.
            inside = changed[index, box.row0 : box.row1, box.col0 : box.col1]
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
        union = (
            min(b.row0 for b in boxes),
            max(b.row1 for b in boxes),
            min(b.col0 for b in boxes),
            max(b.col1 for b in boxes),
        )
        assert union == expected, f"slice {index}: boxes {union} vs changed pixels {expected}"


def test_boxes_survive_the_labelling_frame(pd_volume: SyntheticVolume) -> None:
    for box in pd_volume.boxes:
        x, y, width, height = box.to_labelling_frame()
        back = LesionBox.from_labelling_frame(slice=box.slice, label=box.label, x=x, y=y, width=width, height=height)
        assert back == box


def test_box_sizes_are_like_fastmri_plus(pd_volume: SyntheticVolume, pdfs_volume: SyntheticVolume, effusion_volume: SyntheticVolume) -> None:
    sizes: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for volume in (pd_volume, pdfs_volume, effusion_volume):
        for box in volume.boxes:
            assert box.label in LESION_LABELS
            sizes[box.label].append((box.width, box.height))
    assert set(sizes) == set(LESION_LABELS)
    for label, found in sizes.items():
        width, height = np.median(np.array(found), axis=0)
        ref_w, ref_h = MEDIAN_SIZE[label]
        assert ref_w / 3 <= width <= ref_w * 3, (label, width)
        assert ref_h / 3 <= height <= ref_h * 3, (label, height)
        for w, h in found:
            assert ref_w / 4 <= w <= ref_w * 4 and ref_h / 4 <= h <= ref_h * 4, (label, w, h)


def test_each_lesion_spans_a_few_adjacent_slices(pd_volume: SyntheticVolume, effusion_volume: SyntheticVolume) -> None:
    for volume in (pd_volume, effusion_volume):
        slices: dict[str, list[int]] = defaultdict(list)
        for box in volume.boxes:
            slices[box.label].append(box.slice)
        for label, found in slices.items():
            found = sorted(found)
            assert found == list(range(found[0], found[-1] + 1)), (label, found)
            assert len(found) >= 2
            if label != "Joint Effusion":
                assert len(found) <= 6


def test_lesion_bearing_volumes_have_lesion_free_slices(pd_volume: SyntheticVolume, effusion_volume: SyntheticVolume) -> None:
    for volume in (pd_volume, effusion_volume):
        with_boxes = {b.slice for b in volume.boxes}
        assert 0 < len(with_boxes) < volume.kspace.shape[0] - 2
        assert 0 not in with_boxes and volume.kspace.shape[0] - 1 not in with_boxes


def test_lesion_load_varies_between_subjects() -> None:
    loads = [len(lesions_for(seed)) for seed in range(40)]
    assert 0 in loads  # some volumes have no lesions at all
    assert max(loads) >= 3
    labels = {lesion.label for seed in range(40) for lesion in lesions_for(seed)}
    assert labels == set(LESION_LABELS)
