"""The whole training job: what the command line asks for, run on the device and processes given.

:class:`TrainingJob` holds the configuration, the run folder, the phase-1 classifier file, the
device and the resume / time-budget choices; :func:`train` checks them before any data is made
or read, generates missing synthetic data on one process, joins the ``torchrun`` processes
(:mod:`lfmri_core.training.distributed`) and runs a :class:`~lfmri_core.training.trainer.Trainer`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lfmri_core.errors import InputError
from lfmri_core.training.budget import PaceGroup, check_budget
from lfmri_core.training.checkpoint import read_checkpoint_metadata
from lfmri_core.training.config import TrainingConfig
from lfmri_core.training.factory import (
    ModelConfig,
    load_phase1_classifier,
    needs_classifier,
)
from lfmri_core.training.trainer import CHECKPOINT_NAME, Trainer, TrainingResult

__all__ = ["TrainingJob", "train"]


@dataclass(frozen=True)
class TrainingJob:
    """Everything :func:`train` needs besides the data source."""

    config: TrainingConfig
    out: Path
    model_config: ModelConfig | None = None
    classifier: Path | None = None
    device: str = "auto"
    resume: bool = False
    quiet: bool = False
    command: str = ""
    preload: bool = False
    time_budget: float | None = None
    pace_group: PaceGroup | None = None
    init_weights: Path | None = None


def train(job: TrainingJob, source: Any, *, say: Callable[[str], None] | None = None) -> TrainingResult:
    """Run a training job, distributed when ``torchrun`` started this process.

    Parameters
    ----------
    job
        Configuration, output folder, classifier, device, resume.
    source
        A :class:`~lfmri_core.training.data.SyntheticSource` or
        :class:`~lfmri_core.training.data.FolderSource`.
    say
        Where rank 0's one-line messages go (default: nowhere).
    """
    from lfmri_core.device import resolve_device
    from lfmri_core.training.data import SyntheticSource
    from lfmri_core.training.distributed import distributed_session

    device = resolve_device(job.device)
    # Checked before any data is generated or read.
    if needs_classifier(job.config, job.model_config) and job.classifier is None:
        raise InputError(f"training {job.config.task} needs the phase-1 classifier (--classifier PATH)")
    if job.time_budget is not None:
        check_budget(job.time_budget)
        if job.resume:
            raise InputError("--time-budget applies to a new run, not to --resume")
    out = Path(job.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder")
    checkpoint = out / CHECKPOINT_NAME
    if job.resume:
        if not checkpoint.is_file():
            raise InputError(f"nothing to resume: no checkpoint {checkpoint}")
        task = read_checkpoint_metadata(checkpoint).get("task")
        if task != job.config.task:
            raise InputError(f"{checkpoint} is a checkpoint of {task!r}, not of {job.config.task!r}")
    elif checkpoint.is_file():
        raise InputError(f"{out} already holds a checkpoint; pass --resume to continue it, or choose another --out")
    classifier = load_phase1_classifier(job.classifier) if job.classifier is not None else None
    with distributed_session(device) as (context, device):
        tell = say if (say is not None and context.is_main) else (lambda _: None)
        if isinstance(source, SyntheticSource):
            if context.is_main:
                bars: list[Any] = []

                def generated(done: int, total: int) -> None:
                    # A bar only when something is generated (a cached set says nothing).
                    if not bars:
                        from lfmri_core.progress import progress_bar

                        bars.append(progress_bar(quiet=job.quiet, total=total, desc="synthetic data", unit="volume"))
                    bars[0].update(done - bars[0].n)

                try:
                    source.ensure(progress=generated)
                finally:
                    for bar in bars:
                        bar.close()
            context.barrier()
        data = source.load()
        trainer = Trainer(job.config, data, job.out, model_config=job.model_config, classifier=classifier, device=device,
                          context=context, resume=job.resume, quiet=job.quiet, command=job.command, preload=job.preload,
                          init_weights=job.init_weights)
        tell(trainer.describe())
        tell(f"data: {data.description}")
        return trainer.run(time_budget=job.time_budget, pace_group=job.pace_group)
