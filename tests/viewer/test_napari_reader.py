"""The napari plugin: reader, sample data and manifest, without and with a viewer."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import read_annotations
from lfmri_core.io.fastmri_h5 import FastMRIVolume
from lfmri_sample_data import manifest
from lfmri_viewer.napari_plugin._layers import BOXES_ROLE, REFERENCE_ROLE, ROLE_KEY, SOURCE_KEY, shapes_to_boxes
from lfmri_viewer.napari_plugin._reader import get_reader, read_volumes
from tests.viewer.conftest import SmallDataset
from tests.tolerances import assert_close_in_norm, rounding_rtol

PLUGIN = "lfmri-viewer"
#: napari's ``make_napari_viewer`` fixture: ``napari.Viewer`` keyword arguments -> a viewer.
MakeViewer = Callable[..., Any]
MANIFEST = Path(__file__).resolve().parents[2] / "lfmri_viewer" / "napari_plugin" / "napari.yaml"


def _digest(*paths: Path) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


# --- what the reader declines -----------------------------------------------------------------


def test_declines_what_it_cannot_read(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    fake_h5 = tmp_path / "fake.h5"
    fake_h5.write_text("not an HDF5 file")
    other_h5 = tmp_path / "image.h5"
    with h5py.File(other_h5, "w") as f:
        f.create_dataset("image", data=np.zeros((4, 4)))
    group_h5 = tmp_path / "group.h5"
    with h5py.File(group_h5, "w") as f:
        f.create_group("kspace")
    lone_cfl = tmp_path / "lone.cfl"
    lone_cfl.write_bytes(b"\0" * 64)
    lone_hdr = tmp_path / "alone.hdr"
    lone_hdr.write_text("# Dimensions\n4 4 1 1\n")
    folder = tmp_path / "folder.h5"
    folder.mkdir()
    for path in (text, fake_h5, other_h5, group_h5, lone_cfl, lone_hdr, folder, tmp_path, tmp_path / "missing.h5"):
        assert get_reader(str(path)) is None, path
        assert get_reader(path) is None, path


def test_declines_lists_with_an_unreadable_path(tmp_path: Path, small_dataset: SmallDataset) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert get_reader([str(small_dataset.h5), str(text)]) is None
    assert get_reader([]) is None
    assert get_reader(42) is None  # type: ignore[arg-type]


def test_accepts_fastmri_and_bart(small_dataset: SmallDataset) -> None:
    for path in (small_dataset.h5, small_dataset.cfl, small_dataset.cfl.with_suffix(".hdr")):
        assert get_reader(str(path)) is read_volumes
    assert get_reader([str(small_dataset.h5), str(small_dataset.cfl)]) is read_volumes


# --- what it reads ----------------------------------------------------------------------------


def test_fastmri_file_gives_target_and_csv_boxes(small_dataset: SmallDataset) -> None:
    before = _digest(small_dataset.h5, small_dataset.csv, small_dataset.file_list)
    reader = get_reader(str(small_dataset.h5))
    assert reader is not None
    (image, image_kwargs, image_type), (shapes, shape_kwargs, shape_type) = reader(str(small_dataset.h5))
    assert (image_type, shape_type) == ("image", "shapes")
    np.testing.assert_array_equal(image, small_dataset.volume.reconstruction_rss)
    assert image_kwargs["name"] == "small reference"
    assert image_kwargs["metadata"][ROLE_KEY] == REFERENCE_ROLE
    assert shape_kwargs["metadata"][ROLE_KEY] == BOXES_ROLE
    assert shape_kwargs["metadata"][SOURCE_KEY] == str(small_dataset.h5)

    expected = read_annotations(small_dataset.csv, small_dataset.file_list, frame_shape=(320, 320)).for_file("small").boxes
    assert len(expected) > 0 and expected == small_dataset.volume.boxes
    assert shapes_to_boxes(shapes, shape_kwargs["features"]["label"], image.shape) == list(expected)
    assert _digest(small_dataset.h5, small_dataset.csv, small_dataset.file_list) == before


def test_bart_array_gives_rss_and_no_boxes(small_dataset: SmallDataset) -> None:
    before = _digest(small_dataset.cfl, small_dataset.cfl.with_suffix(".hdr"))
    # Both files of the pair name one volume: read once.
    layers = read_volumes([str(small_dataset.cfl), str(small_dataset.cfl.with_suffix(".hdr"))])
    assert [layer[2] for layer in layers] == ["image", "shapes"]
    (image, image_kwargs, _), (shapes, shape_kwargs, _) = layers
    assert image_kwargs["name"] == "small RSS" and image.shape == (3, 320, 320)
    # one complex64 inverse FFT per coil on each side, summed over the coils
    kspace = small_dataset.volume.kspace
    rtol = rounding_rtol(np.complex64, fft_points=kspace.shape[-2] * kspace.shape[-1], fft_passes=2, terms=kspace.shape[-3])
    assert_close_in_norm(image, small_dataset.volume.reconstruction_rss, rtol)
    assert shapes == [] and shape_kwargs["ndim"] == 3
    assert _digest(small_dataset.cfl, small_dataset.cfl.with_suffix(".hdr")) == before


def test_bart_array_finds_boxes_named_by_its_stem(tmp_path: Path, small_dataset: SmallDataset) -> None:
    for suffix in (".cfl", ".hdr"):
        (tmp_path / f"small{suffix}").write_bytes(small_dataset.cfl.with_suffix(suffix).read_bytes())
    (tmp_path / "knee.csv").write_text(small_dataset.csv.read_text())
    _, (shapes, kwargs, _) = read_volumes(str(tmp_path / "small.cfl"))
    assert shapes_to_boxes(shapes, kwargs["features"]["label"]) == list(small_dataset.volume.boxes)


def test_file_without_annotations_gets_an_empty_boxes_layer(tmp_path: Path, small_dataset: SmallDataset) -> None:
    path = tmp_path / "alone.h5"
    path.write_bytes(small_dataset.h5.read_bytes())
    _, (shapes, kwargs, layer_type) = read_volumes(str(path))
    assert (shapes, layer_type, kwargs["ndim"], len(kwargs["features"]["label"])) == ([], "shapes", 3, 0)


def test_broken_files_that_looked_readable_raise_input_errors(tmp_path: Path, small_dataset: SmallDataset) -> None:
    real_kspace = tmp_path / "real.h5"
    with h5py.File(real_kspace, "w") as f:
        f.create_dataset("kspace", data=np.zeros((2, 2, 8, 8), np.float32))
    assert get_reader(str(real_kspace)) is read_volumes
    with pytest.raises(InputError, match="dtype float32"):
        read_volumes(str(real_kspace))

    short = tmp_path / "short.cfl"
    short.write_bytes(b"\0" * 16)
    short.with_suffix(".hdr").write_text("# Dimensions\n8 8 1 2\n")
    assert get_reader(str(short)) is read_volumes
    with pytest.raises(InputError, match="holds 16 bytes"):
        read_volumes(str(short))

    # A box outside the image is an error in the annotations, not silently dropped.
    folder = tmp_path / "bad_boxes"
    folder.mkdir()
    (folder / "small.h5").write_bytes(small_dataset.h5.read_bytes())
    (folder / "knee.csv").write_text(
        "file,slice,study_level,x,y,width,height,label\nsmall,7,No,10,10,5,5,Meniscus Tear\n"
    )
    with pytest.raises(InputError, match="names slice 7"):
        read_volumes(str(folder / "small.h5"))


# --- manifest ---------------------------------------------------------------------------------


def test_manifest_validates_and_is_discovered(small_dataset: SmallDataset) -> None:
    from npe2 import PluginManager, PluginManifest

    from_file = PluginManifest.from_file(MANIFEST)
    from_file.validate_imports()  # every python_name resolves
    assert from_file.name == PLUGIN and from_file.display_name == "LF-MRI Viewer"
    contributions = from_file.contributions
    (reader,) = contributions.readers
    assert sorted(reader.filename_patterns) == ["*.cfl", "*.h5", "*.hdr"] and not reader.accepts_directories
    assert {s.display_name for s in contributions.sample_data} == {"Synthetic knee (PD)", "Synthetic knee (PDFS)"}

    manager = PluginManager()
    manager.discover(include_npe1=False)
    assert manager.get_manifest(PLUGIN).name == PLUGIN  # installed: the entry point registers it
    for path in (small_dataset.h5, small_dataset.cfl):
        assert PLUGIN in {r.plugin_name for r in manager.iter_compatible_readers([str(path)])}


def test_sample_keys_match_the_sample_manifest() -> None:
    from npe2 import PluginManifest

    keys = {s.key: s.command for s in PluginManifest.from_file(MANIFEST).contributions.sample_data}
    assert keys == {"knee_pd": f"{PLUGIN}.sample_knee_pd", "knee_pdfs": f"{PLUGIN}.sample_knee_pdfs"}
    assert {v["contrast"] for v in manifest()["volumes"]} == {"PD", "PDFS"}


# --- in napari --------------------------------------------------------------------------------


@pytest.mark.gui
def test_viewer_opens_a_volume_with_its_boxes(make_napari_viewer: MakeViewer, small_dataset: SmallDataset) -> None:
    viewer = make_napari_viewer()
    viewer.open(str(small_dataset.h5), plugin=PLUGIN)
    assert [layer.name for layer in viewer.layers] == ["small reference", "small lesion boxes"]
    image, boxes = viewer.layers
    np.testing.assert_array_equal(image.data, small_dataset.volume.reconstruction_rss)
    assert boxes.ndim == 3 and boxes.nshapes == len(small_dataset.volume.boxes)
    assert shapes_to_boxes(boxes.data, list(boxes.features["label"]), image.data.shape) == list(small_dataset.volume.boxes)
    assert viewer.dims.nsteps[0] == 3  # the slider walks the slices


@pytest.mark.gui
def test_viewer_opens_bart_arrays(make_napari_viewer: MakeViewer, small_dataset: SmallDataset) -> None:
    viewer = make_napari_viewer()
    viewer.open(str(small_dataset.cfl.with_suffix(".hdr")), plugin=PLUGIN)
    assert [layer.name for layer in viewer.layers] == ["small RSS", "small lesion boxes"]
    assert viewer.layers[1].nshapes == 0 and viewer.layers[1].ndim == 3


@pytest.mark.gui
@pytest.mark.parametrize(("key", "contrast"), [("knee_pd", "PD"), ("knee_pdfs", "PDFS")])
def test_viewer_opens_the_samples(make_napari_viewer: MakeViewer, sample_paths: list[Path], key: str, contrast: str) -> None:
    stem = next(v["stem"] for v in manifest()["volumes"] if v["contrast"] == contrast)
    path = next(p for p in sample_paths if p.stem == stem)
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, key)
    assert [layer.name for layer in viewer.layers] == [f"{stem} reference", f"{stem} lesion boxes"]
    image, boxes = viewer.layers
    with FastMRIVolume(path) as volume:
        np.testing.assert_array_equal(image.data, volume.target_volume())
    expected = read_annotations(sample_paths[-2], sample_paths[-1]).for_file(stem).boxes
    assert len(expected) > 0
    assert shapes_to_boxes(boxes.data, list(boxes.features["label"]), image.data.shape) == list(expected)
    assert image.metadata[SOURCE_KEY] == str(path)


def test_napari_preferences_of_the_tests_are_kept_apart() -> None:
    from napari.settings import get_settings

    config_path = get_settings().config_path
    assert config_path is not None and Path(config_path).name == "settings.yaml"
    assert Path(config_path).parent.name.startswith("lfmri-napari-settings-")
