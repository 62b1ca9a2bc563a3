"""Training data: the synthetic cache (made once, reused), folder scans, the validation subset."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.synthetic import LESION_LABELS
from lfmri_core.training import FolderSource, SyntheticSource
from lfmri_core.training.data import MANIFEST_NAME, validation_positions


def test_synthetic_source_generates_once_and_reuses(tmp_path: Path) -> None:
    source = SyntheticSource(cache=tmp_path, train_volumes=1, val_volumes=0, num_slices=2, num_coils=4)
    calls: list[tuple[int, int]] = []
    source.ensure(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 2)]  # one subject: PD and PDFS, reported when both are written
    folder = source.folder("train")
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["files"] == ["train_10000_pd", "train_10000_pdfs"]
    assert manifest["recipe"]["seeds"] == [10000] and manifest["recipe"]["split"] == "train"
    stamp = (folder / "train_10000_pd.h5").stat().st_mtime_ns
    calls.clear()
    source.ensure(progress=lambda done, total: calls.append((done, total)))
    assert calls == [] and (folder / "train_10000_pd.h5").stat().st_mtime_ns == stamp

    data = source.load()
    assert [v.name for v in data.train] == ["train_10000_pd.h5", "train_10000_pdfs.h5"] and data.validation == ()
    assert data.lesion_types == tuple(LESION_LABELS)
    assert all(v.annotations is not None and v.annotations.reviewed for v in data.train)
    assert data.train[0].image_shape == data.train[0].recon_shape == (320, 320)
    assert "synthetic" in data.description

    # another recipe is another folder; a stale manifest is refused by load
    assert SyntheticSource(cache=tmp_path, train_volumes=2, num_slices=2, num_coils=4).folder("train") != folder
    (folder / MANIFEST_NAME).write_text("{}")
    with pytest.raises(InputError, match="missing or stale"):
        source.load()


def test_folder_source_holds_out_validation_files(tiny_data: Path) -> None:
    data = FolderSource(tiny_data, tiny_data / "lfmri_knee.csv", val_volumes=1, train_volumes=1).load()
    assert [v.name for v in data.train] == ["tiny_10000.h5"]
    assert [v.name for v in data.validation] == ["tiny_10002.h5"]
    with pytest.raises(InputError, match="too few"):
        FolderSource(tiny_data, val_volumes=3).load()
    with pytest.raises(InputError, match="needs its annotation CSV"):
        FolderSource(tiny_data, file_list=tiny_data / "lfmri_knee_file_list.csv").load()


def test_validation_subset_takes_lesion_slices_first() -> None:
    targets = np.array([[0], [1], [0], [np.nan], [1], [0], [0], [1]], dtype=np.float32)
    chosen = validation_positions(targets, 4)
    assert len(chosen) == 4 and sum(targets[i, 0] == 1 for i in chosen) == 2
    assert validation_positions(targets, 4) == chosen
    assert validation_positions(targets, 100) == list(range(8))
    assert validation_positions(targets[:3], 2) == [0, 1]
    assert validation_positions(targets, 0) == []


def test_lesion_free_twins_differ_only_by_the_lesions(tmp_path: Path) -> None:
    from lfmri_core.io.annotations import ImageLabel
    from lfmri_core.io.fastmri_h5 import FastMRIVolume

    source = SyntheticSource(cache=tmp_path, train_volumes=1, val_volumes=1, num_slices=6, num_coils=4,
                             lesion_free_twins=True)
    plain = SyntheticSource(cache=tmp_path, train_volumes=1, val_volumes=1, num_slices=6, num_coils=4)
    assert source.folder("train") != plain.folder("train")
    assert source.folder("validation") == plain.folder("validation")  # twins only where a model learns
    source.ensure()
    data = source.load()
    names = [v.name for v in data.train]
    with_lesions = [v for v in data.train if v.annotations is not None and v.annotations.boxes]
    assert with_lesions, "seed 10000 must have lesions for this test"
    for volume in with_lesions:
        stem = volume.name.removesuffix(".h5")
        assert f"{stem}_twin.h5" in names
        twin = next(v for v in data.train if v.name == f"{stem}_twin.h5")
        assert twin.annotations is not None and twin.annotations.reviewed and twin.annotations.boxes == ()
        assert twin.annotations.slice_labels(6) == [ImageLabel.NEGATIVE] * 6
        folder = source.folder("train")
        with FastMRIVolume(folder / volume.name) as a, FastMRIVolume(folder / twin.name) as b:
            lesion_slice = volume.annotations.boxes[0].slice
            diff = np.abs(a.target(lesion_slice) - b.target(lesion_slice))
            box = volume.annotations.boxes[0]
            inside = np.zeros_like(diff, dtype=bool)
            inside[box.row0:box.row1, box.col0:box.col1] = True
            assert diff[inside].max() > 0  # the lesion is there in one and not in the other
            assert diff[~inside].max() <= 1e-3 * a.target(lesion_slice).max()  # same knee, coils and noise
    assert "lesion-free twins" in data.description


def test_a_second_recipe_links_the_files_of_the_first(tmp_path: Path) -> None:
    """The plain set of a subject reuses its files from the twins set: same bytes (hard links),
    and the same annotations as a fresh generation."""
    import filecmp

    twins = SyntheticSource(cache=tmp_path / "a", train_volumes=1, val_volumes=0, num_slices=6, num_coils=4,
                            lesion_free_twins=True)
    twins.ensure()
    plain = SyntheticSource(cache=tmp_path / "a", train_volumes=1, val_volumes=0, num_slices=6, num_coils=4)
    calls: list[tuple[int, int]] = []
    plain.ensure(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 2)]
    fresh = SyntheticSource(cache=tmp_path / "b", train_volumes=1, val_volumes=0, num_slices=6, num_coils=4)
    fresh.ensure()
    linked, made = plain.folder("train"), fresh.folder("train")
    for stem in ("train_10000_pd", "train_10000_pdfs"):
        assert (linked / f"{stem}.h5").stat().st_ino == (twins.folder("train") / f"{stem}.h5").stat().st_ino
        with h5py.File(linked / f"{stem}.h5") as a, h5py.File(made / f"{stem}.h5") as b:
            np.testing.assert_array_equal(a["kspace"][()], b["kspace"][()])
    assert not (linked / "train_10000_pd_twin.h5").exists()
    for name in ("lfmri_knee.csv", "lfmri_knee_file_list.csv", MANIFEST_NAME):
        assert filecmp.cmp(linked / name, made / name, shallow=False), name
    assert [v.annotations for v in plain.load().train] == [v.annotations for v in fresh.load().train]


def test_parallel_generation_writes_what_one_process_writes(tmp_path: Path) -> None:
    serial = SyntheticSource(cache=tmp_path / "serial", train_volumes=2, val_volumes=0, num_slices=2, num_coils=4)
    parallel = SyntheticSource(cache=tmp_path / "parallel", train_volumes=2, val_volumes=0, num_slices=2, num_coils=4,
                               workers=2)
    serial.ensure()
    parallel.ensure()
    a, b = serial.folder("train"), parallel.folder("train")
    assert json.loads((a / MANIFEST_NAME).read_text()) == json.loads((b / MANIFEST_NAME).read_text())
    for stem in json.loads((a / MANIFEST_NAME).read_text())["files"]:
        with h5py.File(a / f"{stem}.h5") as x, h5py.File(b / f"{stem}.h5") as y:
            np.testing.assert_array_equal(x["kspace"][()], y["kspace"][()])
    with pytest.raises(InputError, match="workers must be an integer >= 1"):
        SyntheticSource(cache=tmp_path / "bad", train_volumes=1, val_volumes=0, num_slices=2, workers=0).ensure()


def test_preloaded_items_equal_the_items_read_from_the_files(tiny_data: Path) -> None:
    from lfmri_core.training.data import SliceDataset

    data = FolderSource(tiny_data, tiny_data / "lfmri_knee.csv", tiny_data / "lfmri_knee_file_list.csv", val_volumes=1).load()
    lazy = SliceDataset(data.train)
    loaded = SliceDataset(data.train).preload("cpu")
    assert len(lazy) == len(loaded) > 0
    for i in range(len(lazy)):
        a, b = lazy[i], loaded[i]
        assert (a.volume, a.slice) == (b.volume, b.slice)
        np.testing.assert_array_equal(a.kspace.numpy(), b.kspace.numpy())
        np.testing.assert_array_equal(a.targets.numpy(), b.targets.numpy())
    with pytest.raises(InputError, match="use no data-loading workers with preload"):
        loaded.__getstate__()
