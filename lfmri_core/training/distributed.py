"""Multi-GPU and multi-node training with ``torchrun`` (PyTorch DistributedDataParallel).

``torchrun --nproc_per_node N -m lfmri_core.cli train ...`` starts N processes with the
environment variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``. With ``WORLD_SIZE > 1`` training then

- joins the process group (NCCL on CUDA, one GPU per process by ``LOCAL_RANK``; gloo on CPU);
- splits every global batch into ``WORLD_SIZE`` disjoint equal shards, rank ``r`` taking the
  ``r``-th (the batch order, masks and crops are drawn identically on every rank, so the run
  equals a single process with the whole batch);
- wraps the model in ``DistributedDataParallel``, which averages gradients across ranks (the
  frozen Net_c inside LF-MRI has ``requires_grad`` False and is left out of the reduction);
- writes files, logs and progress on rank 0 only, and meets at a barrier before leaving.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from lfmri_core.errors import InputError


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a (possibly single-process) run.

    Attributes
    ----------
    rank, world_size, local_rank
        From ``torchrun``'s environment; ``0, 1, 0`` for a plain process.
    backend
        ``"nccl"``, ``"gloo"`` or None (not distributed).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and shows progress."""
        return self.rank == 0

    def shard(self, global_batch: int) -> slice:
        """This rank's positions in a global batch of ``global_batch`` items."""
        if global_batch % self.world_size:
            raise InputError(
                f"batch size {global_batch} does not split over {self.world_size} processes; use a multiple of {self.world_size}"
            )
        size = global_batch // self.world_size
        return slice(self.rank * size, (self.rank + 1) * size)

    def barrier(self) -> None:
        """Wait for every rank (no-op when not distributed)."""
        if self.distributed:
            torch.distributed.barrier()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"environment variable {name}={value!r} is not an integer") from None


def environment_context() -> DistributedContext:
    """The context ``torchrun``'s environment describes (no process group is joined)."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistributedContext()
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", 0)
    if not 0 <= rank < world:
        raise InputError(f"RANK={rank} is outside WORLD_SIZE={world}")
    return DistributedContext(rank=rank, world_size=world, local_rank=local)


@contextlib.contextmanager
def distributed_session(device: torch.device) -> Iterator[tuple[DistributedContext, torch.device]]:
    """Join the process group when ``torchrun`` started this process; leave it at the end.

    Parameters
    ----------
    device
        The device asked for; on CUDA each process takes ``cuda:LOCAL_RANK``.

    Yields
    ------
    (DistributedContext, torch.device)
        The context and this process's device.
    """
    context = environment_context()
    if not context.distributed:
        yield context, device
        return
    if device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    torch.distributed.init_process_group(backend=backend, rank=context.rank, world_size=context.world_size)
    context = DistributedContext(context.rank, context.world_size, context.local_rank, backend)
    try:
        yield context, device
        context.barrier()
    finally:
        torch.distributed.destroy_process_group()


def wrap_model(model: nn.Module, context: DistributedContext, device: torch.device) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` when distributed, else unchanged.

    Parameters that do not require gradients (the frozen Net_c) are not reduced; every trained
    parameter is used in each forward, so no unused-parameter search is needed.
    """
    if not context.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, output_device=ids[0] if ids else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (or ``model`` itself)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def all_ranks_sum(value: float, context: DistributedContext, device: torch.device) -> float:
    """Sum of a number over every rank (the number itself when not distributed)."""
    if not context.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor)
    return float(tensor.item())
