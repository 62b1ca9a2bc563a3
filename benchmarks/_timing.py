"""Wall time of one call, synchronised on a GPU (shared by the benchmark scripts)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import torch

_R = TypeVar("_R")


def timed(function: Callable[[], _R], device: torch.device) -> tuple[float, _R]:
    """``(seconds, result)`` of ``function()``; CUDA work is synchronised before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, result
