"""Bad input in the viewers: ``lfmri-view`` ends with one error line and exit status 2, the
session controller raises one InputError and keeps the open volume, the napari widget shows one
error notification and goes on, and shutting the widget down is safe in every state.

The inputs are the cases of the ``lfmri`` corpus (tests/core/test_bad_input_corpus.py) that a
viewing session opens: a volume and its ``--annotations``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from napari.utils.notifications import notification_manager
from qtpy import sip

from lfmri_core.errors import InputError
from lfmri_viewer.cli import main
from lfmri_viewer.controller import SessionController
from lfmri_viewer.jobs import SYNC_ENV, JobState
from lfmri_viewer.napari_plugin import _widget
from tests.core.io.test_protected import digests
from tests.core.test_bad_input_corpus import CASES, Case, write_file, volume
from tests.viewer.conftest import SmallDataset
from tests.viewer.test_napari_widget import MakeViewer, dock, errors_since

VIEWER_CASES = [c for c in CASES if c.viewer]


def viewer_inputs(bad: Case, folder: Path) -> tuple[Path, Path | None]:
    """The volume and the ``--annotations`` CSV (or None) of a corpus case."""
    argv = bad.make(folder)
    annotations = Path(argv[argv.index("--annotations") + 1]) if "--annotations" in argv else None
    return Path(argv[1]), annotations


def test_the_viewer_corpus_is_large() -> None:
    assert len(VIEWER_CASES) >= 40


# --- lfmri-view ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", VIEWER_CASES, ids=lambda c: c.name)
def test_lfmri_view_refuses_with_one_line(bad: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    path, annotations = viewer_inputs(bad, folder)
    for key, value in bad.env.items():
        monkeypatch.setenv(key, value)
    before = digests(folder)
    code = main([str(path), *(["--annotations", str(annotations)] if annotations else []), "--screenshots",
                 "--out", str(tmp_path / "view")])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lfmri-view: error: "), err
    assert bad.expect.format(d=folder) in lines[0], lines[0]
    assert digests(folder) == before and not (tmp_path / "view").exists()


@pytest.mark.parametrize(("name", "options"), [
    ("in.h5", ["--slice", "2"]),
    ("in.h5", ["--slice", "-1"]),
    ("in.h5", ["--out", "in.h5", "--screenshots"]),
    ("in.h5", ["--sample", "T2"]),
    ("missing.h5", []),
])
def test_lfmri_view_refuses_bad_options(name: str, options: list[str], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    volume(tmp_path)
    before = digests(tmp_path)
    assert main([name, *options]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("lfmri-view: error: "), err
    assert digests(tmp_path) == before


def test_lfmri_view_warns_of_what_it_skips(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A CSV beside the volume that is not ours: a warning line, then the session goes on."""
    from lfmri_viewer import cli

    path = volume(tmp_path)
    write_file(tmp_path, "caf\xe9,size\n".encode("latin-1"), "notes.csv")
    shown: list[Path] = []
    monkeypatch.setattr(cli, "_has_display", lambda: True)
    monkeypatch.setattr(cli, "render", lambda args: shown.append(Path(args.path)) or [])
    assert main([str(path), "--screenshots", "--out", str(tmp_path / "view")]) == 0
    _, err = capsys.readouterr()
    assert err.splitlines() == [f"lfmri-view: warning: skipped {tmp_path / 'notes.csv'} beside in.h5: not a fastMRI+ "
                                "annotation CSV (its header is not file,slice,study_level,x,y,width,height,label)"]
    assert shown == [path]


