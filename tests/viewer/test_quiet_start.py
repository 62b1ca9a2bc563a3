"""A normal start of the viewer prints no warning noise (Qt's XDG_RUNTIME_DIR message, napari's
system-theme warning under PyQt5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START = """
import sys
if sys.argv[1] == "quiet":
    from lfmri_viewer.cli import quiet_start
    quiet_start()
import napari
viewer = napari.Viewer(show=False)
viewer.close()
print("started")
"""
NOISE = ("XDG_RUNTIME_DIR", "System theme detection")


def _start(mode: str, tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["TMPDIR"] = str(tmp_path)  # where Qt (and quiet_start) put the runtime folder
    done = subprocess.run([sys.executable, "-c", START, mode], capture_output=True, text=True, env=env, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0 and "started" in done.stdout, done.stderr
    return done.stderr


@pytest.mark.gui
def test_a_start_says_nothing_about_xdg_or_the_theme(tmp_path: Path) -> None:
    if "DISPLAY" not in os.environ:
        pytest.skip("needs the Xvfb display of the GUI tests")
    plain = _start("plain", tmp_path)
    # The check sees the noise when it is there (PyQt5: both messages), ...
    from qtpy import QT6

    if not QT6:
        assert all(noise in plain for noise in NOISE), plain
    # ... and quiet_start removes it at its source (the runtime folder) or by name (the warning).
    quiet = _start("quiet", tmp_path)
    assert not any(noise in quiet for noise in NOISE), quiet
    runtime = next(tmp_path.glob("runtime-*"))
    assert runtime.stat().st_mode & 0o777 == 0o700
