"""The synthetic test set: test-split seeds only, cached by recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import ImageLabel, LesionBox
from lfmri_core.io.fastmri_h5 import FastMRIVolume
from lfmri_core.study.testset import (
    DEFAULT_NUM_VOLUMES,
    MIN_LESION_SLICES,
    EvaluationSet,
    EvaluationVolume,
    SyntheticRecipe,
    count_lesion_slices,
    ensure_synthetic_set,
    lesion_slices_only,
)
from lfmri_core.synthetic.splits import split_of


def test_recipe_uses_test_seeds_only() -> None:
    recipe = SyntheticRecipe(num_volumes=7)
    assert recipe.seeds() == list(range(7))
    assert {split_of(s) for s in recipe.seeds()} == {"test"}
    assert recipe.as_dict()["contrasts"] == {"PD": {"acquisition": "CORPD_FBK", "snr": 30.0},
                                             "PDFS": {"acquisition": "CORPDFS_FBK", "snr": 18.0}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"contrasts": ("T1",)}, "unknown contrast 'T1'"), ({"num_volumes": 0}, "--num-volumes"),
     ({"num_slices": 0}, "--num-slices"), ({"contrasts": ()}, "at least one contrast"),
     ({"num_volumes": 2000}, "the test split has 1000 seeds")],
)
def test_bad_recipes(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        SyntheticRecipe(**kwargs).seeds()  # type: ignore[arg-type]


def test_a_new_recipe_replaces_the_cached_files(tmp_path: Path) -> None:
    first = ensure_synthetic_set(SyntheticRecipe(num_volumes=1, num_slices=1, contrasts=("PD",)), tmp_path)
    assert first.description["reused_cache"] is False
    (volume,) = first.volumes
    assert volume.path.is_file() and volume.contrast == "PD" and volume.slices == (0,)
    assert volume.labels == (ImageLabel.POSITIVE if volume.boxes else ImageLabel.NEGATIVE,)
    with FastMRIVolume(volume.path) as vol:
        assert vol.info.acquisition == "CORPD_FBK" and vol.info.num_slices == 1
    second = ensure_synthetic_set(SyntheticRecipe(num_volumes=1, num_slices=1, contrasts=("PDFS",)), tmp_path)
    assert second.description["reused_cache"] is False
    assert not volume.path.exists()
    assert [p.name for p in sorted(tmp_path.glob("*.h5"))] == [second.volumes[0].path.name]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"] == [second.volumes[0].name] and manifest["recipe"]["contrasts"].keys() == {"PDFS"}


def hand_made_set() -> EvaluationSet:
    """Two volumes: boxes on slices 1 (twice), 3 and an empty one on 2; slices 0-3 evaluated
    of the first, slices 0-1 of the second (whose box on slice 5 is not evaluated)."""
    first = EvaluationVolume(Path("a.h5"), "PD", (LesionBox(1, "x", 10, 20, 10, 20), LesionBox(1, "y", 30, 40, 30, 40),
                                                  LesionBox(3, "x", 5, 9, 5, 9), LesionBox(2, "x", 5, 5, 5, 9)),
                             (ImageLabel.NEGATIVE,) * 4, (0, 1, 2, 3))
    second = EvaluationVolume(Path("b.h5"), "PDFS", (LesionBox(5, "x", 10, 20, 10, 20),), (ImageLabel.NEGATIVE,) * 6,
                              (0, 1))
    return EvaluationSet((first, second), "synthetic", {"folder": "f"})


def test_count_and_select_lesion_slices() -> None:
    evaluation_set = hand_made_set()
    assert count_lesion_slices(evaluation_set) == 2
    narrowed = lesion_slices_only(evaluation_set)
    assert [(v.name, v.slices) for v in narrowed.volumes] == [("a", (1, 3))]
    assert narrowed.description == {"folder": "f", "lesion_slices_only": True, "lesion_slices": 2}
    assert count_lesion_slices(narrowed) == 2


@pytest.mark.slow
def test_default_test_set_has_enough_lesion_slices(tmp_path: Path) -> None:
    """The default synthetic test set (16 volumes, about 2 minutes to generate on one core)."""
    evaluation_set = ensure_synthetic_set(SyntheticRecipe(), tmp_path)
    assert SyntheticRecipe().num_volumes == DEFAULT_NUM_VOLUMES
    assert count_lesion_slices(evaluation_set) >= MIN_LESION_SLICES
    assert evaluation_set.description["lesion_slices"] == count_lesion_slices(evaluation_set)


def test_parallel_generation_writes_what_one_process_writes(tmp_path: Path) -> None:
    import filecmp

    import h5py
    import numpy as np

    recipe = SyntheticRecipe(num_volumes=1, num_slices=2)
    serial = ensure_synthetic_set(recipe, tmp_path / "serial")
    calls: list[tuple[int, int]] = []
    parallel = ensure_synthetic_set(recipe, tmp_path / "parallel", workers=2, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 2), (2, 2)]
    assert [v.name for v in serial.volumes] == [v.name for v in parallel.volumes]
    for a, b in zip(serial.volumes, parallel.volumes):
        assert a.boxes == b.boxes and a.labels == b.labels
        with h5py.File(a.path) as x, h5py.File(b.path) as y:
            np.testing.assert_array_equal(x["kspace"][()], y["kspace"][()])
    assert filecmp.cmp(tmp_path / "serial" / "lfmri_test.csv", tmp_path / "parallel" / "lfmri_test.csv", shallow=False)
    with pytest.raises(InputError, match="workers must be an integer >= 1"):
        ensure_synthetic_set(recipe, tmp_path / "bad", workers=0)
