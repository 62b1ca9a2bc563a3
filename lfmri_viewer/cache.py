"""The session's result cache: slice results kept in memory, bounded by bytes.

Going back to a slice or a setting already seen shows its results at once, so the controller
keeps them; :class:`ResultCache` bounds what it keeps by the bytes of their arrays (image, CAM
and SSIM map), not by their count, and drops the least recently used first. The results a
front end shows (the current slice under the current settings, which the caller names in
:meth:`ResultCache.trim`) are kept even past the budget, so a budget of 0 disables caching
without emptying the view.

The budget is :data:`CACHE_BYTES` (256 MiB: about 220 results of a 320 x 320 slice with its
CAM and float32 SSIM map) unless the controller is given another, or the environment sets
``LFMRI_VIEWER_CACHE`` (bytes, or a number with ``K``, ``M`` or ``G``: ``LFMRI_VIEWER_CACHE=1G``;
``0`` keeps only the results on screen).

Where the arrays live matters as much as how many there are. A cached array lives for minutes
among the many short-lived arrays of the reconstructions (k-space copies, FFT buffers, SSIM
windows), and glibc's malloc serves arrays of these sizes from its heap once its dynamic mmap
threshold has risen past them (it does after the first large array is freed). Long-lived
arrays scattered through the heap pin its pages, so the process grew by about a megabyte per
change even with the number of results capped (issue 15: 333 to 1,618 MB in 1,500 changes).
The cache therefore copies each array of :data:`OFF_HEAP_BYTES` or more into its own anonymous
memory map (:func:`off_heap_copy`): the heap then holds only short-lived arrays, whose space
malloc reuses, and an evicted array's pages go back to the system at once. This changes no
process-wide allocator setting (``MALLOC_MMAP_THRESHOLD_`` would do the same for every
allocation of the host process, napari's included, and costs a page fault per page of every
temporary); ``benchmarks/bench_memory.py`` measures both.
"""

from __future__ import annotations

import dataclasses
import mmap
import os
from collections import OrderedDict
from collections.abc import Collection, Hashable, Iterator

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.budget import parse_size
from lfmri_viewer.results import SliceResult

CACHE_BYTES = 256 * 2**20
"""Default budget of the result cache, bytes."""
CACHE_ENV = "LFMRI_VIEWER_CACHE"
"""Environment variable that sets the default budget (bytes, or with a K/M/G suffix)."""
OFF_HEAP_BYTES = 64 * 2**10
"""Arrays at least this large are copied into their own memory map; smaller ones (a tiny test
volume's) stay on the heap, where they fragment little, and so a large budget cannot exhaust
the system's limit on memory maps per process (65,530 by default on Linux)."""

_PAGE = mmap.PAGESIZE
_ARRAY_FIELDS = ("image", "cam", "ssim_map")


def default_cache_bytes() -> int:
    """The budget set by ``LFMRI_VIEWER_CACHE``, else :data:`CACHE_BYTES`."""
    text = os.environ.get(CACHE_ENV, "").strip()
    return parse_size(text, CACHE_ENV, allow_zero=True) if text else CACHE_BYTES


def off_heap_copy(array: np.ndarray) -> np.ndarray:
    """A read-only copy of ``array``, in an anonymous memory map when it has at least
    :data:`OFF_HEAP_BYTES` (else on the heap); the map is released with the last reference to
    the copy."""
    if array.nbytes < OFF_HEAP_BYTES:
        copy = np.array(array, copy=True, order="C")
    else:
        buffer = mmap.mmap(-1, array.nbytes)
        copy = np.frombuffer(buffer, dtype=array.dtype, count=array.size).reshape(array.shape)
        np.copyto(copy, array)
    copy.flags.writeable = False
    return copy


def result_bytes(result: SliceResult) -> int:
    """Memory a result's arrays take in the cache (mapped arrays counted in whole pages)."""
    total = 0
    for name in _ARRAY_FIELDS:
        array = getattr(result, name)
        if array is not None:
            total += array.nbytes if array.nbytes < OFF_HEAP_BYTES else -(-array.nbytes // _PAGE) * _PAGE
    return total


class ResultCache:
    """Least-recently-used slice results within a byte budget.

    Parameters
    ----------
    budget
        Bytes the cached arrays may take (:func:`result_bytes`); 0 keeps only what
        :meth:`trim` is told to keep. Negative: :class:`InputError`.
    """

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self._entries: OrderedDict[Hashable, tuple[SliceResult, int]] = OrderedDict()
        self._nbytes = 0
        self._budget = 0
        self.budget = budget

    @property
    def budget(self) -> int:
        return self._budget

    @budget.setter
    def budget(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"result cache budget must be a whole number of bytes >= 0, got {value!r}")
        self._budget = int(value)

    @property
    def nbytes(self) -> int:
        """Bytes the cached results take (:func:`result_bytes` summed)."""
        return self._nbytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[Hashable]:
        """Keys, least recently used first."""
        return iter(list(self._entries))

    def get(self, key: Hashable) -> SliceResult | None:
        """The result stored under ``key`` (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: Hashable, result: SliceResult) -> SliceResult:
        """Store ``result`` under ``key`` (replacing any) as the most recently used and return
        the stored copy, whose arrays are read-only :func:`off_heap_copy` copies. Nothing is
        evicted here: call :meth:`trim`."""
        stored = dataclasses.replace(result, **{
            name: off_heap_copy(array) for name in _ARRAY_FIELDS if (array := getattr(result, name)) is not None
        })
        self.pop(key)
        size = result_bytes(stored)
        self._entries[key] = (stored, size)
        self._nbytes += size
        return stored

    def pop(self, key: Hashable) -> SliceResult | None:
        """Remove and return the result under ``key``, or None."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        self._nbytes -= entry[1]
        return entry[0]

    def trim(self, keep: Collection[Hashable] = ()) -> list[Hashable]:
        """Drop least recently used results until the rest fit the budget; results under
        ``keep`` stay whatever their size. Returns the keys dropped, oldest first."""
        dropped: list[Hashable] = []
        for key in list(self._entries):
            if self._nbytes <= self._budget:
                break
            if key not in keep:
                self.pop(key)
                dropped.append(key)
        return dropped

    def clear(self) -> None:
        self._entries.clear()
        self._nbytes = 0


__all__ = ["CACHE_BYTES", "CACHE_ENV", "OFF_HEAP_BYTES", "ResultCache", "default_cache_bytes", "off_heap_copy",
           "result_bytes"]
