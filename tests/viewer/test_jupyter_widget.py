"""The Jupyter front end without a browser: controls drive the controller, the figure and the
tables show the controller's state, jobs run in a thread with their reports applied on the
kernel's loop, and the napari plugin shows the same strings for the same state."""

from __future__ import annotations

import ast
import asyncio
import base64
import math
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import h5py
import matplotlib
import numpy as np
import pytest
from matplotlib.patches import Rectangle

import lfmri_viewer.session_jobs as session_jobs
from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox, read_annotations
from lfmri_core.metrics import lf_psnr_slice
from lfmri_viewer.controller import SessionController
from lfmri_viewer.formatting import (
    FAILURE_COLUMNS,
    POINTER_COLUMNS,
    READOUT_COLUMNS,
    failure_cells,
    number,
    readout_cells,
)
from lfmri_viewer.jobs import SYNC_ENV, Job, JobState, Progress
from lfmri_viewer.jupyter import CompareView, FailureCasesView, LFMRIWidget, ThreadRunner, interactive_backend
from lfmri_viewer.settings import ReconSettings
from tests.viewer.conftest import SmallDataset

FAST = ("zero-filled",)
TWO = ("zero-filled", "zero-filled-sense")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def widget_on(path: Path | str, methods: tuple[str, ...] = FAST, **kwargs: Any) -> LFMRIWidget:
    """A synchronous widget with a static figure (what the inline backend shows)."""
    kwargs.setdefault("sync", True)
    kwargs.setdefault("interactive", False)
    return LFMRIWidget(path, methods=methods, **kwargs)


def annotated_slice(controller: SessionController) -> int:
    return next(i for i in range(controller.num_slices) if any(not b.is_empty for b in controller.boxes(i)))


def expected_rows(controller: SessionController) -> list[dict[str, str]]:
    return [readout_cells(r) for r in controller.readouts().values()]


def shown(widget: LFMRIWidget, column: str, method: str = "zero-filled") -> str:
    return next(row[column] for row in widget.displayed_readouts() if row["method"] == method)


def box_patches(ax: Any) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]


# --- opening and showing -------------------------------------------------------------------------

def test_sample_name_opens_the_embedded_sample(sample_paths: list[Path]) -> None:
    widget = widget_on("PD")
    c = widget.controller
    assert c.path == sample_paths[0]
    assert widget.slice_slider.max == c.num_slices - 1 and widget.slice_slider.value == c.slice_index
    assert c.path.name in widget.title_html.value
    rows = widget.displayed_readouts()
    assert rows == expected_rows(c) and [r["method"] for r in rows] == list(FAST)
    assert list(rows[0]) == list(READOUT_COLUMNS)
    assert 'data-column="LF-PSNR (dB)"' in widget.readout_html.value
    result = c.result("zero-filled")
    assert result is not None
    np.testing.assert_array_equal(widget.images["reconstruction"].get_array(), result.image)
    np.testing.assert_array_equal(widget.images["reference"].get_array(), c.reference())
    widget.close()


def test_an_unreadable_file_raises_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        LFMRIWidget(tmp_path / "missing.h5", sync=True)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(InputError) as caught:
        LFMRIWidget(broken, sync=True)
    assert "\n" not in str(caught.value)


def test_static_figure_is_a_png_in_the_output(small_dataset: SmallDataset) -> None:
    widget = widget_on(small_dataset.h5)
    host = widget._host
    assert not host.interactive and host.png is not None and host.png.startswith(PNG_MAGIC)
    (record,) = widget._host.widget.outputs
    assert base64.b64decode(record["data"]["image/png"]) == host.png
    renders = host.renders
    widget.acceleration_slider.value = 8.0
    # One control change is one redraw, although settings, results and readouts all changed.
    assert host.renders == renders + 1
    (record,) = widget._host.widget.outputs
    assert base64.b64decode(record["data"]["image/png"]) == host.png
    widget.close()


