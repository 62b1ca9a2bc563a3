"""A method added by an installed plugin is offered by both front ends and run by the session
controller they share, like a built-in one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lfmri_core.recon import PluginWarning
from lfmri_core.synthetic import SyntheticConfig, generate_volume
from lfmri_core.synthetic.export import write_dataset
from lfmri_viewer.controller import SessionController
from lfmri_viewer.settings import ReconSettings
from tests.plugin_site import plugins_loaded, probe_site
from tests.tolerances import assert_close_in_norm, rounding_rtol


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with pytest.warns(PluginWarning), plugins_loaded(probe_site(tmp_path / "site"), monkeypatch) as added:
        assert added == ["probe-sense"]
        yield


def test_the_controller_runs_a_plugin_method(probe: None, tmp_path: Path) -> None:
    volume = generate_volume(SyntheticConfig(num_slices=2, num_coils=4, seed=4))
    path = write_dataset(tmp_path / "knee", [("file_knee", volume)])[0]
    session = SessionController(settings=ReconSettings(methods=("zero-filled-sense", "probe-sense")), classifier=None)
    session.open(path)
    session.reconstruct_slice(1)
    plugin, builtin = session.result("probe-sense", 1), session.result("zero-filled-sense", 1)
    assert plugin is not None and builtin is not None
    # the same maps and the same sum over the same coil images
    height, width = volume.kspace.shape[-2:]
    assert_close_in_norm(plugin.image, builtin.image, rounding_rtol(np.complex64, fft_points=height * width,
                                                                    fft_passes=2, terms=4))
    assert set(session.readouts(1)) == {"zero-filled-sense", "probe-sense"}


@pytest.mark.gui
def test_both_front_ends_offer_a_plugin_method(probe: None) -> None:
    from lfmri_viewer.jupyter._widget import LFMRIWidget
    from lfmri_viewer.napari_plugin._widget import offered_methods

    assert "probe-sense" in offered_methods()
    assert "probe-sense" in LFMRIWidget._method_options(ReconSettings(methods=("zero-filled",)))
