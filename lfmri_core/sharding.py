"""Dataset-scale runs: many input files shared out over ``torchrun`` processes.

``lfmri recon DIR`` (or a ``.txt`` list of files) and ``lfmri evaluate`` split their files over
the processes ``torchrun`` starts (``torch.distributed``, the engine training uses,
:mod:`lfmri_core.training.distributed`)::

    torchrun --standalone --nproc_per_node 4 -m lfmri_core.cli recon data/ --out out/ --method cs-wavelet

- Every process lists the same inputs in the same order and finds which are already finished
  (their outputs complete on disk); after a barrier, so that no process sees another's new
  outputs while deciding, rank ``r`` takes the unfinished files ``r, r + N, r + 2N, ...``.
- Each process writes its own outputs, atomically (:func:`~lfmri_core.io.atomic.atomic_path`):
  a file killed half-way is never taken for a finished one, and a rerun does only what is
  missing.
- At the end the processes meet again; rank 0 reads every file's outputs back and writes the
  merged tables. Outputs must therefore lie on a file system every process sees (one machine,
  or a shared folder across nodes).

The processes coordinate over gloo, also on GPUs (they exchange nothing but barriers and a few
small objects); with CUDA each takes the GPU ``LOCAL_RANK``. Without ``torchrun`` the same
commands run every file in the one process.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lfmri_core.errors import InputError

__all__ = [
    "BARRIER_TIMEOUT",
    "FILE_LIST_SUFFIX",
    "Shard",
    "is_file_list",
    "list_inputs",
    "main_first",
    "read_file_list",
    "shard_session",
]

T = TypeVar("T")

BARRIER_TIMEOUT = _dt.timedelta(days=7)
"""How long a process waits for the others at a barrier: the last barrier waits for the
slowest process's whole share of the files, which can be hours."""

FILE_LIST_SUFFIX = ".txt"
"""A command given a ``.txt`` file instead of a folder reads the inputs from it (one a line)."""

KSPACE_SUFFIXES = (".h5", ".cfl")
"""Files a folder input contributes: HDF5 (fastMRI, M4Raw, ISMRMRD/MRD, SKM-TEA) and BART
arrays (by their ``.cfl``; the ``.hdr`` goes with it)."""


@dataclass(frozen=True)
class Shard:
    """This process's place in a (possibly single-process) sharded run.

    Attributes
    ----------
    rank, world_size, local_rank
        From ``torchrun``'s environment; ``0, 1, 0`` for a plain process.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: merges the tables and prints the summary."""
        return self.rank == 0

    def take(self, items: Sequence[T]) -> list[T]:
        """This rank's share of ``items``: positions ``rank, rank + world_size, ...``."""
        return list(items[self.rank :: self.world_size])

    def barrier(self) -> None:
        """Wait for every process (no-op in a single process)."""
        if self.distributed:
            import torch.distributed

            torch.distributed.barrier()

    def gather(self, value: Any) -> list[Any]:
        """``value`` of every rank, in rank order, on every rank (``[value]`` in a single
        process). Values travel as JSON text (never pickled), so they must be JSON-like."""
        if not self.distributed:
            return [value]
        import torch
        import torch.distributed

        data = torch.frombuffer(bytearray(json.dumps(value).encode("utf-8")), dtype=torch.uint8)
        sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(self.world_size)]
        torch.distributed.all_gather(sizes, torch.tensor([data.numel()], dtype=torch.int64))
        longest = max(int(s.item()) for s in sizes)
        padded = torch.zeros(longest, dtype=torch.uint8)
        padded[: data.numel()] = data
        parts = [torch.zeros(longest, dtype=torch.uint8) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, padded)
        return [json.loads(bytes(part[: int(size.item())].tolist()).decode("utf-8"))
                for part, size in zip(parts, sizes)]


@contextlib.contextmanager
def shard_session(device: str = "auto") -> Iterator[Shard]:
    """Join ``torchrun``'s process group (gloo) when there is one; leave it at the end.

    Parameters
    ----------
    device
        The ``--device`` asked for: unless it is ``"cpu"``, a process on a machine with GPUs
        makes ``cuda:LOCAL_RANK`` its current device, so ``"cuda"`` and ``"auto"`` spread the
        processes over the GPUs.
    """
    from lfmri_core.training.distributed import environment_context

    context = environment_context()
    shard = Shard(context.rank, context.world_size, context.local_rank)
    if not shard.distributed:
        yield shard
        return
    import torch
    import torch.distributed

    if str(device).strip().lower() != "cpu" and torch.cuda.is_available():
        torch.cuda.set_device(shard.local_rank % torch.cuda.device_count())
    torch.distributed.init_process_group(backend="gloo", rank=shard.rank, world_size=shard.world_size,
                                         timeout=BARRIER_TIMEOUT)
    try:
        yield shard
    finally:
        torch.distributed.destroy_process_group()


@contextlib.contextmanager
def main_first(shard: Shard) -> Iterator[None]:
    """Rank 0 runs the block first (makes a shared cache, say); the others run it after, when
    what it made is there."""
    if not shard.is_main:
        shard.barrier()
    yield
    if shard.is_main:
        shard.barrier()


def is_file_list(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a list of input files (an existing ``.txt`` file)."""
    return Path(path).suffix.lower() == FILE_LIST_SUFFIX and Path(path).is_file()


def read_file_list(path: str | os.PathLike[str]) -> list[Path]:
    """The files a list names: one path a line, relative to the list's folder unless absolute;
    blank lines and lines starting with ``#`` are skipped.

    Raises
    ------
    InputError
        The list cannot be read, names no file, names one twice, or names one that does not
        exist (the message gives the line).
    """
    listed = Path(path)
    try:
        lines = listed.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"file list {listed}: cannot be read ({getattr(err, 'strerror', None) or err})") from None
    files: list[Path] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        file = Path(text).expanduser()
        if not file.is_absolute():
            file = listed.parent / file
        if not file.is_file():
            what = "a folder, not a file" if file.is_dir() else "a file that does not exist"
            raise InputError(f"file list {listed}, line {number}: {text} is {what}")
        key = os.path.realpath(file)
        if key in seen:
            raise InputError(f"file list {listed}, line {number}: {text} is listed already on line {seen[key]}")
        seen[key] = number
        files.append(file)
    if not files:
        raise InputError(f"file list {listed} names no file")
    return files


def list_inputs(source: str | os.PathLike[str], *, option: str = "input",
                suffixes: Sequence[str] = KSPACE_SUFFIXES) -> list[Path]:
    """The input files of a folder (its ``suffixes`` files, by name; hidden ones left out) or
    of a file list (:func:`read_file_list`, in its order).

    Raises
    ------
    InputError
        ``source`` does not exist, or holds / names no file.
    """
    path = Path(source)
    if is_file_list(path):
        return read_file_list(path)
    if not path.exists():
        raise InputError(f"{option} {path} does not exist")
    if not path.is_dir():
        raise InputError(f"{option} {path} is neither a folder nor a {FILE_LIST_SUFFIX} list of files")
    files = sorted(p for p in path.iterdir()
                   if p.suffix.lower() in suffixes and p.is_file() and not p.name.startswith("."))
    if not files:
        raise InputError(f"{option} {path} holds no k-space file ({', '.join(f'*{s}' for s in suffixes)})")
    return files


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object written by this package, or None when it is missing or unreadable (a
    file from a killed run is never half-written, but another tool may have touched it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
