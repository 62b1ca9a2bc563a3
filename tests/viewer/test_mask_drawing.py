"""Drawing the mask: the session follows a drawn mask (controller, Jupyter clicks), and a session
with a drawn mask is saved and reopened exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.masks import DrawnMaskSpec
from lfmri_viewer.controller import SessionController
from lfmri_viewer.jupyter import LFMRIWidget
from lfmri_viewer.mask_drawing import MaskDrawing, column_at
from lfmri_viewer.session_file import (
    SESSION_FORMAT,
    open_session,
    read_session,
    save_session,
)
from lfmri_viewer.settings import ReconSettings
from tests.viewer.conftest import SmallDataset

FAST = ("zero-filled",)


def _session(path: Path) -> SessionController:
    session = SessionController(ReconSettings(methods=FAST), classifier=None)
    session.open(path)
    session.set_slice(next(i for i in range(session.num_slices) if session.boxes(i)))
    return session


def _unsampled_columns(session: SessionController, count: int) -> list[int]:
    pattern = session.mask().pattern
    width = pattern.shape[-1]
    # away from the centre, where a line changes the image most visibly
    return [c for c in range(width) if not pattern[c] and abs(c - width // 2) > width // 8][:count]


# --- the controller follows a drawn mask ------------------------------------------------------------
def test_drawing_lines_changes_the_reconstruction_error_and_readouts(small_dataset: SmallDataset) -> None:
    session = _session(small_dataset.h5)
    session.reconstruct_slice()
    before = session.result("zero-filled")
    readout_before = session.readouts()["zero-filled"]
    error_before = session.error_map("zero-filled")
    assert before is not None and error_before is not None
    preset = session.mask()

    drawing = MaskDrawing(session)
    added = _unsampled_columns(session, 12)
    drawing.set_lines(added, True)
    assert session.settings.drawn_mask is None  # nothing reaches the session before the commit
    spec = drawing.commit()
    assert isinstance(spec, DrawnMaskSpec) and session.settings.drawn_mask == spec

    mask = session.mask()
    assert mask.name == "drawn" and mask.num_sampled == preset.num_sampled + 12
    np.testing.assert_array_equal(np.flatnonzero(mask.pattern & ~preset.pattern), added)
    assert mask.achieved_acceleration < preset.achieved_acceleration
    assert session.result("zero-filled") is None  # a new mask: not reconstructed yet
    session.reconstruct_slice()
    after = session.result("zero-filled")
    assert after is not None and not np.array_equal(after.image, before.image)
    readout_after = session.readouts()["zero-filled"]
    # more samples: closer to the fully sampled reference, on the whole slice and in the boxes
    assert readout_after.psnr > readout_before.psnr
    assert math.isfinite(readout_after.lf_psnr) and readout_after.lf_psnr != readout_before.lf_psnr
    error_after = session.error_map("zero-filled")
    assert error_after is not None and float(np.abs(error_after).sum()) < float(np.abs(error_before).sum())

    # removing the lines again gives the preset's pattern back (under the drawn name), and its result
    drawing.set_lines(added, False)
    drawing.commit()
    np.testing.assert_array_equal(session.mask().pattern, preset.pattern)
    session.reconstruct_slice()
    again = session.result("zero-filled")
    assert again is not None
    np.testing.assert_array_equal(again.image, before.image)


def test_toggling_and_painting(small_dataset: SmallDataset) -> None:
    session = _session(small_dataset.h5)
    drawing = MaskDrawing(session)
    column = _unsampled_columns(session, 1)[0]
    assert drawing.toggle_line(column) is True and drawing.pattern[column]
    assert drawing.toggle_line(column) is False and not drawing.pattern[column]
    # painting points makes the mask 2-D; the rest of the pattern is kept
    height, width = session.info.image_shape
    lines = drawing.pattern
    assert drawing.is_1d and lines.shape == (width,)
    drawing.paint(np.array([0, 1, 2]), np.array([column, column, column]), True)
    assert not drawing.is_1d
    drawing.commit()
    mask = session.mask()
    expected = np.broadcast_to(lines, (height, width)).copy()
    expected[:3, column] = True
    np.testing.assert_array_equal(mask.pattern, expected)
    # toggling a line of a 2-D mask: the whole column
    drawing.toggle_line(column)
    drawing.commit()
    assert session.mask().pattern[:, column].all()


def test_a_preset_change_drops_the_drawing_and_reset_goes_back(small_dataset: SmallDataset) -> None:
    session = _session(small_dataset.h5)
    preset = session.mask()
    drawing = MaskDrawing(session)
    drawing.set_lines(_unsampled_columns(session, 3), True)
    drawing.commit()
    assert session.settings.is_drawn
    session.update(acceleration=8.0)
    assert not session.settings.is_drawn and session.mask().name == "random"
    drawing.set_lines(_unsampled_columns(session, 3), True)
    drawing.commit()
    session.update(methods=("zero-filled", "zero-filled-sense"))  # not a mask setting: the drawing stays
    assert session.settings.is_drawn
    drawing.reset()
    session.update(acceleration=4.0)
    assert not session.settings.is_drawn and session.mask() == preset


@pytest.mark.parametrize("edit, match", [
    (lambda d, w: d.toggle_line(w), "phase-encode line .* does not exist"),
    (lambda d, w: d.toggle_line(-1), "phase-encode line -1 does not exist"),
    (lambda d, w: d.set_points(np.ones((3, 3), bool)), "must have the k-space shape"),
])
def test_bad_edits_are_refused_with_one_line(small_dataset: SmallDataset, edit: Any, match: str) -> None:
    session = _session(small_dataset.h5)
    drawing = MaskDrawing(session)
    with pytest.raises(InputError, match=match):
        edit(drawing, session.info.image_shape[1])


def test_an_empty_drawing_is_refused_and_the_mask_stays(small_dataset: SmallDataset) -> None:
    session = _session(small_dataset.h5)
    preset = session.mask()
    drawing = MaskDrawing(session)
    drawing.set_lines(list(np.flatnonzero(preset.pattern)), False)
    with pytest.raises(InputError, match="samples nothing"):
        drawing.commit()
    assert session.mask() == preset and not drawing.pending


def _write_undersampled(tmp_path: Path) -> Path:
    from lfmri_core.io.fastmri_h5 import write_volume
    from lfmri_core.io.ismrmrd_header import EncodingInfo

    rng = np.random.default_rng(0)
    mask = np.zeros(32, dtype=bool)
    mask[::3] = True
    kspace = (rng.standard_normal((2, 3, 32, 32)) + 1j * rng.standard_normal((2, 3, 32, 32))).astype(np.complex64) * mask
    path = tmp_path / "test_file.h5"
    write_volume(path, kspace, encoding=EncodingInfo(encoded_shape=(32, 32), recon_shape=(32, 32)), mask=mask,
                 attrs={"acceleration": 3})
    return path


def test_a_file_with_its_own_mask_cannot_be_drawn(tmp_path: Path) -> None:
    session = SessionController(ReconSettings(methods=FAST), classifier=None)
    session.open(_write_undersampled(tmp_path))
    with pytest.raises(InputError, match="stores undersampled k-space: its own mask is used"):
        MaskDrawing(session).toggle_line(3)


def test_column_at_rounds_to_pixel_centres() -> None:
    assert column_at(3.49, 10) == 3 and column_at(3.5, 10) == 4 and column_at(-0.5, 10) == 0
    assert column_at(-0.51, 10) is None and column_at(9.49, 10) == 9 and column_at(9.5, 10) is None


# --- saving and reopening --------------------------------------------------------------------------
def test_a_session_with_a_drawn_mask_is_saved_and_reopened(small_dataset: SmallDataset, tmp_path: Path) -> None:
    session = _session(small_dataset.h5)
    drawing = MaskDrawing(session)
    drawing.set_lines(_unsampled_columns(session, 7), True)
    drawing.paint(np.array([5, 6]), np.array([7, 8]), True)
    spec = drawing.commit()
    session.reconstruct_slice()
    result = session.result("zero-filled")
    assert result is not None

    path = save_session(session, tmp_path / "session.json")
    data = json.loads(path.read_text())
    assert data["format"] == SESSION_FORMAT and data["slice"] == session.slice_index
    assert data["settings"]["drawn_mask"]["name"] == "drawn" and data["volume"] == str(small_dataset.h5.resolve())

    reopened = SessionController(classifier=None, auto_update=True)
    settings = open_session(reopened, path)
    assert settings == session.settings and settings.drawn_mask == spec
    assert reopened.slice_index == session.slice_index and reopened.mask() == session.mask()
    again = reopened.result("zero-filled")  # auto-update reconstructed the restored slice, once
    assert again is not None
    np.testing.assert_array_equal(again.image, result.image)
    assert reopened.readouts()["zero-filled"].lf_psnr == session.readouts()["zero-filled"].lf_psnr


def test_saving_never_writes_over_an_input(small_dataset: SmallDataset) -> None:
    session = _session(small_dataset.h5)
    before = small_dataset.csv.read_bytes()
    with pytest.raises(InputError, match="input"):
        save_session(session, small_dataset.csv)
    assert small_dataset.csv.read_bytes() == before


@pytest.mark.parametrize("content, match", [
    ("not json", "is not a session file"),
    ('{"format": "other"}', "is not an LF-MRI Viewer session file"),
    ('{"format": "lfmri-viewer-session", "version": 9}', "version 9 is not supported"),
    ('{"format": "lfmri-viewer-session", "version": 1, "volume": "x.h5", "slice": 0}', "'settings' is missing"),
    ('{"format": "lfmri-viewer-session", "version": 1, "volume": "x.h5", "slice": 0, "settings": {"colour": 1}}',
     "unknown setting 'colour'"),
    (('{"format": "lfmri-viewer-session", "version": 1, "volume": "x.h5", "slice": 0, '
      '"settings": {"drawn_mask": {"name": "drawn", "shape": [4], "lines": [9]}}}'), "drawn line 9 lies outside"),
])
def test_bad_session_files_are_refused_with_one_line(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match=match) as info:
        read_session(path)
    assert "\n" not in str(info.value)


def test_a_drawn_mask_of_another_size_is_refused_on_reopening(small_dataset: SmallDataset, tmp_path: Path) -> None:
    session = _session(small_dataset.h5)
    path = save_session(session, tmp_path / "session.json")
    data = json.loads(path.read_text())
    data["settings"]["drawn_mask"] = DrawnMaskSpec(np.ones(17, dtype=bool)).to_dict()
    path.write_text(json.dumps(data))
    fresh = SessionController(classifier=None)
    with pytest.raises(InputError, match="drawn on 17 phase-encode columns"):
        open_session(fresh, path)
    assert not fresh.settings.is_drawn


# --- Jupyter: a click on the mask panel ------------------------------------------------------------
def test_a_click_on_the_mask_panel_toggles_a_line(small_dataset: SmallDataset) -> None:
    widget = LFMRIWidget(small_dataset.h5, methods=FAST, sync=True, interactive=False, classifier=None)
    c = widget.controller
    rows_before = widget.displayed_readouts()
    preset = c.mask()
    column = _unsampled_columns(c, 1)[0]
    renders = widget._host.renders

    # what matplotlib hands the handler: the axes clicked and the data coordinates there
    click = SimpleNamespace(inaxes=widget.axes["mask"], xdata=column + 0.3, ydata=10.0, canvas=None)
    widget.mask_clicks.on_click(click)
    assert c.settings.is_drawn and c.mask().pattern[column] and not preset.pattern[column]
    assert c.mask().num_sampled == preset.num_sampled + 1
    assert widget._host.renders > renders  # the figure was redrawn
    assert "drawn mask" in widget.axes["mask"].get_title()
    np.testing.assert_array_equal(widget.images["mask"].get_array()[0], c.mask().pattern.astype(np.float32))
    rows_after = widget.displayed_readouts()
    assert rows_after != rows_before  # auto-update reconstructed with the drawn mask
    result = c.result("zero-filled")
    assert result is not None
    np.testing.assert_array_equal(widget.images["reconstruction"].get_array(), result.image)

    # a click elsewhere does nothing; a second click on the k-space panel toggles the line back
    widget.mask_clicks.on_click(SimpleNamespace(inaxes=widget.axes["reference"], xdata=column, ydata=1.0, canvas=None))
    assert c.mask().pattern[column]
    widget.mask_clicks.on_click(SimpleNamespace(inaxes=widget.axes["kspace"], xdata=float(column), ydata=1.0, canvas=None))
    np.testing.assert_array_equal(c.mask().pattern, preset.pattern)

    # the buttons of the static figure: toggle by number, back to the preset
    widget.mask_clicks.line_input.value = column
    widget.mask_clicks.toggle_button.click()
    assert c.settings.is_drawn and c.mask().pattern[column]
    widget.mask_clicks.reset_button.click()
    assert not c.settings.is_drawn and c.mask() == preset
    widget.close()


def test_a_refused_click_is_a_notice(tmp_path: Path) -> None:
    widget = LFMRIWidget(_write_undersampled(tmp_path), methods=FAST, sync=True, interactive=False, classifier=None)
    widget.mask_clicks.on_click(SimpleNamespace(inaxes=widget.axes["mask"], xdata=4.0, ydata=1.0, canvas=None))
    assert "its own mask is used" in widget.notice_html.value
    assert not widget.controller.settings.is_drawn
    widget.close()


def test_jupyter_saves_and_reopens_a_session(small_dataset: SmallDataset, tmp_path: Path) -> None:
    widget = LFMRIWidget(small_dataset.h5, methods=FAST, sync=True, interactive=False, classifier=None)
    column = _unsampled_columns(widget.controller, 1)[0]
    widget.mask_clicks.toggle_line(column)
    widget.output_path.value = str(tmp_path / "nb_session.json")
    widget.save_session_button.click()
    assert (tmp_path / "nb_session.json").is_file()
    other = LFMRIWidget(methods=FAST, sync=True, interactive=False, classifier=None)
    assert not other.open_session(tmp_path / "missing.json")
    assert "no such file" in other.notice_html.value
    assert other.open_session(tmp_path / "nb_session.json")
    assert other.controller.mask() == widget.controller.mask() and other.controller.settings.is_drawn
    scores = [{k: row[k] for k in ("method", "PSNR (dB)", "LF-PSNR (dB)")} for row in widget.displayed_readouts()]
    assert [{k: row[k] for k in ("method", "PSNR (dB)", "LF-PSNR (dB)")} for row in other.displayed_readouts()] == scores
    widget.close()
    other.close()
