from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from lfmri_core.errors import InputError, InputWarning
from lfmri_core.io.annotations import (
    FileAnnotations,
    ImageLabel,
    LesionBox,
    find_annotations,
    read_annotations,
    write_annotations,
)
from tests.conftest import SHARED_DATA

FASTMRI_PLUS = SHARED_DATA / "fastmri_plus"
needs_fastmri_plus = pytest.mark.skipif(
    not (FASTMRI_PLUS / "knee.csv").is_file(), reason="fastMRI+ CSVs are not beside the repository"
)


def test_box_maps_onto_stored_frame_flipped() -> None:
    box = LesionBox.from_labelling_frame(slice=14, label="Meniscus Tear ", x=90, y=173, width=35, height=10)
    assert (box.row0, box.row1, box.col0, box.col1) == (320 - 173 - 10, 320 - 173, 90, 125)
    assert box.label == "Meniscus Tear"
    assert box.to_labelling_frame() == (90, 173, 35, 10)
    # Flipping the stored image and using the CSV box as given selects the same pixels.
    image = np.arange(320 * 320).reshape(320, 320)
    np.testing.assert_array_equal(
        np.sort(image[box.to_mask((320, 320))]), np.sort(image[::-1, :][173:183, 90:125].ravel())
    )


def test_box_reaching_outside_the_frame_is_clipped() -> None:
    box = LesionBox.from_labelling_frame(slice=11, label="Joint Effusion ", x=93, y=-1, width=175, height=153)
    assert (box.row0, box.row1, box.col0, box.col1) == (168, 320, 93, 268)


def test_zero_size_box_covers_nothing() -> None:
    box = LesionBox.from_labelling_frame(slice=0, label="x", x=5, y=5, width=0, height=7)
    assert box.is_empty and not box.to_mask((320, 320)).any()


def _write_csv(path: Path, rows: list[list[object]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "slice", "study_level", "x", "y", "width", "height", "label"])
        writer.writerows(rows)


def test_parse_rows_study_level_and_labels(tmp_path: Path) -> None:
    _write_csv(tmp_path / "a.csv", [
        ["file1", 3, "No", 10, 20, 5, 6, "Joint Effusion "],
        ["file1", 4, "No", 10, 20, 0, 6, "Meniscus Tear"],
        ["file2", 0, "Yes", "", "", "", "", "artifact"],
    ])
    (tmp_path / "list.csv").write_text("file1\nfile2\nfile3\n")
    ann = read_annotations(tmp_path / "a.csv", tmp_path / "list.csv")
    f1 = ann.for_file("/data/file1.h5")
    assert [b.label for b in f1.boxes] == ["Joint Effusion", "Meniscus Tear"]
    assert f1.slice_labels(6) == [ImageLabel.NEGATIVE] * 3 + [ImageLabel.POSITIVE] * 2 + [ImageLabel.NEGATIVE]
    f2 = ann.for_file("file2")
    assert f2.study_findings == ("artifact",) and f2.boxes == () and f2.slice_label(0) is ImageLabel.NEGATIVE
    assert ann.for_file("file3").reviewed and ann.for_file("file3").slice_label(2) is ImageLabel.NEGATIVE
    assert ann.for_file("file9").slice_label(0) is ImageLabel.UNKNOWN
    # Without the file list only files with rows count as reviewed.
    assert read_annotations(tmp_path / "a.csv").for_file("file3").slice_label(0) is ImageLabel.UNKNOWN


def test_write_read_round_trip(tmp_path: Path) -> None:
    boxes = (
        LesionBox(slice=2, label="Bone- Subchondral edema", row0=100, row1=125, col0=40, col1=70),
        LesionBox(slice=3, label="Periarticular cysts", row0=0, row1=10, col0=300, col1=320),
    )
    files = [FileAnnotations(file="synth_1", boxes=boxes, reviewed=True), FileAnnotations(file="synth_2", reviewed=True)]
    write_annotations(tmp_path / "x.csv", files, file_list=tmp_path / "x_list.csv")
    back = read_annotations(tmp_path / "x.csv", tmp_path / "x_list.csv")
    assert back.for_file("synth_1").boxes == boxes
    assert back.for_file("synth_2").reviewed and back.for_file("synth_2").boxes == ()


def test_validate_against_volume() -> None:
    ann = FileAnnotations(file="f", boxes=(LesionBox(slice=16, label="x", row0=0, row1=1, col0=0, col1=1),))
    with pytest.raises(InputError, match="names slice 16, but the volume has 16 slices"):
        ann.validate(16, (320, 320))
    ann = FileAnnotations(file="f", boxes=(LesionBox(slice=0, label="x", row0=300, row1=330, col0=0, col1=1),))
    with pytest.raises(InputError, match="lies outside the 320 x 320"):
        ann.validate(1, (320, 320))


def test_bad_csvs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_annotations(tmp_path / "none.csv")
    (tmp_path / "h.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a fastMRI\\+ annotation CSV"):
        read_annotations(tmp_path / "h.csv")
    _write_csv(tmp_path / "n.csv", [["f", 1, "No", "ten", 2, 3, 4, "x"]])
    with pytest.raises(InputError, match="line 2: x is 'ten', not an integer"):
        read_annotations(tmp_path / "n.csv")


