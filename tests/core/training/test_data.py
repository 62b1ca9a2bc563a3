"""Training data: the synthetic cache (made once, reused), folder scans, the validation subset."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert calls == [(1, 2), (2, 2)]  # one subject: PD and PDFS
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
