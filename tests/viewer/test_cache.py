"""The byte-bounded result cache: eviction order, the budget, hits, the results on screen kept,
arrays copied off the heap; and the controller using it."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.synthetic import SyntheticConfig, generate_volume
from lfmri_core.synthetic.export import write_dataset
from lfmri_viewer.cache import (
    CACHE_BYTES,
    CACHE_ENV,
    OFF_HEAP_BYTES,
    ResultCache,
    default_cache_bytes,
    off_heap_copy,
    result_bytes,
)
from lfmri_viewer.controller import SessionController
from lfmri_viewer.results import SliceResult
from lfmri_viewer.settings import ReconSettings

SIDE = 160
"""Images of 160 x 160 float32: 100 KiB, above :data:`OFF_HEAP_BYTES`, a whole number of pages."""
ENTRY = 2 * SIDE * SIDE * 4
"""Bytes of one test result (image and SSIM map; no CAM)."""


def _result(n: int, side: int = SIDE) -> SliceResult:
    rng = np.random.default_rng(n)
    return SliceResult(
        method="zero-filled", slice=n, mask_key=("random", 4.0, 0.08, None), image=rng.random((side, side), dtype=np.float32),
        cam=None, lesion_probability=None, timings={"total": 0.01}, device="cpu", psnr=30.0 + n, ssim=0.9, nmse=0.01,
        ssim_map=rng.random((side, side), dtype=np.float32),
    )


def _mapped(array: np.ndarray) -> bool:
    """Whether ``array``'s memory belongs to an anonymous memory map."""
    base = array
    while base is not None:
        if isinstance(base, mmap.mmap):
            return True
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    return False


