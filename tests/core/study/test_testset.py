"""The synthetic test set: test-split seeds only, cached by recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import ImageLabel
from lfmri_core.io.fastmri_h5 import FastMRIVolume
from lfmri_core.study.testset import SyntheticRecipe, ensure_synthetic_set
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
