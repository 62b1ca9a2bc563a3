"""``lfmri-view``: napari with a volume (default the embedded sample), the dock widget and overlays.

With a display it opens the viewer and runs until the window is closed. Without one (a server,
CI) it re-runs itself under Xvfb and renders the same scene at 4x and 8x: screenshots of the
whole window, the metrics of the shown slice for every method, and the CAM failure-case table
of the volume, written to ``--out`` (default ``out/view``). ``--screenshots`` asks for that
rendering explicitly, display or not.

Bad input ends with one line ``lfmri-view: error: <problem>`` and exit status 2: the volume,
its annotations and the options are checked before any window opens (or Xvfb starts).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lfmri_core.errors import InputError
from lfmri_core.io.atomic import atomic_path
from lfmri_core.io.protected import check_output, protect_inputs

if TYPE_CHECKING:
    from lfmri_viewer.napari_plugin._widget import ReconstructionWidget

EXIT_BAD_INPUT = 2
SETTINGS = ((4.0, 0.08), (8.0, 0.04))
"""(acceleration, centre fraction) rendered headless: fastMRI's knee settings."""
WINDOW = (1600, 1000)
XVFB_SCREEN = "-screen 0 1920x1200x24"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"{message} (see '{self.prog} --help')")


DESCRIPTION = "napari with a k-space volume (default: the embedded sample), the LF-MRI dock widget and its overlays."
EPILOG = ("With a display, the viewer opens and runs until its window is closed. Without one (a server, CI), "
          "it re-runs itself under Xvfb and writes screenshots at 4x and 8x, the shown slice's metrics for "
          "every method and the CAM failure-case table to --out; --screenshots asks for that rendering "
          "with a display too.")


