"""Method plugins installed for a test: a real ``*.dist-info`` with ``entry_points.txt`` in a
folder put on ``sys.path`` (in this process, or in a ``lfmri`` subprocess), the way pip installs
a package, with nothing of :mod:`importlib.metadata` mocked."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from lfmri_core.recon.registry import DISABLE_PLUGINS_ENV, METHOD_REGISTRY, PLUGIN_GROUP, load_plugins

ROOT = Path(__file__).resolve().parents[1]


def make_plugin_site(folder: Path, distribution: str, entry_points: Mapping[str, str],
                     modules: Mapping[str, str] | None = None, *, link_plugins: bool = False) -> Path:
    """A site folder holding distribution ``distribution`` 0.1 with ``entry_points`` (method name
    -> ``module:attribute``) in the ``lfmri.methods`` group and the ``modules`` (file name ->
    source) beside it; ``link_plugins`` adds ``lfmri_plugins`` as a link to this checkout's
    ``plugins/``, so entry points into it run this code, not an installed copy."""
    folder.mkdir(parents=True, exist_ok=True)
    info = folder / f"{distribution.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{PLUGIN_GROUP}]\n" + "".join(f"{name} = {value}\n" for name, value in entry_points.items()))
    for name, source in (modules or {}).items():
        (folder / name).write_text(source)
    if link_plugins:
        (folder / "lfmri_plugins").symlink_to(ROOT / "plugins", target_is_directory=True)
    return folder


@contextmanager
def plugins_loaded(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``site`` on ``sys.path`` and :func:`load_plugins` run on the distributions installed in
    ``site`` (so plugins installed elsewhere, this repository's own included, do not count);
    yields the names it registered. Afterwards the registry holds only what it held before, and
    the modules imported from ``site`` are forgotten."""
    before = dict(METHOD_REGISTRY)
    modules = set(sys.modules)
    monkeypatch.delenv(DISABLE_PLUGINS_ENV, raising=False)
    monkeypatch.syspath_prepend(str(site))
    try:
        yield load_plugins(path=[str(site)])
    finally:
        METHOD_REGISTRY.clear()
        METHOD_REGISTRY.update(before)
        for name in set(sys.modules) - modules:
            if str(site) in str(getattr(sys.modules[name], "__file__", "") or ""):
                del sys.modules[name]


def plugin_environment(site: Path) -> dict[str, str]:
    """Environment of a ``lfmri`` subprocess that finds the plugins of ``site`` (and this
    checkout's packages first), with plugin discovery on and one thread."""
    env = {key: value for key, value in os.environ.items() if key != DISABLE_PLUGINS_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(site)])
    env["OMP_NUM_THREADS"] = "1"
    return env


PROBE_MODULE = '''"""A method plugin of the tests: zero-filled SENSE from lfmri_core's public API."""
from lfmri_core.physics import ifft2c, sensitivity_combine
from lfmri_core.recon import MethodInfo


def _build(scale=1.0):
    def method(kspace, mask, *, sensitivities=None, progress=None, cancel=None):
        return scale * sensitivity_combine(ifft2c(kspace), sensitivities)
    return method


PROBE = MethodInfo("probe-sense", "zero-filled SENSE from a plugin", _build, needs_sensitivities=True)
NOT_INFO = "not a MethodInfo"
MISNAMED = MethodInfo("another-name", "misnamed", _build)
CLASH = MethodInfo("cg-sense", "takes a built-in name", _build)
'''

PROBE_ENTRY_POINTS = {
    "probe-sense": "lfmri_probe_plugin:PROBE",
    "probe-broken": "lfmri_probe_missing:PROBE",
    "probe-not-info": "lfmri_probe_plugin:NOT_INFO",
    "probe-misnamed": "lfmri_probe_plugin:MISNAMED",
    "cg-sense": "lfmri_probe_plugin:CLASH",
}

PROBE_ORIGIN = "lfmri_probe_plugin:PROBE (lfmri-probe-plugin 0.1)"
"""``MethodInfo.plugin`` of ``probe-sense``."""


def probe_site(folder: Path) -> Path:
    """A site with the probe plugin: ``probe-sense`` (zero-filled SENSE times its ``scale``
    parameter, from lfmri_core's public API) and four entry points that must be left out (a
    missing module, not a MethodInfo, a MethodInfo of another name, a built-in name)."""
    return make_plugin_site(folder, "lfmri-probe-plugin", PROBE_ENTRY_POINTS, {"lfmri_probe_plugin.py": PROBE_MODULE})
