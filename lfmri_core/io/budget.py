"""The memory budget: how large an array that an input makes us allocate may be.

A file declares its shapes, and a few bytes on disk can declare anything: an HDF5 ``kspace``
dataset of shape ``(1, 1, 100000, 100000)`` (75 GiB once read) or a header recon matrix of the
same size. Readers check the declared size with :func:`check_size` before they read or
allocate, and refuse with one :class:`~lfmri_core.errors.InputError` line instead of a
``MemoryError`` (or the operating system killing the process) later.

The budget is a quarter of the machine's memory (the smaller of physical memory and a cgroup
limit), as one array read from a file is copied a few times on its way through a
reconstruction. ``LFMRI_MEMORY_BUDGET`` sets it explicitly: bytes, or a number with a ``K``,
``M``, ``G`` or ``T`` suffix (binary units), say ``LFMRI_MEMORY_BUDGET=64G``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lfmri_core.errors import InputError

BUDGET_ENV = "LFMRI_MEMORY_BUDGET"
MEMORY_FRACTION = 0.25
"""Share of the machine's memory one array made from an input may take."""
FALLBACK_MEMORY = 8 * 2**30
"""Memory assumed where the machine's cannot be read."""

_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def machine_memory() -> int:
    """Bytes of memory this process can use: physical memory, or a smaller cgroup limit."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # no sysconf (Windows) or no such name
        total = FALLBACK_MEMORY
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return int(total)


def parse_size(text: str, name: str = BUDGET_ENV, *, allow_zero: bool = False) -> int:
    """Bytes of a size written as bytes or a number with a ``K``, ``M``, ``G`` or ``T`` suffix
    (binary units; ``"1.5G"``, ``"512MiB"``); :class:`InputError` naming the setting ``name``
    for anything else, and for 0 unless ``allow_zero``."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = value[-1:] if value[-1:] in _UNITS else ""
    try:
        number = float(value[: len(value) - len(unit)])
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and (number > 0 or (allow_zero and number == 0))):
        raise InputError(f"{name}={text!r} is not a size (bytes, or a number with K, M, G or T)")
    return int(number * _UNITS[unit])


def memory_budget() -> int:
    """Bytes one array made from an input may take (see the module docstring)."""
    text = os.environ.get(BUDGET_ENV, "").strip()
    if text:
        return parse_size(text)
    return int(machine_memory() * MEMORY_FRACTION)


def format_bytes(count: int) -> str:
    """``80000000000`` -> ``"74.5 GiB"``."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_size(shape: Sequence[int], dtype: np.dtype | type | str, *, what: str) -> int:
    """Raise :class:`InputError` when an array of ``shape`` and ``dtype`` exceeds the budget.

    ``what`` names the array in the message (``"file.h5: one k-space slice"``). Returns the
    array's size in bytes. Exact for any declared shape: Python integers do not overflow.
    """
    size = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    budget = memory_budget()
    if size > budget:
        dims = " x ".join(str(int(n)) for n in shape)
        raise InputError(
            f"{what} ({dims} {np.dtype(dtype).name}) would take {format_bytes(size)}, more than the memory budget of "
            f"{format_bytes(budget)}; a damaged file, or set {BUDGET_ENV} to allow more"
        )
    return size


__all__ = ["BUDGET_ENV", "check_size", "format_bytes", "machine_memory", "memory_budget", "parse_size"]