@needs_fastmri_plus
@pytest.mark.parametrize(("anatomy", "rows", "files"), [("knee", 16167, 974), ("brain", 8213, None)])
def test_real_fastmri_plus_csvs(anatomy: str, rows: int, files: int | None) -> None:
    csv_path = FASTMRI_PLUS / f"{anatomy}.csv"
    file_list = FASTMRI_PLUS / f"{anatomy}_file_list.csv"
    ann = read_annotations(csv_path, file_list)
    with csv_path.open() as f:
        raw = list(csv.DictReader(f))
    assert len(raw) == rows
    study = sum(r["study_level"] == "Yes" for r in raw)
    assert sum(len(a.boxes) + len(a.study_findings) for a in ann.files.values()) == rows
    assert sum(len(a.study_findings) for a in ann.files.values()) == study
    if files is not None:
        assert len({r["file"] for r in raw}) == files
    listed = [ln for ln in file_list.read_text().splitlines() if ln.startswith("file")]
    assert len(listed) == {"knee": 1172, "brain": 1001}[anatomy]
    assert all(ann.for_file(name).reviewed for name in listed)
    for _, box in ann.boxes:
        assert box.fits((320, 320)), box
        assert box.label == box.label.strip() and box.label
    assert any(b.is_empty for _, b in ann.boxes)  # zero-size boxes exist and parse
    # Every box maps back to exactly its CSV row.
    by_file = {name: list(a.boxes) for name, a in ann.files.items()}
    for r in raw:
        if r["study_level"] == "Yes":
            continue
        box = by_file[r["file"]].pop(0)
        x, y, w, h = (int(r[k]) for k in ("x", "y", "width", "height"))
        if y < 0:  # a few effusion boxes start one row above the frame: clipped
            h, y = h + y, 0
        assert box.to_labelling_frame() == (x, y, w, h)
        assert box.slice == int(r["slice"])


@needs_fastmri_plus
def test_real_knee_image_level_labels() -> None:
    ann = read_annotations(FASTMRI_PLUS / "knee.csv", FASTMRI_PLUS / "knee_file_list.csv")
    assert ann.for_file("file1000001").slice_label(14) is ImageLabel.POSITIVE
    assert ann.for_file("file1000001").slice_label(0) is ImageLabel.NEGATIVE
    negatives = [n for n, a in ann.files.items() if a.reviewed and not a.boxes and not a.study_findings]
    assert negatives, "the knee file list holds reviewed files without findings"
    assert ann.for_file("not_a_file").slice_label(3) is ImageLabel.UNKNOWN


def test_a_box_entirely_outside_the_frame_is_kept_unclipped_and_dropped_by_within() -> None:
    inside = LesionBox.from_labelling_frame(slice=0, label="in", x=5, y=5, width=4, height=4, frame_shape=(16, 16))
    outside = LesionBox.from_labelling_frame(slice=1, label="out", x=20, y=2, width=4, height=4, frame_shape=(16, 16))
    edge = LesionBox.from_labelling_frame(slice=1, label="edge", x=16, y=2, width=0, height=4, frame_shape=(16, 16))
    assert not outside.fits((16, 16)) and outside.to_labelling_frame(16) == (20, 2, 4, 4)
    assert edge.fits((16, 16)) and edge.is_empty  # a zero-size box on the frame's edge is kept
    ann = FileAnnotations(file="f", boxes=(inside, outside, edge))
    with pytest.warns(InputWarning, match=r"'out' on slice 1 of f \(x 20, y 2, width 4, height 4\) lies entirely "
                                          r"outside the 16 x 16 image: dropped"):
        kept = ann.within((16, 16))
    assert kept.boxes == (inside, edge)
    kept.validate(2, (16, 16))
    with pytest.raises(InputError, match="lies outside"):
        ann.validate(2, (16, 16))
    with pytest.raises(InputError, match="negative size"):
        LesionBox.from_labelling_frame(slice=0, label="x", x=5, y=5, width=-1, height=4)


@pytest.mark.parametrize(("text", "message"), [
    ('f,0,No,1,2,3,4,"Meniscus\nf,1,No,1,2,3,4,x\n', "line 2: a quoted field is never closed"),
    ('f,0,No,1,2,3,4,"Meniscus\nf,1,No,1,2,3,4,x"\n', "line 2: a quoted field runs on to line 3"),
    ('f,0,No,1,2,3,4,x\n\nf,one,No,1,2,3,4,x\n', "line 4: slice is 'one'"),  # blank lines count
])
def test_csv_errors_name_the_line(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("file,slice,study_level,x,y,width,height,label\n" + text)
    with pytest.raises(InputError, match=message):
        read_annotations(path)


def test_csvs_that_are_not_utf8_are_refused_given_and_skipped_found(tmp_path: Path) -> None:
    latin1 = "file,slice,study_level,x,y,width,height,label\nf,0,No,1,2,3,4,Ménisque\n".encode("latin-1")
    (tmp_path / "a.csv").write_bytes(latin1)
    with pytest.raises(InputError, match=r"a.csv is not UTF-8 text \(byte 0xe9 on line 2\)"):
        read_annotations(tmp_path / "a.csv")
    with pytest.warns(InputWarning, match="skipped .*a.csv beside f.h5: not UTF-8 text"):
        assert find_annotations(tmp_path / "f.h5") is None