def test_a_result_takes_the_bytes_of_its_arrays() -> None:
    assert OFF_HEAP_BYTES <= SIDE * SIDE * 4 and (SIDE * SIDE * 4) % mmap.PAGESIZE == 0
    assert result_bytes(_result(0)) == ENTRY
    small = _result(0, side=8)  # stays on the heap: counted exactly
    assert result_bytes(small) == 2 * 8 * 8 * 4
    odd = SliceResult(method="m", slice=0, mask_key=(), image=np.zeros((161, 161), np.float32), cam=None,
                      lesion_probability=None, timings={}, device="cpu")
    assert result_bytes(odd) == -(-161 * 161 * 4 // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages of its map


def test_least_recently_used_is_dropped_first() -> None:
    cache = ResultCache(budget=3 * ENTRY)
    for n in range(3):
        cache.put(n, _result(n))
    assert cache.get(0) is not None  # 0 is now the most recently used: 1 is the oldest
    cache.put(3, _result(3))
    assert cache.trim() == [1]
    assert list(cache) == [2, 0, 3]
    cache.put(4, _result(4))
    cache.put(5, _result(5))
    assert cache.trim() == [2, 0]
    assert list(cache) == [3, 4, 5] and 1 not in cache and 0 not in cache


def test_the_budget_is_respected_and_counted_exactly() -> None:
    budget = 5 * ENTRY + ENTRY // 2  # room for five and a half: five stay
    cache = ResultCache(budget=budget)
    for n in range(40):
        cache.put(n % 13, _result(n))  # replacing a key frees its old entry
        cache.trim()
        assert cache.nbytes <= budget
        assert cache.nbytes == sum(result_bytes(cache.get(k)) for k in list(cache))
    assert len(cache) == 5
    cache.budget = 2 * ENTRY
    assert len(cache.trim()) == 3 and len(cache) == 2 and cache.nbytes == 2 * ENTRY
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


def test_hits_return_the_stored_result_with_equal_read_only_arrays_off_the_heap() -> None:
    cache = ResultCache(budget=10 * ENTRY)
    original = _result(7)
    image_before = original.image.copy()
    stored = cache.put("k", original)
    assert cache.get("k") is stored and cache.get("k") is stored  # hits still hit
    assert cache.get("absent") is None
    np.testing.assert_array_equal(stored.image, original.image)
    np.testing.assert_array_equal(stored.ssim_map, original.ssim_map)
    assert stored.psnr == original.psnr and stored.timings == original.timings and stored.cam is None
    assert not np.shares_memory(stored.image, original.image)
    assert _mapped(stored.image) and _mapped(stored.ssim_map) and not _mapped(original.image)
    assert not stored.image.flags.writeable and not stored.ssim_map.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        stored.image[0, 0] = 1.0
    np.testing.assert_array_equal(original.image, image_before)  # the input is left alone
    assert original.image.flags.writeable
    small = off_heap_copy(np.arange(10, dtype=np.float32))
    assert not _mapped(small) and not small.flags.writeable and small.tolist() == list(range(10))


def test_results_on_screen_stay_past_the_budget() -> None:
    cache = ResultCache(budget=0)  # caching off: only what is shown is kept
    for n in range(3):
        cache.put(n, _result(n))
    assert cache.trim(keep={1}) == [0, 2]
    assert list(cache) == [1] and cache.nbytes == ENTRY > cache.budget
    cache.budget = ENTRY
    cache.put(5, _result(5))
    assert cache.trim(keep={1, 5}) == [] and len(cache) == 2  # over the budget, but both are shown
    assert cache.trim(keep={5}) == [1]


def test_budget_setting_is_checked() -> None:
    for bad in (-1, 1.5, "1G", True, None):
        with pytest.raises(InputError, match="result cache budget must be a whole number of bytes >= 0"):
            ResultCache(budget=bad)  # type: ignore[arg-type]


def test_budget_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert default_cache_bytes() == CACHE_BYTES == 256 * 2**20
    for text, expected in (("64M", 64 * 2**20), ("1.5G", 3 * 2**29), ("1000", 1000), ("0", 0), ("512MiB", 512 * 2**20)):
        monkeypatch.setenv(CACHE_ENV, text)
        assert default_cache_bytes() == expected
    monkeypatch.setenv(CACHE_ENV, "lots")
    with pytest.raises(InputError, match=r"^LFMRI_VIEWER_CACHE='lots' is not a size"):
        default_cache_bytes()
    monkeypatch.setenv(CACHE_ENV, "-5M")
    with pytest.raises(InputError, match="LFMRI_VIEWER_CACHE"):
        default_cache_bytes()
    monkeypatch.setenv(CACHE_ENV, "3M")
    assert SessionController(classifier=None).cache.budget == 3 * 2**20
    assert SessionController(classifier=None, cache_bytes=1000).cache.budget == 1000


# --- the controller ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_knee(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("knee")
    return write_dataset(folder, [("file_knee", generate_volume(SyntheticConfig(num_slices=4, num_coils=2, seed=4)))])[0]


def test_controller_keeps_results_within_its_budget(small_knee: Path) -> None:
    methods = ("zero-filled", "zero-filled-sense")
    probe = SessionController(ReconSettings(methods=methods), classifier=None)
    probe.open(small_knee)
    probe.reconstruct_slice(0)
    per_slice = probe.cache.nbytes  # both methods' results on one slice
    assert per_slice > 0 and len(probe.cache) == 2
    session = SessionController(ReconSettings(methods=methods), classifier=None, cache_bytes=2 * per_slice)
    session.open(small_knee)
    added = []
    session.events.result_added.connect(added.append)
    for index in range(4):
        session.set_slice(index)
        session.reconstruct_slice()
        assert session.cache.nbytes <= 2 * per_slice
        assert set(session.readouts()) == set(methods)
    assert all(session.result(m, i) is not None for m in methods for i in (2, 3))
    assert all(session.result(m, i) is None for m in methods for i in (0, 1))  # the oldest dropped
    assert session.result("zero-filled", 3) is added[-2]  # what result_added sent is what is cached
    jobs = len(added)
    session.set_slice(2)
    assert session.reconstruct_slice() is None and len(added) == jobs  # a hit: nothing recomputed
    session.set_slice(0)
    assert session.reconstruct_slice() is not None and len(added) == jobs + 2  # evicted: computed again
    session.close()
    assert len(session.cache) == 0


def test_controller_with_caching_off_still_shows_the_current_slice(small_knee: Path) -> None:
    session = SessionController(ReconSettings(methods=("zero-filled", "zero-filled-sense")), classifier=None,
                                cache_bytes=0, auto_update=True)
    session.open(small_knee)
    session.set_slice(1)
    assert set(session.readouts()) == {"zero-filled", "zero-filled-sense"}
    assert {key[1] for key in session.cache} == {1}  # only the slice on screen
    session.update(acceleration=8)
    assert set(session.readouts()) == {"zero-filled", "zero-filled-sense"} and len(session.cache) == 2
