"""Method plugins: the ``lfmri.methods`` entry-point group, discovered like pip-installed packages.

The probe plugin (:func:`tests.plugin_site.probe_site`) is zero-filled SENSE written with
``lfmri_core``'s public API, so what it returns through ``lfmri recon`` and ``lfmri evaluate``
can be held against the built-in ``zero-filled-sense``.
"""

from __future__ import annotations

import csv
import json
import math
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
from tests.plugin_site import PROBE_ORIGIN as ORIGIN
from tests.plugin_site import plugin_environment, plugins_loaded, probe_site
from tests.tolerances import assert_close_in_norm, rounding_rtol



@pytest.fixture
def site(tmp_path: Path) -> Path:
    return probe_site(tmp_path / "site")


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
        assert load_plugins(path=[str(site)]) == []
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
    assert load_plugins(path=[str(site)]) == []
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
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1] == ("lfmri: error: probe-sense: got an unexpected keyword argument "
                                                       "'scael' (its parameters: scale)")


def test_lfmri_evaluate_scores_a_plugin_method(site: Path, tmp_path: Path) -> None:
    """``lfmri evaluate --methods`` takes a plugin method by name; its rows equal those of the
    built-in method it re-implements (the same images, so the same metrics)."""
    done = subprocess.run([sys.executable, "-m", "lfmri_core.cli", "evaluate", "--out", "out", "--cache", "cache",
                           "--num-volumes", "1", "--num-slices", "1", "--accelerations", "4", "--no-stage-ablation",
                           "--methods", "zero-filled-sense", "probe-sense", "--device", "cpu", "--quiet"],
                          env=plugin_environment(site), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    for table in ("table1_pd.csv", "table2_pdfs.csv"):
        with (tmp_path / "out" / table).open() as f:
            rows = {row["method"]: row for row in csv.DictReader(f)}
        assert set(rows) == {"zero-filled-sense", "probe-sense"}
        # One image computed twice (the maps, an inverse FFT, the coil sum) differs by complex64
        # rounding r; a PSNR then moves by at most 10 / ln 10 * 2 r / sqrt(NMSE) dB, and NMSE of
        # zero-filled SENSE at 4x is well above 0.01 (SSIM, at most 1, moves by less).
        r = rounding_rtol(np.complex64, fft_points=320 * 320, fft_passes=2, terms=8)
        for metric in ("psnr_4x_mean", "ssim_4x_mean"):
            builtin, plugin = float(rows["zero-filled-sense"][metric]), float(rows["probe-sense"][metric])
            assert plugin == pytest.approx(builtin, abs=10 / math.log(10) * 2 * r / 0.1)