@pytest.mark.gui
@pytest.mark.parametrize("name", ["dicom-file", "mrd-no-acquisitions", "nifti-gz-file", "damaged-hdf5-info", "csv-latin1"])
def test_lfmri_view_in_a_process(name: str, tmp_path: Path) -> None:
    """The real command under the display of the run (Xvfb): exit status 2, one line, no
    traceback and no abort (it used to end with SIGABRT from the widget's shutdown)."""
    bad = next(c for c in CASES if c.name == name)
    folder = tmp_path / "in"
    folder.mkdir()
    path, annotations = viewer_inputs(bad, folder)
    before = digests(folder)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "lfmri_viewer.cli", str(path), "--screenshots",
                           "--out", str(tmp_path / "view"), *(["--annotations", str(annotations)] if annotations else [])],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("lfmri-view: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert bad.expect in done.stderr
    assert digests(folder) == before


# --- the session controller ---------------------------------------------------------------------
def test_the_controller_refuses_every_case_and_keeps_its_volume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = SessionController(classifier=None)
    good = volume(tmp_path, "good.h5")
    session.open(good)
    for index, bad in enumerate(VIEWER_CASES):
        folder = tmp_path / str(index)
        folder.mkdir()
        path, annotations = viewer_inputs(bad, folder)
        with monkeypatch.context() as env:
            for key, value in bad.env.items():
                env.setenv(key, value)
            with pytest.raises(InputError) as refused:
                session.open(path, annotations=annotations)
                pytest.fail(f"{bad.name} opened")
        assert "\n" not in str(refused.value)
        assert bad.expect.format(d=folder) in str(refused.value), bad.name
        assert session.path == good and session.reference(0) is not None


def test_the_controller_turns_any_reading_failure_into_input_error(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Should a reader miss a case: what it raises reaches the front ends as one InputError, and
    the open volume stays."""
    import lfmri_viewer.controller as controller_module

    good, path = volume(tmp_path, "good.h5"), volume(tmp_path)
    session = SessionController(classifier=None)
    session.open(good)
    for name in ("open_volume", "reference_image"):
        for error in (RuntimeError("bad local heap signature"), UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid"),
                      MemoryError("Unable to allocate 74.5 GiB"), ValueError("could not convert string to float: 'fast'")):
            def failing(*args: Any, _error: BaseException = error, **kwargs: Any) -> Any:
                raise _error

            with monkeypatch.context() as patch:
                patch.setattr(controller_module, name, failing)
                with pytest.raises(InputError, match=f"^in.h5 cannot be read \\({type(error).__name__}: "):
                    session.open(path)
            assert session.path == good
    session.open(path)
    assert session.path == path


def test_auto_update_that_cannot_start_is_a_notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lfmri_viewer.controller as controller_module

    def no_mask(*args: Any, **kwargs: Any) -> Any:
        raise InputError("in.h5: no mask today")

    notices: list[tuple[str, str]] = []
    session = SessionController(classifier=None, auto_update=True)
    session.events.notice.connect(lambda level, message: notices.append((level, message)))
    monkeypatch.setattr(controller_module, "volume_mask", no_mask)
    info = session.open(volume(tmp_path))
    assert session.is_open and info.num_slices == 2 and session.current_job is None
    assert notices == [("error", "reconstruct slice 1 failed: in.h5: no mask today")]


def test_skipped_csvs_and_dropped_boxes_are_warning_notices(tmp_path: Path) -> None:
    path = volume(tmp_path)
    write_file(tmp_path, "caf\xe9\n".encode("latin-1"), "a_notes.csv")  # looked at before ann.csv
    write_file(tmp_path, "file,slice,study_level,x,y,width,height,label\nin,1,No,200,3,4,5,far\n")
    notices: list[tuple[str, str]] = []
    session = SessionController(classifier=None)
    session.events.notice.connect(lambda level, message: notices.append((level, message)))
    session.open(path)
    assert session.all_boxes() == ()
    assert [level for level, _ in notices] == ["warning", "warning"]
    assert notices[0][1].startswith(f"skipped {tmp_path / 'a_notes.csv'} beside in.h5: not a fastMRI+")
    assert "'far' on slice 1 of in (x 200, y 3, width 4, height 5) lies entirely outside" in notices[1][1]


# --- the napari widget ---------------------------------------------------------------------------
@pytest.mark.gui
def test_the_widget_shows_one_error_per_bad_file_and_goes_on(
    make_napari_viewer: MakeViewer, small_dataset: SmallDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SYNC_ENV, "1")
    viewer = make_napari_viewer()
    widget = dock(viewer)
    c = widget.controller
    assert widget.open_file(small_dataset.h5)
    for index, bad in enumerate(VIEWER_CASES):
        folder = tmp_path / str(index)
        folder.mkdir()
        path, annotations = viewer_inputs(bad, folder)
        with monkeypatch.context() as env:
            for key, value in bad.env.items():
                env.setenv(key, value)
            if annotations is not None:  # a good volume with bad annotations
                assert widget.open_file(path)
            before, boxes = c.path, c.all_boxes()
            start = len(notification_manager.records)
            assert not (widget.load_annotations(annotations) if annotations is not None else widget.open_file(path))
        messages = errors_since(start)
        assert len(messages) == 1, (bad.name, messages)
        assert c.path == before and c.all_boxes() == boxes
    assert widget.open_file(small_dataset.h5)
    c.set_slice(0)
    assert c.result("zero-filled", 0) is not None and widget.displayed_readouts()


# --- shutting the widget down ---------------------------------------------------------------------
@pytest.mark.gui
def test_shutting_down_is_safe_in_every_state(make_napari_viewer: MakeViewer, small_dataset: SmallDataset,
                                              qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SYNC_ENV, raising=False)
    viewer = make_napari_viewer()
    widget = dock(viewer)
    runner = widget.runner
    assert isinstance(runner, _widget.WorkerRunner)
    shut_down = [widget.controller, widget.scene, runner, viewer, widget._on_layer_inserted]

    _widget._shut_down(*shut_down)  # no volume open
    assert not widget.open_file(small_dataset.h5.with_suffix(".dcm"))
    _widget._shut_down(*shut_down)  # after a failed open
    widget.auto_update.setChecked(False)
    assert widget.open_file(small_dataset.h5)
    job = widget.reconstruct_volume()
    assert job is not None
    _widget._shut_down(*shut_down)  # a job running in a worker thread: cancelled, its thread waited for
    qtbot.waitUntil(lambda: job.finished, timeout=30_000)
    assert job.state in (JobState.CANCELLED, JobState.DONE) and not widget.controller.is_open
    _widget._shut_down(*shut_down)  # twice

    # At the interpreter's exit PyQt may delete the pool (owned by Python) before the widget
    # (owned by Qt) says it is destroyed: the slot must not raise, as PyQt would abort.
    sip.delete(runner.pool)
    _widget._shut_down(*shut_down)
    viewer.close()
    _widget._shut_down(*shut_down)  # the viewer went first


@pytest.mark.gui
def test_the_widget_going_with_a_deleted_pool_raises_nothing(make_napari_viewer: MakeViewer, small_dataset: SmallDataset,
                                                             qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The widget's ``destroyed`` slot itself (pytest-qt fails a test whose Qt slot raises)."""
    monkeypatch.delenv(SYNC_ENV, raising=False)
    viewer = make_napari_viewer()
    widget = dock(viewer)
    assert widget.open_file(small_dataset.h5)
    runner = widget.runner
    assert runner is not None
    qtbot.waitUntil(lambda: widget.controller.current_job is None, timeout=30_000)
    controller = widget.controller
    sip.delete(runner.pool)
    with qtbot.waitSignal(widget.destroyed, timeout=10_000):
        widget.deleteLater()
    assert not controller.is_open
