"""The BART plugin against ``bart`` itself: each image equals a direct ``bart pics`` run (after
``bart ecalib`` for ``bart-pics-ecalib``) on the same arrays, in this process and through an
``lfmri recon`` that found the plugin by its entry point.

Both sides run the same BART program on the same bytes with one OpenMP thread, so they differ by
rounding at most; the tolerance is that of ``ITERATIONS`` steps of FFT passes over the image
and sums over the coils (:mod:`tests.tolerances`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.io.bart_cfl import read_cfl, write_cfl
from lfmri_core.io.fastmri_h5 import write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from lfmri_core.masks import make_mask
from lfmri_core.recon import Cancelled, MethodInfo
from plugins.bart_pics import DEFAULT_OPTIONS, OPTIONS_ENV, BartPics, bart_pics_method, build_bart_pics
from tests.conftest import require_bart
from tests.plugin_site import ROOT, make_plugin_site, plugin_environment
from tests.tolerances import assert_close_in_norm, rounding_rtol

pytestmark = pytest.mark.bart

SIZE, COILS = 64, 4
ITERATIONS = 30  # bart pics' default


def _bart(folder: Path, *arguments: str) -> None:
    subprocess.run([require_bart(), *arguments], cwd=folder, check=True, capture_output=True,
                   env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def _ours(array: np.ndarray) -> np.ndarray:
    """BART ``(H, W, 1, C)`` -> ours ``(C, H, W)``."""
    return np.ascontiguousarray(np.transpose(np.asarray(array).reshape(SIZE, SIZE, -1), (2, 0, 1)), dtype=np.complex64)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``bart phantom -k -s 4 -x 64`` undersampled 4x by our random mask, its ``bart ecalib -m1``
    maps, and the mask ``(H, W)``: ours ``(C, H, W)``."""
    folder = tmp_path_factory.mktemp("phantom")
    _bart(folder, "phantom", "-k", "-s", str(COILS), "-x", str(SIZE), "full")
    full = _ours(read_cfl(folder / "full"))
    mask = make_mask("random", full.shape, acceleration=4, center_fraction=0.25, seed=0)
    pattern = np.array(np.broadcast_to(mask.pattern, (SIZE, SIZE)), dtype=bool)
    kspace = np.where(pattern, full, 0).astype(np.complex64)
    write_cfl(folder / "kspace", np.transpose(kspace, (1, 2, 0))[:, :, None, :])
    _bart(folder, "ecalib", "-m1", "kspace", "maps")
    return kspace, _ours(read_cfl(folder / "maps")), pattern


def _direct(folder: Path, kspace: np.ndarray, pattern: np.ndarray, options: list[str],
            maps: np.ndarray | None = None) -> np.ndarray:
    """``bart pics OPTIONS -p pattern kspace maps image`` run here, ``bart ecalib -m1`` first
    without ``maps``; the image ``(H, W)``."""
    folder.mkdir()
    write_cfl(folder / "kspace", np.transpose(kspace, (1, 2, 0))[:, :, None, :])
    write_cfl(folder / "pattern", pattern.astype(np.complex64))
    if maps is None:
        _bart(folder, "ecalib", "-m1", "kspace", "maps")
    else:
        write_cfl(folder / "maps", np.transpose(maps, (1, 2, 0))[:, :, None, :])
    _bart(folder, "pics", *options, "-p", "pattern", "kspace", "maps", "image")
    return np.asarray(read_cfl(folder / "image")).reshape(SIZE, SIZE)


def _rtol(iterations: int = ITERATIONS) -> float:
    return rounding_rtol(np.complex64, fft_points=SIZE * SIZE, fft_passes=2, terms=COILS, steps=iterations)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the plugin's bart processes, like the direct ones
    monkeypatch.delenv(OPTIONS_ENV, raising=False)


@pytest.mark.parametrize("options", ["-l1 -r 0.01", "-l2 -r 0.01 -i 20"])
def test_project_maps_give_bart_pics_image(phantom: tuple[np.ndarray, np.ndarray, np.ndarray], options: str,
                                           tmp_path: Path) -> None:
    kspace, maps, pattern = phantom
    method = build_bart_pics("project", options=options)
    assert method == BartPics(("-S", *options.split()), "project")
    image = method(torch.from_numpy(kspace)[None], torch.from_numpy(pattern), sensitivities=torch.from_numpy(maps)[None])
    assert image.shape == (1, SIZE, SIZE) and image.dtype == torch.complex64
    expected = _direct(tmp_path / "direct", kspace, pattern, ["-S", *options.split()], maps)
    assert np.linalg.norm(expected) > 0
    assert_close_in_norm(image[0], expected, _rtol())


def test_ecalib_maps_give_bart_ecalib_then_pics_image(phantom: tuple[np.ndarray, np.ndarray, np.ndarray],
                                                       tmp_path: Path) -> None:
    kspace, _, pattern = phantom
    image = build_bart_pics("ecalib")(torch.from_numpy(kspace)[None], torch.from_numpy(pattern))  # default options
    expected = _direct(tmp_path / "direct", kspace, pattern, ["-S", *DEFAULT_OPTIONS.split()])
    assert_close_in_norm(image[0], expected, _rtol())


