"""A one-line description of the machine, printed with every timing we report."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """CPU model name (from /proc/cpuinfo on Linux), else what :mod:`platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_machine(device: torch.device | str | None = None, *, threads: bool = False) -> str:
    """E.g. ``"AMD EPYC 7B13, 2 cores, torch 2.13.0+cpu, device cpu"`` (with ``threads``, torch's
    intra-op thread count and the Python version too, as benchmarks print)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = f"{cpu_model()}, {cores} cores, torch {torch.__version__}"
    if threads:
        text += f" with {torch.get_num_threads()} threads, Python {platform.python_version()}"
    if device is not None:
        dev = torch.device(device)
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
        text += f", device {name}"
    return text


def load_average() -> str:
    """``"load average 0.52 0.60 0.71"``: benchmarks print it before and after timing."""
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average n/a"
