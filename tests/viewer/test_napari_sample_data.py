"""napari's sample menu on first use: the sample is generated off the GUI thread, with a
notification and a progress bar, and its layers replace a placeholder when it is ready."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lfmri_sample_data
from lfmri_core.io.fastmri_h5 import FastMRIVolume
from lfmri_viewer.napari_plugin import _sample_data
from lfmri_viewer.napari_plugin._layers import SOURCE_KEY

PLUGIN = "lfmri-viewer"
MakeViewer = Callable[..., Any]


@pytest.fixture
def small_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache and a sample recipe of 2 slices per volume (seconds to generate)."""
    spec = copy.deepcopy(lfmri_sample_data.manifest())
    spec["defaults"]["num_slices"] = 2
    monkeypatch.setattr(lfmri_sample_data, "manifest", lambda: copy.deepcopy(spec))
    monkeypatch.setattr(_sample_data, "manifest", lambda: copy.deepcopy(spec))
    monkeypatch.setenv("LFMRI_CACHE", str(tmp_path))
    assert not lfmri_sample_data.is_current()
    return tmp_path / "sample"


@pytest.mark.gui
def test_first_use_generates_off_the_gui_thread(make_napari_viewer: MakeViewer, small_sample: Path,
                                                monkeypatch: pytest.MonkeyPatch, qtbot: Any) -> None:
    from napari.utils.notifications import notification_manager

    calls: list[tuple[threading.Thread, list[tuple[int, int]]]] = []
    generate = lfmri_sample_data.ensure_sample_data

    def recording(*args: Any, progress: Callable[[int, int], None] | None = None, **kwargs: Any) -> list[Path]:
        steps: list[tuple[int, int]] = []
        calls.append((threading.current_thread(), steps))

        def relay(done: int, total: int) -> None:
            steps.append((done, total))
            if progress is not None:
                progress(done, total)

        return generate(*args, progress=relay, **kwargs)

    monkeypatch.setattr(_sample_data, "ensure_sample_data", recording)
    viewer = make_napari_viewer()
    seen = len(notification_manager.records)
    viewer.open_sample(PLUGIN, "knee_pd")
    # The command returned before the volume exists: only the placeholder is there.
    assert [layer.metadata.get(_sample_data.PLACEHOLDER_KEY) for layer in viewer.layers] == ["PD"]
    assert any("Generating the LF-MRI sample" in str(n.message) for n in notification_manager.records[seen:])
    qtbot.waitUntil(lambda: any(SOURCE_KEY in layer.metadata for layer in viewer.layers), timeout=180_000)

    assert len(calls) == 1
    thread, steps = calls[0]
    assert thread is not threading.main_thread()
    assert steps[-1] == (2 * 2 + 1, 2 * 2 + 1)  # 2 volumes x 2 slices, then the writing
    assert all(layer.metadata.get(_sample_data.PLACEHOLDER_KEY) is None for layer in viewer.layers)
    path = small_sample / "lfmri_knee_pd.h5"
    assert [layer.name for layer in viewer.layers] == ["lfmri_knee_pd reference", "lfmri_knee_pd lesion boxes"]
    with FastMRIVolume(path) as volume:
        np.testing.assert_array_equal(viewer.layers[0].data, volume.target_volume())
    assert lfmri_sample_data.is_current()
    # Cached now: the next sample opens at once, on the GUI thread, with nothing generated.
    viewer.open_sample(PLUGIN, "knee_pdfs")
    assert viewer.layers[-2].name == "lfmri_knee_pdfs reference"
    assert len(calls) == 2 and calls[1][0] is threading.main_thread() and calls[1][1] == []
