"""Helpers for generating synthetic volumes in a process pool."""

from __future__ import annotations


def one_thread() -> None:
    """Pool initializer: one torch thread per process (the pool, not threads, fills the cores)."""
    import torch

    torch.set_num_threads(1)
