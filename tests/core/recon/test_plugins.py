"""Method plugins: the ``lfmri.methods`` entry-point group, discovered like pip-installed packages.

The probe plugin below is zero-filled SENSE written with ``lfmri_core``'s public API, so what it
returns through ``lfmri recon`` can be held against the built-in ``zero-filled-sense``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from lfmri_core.cli import main
from lfmri_core.io.fastmri_h5 import write_volume
from lfmri_core.recon import available_methods, build_method, method_info
from lfmri_core.recon.registry import DISABLE_PLUGINS_ENV, PluginWarning, load_plugins
from tests.conftest import random_complex
from tests.plugin_site import make_plugin_site, plugin_environment, plugins_loaded
from tests.tolerances import assert_close_in_norm, rounding_rtol

PROBE_MODULE = '''"""A method plugin of the tests: zero-filled SENSE from lfmri_core's public API."""
from lfmri_core.physics import ifft2c, sensitivity_combine
from lfmri_core.recon import MethodInfo

CALLS = []


def _build(scale=1.0):
    def method(kspace, mask, *, sensitivities=None, progress=None, cancel=None):
        CALLS.append((tuple(kspace.shape), None if sensitivities is None else tuple(sensitivities.shape)))
        return scale * sensitivity_combine(ifft2c(kspace), sensitivities)
    return method


PROBE = MethodInfo("probe-sense", "zero-filled SENSE from a plugin", _build, needs_sensitivities=True)
NOT_INFO = "not a MethodInfo"
MISNAMED = MethodInfo("another-name", "misnamed", _build)
CLASH = MethodInfo("cg-sense", "takes a built-in name", _build)
'''

ENTRY_POINTS = {
    "probe-sense": "lfmri_probe_plugin:PROBE",
    "probe-broken": "lfmri_probe_missing:PROBE",
    "probe-not-info": "lfmri_probe_plugin:NOT_INFO",
    "probe-misnamed": "lfmri_probe_plugin:MISNAMED",
    "cg-sense": "lfmri_probe_plugin:CLASH",
}

ORIGIN = "lfmri_probe_plugin:PROBE (lfmri-probe-plugin 0.1)"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_plugin_site(tmp_path / "site", "lfmri-probe-plugin", ENTRY_POINTS, {"lfmri_probe_plugin.py": PROBE_MODULE})


def test_entry_points_register_methods_and_bad_ones_are_left_out_with_a_warning(
        site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builtin = available_methods()
    with pytest.warns(PluginWarning) as caught, plugins_loaded(site, monkeypatch) as added:
        assert added == ["probe-sense"]
        assert available_methods() == [*builtin, "probe-sense"]
        info = method_info("probe-sense")
        assert info.plugin == ORIGIN and info.needs_sensitivities and not info.learned
        assert method_info("cg-sense").plugin is None  # the built-in method keeps its name
        # a second discovery registers nothing new (and says again what it leaves out)
        count = len(caught)
        assert load_plugins() == []
        assert available_methods() == [*builtin, "probe-sense"]
    messages = sorted(str(w.message) for w in caught[:count])
    assert sorted(str(w.message) for w in caught[count:]) == messages
    assert messages == sorted([
        "method plugin 'cg-sense' (lfmri_probe_plugin:CLASH (lfmri-probe-plugin 0.1)) left out: "
        "a method of that name is built in",
        "method plugin 'probe-broken' (lfmri_probe_missing:PROBE (lfmri-probe-plugin 0.1)) failed to load: "
        "ModuleNotFoundError: No module named 'lfmri_probe_missing'",
        "method plugin 'probe-misnamed' (lfmri_probe_plugin:MISNAMED (lfmri-probe-plugin 0.1)) left out: "
        "its MethodInfo is named 'another-name'",
        "method plugin 'probe-not-info' (lfmri_probe_plugin:NOT_INFO (lfmri-probe-plugin 0.1)) left out: "
        "it is a str, not an lfmri_core.recon.MethodInfo",
    ])
    assert available_methods() == builtin  # restored by plugins_loaded


def test_the_plugin_method_builds_and_runs_like_a_built_in_one(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(0)
    kspace = torch.complex(torch.randn(2, 3, 16, 12, generator=gen), torch.randn(2, 3, 16, 12, generator=gen))
    maps = torch.complex(torch.randn(2, 3, 16, 12, generator=gen), torch.randn(2, 3, 16, 12, generator=gen))
    mask = torch.ones(1, 12, dtype=torch.bool)
    with pytest.warns(PluginWarning), plugins_loaded(site, monkeypatch):
        image = build_method("probe-sense", scale=2.0)(kspace, mask, sensitivities=maps)
        builtin = build_method("zero-filled-sense")(kspace, mask, sensitivities=maps)
    assert_close_in_norm(image, 2 * builtin, rounding_rtol(torch.complex64))


def test_plugins_can_be_turned_off(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(DISABLE_PLUGINS_ENV, "1")
    assert load_plugins() == []
    assert "probe-sense" not in available_methods()


@pytest.fixture
def volume(tmp_path: Path, rng: np.random.Generator) -> Path:
    path = tmp_path / "file_probe.h5"
    kspace = random_complex(rng, (2, 3, 32, 24))
    image = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    target = np.sqrt((np.abs(image) ** 2).sum(1))[:, 8:24, 4:20].astype(np.float32)
    from lfmri_core.io.ismrmrd_header import EncodingInfo

    encoding = EncodingInfo(encoded_shape=(32, 24), recon_shape=(16, 16))
    write_volume(path, kspace, encoding=encoding, reconstruction_rss=target)
    return path


def _reconstruction(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["reconstruction"][()]


def test_an_installed_plugin_runs_end_to_end_through_lfmri(site: Path, volume: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh ``lfmri`` process finds the plugin by its entry point: listed, reconstructed with,
    the same image as the built-in method it re-implements; the broken entry points are one
    warning line each and do not stop the command."""
    env = plugin_environment(site)
    listing = subprocess.run([sys.executable, "-m", "lfmri_core.cli", "list"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert listing.returncode == 0, listing.stderr
    assert f"probe-sense        zero-filled SENSE from a plugin  [needs coil maps]  [plugin: {ORIGIN}]" in listing.stdout
    warnings = listing.stderr.strip().splitlines()
    assert len(warnings) == 4 and all(line.startswith("lfmri: warning: method plugin '") for line in warnings)

    common = ["--accel", "2", "--center-fraction", "0.25", "--seed", "0", "--maps", "lowres", "--quiet"]
    out = tmp_path / "probe.h5"
    done = subprocess.run([sys.executable, "-m", "lfmri_core.cli", "recon", str(volume), "--method", "probe-sense",
                           "--method-param", "scale=2", "--out", str(out), "--report", str(tmp_path / "probe.json"),
                           *common], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "probe.json").read_text())
    assert report["method"] == "probe-sense" and report["method_params"] == {"scale": 2}
    assert report["coil_maps"] == "lowres"

    reference = tmp_path / "builtin.h5"
    assert main(["recon", str(volume), "--method", "zero-filled-sense", "--out", str(reference), *common]) == 0
    capsys.readouterr()
    expected = 2 * _reconstruction(reference)
    # the same maps and FFTs in two processes: rounding only
    assert_close_in_norm(_reconstruction(out), expected,
                         rounding_rtol(np.complex64, fft_points=32 * 24, fft_passes=2, terms=3))

    unknown = subprocess.run([sys.executable, "-m", "lfmri_core.cli", "recon", str(volume), "--method", "probe-sense",
                              "--method-param", "scael=2", *common], env=env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