def _parser() -> argparse.ArgumentParser:
    # The help is plain text: the module docstring is reStructuredText for the docs.
    p = _Parser(prog="lfmri-view", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("path", nargs="?", help="fastMRI .h5 or BART .cfl file (default: the embedded sample)")
    p.add_argument("--sample", default="PD", choices=("PD", "PDFS"),
                   help="which sample volume when no path is given (default PD)")
    p.add_argument("--annotations", help="fastMRI+ CSV with the volume's boxes (default: CSVs beside the file)")
    p.add_argument("--slice", type=int, help="slice to show (default: the one with the most lesion boxes)")
    p.add_argument("--out", default="out/view", help="folder for screenshots and tables when rendering (default out/view)")
    p.add_argument("--screenshots", action="store_true", help="render screenshots and tables, then exit")
    return p


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def quiet_start() -> None:
    """Keep two harmless messages of every start off the terminal.

    - Qt warns when ``XDG_RUNTIME_DIR`` is unset (a root shell, a container, Xvfb) and then uses
      ``/tmp/runtime-<user>``: that folder is set here (created 0700, as Qt would), so Qt and the
      Xvfb child find it and say nothing.
    - napari 0.9 asks for the desktop theme on every start (for its window icon) and warns
      twice under PyQt5, which cannot tell: only that warning is ignored; napari keeps its
      configured theme either way.
    """
    import getpass
    import tempfile
    import warnings

    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"runtime-{getpass.getuser()}"
        try:
            runtime.mkdir(mode=0o700, exist_ok=True)
            if runtime.stat().st_uid == os.getuid() and runtime.stat().st_mode & 0o777 == 0o700:
                os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        except OSError:
            pass  # Qt then warns and falls back as before; nothing else depends on it
    warnings.filterwarnings("ignore", message="System theme detection requires a Qt6 backend",
                            category=UserWarning, module="napari")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
        if args.path is not None and not Path(args.path).is_file():
            raise InputError(f"{args.path}: no such file" if not Path(args.path).exists()
                             else f"{args.path}: not a file")
        check_inputs(args, rendering=args.screenshots or not _has_display())
        quiet_start()
        if not _has_display():
            if args.screenshots and os.environ.get("QT_QPA_PLATFORM") == "offscreen":
                raise InputError("napari cannot render with QT_QPA_PLATFORM=offscreen; run under Xvfb")
            xvfb = shutil.which("xvfb-run")
            if xvfb is None:
                raise InputError("no display and no xvfb-run to render without one: install Debian's xvfb "
                                 "(bash scripts/setup.sh run does, as root) or run with a display")
            print(f"lfmri-view: no display; rendering under Xvfb into {args.out}", file=sys.stderr)
            command = [xvfb, "-a", "-s", XVFB_SCREEN, sys.executable, "-m", "lfmri_viewer.cli", *argv]
            if not args.screenshots:
                command.append("--screenshots")
            return subprocess.call(command)
        if args.screenshots:
            render(args)
            return 0
        return interactive(args)
    except InputError as exc:
        print(f"lfmri-view: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        print(f"lfmri-view: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


def check_inputs(args: argparse.Namespace, *, rendering: bool) -> None:
    """Open the volume and its annotations once without a GUI and check ``--slice`` (and, when
    ``rendering``, ``--out``): bad input is an InputError before a window opens. Warnings
    (a CSV beside the volume skipped, a box dropped) are printed as ``lfmri-view: warning:`` lines."""
    from lfmri_viewer.controller import SessionController

    if rendering and Path(args.out).exists() and not Path(args.out).is_dir():
        raise InputError(f"--out {args.out} is a file, not a folder")
    session = SessionController(classifier=None)
    session.events.notice.connect(lambda level, message: print(f"lfmri-view: {level}: {message}", file=sys.stderr))
    try:
        session.open(_volume_path(args), annotations=args.annotations)
        if args.slice is not None:
            session.check_slice(args.slice)
    finally:
        session.close()


def _volume_path(args: argparse.Namespace) -> Path:
    if args.path is not None:
        return Path(args.path)
    from lfmri_sample_data import ensure_sample_data, manifest

    stem = next(v["stem"] for v in manifest()["volumes"] if v["contrast"] == args.sample)
    return next(p for p in ensure_sample_data() if p.suffix == ".h5" and p.stem == stem)


def _setup(args: argparse.Namespace) -> tuple[Any, ReconstructionWidget]:
    import napari

    from lfmri_viewer.napari_plugin._widget import ReconstructionWidget

    if args.screenshots:
        # napari's one-time toast about PyQt5's deprecation would sit over the rendered scene.
        import napari._qt.qt_main_window as qt_main_window

        qt_main_window.SHOW_QT_WARNING = False
    viewer = napari.Viewer(title="LF-MRI Viewer", show=True)
    try:
        viewer.window.resize(*WINDOW)
        widget = ReconstructionWidget(viewer)
        viewer.window.add_dock_widget(widget, name="LF-MRI reconstruction", area="right")
        session = widget.controller
        # The controller's own error (an InputError naming the problem), not a notification.
        session.open(_volume_path(args), annotations=args.annotations)
        if args.slice is not None:
            session.set_slice(args.slice)
        else:
            session.set_slice(max(range(session.num_slices),
                                  key=lambda i: (len(session.boxes(i)), -abs(i - session.num_slices // 2))))
    except BaseException:
        # Closed now, while the widget's jobs, threads and Qt objects still exist: left to the
        # interpreter's exit, they would go in no set order.
        viewer.close()
        raise
    return viewer, widget


def interactive(args: argparse.Namespace) -> int:
    import napari

    _setup(args)
    napari.run()
    return 0


def _settle(widget: ReconstructionWidget, timeout: float = 120.0) -> None:
    """Let the GUI process events until the session's job is done and the layers redrawn."""
    from qtpy.QtWidgets import QApplication

    start = time.monotonic()
    while widget.controller.current_job is not None:
        QApplication.processEvents()
        if time.monotonic() - start > timeout:
            raise InputError(f"reconstruction did not finish within {timeout:.0f} s")
        time.sleep(0.02)
    for _ in range(5):
        QApplication.processEvents()
        time.sleep(0.02)


def render(args: argparse.Namespace) -> list[Path]:
    """Render the scene at 4x and 8x into ``args.out``; returns the files written."""
    from lfmri_viewer.csv_table import write_csv
    from lfmri_viewer.formatting import FAILURE_COLUMNS, READOUT_COLUMNS, failure_cells, readout_cells

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    viewer, widget = _setup(args)
    session = widget.controller
    stem = session.path.stem if session.path is not None else "volume"
    index = session.slice_index
    written: list[Path] = []
    rows: list[dict[str, Any]] = []
    tables: list[str] = []
    shots = {acceleration: out / f"{stem}_slice{index:02d}_{acceleration:g}x.png" for acceleration, _ in SETTINGS}
    failures, metrics, report = (out / f"{stem}_{name}" for name in ("failure_cases.csv", "metrics.csv", "metrics.md"))
    # The session's inputs (volume, annotations) are never written over, whatever --out says:
    # refused now rather than after the rendering.
    inputs = protect_inputs(*session.inputs)
    try:
        for path in (*shots.values(), failures, metrics, report):
            check_output(path)
        for acceleration, centre in SETTINGS:
            session.update(acceleration=acceleration, center_fraction=centre)
            session.reconstruct_slice()
            _settle(widget)
            viewer.reset_view()
            _settle(widget)
            shot = shots[acceleration]
            with atomic_path(shot) as tmp:
                viewer.screenshot(str(tmp.with_suffix(".png")), canvas_only=False, flash=False)
                tmp.with_suffix(".png").replace(tmp)
            written.append(shot)
            readouts = session.readouts()
            tables += [f"### {stem}, slice {index}, {acceleration:g}x ({session.mask().achieved_acceleration:.2f}x achieved, "
                       f"{session.settings.mask} mask, centre {centre:g})", "",
                       "| " + " | ".join(READOUT_COLUMNS) + " |", "|" + "---|" * len(READOUT_COLUMNS)]
            for readout in readouts.values():
                cells = readout_cells(readout)
                tables.append("| " + " | ".join(cells[c] for c in READOUT_COLUMNS) + " |")
                rows.append({"file": stem, "acceleration": acceleration, **readout.as_row()})
            tables.append("")
        # The failure-case table needs every slice's CAM: reconstruct the volume at the last setting.
        session.reconstruct_volume()
        _settle(widget, timeout=1800.0)
        method = session.settings.methods[-1]
        cases = session.failure_cases(method, pointer=True)  # a report: the backward passes are affordable
        tables += [f"### CAM failure cases ({method}, {SETTINGS[-1][0]:g}x): slices with lesion boxes, worst first", "",
                   "| " + " | ".join(FAILURE_COLUMNS) + " |", "|" + "---|" * len(FAILURE_COLUMNS)]
        tables += ["| " + " | ".join(failure_cells(c)[k] for k in FAILURE_COLUMNS) + " |" for c in cases]
        written.append(session.export_failure_csv(failures, method, pointer=True))
        written.append(write_csv(metrics, rows))
        with atomic_path(report) as tmp:
            tmp.write_text("\n".join([f"# LF-MRI Viewer: {stem}", "", *tables, ""]), encoding="utf-8")
        written.append(report)
    finally:
        inputs.release()
        viewer.close()
    print(report.read_text())
    print("wrote " + ", ".join(str(p) for p in written))
    return written


if __name__ == "__main__":
    sys.exit(main())