def test_interactive_backend_gives_the_ipympl_canvas(small_dataset: SmallDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    from ipympl.backend_nbagg import Canvas

    monkeypatch.setattr(matplotlib, "get_backend", lambda auto_select=True: "module://ipympl.backend_nbagg")
    assert interactive_backend()
    widget = widget_on(small_dataset.h5, interactive=None)
    assert isinstance(widget._host.widget, Canvas) and widget.figure.canvas is widget._host.widget
    assert widget._host.widget in widget.children and widget._host.png is None
    widget.acceleration_slider.value = 8.0
    np.testing.assert_array_equal(widget.images["reconstruction"].get_array(), widget.controller.result("zero-filled").image)
    widget.close()

    monkeypatch.setattr(matplotlib, "get_backend", lambda auto_select=True: "module://matplotlib_inline.backend_inline")
    assert not interactive_backend()
    static = widget_on(small_dataset.h5, interactive=None)
    assert not static._host.interactive and static._host.png is not None
    static.close()


# --- controls -> controller -> figure and table --------------------------------------------------

def test_acceleration_slider_drives_the_controller_and_the_readouts(small_dataset: SmallDataset) -> None:
    widget = widget_on(small_dataset.h5)
    c = widget.controller
    widget.slice_slider.value = annotated_slice(c)
    assert c.slice_index == widget.slice_slider.value
    before = widget.displayed_readouts()
    lf_before = shown(widget, "LF-PSNR (dB)")
    assert math.isfinite(float(lf_before))

    widget.acceleration_slider.value = 8.0
    assert c.settings.acceleration == 8.0
    after = widget.displayed_readouts()
    assert after == expected_rows(c) and after != before
    assert shown(widget, "LF-PSNR (dB)") != lf_before
    result = c.result("zero-filled")
    assert result is not None and result.mask_key[1] == 8.0
    np.testing.assert_array_equal(widget.images["reconstruction"].get_array(), result.image)
    np.testing.assert_array_equal(widget.images["error"].get_array(), c.error_map("zero-filled"))
    np.testing.assert_array_equal(widget.images["mask"].get_array(), c.mask_image())
    np.testing.assert_array_equal(widget.images["kspace"].get_array(), c.kspace_image())
    assert f"{c.mask().achieved_acceleration:.1f}x" in widget.axes["mask"].get_title()
    assert f"LF-PSNR {shown(widget, 'LF-PSNR (dB)')} dB" in widget.axes["reconstruction"].get_title()
    widget.close()


def test_every_control_reaches_the_controller_and_back(small_dataset: SmallDataset) -> None:
    widget = widget_on(small_dataset.h5, auto_update=False)
    c = widget.controller
    widget.mask_dropdown.value = "equispaced_fraction"
    widget.center_fraction_slider.value = 0.04
    widget.seed_input.value = "7"
    widget.device_dropdown.value = "cpu"
    widget.virtual_coils_input.value = 1
    widget.methods_select.value = TWO
    assert c.settings == ReconSettings(acceleration=4.0, mask="equispaced_fraction", center_fraction=0.04, seed=7,
                                       methods=TWO, device="cpu", virtual_coils=1)
    widget.virtual_coils_input.value = 0
    assert c.settings.virtual_coils is None
    assert widget.view_dropdown.options == TWO
    widget.seed_input.value = "file"  # spelled as in napari's seed box
    assert c.settings.seed is None
    widget.seed_input.value = "seven"  # refused with a notice; the control shows the seed in force
    assert c.settings.seed is None and widget.seed_input.value == "file" and "seed must be" in widget.notice_html.value

    widget.auto_checkbox.value = True
    assert c.auto_update and set(c.results()) == set(TWO)

    # and the other way: the controller's changes show in the controls
    c.update(acceleration=6.0, mask="random", seed=3, virtual_coils=2)
    assert (widget.acceleration_slider.value, widget.mask_dropdown.value) == (6.0, "random")
    assert widget.virtual_coils_input.value == 2
    assert widget.seed_input.value == "3"
    assert widget.virtual_coils_input.options[0] == ("all", 0)  # spelled as in napari's virtual-coils box
    c.set_slice(c.num_slices - 1)
    assert widget.slice_slider.value == c.num_slices - 1
    c.set_auto_update(False)
    assert not widget.auto_checkbox.value
    widget.close()


def test_bad_input_becomes_a_notice_and_the_controls_show_the_state(small_dataset: SmallDataset) -> None:
    widget = widget_on(small_dataset.h5)
    c = widget.controller
    settings = c.settings
    widget.methods_select.value = ()
    assert "choose at least one method" in widget.notice_html.value
    assert c.settings == settings and widget.methods_select.value == settings.methods

    # equispaced lines need a whole-number spacing: the controller refuses 2.5x at once
    widget.mask_dropdown.value = "equispaced"
    widget.acceleration_slider.value = 2.5
    assert "whole number" in widget.notice_html.value
    assert c.settings.mask == "equispaced" and c.settings.acceleration == settings.acceleration
    assert widget.acceleration_slider.value == settings.acceleration
    assert widget.axes["mask"].get_title().startswith("equispaced mask")
    widget.acceleration_slider.value = 8.0
    assert widget.notice_html.value == ""
    assert widget.displayed_readouts() == expected_rows(c) != []
    widget.close()


def test_view_method_and_overlays(small_dataset: SmallDataset) -> None:
    widget = widget_on(small_dataset.h5, methods=TWO)
    c = widget.controller
    widget.slice_slider.value = annotated_slice(c)
    assert widget.view_method == "zero-filled-sense"
    widget.view_dropdown.value = "zero-filled"
    result = c.result("zero-filled")
    assert result is not None and result.cam is not None
    np.testing.assert_array_equal(widget.images["reconstruction"].get_array(), result.image)
    np.testing.assert_array_equal(widget.images["cam"].get_array(), result.cam)
    overlay = widget.images["cam_overlay"]
    assert overlay.get_visible() and overlay.get_alpha() == pytest.approx(widget.opacity_slider.value)
    hot = result.cam >= 0.2
    np.testing.assert_array_equal(np.ma.getmaskarray(overlay.get_array()), ~hot)
    widget.opacity_slider.value = 0.7
    assert overlay.get_alpha() == pytest.approx(0.7)
    widget.cam_checkbox.value = False
    assert not overlay.get_visible()

    boxes = [b for b in c.boxes() if not b.is_empty]
    patches = box_patches(widget.axes["reconstruction"])
    assert len(patches) == len(boxes) > 0
    frame = c.display_frame  # the display frame: flipped up/down, in mm
    for box, patch in zip(boxes, patches, strict=True):
        top, bottom, left, right = frame.box_edges(box)
        assert patch.get_xy() == pytest.approx((left, top))
        assert (patch.get_width(), patch.get_height()) == pytest.approx((right - left, bottom - top))
        assert patch.get_width() == pytest.approx((box.col1 - box.col0) * frame.pixel_mm[1])
    widget.boxes_checkbox.value = False
    assert box_patches(widget.axes["reconstruction"]) == []
    widget.close()


def test_box_edits_update_the_lf_readout(small_dataset: SmallDataset) -> None:
    widget = widget_on(small_dataset.h5)
    c = widget.controller
    index = annotated_slice(c)
    widget.slice_slider.value = index
    box = LesionBox(index, "lesion", 100, 140, 120, 170)
    c.set_boxes(index, [box])
    result = c.result("zero-filled")
    assert result is not None and c.maxval is not None
    expected = number(lf_psnr_slice(c.reference(), result.image, [box], c.maxval))
    assert shown(widget, "LF-PSNR (dB)") == expected
    (patch,) = box_patches(widget.axes["error"])
    top, _, left, _ = c.display_frame.box_edges(box)
    assert patch.get_xy() == pytest.approx((left, top))
    widget.close()


# --- jobs ------------------------------------------------------------------------------------------

def test_progress_bar_follows_a_volume_job(small_dataset: SmallDataset) -> None:
    widget = widget_on(small_dataset.h5)
    c = widget.controller
    todo = sum(len(c.missing(i)) for i in range(c.num_slices))
    assert todo == c.num_slices - 1  # the current slice is done already
    seen: list[tuple[int, int]] = []
    c.events.job_progress.connect(lambda job, p: seen.append((widget.progress_bar.value, widget.progress_bar.max)))
    widget.volume_button.click()
    # each method on each slice reports its start (n of todo) and its result (n + 1 of todo)
    assert seen == [(value, todo) for n in range(todo) for value in (n, n + 1)]
    assert (widget.progress_bar.value, widget.progress_bar.max) == (todo, todo)
    assert widget.progress_bar.bar_style == "success" and "done" in widget.status_label.value
    assert widget.cancel_button.disabled
    assert all(c.result("zero-filled", i) is not None for i in range(c.num_slices))
    widget.close()


def test_cancel_button_stops_the_job(small_dataset: SmallDataset) -> None:
    widget = widget_on(small_dataset.h5, auto_update=False)
    c = widget.controller

    def cancel_after_the_first_result(job: Job[Any], report: Progress) -> None:
        if report.payload:
            assert not widget.cancel_button.disabled
            widget.cancel_button.click()

    c.events.job_progress.connect(cancel_after_the_first_result)
    widget.volume_button.click()
    assert c.current_job is None
    assert widget.progress_bar.bar_style == "warning" and widget.status_label.value.endswith("cancelled")
    stored = [i for i in range(c.num_slices) if c.result("zero-filled", i) is not None]
    assert stored == [c.slice_index]
    widget.close()


def test_thread_runner_works_in_a_thread_and_reports_on_the_loop() -> None:
    seen: dict[str, Any] = {"work": set(), "report": set(), "finish": set()}

    def work(job: Job[int]) -> Generator[Progress, None, int]:
        for n in range(3):
            seen["work"].add(threading.get_ident())
            yield Progress(n + 1, 3, f"step {n}")
        return 42

    def broken(job: Job[int]) -> Generator[Progress, None, int]:
        yield Progress(0, 1)
        raise ValueError("bad input")

    async def main() -> tuple[Job[int], Job[int], int]:
        runner = ThreadRunner()
        assert runner.threaded
        jobs = [Job("good", work), Job("broken", broken)]
        for job in jobs:
            job.progress_listeners.append(lambda j, p: seen["report"].add(threading.get_ident()))
            job.finish_listeners.append(lambda j: seen["finish"].add(threading.get_ident()))
            runner(job)
        for _ in range(500):
            if all(j.finished for j in jobs):
                break
            await asyncio.sleep(0.01)
        runner.close()
        return jobs[0], jobs[1], threading.get_ident()

    good, bad, loop_thread = asyncio.run(main())
    assert good.state is JobState.DONE and good.result == 42 and good.progress == Progress(3, 3, "step 2")
    assert bad.state is JobState.FAILED and bad.error == "ValueError: bad input"
    assert seen["report"] == seen["finish"] == {loop_thread}
    assert len(seen["work"]) == 1 and loop_thread not in seen["work"]


def test_thread_runner_without_a_loop_runs_synchronously() -> None:
    runner = ThreadRunner()
    assert not runner.threaded

    def work(job: Job[str]) -> Generator[Progress, None, str]:
        yield Progress(1, 1)
        return threading.current_thread().name

    job: Job[str] = Job("here", work)
    runner(job)
    assert job.state is JobState.DONE and job.result == threading.current_thread().name


def test_widget_jobs_run_off_the_kernel_thread(small_dataset: SmallDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SYNC_ENV, raising=False)
    workers: set[int] = set()
    real = session_jobs.run_slices

    def recording(*args: Any, **kwargs: Any) -> Any:
        workers.add(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(session_jobs, "run_slices", recording)

    async def main() -> dict[str, Any]:
        widget = LFMRIWidget(small_dataset.h5, methods=FAST, interactive=False)
        c = widget.controller
        assert widget.runner is not None and widget.runner.threaded and c.runner is widget.runner
        # the job was only started: its result comes through the loop
        assert c.current_job is not None and widget.displayed_readouts() == []
        await widget.wait(timeout_s=60)
        first = widget.displayed_readouts()
        widget.acceleration_slider.value = 8.0
        await widget.wait(timeout_s=60)
        out: dict[str, Any] = {
            "first": first, "second": widget.displayed_readouts(), "expected": expected_rows(c),
            "image": widget.images["reconstruction"].get_array(), "result": c.result("zero-filled"),
            "bar": (widget.progress_bar.value, widget.progress_bar.max, widget.progress_bar.bar_style),
            "thread": threading.get_ident()}
        # a second method: a job of one slice and one method, still running until awaited
        c.update(methods=TWO)
        with pytest.raises(TimeoutError, match="still running"):
            await widget.wait(timeout_s=0)
        await widget.wait(timeout_s=60)
        out["third"] = widget.displayed_readouts()
        out["third_expected"] = expected_rows(c)
        widget.close()
        return out

    out = asyncio.run(main())
    assert len(out["first"]) == 1 and out["second"] == out["expected"] and out["second"] != out["first"]
    assert out["result"] is not None and out["result"].mask_key[1] == 8.0
    np.testing.assert_array_equal(out["image"], out["result"].image)
    assert out["bar"] == (1, 1, "success")
    assert [r["method"] for r in out["third"]] == list(TWO) and out["third"] == out["third_expected"]
    assert workers and out["thread"] not in workers


@pytest.mark.parametrize("interval", [60.0, 0.0])
def test_threaded_change_is_drawn_once_with_its_results(small_dataset: SmallDataset, monkeypatch: pytest.MonkeyPatch,
                                                        interval: float) -> None:
    """With jobs in the worker thread, a change of a two-method slice is drawn once, when its
    results are in (not empty first and once per method); without the hold (interval 0) the
    same change is drawn at the change and at each result."""
    from lfmri_viewer.jupyter import _widget as widget_module

    monkeypatch.delenv(SYNC_ENV, raising=False)
    monkeypatch.setattr(widget_module, "REDRAW_INTERVAL_S", interval)

    async def main() -> dict[str, Any]:
        widget = LFMRIWidget(small_dataset.h5, methods=TWO, interactive=False)
        c = widget.controller
        await widget.wait(timeout_s=60)
        before = widget._host.renders
        widget.seed_input.value = "5"
        await widget.wait(timeout_s=60)
        out = {"renders": widget._host.renders - before, "shown": widget.displayed_readouts(),
               "expected": expected_rows(c), "seeds": [c.result(m).mask_key[-1] for m in TWO],
               "image": widget.images["reconstruction"].get_array(), "result": c.result(TWO[-1]).image}
        widget.close()
        return out

    out = asyncio.run(main())
    assert out["seeds"] == [5, 5] and out["shown"] == out["expected"]
    np.testing.assert_array_equal(out["image"], out["result"])
    if interval:
        assert out["renders"] == 1
    else:
        assert out["renders"] >= 3


# --- comparison and failure cases ---------------------------------------------------------------

def test_compare_view_shows_each_method_with_its_lf_psnr(small_dataset: SmallDataset) -> None:
    c = SessionController(ReconSettings(methods=FAST))
    c.open(small_dataset.h5)
    index = annotated_slice(c)
    view = CompareView(c, TWO, index=index, zoom=True, interactive=False)
    boxes = [b for b in c.boxes(index) if not b.is_empty]
    assert c.maxval is not None
    rows = view.displayed_readouts()
    assert [r["method"] for r in rows] == list(TWO)
    for method, row in zip(TWO, rows, strict=True):
        result = c.result(method, index)
        assert result is not None
        np.testing.assert_array_equal(view.images[method].get_array(), result.image)
        np.testing.assert_array_equal(view.images[f"error:{method}"].get_array(), c.error_map(method, index))
        lf_psnr = number(lf_psnr_slice(c.reference(index), result.image, boxes, c.maxval))
        assert row["LF-PSNR (dB)"] == lf_psnr and f"LF-PSNR {lf_psnr} dB" in view.axes[method].get_title()
        assert len(box_patches(view.axes[method])) == len(boxes)
    np.testing.assert_array_equal(view.images["reference"].get_array(), c.reference(index))
    # zoomed to the boxes: the visible columns cover every box and less than the whole image
    left, right = view.axes["reference"].get_xlim()
    _, col_mm = c.display_frame.spacing
    assert left <= (min(b.col0 for b in boxes) - 0.5) * col_mm and right >= (max(b.col1 for b in boxes) - 0.5) * col_mm
    assert right - left < c.recon_shape[1] * col_mm
    view.zoom_checkbox.value = False
    assert view.axes["reference"].get_xlim() == pytest.approx((-0.5 * col_mm, (c.recon_shape[1] - 0.5) * col_mm))

    # a fixed slice stays; a following view moves with the session
    c.set_slice((index + 1) % c.num_slices)
    assert view.index == index
    following = CompareView(c, FAST, compute=False, interactive=False)
    assert following.index == c.slice_index
    c.set_slice(index)
    assert following.index == index and "zero-filled" in following.displayed_readouts()[0]["method"]
    with pytest.raises(InputError, match="no-such-method"):
        CompareView(c, ("no-such-method",))
    view.close()
    following.close()


def test_failure_table_and_jump_buttons(small_dataset: SmallDataset) -> None:
    widget = widget_on(small_dataset.h5)
    c = widget.controller
    table = FailureCasesView(widget, method="zero-filled")
    before = table.displayed_failures()
    table.compute_button.click()
    cases = c.failure_cases("zero-filled")
    rows = table.displayed_failures()
    shown = [column for column in FAILURE_COLUMNS if column not in POINTER_COLUMNS]  # the pointer on request
    assert rows == [{k: failure_cells(case)[k] for k in shown} for case in cases] and len(rows) > len(before)
    assert list(rows[0]) == shown == list(table.columns)
    table.pointer_checkbox.value = True
    pointed = c.failure_cases("zero-filled", pointer=True)
    assert table.displayed_failures() == [failure_cells(case) for case in pointed]
    assert {row["pointer in box"] for row in table.displayed_failures()} <= {"yes", "no"}
    table.pointer_checkbox.value = False
    assert table.displayed_failures() == rows
    assert len(table.jump_buttons) == len(cases)
    target = next(n for n, case in enumerate(cases) if case.slice != c.slice_index)
    table.jump_buttons[target].click()
    assert c.slice_index == cases[target].slice == widget.slice_slider.value
    assert table.jump_buttons[target].button_style == "info"
    assert all(b.button_style == "" for n, b in enumerate(table.jump_buttons) if cases[n].slice != c.slice_index)
    table.close()
    widget.close()


# --- import directions ----------------------------------------------------------------------------

VIEWER = Path(__file__).resolve().parents[2] / "lfmri_viewer"
NOTEBOOK_ONLY = {"ipywidgets", "ipympl", "IPython", "matplotlib", "matplotlib_inline"}
QT_OR_NAPARI = {"napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "vispy"}


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_jupyter_front_end_stands_apart() -> None:
    """The Jupyter package imports no Qt and never the napari plugin; nothing else in the
    viewer imports the notebook libraries."""
    jupyter_files = sorted((VIEWER / "jupyter").glob("*.py"))
    assert len(jupyter_files) >= 5
    for path in jupyter_files:
        for name in imported_modules(path):
            assert name.split(".")[0] not in QT_OR_NAPARI, f"{path.name} imports {name}"
            assert not name.startswith("lfmri_viewer.napari_plugin"), f"{path.name} imports {name}"
    for path in sorted(VIEWER.rglob("*.py")):
        if (VIEWER / "jupyter") in path.parents:
            continue
        for name in imported_modules(path):
            assert name.split(".")[0] not in NOTEBOOK_ONLY, f"{path.relative_to(VIEWER)} imports {name}"
            assert not name.startswith("lfmri_viewer.jupyter"), f"{path.relative_to(VIEWER)} imports {name}"


# --- same numbers as the napari plugin -----------------------------------------------------------

@pytest.mark.gui
def test_napari_and_jupyter_show_the_same_readouts(
    make_napari_viewer: Callable[..., Any], sample_paths: list[Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lfmri_viewer.napari_plugin._widget import ReconstructionWidget

    monkeypatch.setenv(SYNC_ENV, "1")
    viewer = make_napari_viewer()
    _, napari_widget = viewer.window.add_plugin_dock_widget("lfmri-viewer", "LF-MRI reconstruction")
    assert isinstance(napari_widget, ReconstructionWidget)
    napari_widget.set_methods(TWO)
    assert napari_widget.open_file(sample_paths[0])
    jupyter_widget = LFMRIWidget(controller=napari_widget.controller, interactive=False)
    c = jupyter_widget.controller

    jupyter_widget.slice_slider.value = annotated_slice(c)
    jupyter_widget.acceleration_slider.value = 8.0
    rows = jupyter_widget.displayed_readouts()
    assert [r["method"] for r in rows] == list(TWO) and all(math.isfinite(float(r["LF-PSNR (dB)"])) for r in rows)
    assert napari_widget.displayed_readouts() == rows

    napari_widget.acceleration.setValue(6.0)
    assert c.settings.acceleration == 6.0
    assert jupyter_widget.acceleration_slider.value == 6.0
    assert napari_widget.displayed_readouts() == jupyter_widget.displayed_readouts() != rows

    # A second session on the same file and settings computes the same numbers (times differ).
    alone = widget_on(sample_paths[0], methods=TWO)
    alone.slice_slider.value = c.slice_index
    alone.acceleration_slider.value = 6.0

    def untimed(table: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{k: v for k, v in row.items() if k != "time (ms)"} for row in table]

    assert untimed(alone.displayed_readouts()) == untimed(napari_widget.displayed_readouts())
    alone.close()
    jupyter_widget.close()


def test_save_annotations_and_export_volumes_buttons(small_dataset: SmallDataset, tmp_path: Path) -> None:
    widget = widget_on(small_dataset.h5, classifier=None)
    c = widget.controller
    c.set_boxes(1, [LesionBox(1, "Meniscus Tear", 30, 60, 40, 80)])
    widget.save_annotations_button.click()  # no path typed: a notice, nothing written
    assert "type the CSV file" in widget.notice_html.value and c.unsaved_box_edits
    widget.output_path.value = str(tmp_path / "boxes.csv")
    widget.save_annotations_button.click()
    assert not c.unsaved_box_edits and "saved to" in widget.notice_html.value
    saved = read_annotations(tmp_path / "boxes.csv", frame_shape=c.recon_shape).for_file(small_dataset.h5)
    assert saved.boxes == c.all_boxes()

    # Only the shown slice is reconstructed: the export says so and writes that slice.
    widget.output_path.value = str(tmp_path / "zf.nii.gz")
    widget.export_volumes_button.click()
    assert "exported the 1 of 3 slices" in widget.notice_html.value
    assert (tmp_path / "zf.nii.gz").is_file() and (tmp_path / "zf_error.nii.gz").is_file()
    widget.volume_button.click()
    widget.output_path.value = str(tmp_path / "zf.h5")
    assert [p.name for p in widget.export_volumes(tmp_path / "zf.h5")] == ["zf.h5"]
    with h5py.File(tmp_path / "zf.h5") as f:
        assert f["reconstruction"].shape == (3, *c.recon_shape) and "ismrmrd_header" in f

    widget.output_path.value = str(small_dataset.csv)
    widget.save_annotations_button.click()  # an input: refused
    assert "error" in widget.notice_html.value and "input file" in widget.notice_html.value
    widget.close()
