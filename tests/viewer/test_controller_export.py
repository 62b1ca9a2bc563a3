"""The controller's outputs: annotations saved as fastMRI+ CSV (round trip, unsaved-edit
warning) and the reconstruction, error map and CAM exported as NIfTI / HDF5 volumes."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox, read_annotations
from lfmri_core.io.fastmri_h5 import FastMRIVolume
from lfmri_core.io.ismrmrd_header import parse_header
from lfmri_core.synthetic import SyntheticConfig, generate_volume
from lfmri_core.synthetic.export import write_dataset
from lfmri_viewer.controller import SessionController
from lfmri_viewer.settings import ReconSettings


@pytest.fixture(scope="module")
def knee(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-slice, 2-coil synthetic knee in the fastMRI format with fastMRI+ annotations beside it."""
    folder = tmp_path_factory.mktemp("knee")
    return write_dataset(folder, [("file_knee", generate_volume(SyntheticConfig(num_slices=3, num_coils=2, seed=4)))])[0]


def _session(classifier: str | None = None) -> tuple[SessionController, list[tuple[str, str]]]:
    session = SessionController(ReconSettings(methods=("zero-filled",)), classifier=classifier)
    notices: list[tuple[str, str]] = []
    session.events.notice.connect(lambda level, message: notices.append((level, message)))
    return session, notices


def test_edit_save_reopen_gives_identical_boxes_and_labels(knee: Path, tmp_path: Path) -> None:
    session, _ = _session()
    session.open(knee)
    height = session.recon_shape[0]
    edited = [LesionBox(1, "Meniscus Tear", 50, 70, 60, 90), LesionBox(1, "Joint Effusion ", 0, 12, 300, 320)]
    session.set_boxes(1, edited)
    session.set_boxes(2, [])
    assert session.unsaved_box_edits
    saved = session.save_annotations(tmp_path / "mine.csv")
    assert not session.unsaved_box_edits
    # The CSV is in fastMRI+'s flipped labelling frame: y = H - row1.
    with saved.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["slice"] == "1"]
    assert [(r["x"], r["y"], r["width"], r["height"], r["label"]) for r in rows] == [
        ("60", str(height - 70), "30", "20", "Meniscus Tear"), ("300", str(height - 12), "20", "12", "Joint Effusion")]
    reopened, _ = _session()
    reopened.open(knee, annotations=saved)
    assert reopened.all_boxes() == session.all_boxes()
    assert [b.label for b in reopened.boxes(1)] == ["Meniscus Tear", "Joint Effusion"]
    assert read_annotations(saved, frame_shape=session.recon_shape).for_file(knee).boxes == session.all_boxes()


def test_unsaved_edits_are_a_warning_when_the_volume_closes(knee: Path, tmp_path: Path) -> None:
    session, notices = _session()
    session.open(knee)
    session.set_boxes(0, [LesionBox(0, "lesion", 10, 20, 10, 20)])
    session.open(knee)  # opening again drops the edits
    assert notices == [("warning", f"the lesion box edits of {knee.name} were not saved (Save annotations writes "
                                   "them as a fastMRI+ CSV): discarded")]
    notices.clear()
    session.set_boxes(0, [LesionBox(0, "lesion", 10, 20, 10, 20)])
    session.save_annotations(tmp_path / "saved.csv")
    session.close()
    assert notices == []


def test_save_annotations_never_over_an_input(knee: Path) -> None:
    session, _ = _session()
    session.open(knee)
    source = next(knee.parent.glob("*.csv"))
    before = source.read_bytes()
    session.set_boxes(0, [LesionBox(0, "lesion", 10, 20, 10, 20)])
    with pytest.raises(InputError, match="input file"):
        session.save_annotations(source)
    assert source.read_bytes() == before and session.unsaved_box_edits


def test_export_volumes_as_nifti_and_h5(knee: Path, tmp_path: Path) -> None:
    session, notices = _session()
    session.open(knee)
    with pytest.raises(InputError, match="reconstruct the volume first"):
        session.export_volumes(tmp_path / "none.nii.gz")
    session.reconstruct_slice(1)
    session.export_volumes(tmp_path / "one.nii.gz")
    assert notices[-1] == ("warning", "exported the 1 of 3 slices reconstructed with zero-filled so far")
    session.reconstruct_volume()
    files = session.export_volumes(tmp_path / "zf.nii.gz")
    assert [f.name for f in files] == ["zf.nii.gz", "zf_error.nii.gz"]  # no classifier: no CAM
    with FastMRIVolume(knee) as volume:
        header = volume.header_xml
    encoding = parse_header(header)
    spacing = (encoding.recon_fov_mm[0] / encoding.recon_shape[0], encoding.recon_fov_mm[1] / encoding.recon_shape[1],
               encoding.recon_fov_mm[2])
    recon, error = (np.asarray(nib.load(f).dataobj).transpose(2, 0, 1) for f in files)
    assert nib.load(files[0]).header.get_zooms() == pytest.approx(spacing)
    assert np.array_equal(recon, np.stack([session.result("zero-filled", i).image for i in range(3)]))
    assert np.array_equal(error, np.stack([session.error_map("zero-filled", i) for i in range(3)]))
    h5 = session.export_volumes(tmp_path / "zf.h5")[0]
    with h5py.File(h5) as f:
        assert f["ismrmrd_header"][()].decode() == header
        assert np.array_equal(f["reconstruction"][()], recon) and list(f.attrs["slices"]) == [0, 1, 2]
    with pytest.raises(InputError, match="input file"):
        session.export_volumes(knee)


def test_export_includes_the_cam(knee: Path, tmp_path: Path) -> None:
    session, _ = _session(classifier="shipped")
    session.open(knee)
    session.reconstruct_volume()
    files = session.export_volumes(tmp_path / "zf.nii.gz")
    assert [f.name for f in files] == ["zf.nii.gz", "zf_error.nii.gz", "zf_cam.nii.gz"]
    cam = np.asarray(nib.load(files[2]).dataobj).transpose(2, 0, 1)
    assert np.array_equal(cam, np.stack([session.result("zero-filled", i).cam for i in range(3)]))
