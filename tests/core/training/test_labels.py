"""Image-level labels from fastMRI+ annotations: positive, negative, unknown, per lesion type."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import read_annotations
from lfmri_core.synthetic import LESION_LABELS
from lfmri_core.training import FolderSource, SliceDataset, frequent_labels, positive_weights, slice_targets

CSV = (
    "file,slice,study_level,x,y,width,height,label\n"
    "file_a,1,No,10,20,5,6,Meniscus Tear\n"
    "file_a,1,No,30,40,5,6,Bone- Subchondral edema \n"  # fastMRI+ labels can end in a space
    "file_a,3,No,10,20,5,6,Meniscus Tear\n"
    "file_b,,Yes,,,,,Joint effusion\n"
    "file_c,2,No,10,20,5,6,Bone- Subchondral edema\n"
)


@pytest.fixture
def annotation_files(tmp_path: Path) -> tuple[Path, Path]:
    csv = tmp_path / "knee.csv"
    csv.write_text(CSV)
    file_list = tmp_path / "knee_file_list.csv"
    file_list.write_text("file_a\nfile_b\nfile_d\nKnee data\n")  # file_c is annotated but not listed
    return csv, file_list


def test_slice_targets_positive_negative_unknown_and_types(annotation_files: tuple[Path, Path]) -> None:
    found = read_annotations(*annotation_files, frame_shape=(64, 64))
    types = ("Meniscus Tear", "Bone- Subchondral edema", "Joint effusion")
    a = slice_targets(found.for_file("file_a"), 4, types)
    np.testing.assert_array_equal(a, [[0, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0], [1, 1, 0, 0]])
    # reviewed, only a study-level finding (no box): every slice negative
    np.testing.assert_array_equal(slice_targets(found.for_file("file_b"), 2, types), np.zeros((2, 4)))
    # listed without any row: negatives
    np.testing.assert_array_equal(slice_targets(found.for_file("file_d"), 2, ()), np.zeros((2, 1)))
    # rows make a file reviewed even when the list misses it
    assert slice_targets(found.for_file("file_c"), 3, ())[:, 0].tolist() == [0, 0, 1]
    # in no CSV at all: unknown
    unknown = slice_targets(None, 2, types)
    assert unknown.shape == (2, 4) and np.isnan(unknown).all()


def test_unreviewed_file_is_unknown(tmp_path: Path) -> None:
    csv = tmp_path / "knee.csv"
    csv.write_text(CSV)
    found = read_annotations(csv, None, frame_shape=(64, 64))
    assert np.isnan(slice_targets(found.for_file("file_e"), 2, ())).all()


def test_frequent_labels_and_positive_weights(annotation_files: tuple[Path, Path]) -> None:
    found = read_annotations(*annotation_files, frame_shape=(64, 64))
    # Meniscus Tear on 2 slices, edema on 2 slices (a and c): ties broken by name
    assert frequent_labels(found.files.values(), 2) == ("Bone- Subchondral edema", "Meniscus Tear")
    with pytest.raises(InputError, match="name only 2"):
        frequent_labels(found.files.values(), 3)
    targets = np.array([[1, 0], [0, 0], [0, np.nan], [0, 1], [np.nan, np.nan]], dtype=np.float32)
    assert positive_weights(targets).tolist() == [3.0, 2.0]  # negatives / positives: 3 / 1 and 2 / 1, exact
    assert positive_weights(np.zeros((3, 1), np.float32)).tolist() == [1.0]


def test_dataset_labels_from_synthetic_boxes(tiny_data: Path) -> None:
    data = FolderSource(tiny_data, tiny_data / "lfmri_knee.csv", tiny_data / "lfmri_knee_file_list.csv", val_volumes=0).load()
    dataset = SliceDataset(data.train, LESION_LABELS[:2])
    assert len(dataset) == 6 and dataset.targets.shape == (6, 3)
    for (v, s), target in zip(dataset.items, dataset.targets):
        boxes = data.train[v].annotations.boxes_on(s)
        assert target[0] == float(bool(boxes))
        assert target[1] == float(any(b.label == LESION_LABELS[0] for b in boxes))
        assert target[2] == float(any(b.label == LESION_LABELS[1] for b in boxes))
    sample = dataset[1]
    assert sample.kspace.shape == (4, 160, 160) and sample.kspace.dtype.is_complex
    assert (sample.volume, sample.slice) == dataset.items[1]
    dataset.close()


def test_unannotated_folder_gives_unknown_labels(tiny_data: Path) -> None:
    data = FolderSource(tiny_data, val_volumes=0).load()
    dataset = SliceDataset(data.train)
    assert np.isnan(dataset.targets).all()
    assert len(dataset.labelled()) == 0