def test_slices_one_by_one_with_progress_and_cancel(phantom: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    kspace, maps, pattern = phantom
    batch = torch.from_numpy(np.stack([kspace, 0.5 * kspace]))
    method = build_bart_pics("project", options=["-l2", "-r", "0.01"])
    calls: list[tuple[int, int]] = []
    images = method(batch, torch.from_numpy(pattern), sensitivities=torch.from_numpy(maps)[None], progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 2), (2, 2)]
    single = method(batch[:1], torch.from_numpy(pattern), sensitivities=torch.from_numpy(maps)[None])
    assert_close_in_norm(images[0], single[0], _rtol())
    # BART scales the data by its own size and -S scales back, so -l2 is linear: half the data,
    # half the image
    assert_close_in_norm(images[1], 0.5 * images[0], _rtol())
    with pytest.raises(Cancelled, match="after 0 of 2 slices"):
        method(batch, torch.from_numpy(pattern), sensitivities=torch.from_numpy(maps)[None], cancel=lambda: True)


def test_options_come_from_the_parameter_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_bart_pics("project").options == ("-S", "-l1", "-r", "0.01")
    monkeypatch.setenv(OPTIONS_ENV, "-l2 -r 0.1")
    assert build_bart_pics("ecalib").options == ("-S", "-l2", "-r", "0.1")
    assert build_bart_pics("project", options="-S -l1 -r '0.02'").options == ("-S", "-l1", "-r", "0.02")
    preset = bart_pics_method("bart-l2", options="-l2 -r 0.05")
    assert isinstance(preset, MethodInfo) and preset.needs_sensitivities
    assert preset.factory().options == ("-S", "-l2", "-r", "0.05")
    assert preset.factory(options="-l1").options == ("-S", "-l1")
    assert not bart_pics_method("bart-e", maps="ecalib").needs_sensitivities


@pytest.mark.parametrize(("params", "message"), [
    ({"options": "-l1 -p other"}, "may not contain -p: the sampling pattern is the mask's"),
    ({"options": "-l1 -r '0.01"}, "No closing quotation"),
    ({"options": 3}, "must be a string or a list of strings"),
    ({"lam": 0.01}, "bart-pics has no parameter 'lam'; its parameters: options"),
    ({"ecalib_options": "-m1"}, "bart-pics has no parameter 'ecalib_options'"),
])
def test_bad_parameters_are_one_line(params: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        build_bart_pics("project", **params)
    assert "\n" not in str(info.value)


def test_bart_refusing_the_options_is_one_line_with_its_reason(phantom: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    kspace, maps, pattern = phantom
    method = build_bart_pics("project", options="-l1 -r 0.01 --no-such-option")
    with pytest.raises(InputError, match=r"^bart pics failed: .*\(options: -S -l1 -r 0\.01 --no-such-option\)$"):
        method(torch.from_numpy(kspace)[None], torch.from_numpy(pattern), sensitivities=torch.from_numpy(maps)[None])
    with pytest.raises(InputError, match="bart-pics needs coil maps"):
        method(torch.from_numpy(kspace)[None], torch.from_numpy(pattern))


def test_without_bart_the_method_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bart there
    for maps, name in (("project", "bart-pics"), ("ecalib", "bart-pics-ecalib")):
        with pytest.raises(InputError, match=rf"^{name} needs the BART command line: no 'bart' on PATH \(install BART"):
            build_bart_pics(maps)  # type: ignore[arg-type]


def test_the_package_declares_the_plugin_methods() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["lfmri.methods"]
    assert set(declared) == {"bart-pics", "bart-pics-ecalib"}
    import plugins.bart_pics as module

    for name, value in declared.items():
        entry = EntryPoint(name, value, "lfmri.methods")
        assert entry.module == "lfmri_plugins.bart_pics"  # the installed name of plugins/
        info = getattr(module, entry.attr)
        assert isinstance(info, MethodInfo) and info.name == name
        assert info.needs_sensitivities == (name == "bart-pics")


def test_lfmri_recon_through_the_entry_point_equals_bart(tmp_path: Path) -> None:
    """``lfmri recon --method bart-pics-ecalib`` in a fresh process that finds the method by its
    entry point: the stored image is ``|bart pics|`` of ``bart ecalib`` maps on the k-space under
    the stored mask, centre-cropped."""
    folder = tmp_path / "full"
    folder.mkdir()
    _bart(folder, "phantom", "-k", "-s", str(COILS), "-x", str(SIZE), "full")
    full = _ours(read_cfl(folder / "full"))
    volume = write_volume(tmp_path / "phantom.h5", full[None], encoding=EncodingInfo(encoded_shape=(SIZE, SIZE),
                                                                                    recon_shape=(48, 48)))
    site = make_plugin_site(tmp_path / "site", "lfmri-bart-test",
                            {"bart-pics-ecalib": "lfmri_plugins.bart_pics:BART_PICS_ECALIB"}, link_plugins=True)
    out = tmp_path / "bart.h5"
    done = subprocess.run(
        [sys.executable, "-m", "lfmri_core.cli", "recon", str(volume), "--method", "bart-pics-ecalib",
         "--accel", "4", "--center-fraction", "0.25", "--seed", "1", "--method-param", "options=-l1 -r 0.02",
         "--out", str(out), "--report", str(tmp_path / "report.json"), "--quiet"],
        env=plugin_environment(site), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "report.json").read_text())["method"] == "bart-pics-ecalib"
    with h5py.File(out, "r") as f:
        stored = f["reconstruction"][()]
        pattern = np.array(np.broadcast_to(f["mask"][()].astype(bool), (SIZE, SIZE)))
    assert stored.shape == (1, 48, 48) and 0 < pattern.mean() < 0.5
    expected = _direct(tmp_path / "direct", np.where(pattern, full, 0).astype(np.complex64), pattern,
                       ["-S", "-l1", "-r", "0.02"])
    assert_close_in_norm(stored[0], np.abs(expected)[8:56, 8:56], _rtol())
