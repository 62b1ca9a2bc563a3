"""Movies of a session (lfmri_viewer.animation): the sweeps drive the controller, the files
are playable MP4 / GIF with one frame per step, read back with imageio."""

from __future__ import annotations

import builtins
import math
import subprocess
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.metrics import psnr
from lfmri_viewer.animation import (
    FrameRenderer,
    Sweep,
    export_animation,
    label,
    sweep_frames,
    write_movie,
)
from lfmri_viewer.controller import SessionController
from lfmri_viewer.jobs import run_sync
from lfmri_viewer.settings import ReconSettings
from tests.viewer.conftest import SmallDataset


@pytest.fixture
def session(small_dataset: SmallDataset) -> SessionController:
    s = SessionController(ReconSettings(methods=("zero-filled",)), classifier=None)
    s.open(small_dataset.h5)
    return s


def _run(generator):
    reports = []
    while True:
        try:
            reports.append(next(generator))
        except StopIteration as stop:
            return reports, stop.value


def mp4_frames(path: Path, height: int, width: int) -> np.ndarray:
    """Every frame, RGB ``(n, height, width, 3)``, decoded by imageio-ffmpeg's ffmpeg (imageio's
    MP4 backend); the stream must be H.264. Run to the end in one process, so no pipe is left
    open (imageio's frame readers leave theirs to the garbage collector)."""
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    probe = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True, text=True, check=False)
    assert "Video: h264" in probe.stderr, probe.stderr
    raw = subprocess.run([exe, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    assert len(raw) % (height * width * 3) == 0
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
    assert imageio_ffmpeg.count_frames_and_secs(str(path))[0] == len(frames)
    return frames


def test_acceleration_sweep_as_mp4_has_one_frame_per_acceleration(session: SessionController, tmp_path: Path) -> None:
    before = session.settings
    reports: list[object] = []
    out = export_animation(session, tmp_path / "sweep.mp4", Sweep("acceleration", (2, 4, 8)), fps=2,
                           progress=reports.append)
    frames = mp4_frames(out, 400, 320)
    assert len(frames) == 3 and len(reports) == 3
    assert not np.array_equal(frames[0], frames[-1])
    assert session.settings == before  # the session is back where it was
    assert not list(tmp_path.glob(".*.part"))


def test_sweep_frames_show_the_numbers_the_viewers_show(session: SessionController) -> None:
    _, movie = _run(sweep_frames(session, Sweep("acceleration", (3, 6))))
    for frame, acceleration in zip(movie.frames, (3, 6), strict=True):
        assert frame.acceleration == acceleration
        session.update(acceleration=acceleration)
        run_sync_result = session.result("zero-filled")  # kept in the cache by the sweep
        assert run_sync_result is not None
        np.testing.assert_array_equal(frame.panels[0].image, run_sync_result.image)
        readout = session.readouts()["zero-filled"]
        assert frame.panels[0].psnr == readout.psnr
        assert frame.panels[0].lf_psnr == readout.lf_psnr or math.isnan(readout.lf_psnr)
        assert f"PSNR {readout.psnr:.2f} dB" in label(frame.panels[0], acceleration)


def test_slice_sweep_as_gif_covers_every_slice(session: SessionController, tmp_path: Path) -> None:
    start = session.slice_index
    out = export_animation(session, tmp_path / "slices.gif", Sweep("slices"), errors=True)
    frames = iio.imread(out, index=None)
    assert frames.shape == (session.num_slices, 800, 320, 3)
    assert session.slice_index == start
    assert all(session.result("zero-filled", i) is not None for i in range(session.num_slices))


def test_iteration_movie_ends_on_the_methods_result(session: SessionController, tmp_path: Path) -> None:
    sweep = Sweep("iterations", method="cg-sense", every=8)
    reports, movie = _run(sweep_frames(session, sweep))
    assert [r.done for r in reports] == [1, 2, 3, 4] and reports[-1].total == 4  # iterations 8, 16, 24 and 30
    session.runner = run_sync
    session.reconstruct_slice(methods=("cg-sense",))
    final = session.result("cg-sense")
    assert final is not None
    np.testing.assert_array_equal(movie.frames[-1].panels[0].image, final.image)
    reference = session.reference()
    assert reference is not None and session.maxval is not None
    assert movie.frames[-1].panels[0].psnr == psnr(reference[None], final.image[None], session.maxval)
    assert "iteration 30 of 30" in movie.frames[-1].caption
    out = export_animation(session, tmp_path / "cg.gif", sweep)
    assert iio.imread(out, index=None).shape[0] == 4


def test_renderer_draws_in_the_display_orientation(session: SessionController) -> None:
    """The display frame flips the stored rows: a bright stored first row is drawn at the bottom."""
    _, movie = _run(sweep_frames(session, Sweep("acceleration", (4,))))
    panel = movie.frames[0].panels[0]
    image = np.zeros_like(panel.image)
    image[:40] = movie.window[1]
    bright = type(movie.frames[0])("", (type(panel)("zero-filled", image, math.nan, math.nan),), 0)
    renderer = FrameRenderer(movie)
    rgb = renderer.render(bright).astype(float).mean(axis=2)
    box = renderer.axes[0].get_window_extent()  # display pixels, origin bottom-left
    top, bottom = rgb.shape[0] - round(box.y1), rgb.shape[0] - round(box.y0)
    left, right = round(box.x0), round(box.x1)
    profile = rgb[top:bottom, left:right].mean(axis=1)
    bright_rows = np.nonzero(profile > 200)[0]
    assert bright_rows.size and bright_rows.min() > profile.size // 2


def test_bad_requests_are_one_line_errors(session: SessionController, tmp_path: Path,
                                          small_dataset: SmallDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match=r"written as \.mp4 or \.gif; got \.avi"):
        export_animation(session, tmp_path / "x.avi", Sweep("slices"))
    with pytest.raises(InputError, match="input"):
        export_animation(session, small_dataset.h5.with_suffix(".h5"), Sweep("slices"))
    with pytest.raises(InputError, match="unknown sweep 'seeds'"):
        Sweep("seeds")
    with pytest.raises(InputError, match="zero-filled does not iterate"):
        export_animation(session, tmp_path / "x.gif", Sweep("iterations", method="zero-filled"))
    with pytest.raises(InputError, match="acceleration"):
        export_animation(session, tmp_path / "x.gif", Sweep("acceleration", (0.5,)))
    assert session.settings.acceleration == 4.0
    real_import = builtins.__import__

    def no_ffmpeg(name: str, *args: object, **kwargs: object) -> object:
        if name == "imageio_ffmpeg":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ffmpeg)
    with pytest.raises(InputError, match=r'MP4 export needs the animation extra: pip install "lfmri-viewer\[animation\]"'):
        write_movie(tmp_path / "x.mp4", [np.zeros((16, 16, 3), np.uint8)])
    assert not list(tmp_path.iterdir())
