"""Layer conversions of the napari front end: reference images, lesion boxes <-> rectangles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.io.fastmri_h5 import write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from lfmri_viewer.napari_plugin._layers import (
    BOXES_ROLE,
    DEFAULT_LABEL,
    IMAGE_SHAPE_KEY,
    REFERENCE_ROLE,
    ROLE_KEY,
    SOURCE_KEY,
    boxes_layer,
    boxes_to_shapes,
    reference_layer,
    shapes_to_boxes,
)
from tests.conftest import random_complex
from tests.viewer.conftest import SmallDataset
from tests.tolerances import assert_close_in_norm, rounding_rtol

IMAGE_SHAPE = (5, 40, 30)


def _numpy_rss(kspace: np.ndarray, crop: tuple[int, int]) -> np.ndarray:
    """RSS of the centred orthonormal inverse FFT, centre-cropped, written with numpy only."""
    axes = (-2, -1)
    images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=axes), norm="ortho"), axes=axes)
    rss = np.sqrt((np.abs(images) ** 2).sum(axis=-3))
    top, left = (rss.shape[-2] - crop[0]) // 2, (rss.shape[-1] - crop[1]) // 2
    return rss[..., top : top + crop[0], left : left + crop[1]]


def _rss_rtol(kspace: np.ndarray) -> float:
    """Two computations of an RSS image: each one complex64 inverse FFT and a sum over the coils."""
    return rounding_rtol(np.complex64, fft_points=kspace.shape[-2] * kspace.shape[-1], fft_passes=2, terms=kspace.shape[-3])


# --- reference images -------------------------------------------------------------------------


def test_reference_is_the_stored_target(small_dataset: SmallDataset) -> None:
    data, kwargs, layer_type = reference_layer(small_dataset.h5)
    target = small_dataset.volume.reconstruction_rss
    assert layer_type == "image" and data.dtype == np.float32
    np.testing.assert_array_equal(data, target)
    assert kwargs["name"] == "small reference" and kwargs["colormap"] == "gray"
    assert kwargs["contrast_limits"] == [0.0, float(target.max())]
    assert kwargs["metadata"] == {SOURCE_KEY: str(small_dataset.h5), ROLE_KEY: REFERENCE_ROLE}


def test_reference_of_bart_kspace_is_its_rss(small_dataset: SmallDataset) -> None:
    data, kwargs, _ = reference_layer(small_dataset.cfl.with_suffix(".hdr"))
    assert kwargs["name"] == "small RSS" and data.shape == (3, 320, 320) and data.dtype == np.float32
    rtol = _rss_rtol(small_dataset.volume.kspace)
    assert_close_in_norm(data, _numpy_rss(small_dataset.volume.kspace, (320, 320)), rtol)
    # The synthetic target is that same RSS: both frames agree, nothing transposed or flipped.
    assert_close_in_norm(data, small_dataset.volume.reconstruction_rss, rtol)


def test_reference_without_target_is_cropped_rss(tmp_path: Path, rng: np.random.Generator) -> None:
    kspace = random_complex(rng, (2, 3, 64, 48))
    path = tmp_path / "no_target.h5"
    write_volume(path, kspace, encoding=EncodingInfo(encoded_shape=(64, 48), recon_shape=(32, 24)))
    before = path.read_bytes()
    data, kwargs, _ = reference_layer(path)
    assert data.shape == (2, 32, 24) and kwargs["name"] == "no_target RSS"
    assert_close_in_norm(data, _numpy_rss(kspace, (32, 24)), _rss_rtol(kspace))
    assert kwargs["contrast_limits"] == [0.0, float(data.max())]
    assert path.read_bytes() == before


def test_all_zero_volume_still_gets_a_contrast_range(tmp_path: Path) -> None:
    path = tmp_path / "zeros.h5"
    write_volume(path, np.zeros((1, 2, 16, 16), np.complex64), encoding=EncodingInfo(encoded_shape=(16, 16), recon_shape=(16, 16)))
    data, kwargs, _ = reference_layer(path)
    assert not data.any() and kwargs["contrast_limits"] == [0.0, 1.0]


def test_reference_of_a_broken_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "text.h5"
    path.write_text("not hdf5")
    with pytest.raises(InputError, match="not an HDF5 file"):
        reference_layer(path)


# --- boxes <-> rectangles ---------------------------------------------------------------------


def test_rectangles_outline_the_box_pixels() -> None:
    box = LesionBox(slice=2, label="Meniscus Tear", row0=10, row1=13, col0=4, col1=9)
    data, features = boxes_to_shapes([box])
    assert features == {"label": ["Meniscus Tear"]}
    (corners,) = data
    assert corners.shape == (4, 3)
    np.testing.assert_array_equal(corners[:, 0], 2)
    assert (corners[:, 1].min(), corners[:, 1].max()) == (9.5, 12.5)
    assert (corners[:, 2].min(), corners[:, 2].max()) == (3.5, 8.5)
    # Pixel centres sit on integer coordinates: the outline holds exactly the box's pixels.
    rows, cols = np.mgrid[0:20, 0:20]
    inside = (rows > corners[:, 1].min()) & (rows < corners[:, 1].max()) & (cols > corners[:, 2].min()) & (cols < corners[:, 2].max())
    np.testing.assert_array_equal(inside, box.to_mask((20, 20)))


def test_no_boxes_no_shapes() -> None:
    assert boxes_to_shapes([]) == ([], {"label": []})
    assert shapes_to_boxes([], []) == []


@st.composite
def _boxes(draw: st.DrawFn) -> list[LesionBox]:
    num_slices, height, width = IMAGE_SHAPE
    boxes = []
    for _ in range(draw(st.integers(0, 4))):
        row0, row1 = sorted(draw(st.lists(st.integers(0, height), min_size=2, max_size=2)))
        col0, col1 = sorted(draw(st.lists(st.integers(0, width), min_size=2, max_size=2)))
        label = draw(st.sampled_from(["Meniscus Tear", "Bone- Subchondral edema", "Joint Effusion"]))
        boxes.append(LesionBox(slice=draw(st.integers(0, num_slices - 1)), label=label, row0=row0, row1=row1, col0=col0, col1=col1))
    return boxes


@given(_boxes())
def test_round_trip_is_exact(boxes: list[LesionBox]) -> None:
    data, features = boxes_to_shapes(boxes)
    assert shapes_to_boxes(data, features["label"]) == boxes
    assert shapes_to_boxes(data, features["label"], IMAGE_SHAPE) == boxes


@pytest.mark.parametrize(
    ("rows", "cols", "expected"),
    [
        ((9.7, 12.4), (3.6, 8.3), (10, 13, 4, 9)),  # a hand-drawn box snaps to the nearest edges
        ((8.9, 12.6), (3.0, 9.1), (9, 13, 4, 10)),  # 3.0 is a pixel centre: ties go to the next edge
        ((12.5, 9.5), (8.5, 3.5), (10, 13, 4, 9)),  # corners in any order
    ],
)
def test_drawn_rectangles_round_to_pixel_edges(
    rows: tuple[float, float], cols: tuple[float, float], expected: tuple[int, int, int, int]
) -> None:
    corners = np.array([[1.0, rows[0], cols[0]], [1.0, rows[1], cols[0]], [1.0, rows[1], cols[1]], [1.0, rows[0], cols[1]]])
    (box,) = shapes_to_boxes([corners], ["Meniscus Tear"])
    assert (box.slice, box.label) == (1, "Meniscus Tear")
    assert (box.row0, box.row1, box.col0, box.col1) == expected


def test_rotated_shapes_give_their_bounding_box() -> None:
    centre, half = np.array([20.0, 15.0]), 5.0
    angle = np.deg2rad(30)
    square = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotated = square @ rotation.T + centre
    polygon = np.array([[3.0, 4.5], [2.0, 9.2], [7.4, 6.0]])  # triangle
    shapes = [np.column_stack([np.full(len(p), s), p]) for s, p in ((0.0, rotated), (4.0, polygon))]
    first, second = shapes_to_boxes(shapes, ["a", "b"])
    lo, hi = rotated.min(axis=0), rotated.max(axis=0)
    assert (first.row0, first.row1) == (int(np.floor(lo[0] + 1)), int(np.floor(hi[0] + 1)))
    assert (first.col0, first.col1) == (int(np.floor(lo[1] + 1)), int(np.floor(hi[1] + 1)))
    assert (second.slice, second.row0, second.row1, second.col0, second.col1) == (4, 3, 8, 5, 10)


def test_boxes_are_clipped_to_the_image() -> None:
    num_slices, height, width = IMAGE_SHAPE
    shapes = [
        np.array([[0.0, -3.5, -2.5], [0.0, 5.5, -2.5], [0.0, 5.5, 4.5], [0.0, -3.5, 4.5]]),  # over the top left corner
        np.array([[2.0, 50.5, 1.5], [2.0, 60.5, 1.5], [2.0, 60.5, 6.5], [2.0, 50.5, 6.5]]),  # below the image
        np.array([[7.2, 1.5, 1.5], [7.2, 2.5, 1.5], [7.2, 2.5, 2.5], [7.2, 1.5, 2.5]]),  # past the last slice
    ]
    corner, below, late = shapes_to_boxes(shapes, ["x", "y", "z"], IMAGE_SHAPE)
    assert (corner.row0, corner.row1, corner.col0, corner.col1) == (0, 6, 0, 5)
    assert (below.row0, below.row1) == (height, height) and below.is_empty
    assert late.slice == num_slices - 1 and late.area == 1
    # Unclipped, the same shapes keep their coordinates.
    assert shapes_to_boxes(shapes[:1], ["x"])[0].row0 == -3


@pytest.mark.parametrize("label", [None, float("nan"), "", "   "])
def test_missing_labels_become_the_default(label: object) -> None:
    (box,) = shapes_to_boxes(boxes_to_shapes([LesionBox(0, "x", 1, 2, 1, 2)])[0], [label])
    assert box.label == DEFAULT_LABEL


def test_bad_shapes_are_input_errors() -> None:
    flat = np.array([[1.5, 1.5], [3.5, 1.5], [3.5, 3.5], [1.5, 3.5]])
    with pytest.raises(InputError, match=r"expected \(N, 3\)"):
        shapes_to_boxes([flat], ["x"])
    across = np.array([[0.0, 1.5, 1.5], [2.0, 3.5, 1.5], [2.0, 3.5, 3.5], [0.0, 1.5, 3.5]])
    with pytest.raises(InputError, match="spans slices 0..2"):
        shapes_to_boxes([across], ["x"])
    with pytest.raises(InputError, match="NaN or infinite"):
        shapes_to_boxes([np.full((4, 3), np.nan)], ["x"])
    with pytest.raises(InputError, match="1 shapes but 2 labels"):
        shapes_to_boxes([across], ["x", "y"])


# --- the shapes layer -------------------------------------------------------------------------


def test_boxes_layer_style_and_metadata() -> None:
    boxes = [LesionBox(1, "Meniscus Tear", 3, 8, 2, 6), LesionBox(3, "Joint Effusion", 0, 4, 0, 4)]
    data, kwargs, layer_type = boxes_layer(boxes, "/data/file1000001.h5", IMAGE_SHAPE)
    assert layer_type == "shapes" and len(data) == 2
    assert kwargs["name"] == "file1000001 lesion boxes"
    assert kwargs["ndim"] == 3 and kwargs["shape_type"] == "rectangle"
    assert kwargs["face_color"] == "transparent" and kwargs["edge_color"] == "yellow" and kwargs["edge_width"] == 2
    assert kwargs["text"] == {"string": "{label}", "color": "yellow", "anchor": "upper_left", "size": 10}
    assert list(kwargs["features"]["label"]) == ["Meniscus Tear", "Joint Effusion"]
    assert kwargs["metadata"] == {SOURCE_KEY: "/data/file1000001.h5", ROLE_KEY: BOXES_ROLE, IMAGE_SHAPE_KEY: IMAGE_SHAPE}
    assert shapes_to_boxes(data, kwargs["features"]["label"], IMAGE_SHAPE) == boxes


def test_empty_boxes_layer_is_ready_for_drawing() -> None:
    data, kwargs, layer_type = boxes_layer([], "/data/x.cfl", IMAGE_SHAPE)
    assert (data, layer_type, kwargs["ndim"]) == ([], "shapes", 3)
    assert kwargs["name"] == "x lesion boxes"
    assert kwargs["features"]["label"].dtype == object and len(kwargs["features"]["label"]) == 0
    assert kwargs["feature_defaults"] == {"label": DEFAULT_LABEL}


def test_napari_shapes_layer_keeps_the_boxes() -> None:
    from napari.layers import Layer

    boxes = [LesionBox(0, "Meniscus Tear", 3, 8, 2, 6), LesionBox(4, "Cartilage defect", 10, 11, 20, 30), LesionBox(2, "empty", 5, 5, 7, 9)]
    layer = Layer.create(*boxes_layer(boxes, "/data/v.h5", IMAGE_SHAPE))
    assert layer.ndim == 3 and layer.nshapes == 3 and list(layer.shape_type) == ["rectangle"] * 3
    assert shapes_to_boxes(layer.data, list(layer.features["label"]), IMAGE_SHAPE) == boxes
    assert list(layer.text.values) == [b.label for b in boxes]


def test_box_drawn_on_an_empty_napari_layer_gets_the_default_label() -> None:
    from napari.layers import Layer

    layer = Layer.create(*boxes_layer([], "/data/v.h5", IMAGE_SHAPE))
    assert layer.ndim == 3 and layer.nshapes == 0
    layer.add_rectangles(np.array([[2.0, 4.6, 6.3], [2.0, 9.4, 6.3], [2.0, 9.4, 11.7], [2.0, 4.6, 11.7]]))
    (box,) = shapes_to_boxes(layer.data, list(layer.features["label"]), IMAGE_SHAPE)
    assert box == LesionBox(2, DEFAULT_LABEL, 5, 10, 7, 12)
