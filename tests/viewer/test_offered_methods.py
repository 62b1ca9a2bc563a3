"""What the front ends offer comes from one place: :func:`lfmri_viewer.settings.offered_methods`."""

from __future__ import annotations

from lfmri_core.recon import available_methods, installed_learned_methods, method_info
from lfmri_viewer.settings import offered_methods


def test_offered_methods_are_the_runnable_ones_plus_the_chosen() -> None:
    offered = offered_methods()
    installed = set(installed_learned_methods())
    for name in available_methods():
        info = method_info(name)
        runnable = not info.needs_boxes and (not info.learned or name in installed)
        assert (name in offered) == runnable, name
    assert list(offered) == [m for m in available_methods() if m in offered]  # registration order
    assert offered_methods(("zero-filled", "not-installed"))[-1] == "not-installed"
    assert "lfmri-oracle" not in offered
