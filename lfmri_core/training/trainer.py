"""The training loop: Adam with warm-up and cosine decay, validation, checkpoints, exact resume.

:class:`Trainer` steps like an iterative algorithm (:meth:`Trainer.update` / :meth:`Trainer.done`),
so any front end can drive it; :meth:`Trainer.run` is the loop with a tqdm bar, validation every
``validate_every`` steps, a checkpoint every ``checkpoint_every`` steps and the final weights.
:func:`~lfmri_core.training.job.train` adds what the command line needs: the device, the data
source, the phase-1 classifier and ``torchrun`` (see :mod:`lfmri_core.training.distributed`).

The trainer's parts live beside it: :mod:`.factory` (which model a task trains, freshly seeded),
:mod:`.sampling` (the run's slices, their seeded order and this process's shard), :mod:`.steps`
(the loss of one batch), :mod:`.validation` (the validation rounds), :mod:`.report` (log lines,
:class:`~lfmri_core.training.report.TrainingResult`) and :mod:`.checkpoint` (exact-resume
checkpoints); this module holds the loop itself: the optimizer step, the log, checkpoints and
the final weights. It still offers the names it had before the split (``build_model``,
``load_phase1_classifier``, ``DataOrder``, ...).

Outputs in the run folder (rank 0 writes them):

- ``train_log.jsonl``: one JSON object per validation round (step, learning rate, mean training
  loss since the previous round, validation metrics, seconds, world size);
- ``checkpoint.safetensors``: model, Adam state and the data order / generator states
  (:mod:`lfmri_core.training.checkpoint`); ``resume=True`` continues from it exactly, as if the
  run had never stopped;
- ``<task>.safetensors``: the trained model (:func:`~lfmri_core.models.save_weights`) with the
  command line, steps, seconds, machine, data, seed and last validation in its metadata.

Every random choice derives from ``config.seed``: the initial weights (drawn under a forked
torch RNG, so the global state is untouched), the data order and the per-batch masks, readout
windows and classifier augmentations (two :class:`torch.Generator` s, stored in checkpoints).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from lfmri_core.errors import InputError
from lfmri_core.models import (
    ClassifierConfig,
    LesionClassifier,
    LFMRIConfig,
    LFMRINet,
    UNetRecon,
    save_weights,
)
from lfmri_core.progress import Cancel, Progress
from lfmri_core.training.budget import CALIBRATION_STEPS, BudgetClock, PaceGroup
from lfmri_core.training.checkpoint import (
    check_resumable,
    load_optimizer_state,
    read_checkpoint,
    save_checkpoint,
    trim_log,
)
from lfmri_core.training.config import TrainingConfig
from lfmri_core.training.distributed import (
    DistributedContext,
    all_ranks_sum,
    unwrap,
    wrap_model,
)
from lfmri_core.training.factory import (  # re-exported: the names this module has always offered
    ModelConfig,
    build_model,
    default_model_config,
    load_phase1_classifier,
    needs_classifier,
    starts_from_ablation,
    uses_oracle_focus,
)
from lfmri_core.training.losses import ReconstructionLoss
from lfmri_core.training.masks import draw_mask_spec
from lfmri_core.training.report import TrainingResult, format_validation
from lfmri_core.training.sampling import (
    DataOrder,
    LesionMixOrder,
    ShardBatches,
    keep_list,
    run_datasets,
    run_seeds,
)
from lfmri_core.training.slices import SliceDataset, SliceSample, describe_counts
from lfmri_core.training.steps import (
    classifier_losses,
    oracle_focus_maps,
    pair_scales,
    reconstruction_losses,
    staged_estimate,
)
from lfmri_core.training.validation import validate_classifier, validate_reconstruction
from lfmri_core.training.volumes import TrainingData

__all__ = [
    "CHECKPOINT_NAME",
    "LOG_NAME",
    "DataOrder",
    "ModelConfig",
    "Trainer",
    "TrainingResult",
    "build_model",
    "default_model_config",
    "format_validation",
    "load_phase1_classifier",
    "needs_classifier",
    "starts_from_ablation",
    "uses_oracle_focus",
]

CHECKPOINT_NAME = "checkpoint.safetensors"
LOG_NAME = "train_log.jsonl"



_pair_scales = pair_scales  # its name before it moved to .steps


# --- the trainer -----------------------------------------------------------------------------------


class Trainer:
    """One training run, stepped with :meth:`update` until :meth:`done`.

    Parameters
    ----------
    config
        The training configuration.
    data
        Training and validation volumes.
    out
        Run folder (created).
    model_config
        Architecture; default :func:`default_model_config`.
    classifier
        The phase-1 Net_c: part of the ``lfmri`` model, and the weight of the lesion (and
        perceptual) loss of any reconstruction task.
    device
        Where to train.
    context
        Distributed context (default: one process).
    resume
        Continue from ``out/checkpoint.safetensors`` (refused when it is missing or for another
        model or configuration). Without it, a folder holding a checkpoint is refused.
    quiet
        No progress bar.
    command
        The command line, for the weights' metadata.
    preload
        Read the training slices into memory on ``device`` once (:meth:`SliceDataset.preload`),
        instead of from the files at every step; needs ``num_workers == 0``.
    init_weights
        Start from this weights file's model (fine-tuning) instead of a fresh initialisation;
        it must hold a model of the run's architecture.
    """

    def __init__(
        self,
        config: TrainingConfig,
        data: TrainingData,
        out: str | os.PathLike[str],
        *,
        model_config: ModelConfig | None = None,
        classifier: LesionClassifier | None = None,
        device: str | torch.device = "cpu",
        context: DistributedContext | None = None,
        resume: bool = False,
        quiet: bool = True,
        command: str = "",
        preload: bool = False,
        init_weights: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config = config
        self.data = data
        self.out = Path(out)
        self.device = torch.device(device)
        self.context = context or DistributedContext()
        self.quiet = quiet
        self.command = command
        self.info = config.info
        self.checkpoint_path = self.out / CHECKPOINT_NAME
        self.log_path = self.out / LOG_NAME
        self.shard = self.context.shard(config.batch_size)
        if self.out.exists() and not self.out.is_dir():
            raise InputError(f"--out {self.out} is a file, not a folder")
        if resume and not self.checkpoint_path.is_file():
            raise InputError(f"nothing to resume: no checkpoint {self.checkpoint_path}")
        if not resume and self.checkpoint_path.is_file():
            raise InputError(f"{self.out} already holds a checkpoint; pass --resume to continue it, or choose another --out")
        model_config = model_config or default_model_config(config.task, classifier)
        self.oracle = uses_oracle_focus(model_config)
        # the boxes weigh the lesion loss: the oracle focus's, or a loss-only experiment's
        self.box_loss = self.oracle or config.box_lesion_loss
        if needs_classifier(config, model_config) and classifier is None:
            raise InputError(
                f"training {config.task} with lesion or perceptual loss needs the phase-1 classifier (--classifier PATH)"
            )
        if self.oracle and classifier is not None and not config.loss.perceptual:
            classifier = None  # the oracle focus and its loss use the boxes, not Net_c
        classifier = classifier.to(self.device).eval() if classifier is not None else None

        # data
        run_data = run_datasets(config, data, model_config, oracle=self.box_loss, preload=preload, device=self.device)
        self.class_names = run_data.class_names
        self.train_set, self.val_set = run_data.train_set, run_data.val_set
        if run_data.pos_weight is not None:
            self.pos_weight = run_data.pos_weight
        self._focus_cache: dict[tuple[int, int, int], torch.Tensor] = {}

        # model and optimizer
        self.model_config = model_config
        self.model = build_model(config.task, model_config, classifier, config.seed).to(self.device)
        self.init_weights = None if init_weights is None else Path(init_weights)
        if self.init_weights is not None and not resume:
            self._load_initial_weights(self.init_weights)
        self.recon_model: nn.Module | None = None
        if config.recon_fraction > 0:
            from lfmri_core.models import load_weights

            assert config.recon_weights is not None
            self.recon_model = load_weights(config.recon_weights, device=self.device).eval().requires_grad_(False)
            if not isinstance(self.recon_model, (LFMRINet, UNetRecon)):
                raise InputError(f"{config.recon_weights}: holds a {type(self.recon_model).__name__}, not a reconstruction "
                                 "network (an unrolled network or a U-Net)")
            if isinstance(self.recon_model, LFMRINet) and self.recon_model.config.focus == "oracle":
                raise InputError(f"{config.recon_weights}: an oracle-focus network needs boxes; use a network that does not")
        self.loss: ReconstructionLoss | None = None
        if self.info.phase == "reconstruction":
            net_c = self.model.classifier if isinstance(self.model, LFMRINet) and self.model.classifier is not None else classifier
            w = config.loss
            self.loss = ReconstructionLoss(w.l1, w.ssim, w.lesion or 0.0, w.perceptual,
                                           classifier=net_c if ((w.lesion and not self.box_loss) or w.perceptual) else None,
                                           oracle_focus=self.box_loss,
                                           pointer=config.pointer_lesion_loss and not self.box_loss)
        self.parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.parameters, lr=config.lr)
        order_seed, draw_seed = run_seeds(config.seed)
        self.group = 2 if config.twin_pairs else 1
        if (self.shard.stop - self.shard.start) % self.group:
            raise InputError(f"twin pairs need an even batch per process; batch {config.batch_size} over "
                             f"{self.context.world_size} processes gives {self.shard.stop - self.shard.start}")
        self.order: DataOrder | LesionMixOrder
        if config.lesion_fraction is None:
            self.order = DataOrder(len(self.train_set) // self.group, order_seed)
        else:
            labels = self.train_set.targets[:, 0].tolist() if len(self.train_set) else []
            lesion = [i for i, label in enumerate(labels) if label == 1]
            other = [i for i, label in enumerate(labels) if label != 1]
            self.order = LesionMixOrder(lesion, other, config.lesion_fraction, order_seed)
        self.draws = torch.Generator().manual_seed(draw_seed)
        self.step = 0
        self.seconds = 0.0
        self.last_validation: dict[str, Any] | None = None
        self._loss_sum = 0.0
        self._loss_count = 0
        if resume:
            self._load_checkpoint()
        self._order_state = self.order.state()
        self.net = wrap_model(self.model, self.context, self.device)
        self._states: deque = deque()
        self._batches: Iterator[list[SliceSample]] | None = None
        self.time_budget: tuple[float, float | None] | None = None
        """``(budget seconds, measured seconds per step)`` of a run fitted to a time budget."""

    def _load_initial_weights(self, path: Path) -> None:
        from lfmri_core.models import load_weights

        start = load_weights(path, device=self.device)
        wanted = self.model.config  # type: ignore[union-attr]
        found = start.config  # type: ignore[union-attr]
        if isinstance(found, LFMRIConfig) and isinstance(wanted, LFMRIConfig):
            # how the denoiser is weighed changes no parameter: a network may be fine-tuned with it on or off
            found = replace(found, relax_denoiser=wanted.relax_denoiser)
        if isinstance(found, ClassifierConfig) and isinstance(wanted, ClassifierConfig):
            # the output stride dilates the same filters (no parameter changes): a stride-8 Net_c
            # may be fine-tuned at a denser stride
            found = replace(found, output_stride=wanted.output_stride)
        if starts_from_ablation(found, wanted):
            # The residual lesion module starts at U = Z: the new network begins as the ablation it
            # is loaded from, with only the lesion module (and mu2) new.
            missing, unexpected = self.model.load_state_dict(start.state_dict(), strict=False)
            new = ("lesion_nets.", "raw_mu2", "classifier.")
            if unexpected or any(not key.startswith(new) for key in missing):
                raise InputError(f"--init-weights {path}: its tensors do not fit the network "
                                 f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
            return
        if type(start) is not type(self.model) or found != wanted:
            raise InputError(f"--init-weights {path}: holds {type(start).__name__} {start.config}, the run trains "  # type: ignore[union-attr]
                             f"{type(self.model).__name__} {self.model.config}")  # type: ignore[union-attr]
        self.model.load_state_dict(start.state_dict())

    # -- describing -----------------------------------------------------------------------------

    def describe(self) -> str:
        """One line: task, model, data and sizes."""
        count = sum(p.numel() for p in self.parameters)
        mix = "" if self.config.lesion_fraction is None else f", drawn {self.config.lesion_fraction:.0%} from the lesion slices"
        focus = ""
        if self.config.box_lesion_loss or self.config.pointer_lesion_loss:
            by = "the annotated boxes" if self.config.box_lesion_loss else "Net_c's refined pointer"
            focus = f"; lesion loss (weight {self.config.loss.lesion:g}) weighted by {by}"
        return (f"{self.config.task}: {count:,} trained parameters{focus}; training {describe_counts(self.train_set)}{mix}, "
                f"validation {describe_counts(self.val_set)}; batch {self.config.batch_size}"
                + (f" over {self.context.world_size} processes" if self.context.distributed else "")
                + f", device {self.device}")

    # -- stepping -------------------------------------------------------------------------------

    def done(self) -> bool:
        return self.step >= self.config.steps

    def _loader(self) -> Iterator[list[SliceSample]]:
        if self._batches is None:
            sampler = ShardBatches(self.order, self.config.batch_size, self.shard, self._states, self.group)
            workers = self.config.num_workers
            loader = DataLoader(self.train_set, batch_sampler=sampler, collate_fn=keep_list, num_workers=workers,
                                persistent_workers=workers > 0)
            self._batches = iter(loader)
        return self._batches

    def _close_loader(self) -> None:
        """Stop the data loader; the order goes back to the last batch used (workers read ahead)."""
        self._batches = None  # its workers shut down with it
        self._states.clear()
        self.order.load_state(*self._order_state)

    def update(self) -> float:
        """One optimizer step; returns the mean loss of this rank's items."""
        samples = next(self._loader())
        self._order_state = self._states.popleft()
        spec = draw_mask_spec(self.draws, self.config.accelerations)
        crop_fractions = torch.rand(self.config.batch_size, generator=self.draws)[self.shard].tolist()
        augment = self._item_draws(self.config.zero_filled_fraction)
        flips = self._item_draws(self.config.flip_fraction) if self.config.flip_fraction else [False] * len(samples)
        # drawn only when used, so runs without them keep their random stream
        recon = self._item_draws(self.config.recon_fraction) if self.config.recon_fraction else [False] * len(samples)
        stages = self._stage_draws() if self.config.recon_fraction else [0] * len(samples)
        lr = self.config.learning_rate(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        # Items of different shapes (real fastMRI widths vary) go through the model separately;
        # the loss is a sum over items over the global batch size, so it is the same however
        # the batch is grouped or split over processes (DDP averages over ranks: hence x world).
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, sample in enumerate(samples):
            entry = self.train_set.volumes[sample.volume]
            groups.setdefault((tuple(sample.kspace.shape), entry.recon_shape, entry.padding), []).append(i)
        scale = self.context.world_size / self.config.batch_size
        total = 0.0
        keys = list(groups)
        for n, key in enumerate(keys):
            members = groups[key]
            # DDP reduces gradients once, in the backward of the last group.
            defer = self.context.distributed and n < len(keys) - 1
            with self.net.no_sync() if defer else contextlib.nullcontext():  # type: ignore[operator]
                kspace = torch.stack([samples[i].kspace for i in members]).to(self.device)
                if self.info.phase == "classifier":
                    targets = torch.stack([samples[i].targets for i in members]).to(self.device)
                    per_item = classifier_losses(
                        self.net, kspace, key[1], key[2], targets, spec, [augment[i] for i in members],
                        [flips[i] for i in members], [stages[i] if recon[i] else 0 for i in members],
                        reconstruct=self._reconstructed, pos_weight=self.pos_weight,
                        normalisation=self.model_config.normalisation, twin_pairs=self.config.twin_pairs)
                else:
                    focus = self._focus_maps(self.train_set, [(samples[i].volume, samples[i].slice) for i in members])
                    assert self.loss is not None
                    per_item = reconstruction_losses(self.net, self.loss, kspace, key[1], key[2], spec,
                                                     [crop_fractions[i] for i in members], crop_rows=self.config.crop_rows,
                                                     focus=focus, oracle=self.oracle)
                (per_item.sum() * scale).backward()
            total += float(per_item.detach().sum())
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.parameters, self.config.grad_clip)
        self.optimizer.step()
        self.step += 1
        self._loss_sum += total
        self._loss_count += len(samples)
        return total / max(len(samples), 1)

    def _stage_draws(self) -> list[int]:
        """A stage count ``1 .. T`` of the reconstruction network per item (one per pair)."""
        assert self.recon_model is not None
        total = self.recon_model.config.num_stages if isinstance(self.recon_model, LFMRINet) else 1
        counts = torch.randint(1, total + 1, (self.config.batch_size // self.group,), generator=self.draws)
        return counts.repeat_interleave(self.group)[self.shard].tolist()

    def _item_draws(self, probability: float) -> list[bool]:
        """One coin per item of this rank's shard (one per pair, shared by both, with twin pairs)."""
        coins = torch.rand(self.config.batch_size // self.group, generator=self.draws) < probability
        return coins.repeat_interleave(self.group)[self.shard].tolist()

    def _focus_maps(self, dataset: SliceDataset, items: Sequence[tuple[int, int]]) -> torch.Tensor | None:
        """Oracle focus maps ``(n, H, W)`` of ``(volume, slice)`` items on the device (None unless
        the boxes weigh the lesion loss); made once per slice."""
        if not self.box_loss:
            return None
        return oracle_focus_maps(dataset, items, self._focus_cache, self.device)

    def _reconstructed(self, kspace: torch.Tensor, recon_shape: tuple[int, int], padding: tuple[int, int], spec: Any,
                       stages: int) -> torch.Tensor:
        """``|X_stages|`` of the frozen reconstruction network from masked k-space, cropped like the target."""
        assert self.recon_model is not None
        return staged_estimate(self.recon_model, kspace, recon_shape, padding, spec, stages)

    # -- validation -----------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self) -> dict[str, Any] | None:
        """Metrics on the fixed validation subset (None without validation data)."""
        if len(self.val_set) == 0:
            return None
        model = unwrap(self.net)
        model.eval()
        try:
            if self.info.phase == "classifier":
                return validate_classifier(model, self.val_set, batch_size=self.config.batch_size, device=self.device)
            return validate_reconstruction(model, self.val_set, self.config.accelerations,
                                           batch_size=self.config.batch_size, device=self.device, oracle=self.oracle,
                                           focus=lambda items: self._focus_maps(self.val_set, items) if self.oracle else None)
        finally:
            model.train()

    def _log_round(self) -> dict[str, Any]:
        """Validate (rank 0) and append a line to the log; every rank must call it."""
        loss_sum = all_ranks_sum(self._loss_sum, self.context, self.device)
        count = all_ranks_sum(float(self._loss_count), self.context, self.device)
        self._loss_sum, self._loss_count = 0.0, 0
        record: dict[str, Any] = {
            "step": self.step,
            "epoch": self.order.epoch,
            "lr": self.config.learning_rate(self.step - 1),
            "train_loss": loss_sum / count if count else None,
            "seconds": round(self.seconds, 3),
            "world_size": self.context.world_size,
        }
        if self.context.is_main:
            record["validation"] = self.validate()
            self.last_validation = record["validation"]
            self.out.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
        self.context.barrier()
        return record

    # -- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoint.safetensors`` (rank 0; other ranks return None)."""
        if not self.context.is_main:
            return None
        order_tensors, order_numbers = self._order_state
        metadata = {
            "task": self.config.task,
            "step": self.step,
            "seconds": self.seconds,
            "order": order_numbers,
            "config": self.config.to_dict(),
            "model_config": json.loads(self.model_config.to_json()),
            "class_names": list(self.class_names),
            "last_validation": self.last_validation,
            "world_size": self.context.world_size,
        }
        state = {**order_tensors, "draws.generator": self.draws.get_state()}
        return save_checkpoint(self.checkpoint_path, self.model, self.optimizer, state=state, metadata=metadata)

    def _load_checkpoint(self) -> None:
        source = str(self.checkpoint_path)
        saved = read_checkpoint(self.checkpoint_path)
        meta = saved.metadata
        check_resumable(meta, self.config, json.loads(self.model_config.to_json()), source=source)
        try:
            self.model.load_state_dict({k: v.to(self.device) for k, v in saved.model.items()})
        except RuntimeError as err:
            raise InputError(f"{source}: model tensors do not fit ({str(err).splitlines()[0]})") from None
        load_optimizer_state(self.optimizer, saved.optimizer, source=source)
        self.order.load_state(saved.state, meta["order"])
        self.draws.set_state(saved.state["draws.generator"].to(torch.uint8))
        self.step = int(meta["step"])
        self.seconds = float(meta.get("seconds", 0.0))
        self.last_validation = meta.get("last_validation")
        if self.context.is_main:
            trim_log(self.log_path, self.step)  # rounds logged after the checkpoint will be run again

    # -- the loop -------------------------------------------------------------------------------

    def run(self, *, until: int | None = None, progress: Progress | None = None, cancel: Cancel | None = None,
            time_budget: float | None = None, pace_group: PaceGroup | None = None) -> TrainingResult:
        """Train to ``config.steps`` (or stop after step ``until``, or when ``cancel()``).

        Validation rounds and checkpoints as configured; a stopped run writes a checkpoint, a
        finished one its final weights. With ``time_budget`` (seconds) the step count is fitted
        to the pace of the first steps, at most ``config.steps``, and agreed with ``pace_group``
        (see :mod:`lfmri_core.training.budget`); ``config.steps`` then holds the fitted count.
        """
        from lfmri_core.machine import describe_machine
        from lfmri_core.progress import progress_bar

        config = self.config
        clock = None
        if time_budget is not None:
            if self.context.distributed:
                raise InputError("a time budget needs a single training process (not torchrun)")
            if (config.warmup_steps or 0) < CALIBRATION_STEPS:
                raise InputError(f"a time budget needs --warmup-steps >= {CALIBRATION_STEPS} (the pace is measured "
                                 "during the warm-up, whose learning rates do not depend on the step count)")
            if self.step:
                raise InputError("a time budget applies to a new run, not a resumed one")
            clock = BudgetClock(time_budget, self.step, pace_group)
        stop = config.steps if until is None else min(until, config.steps)
        if self.context.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        saved_at = -1
        started = time.perf_counter() - self.seconds
        with progress_bar(quiet=self.quiet or not self.context.is_main, total=config.steps, initial=self.step,
                          desc=f"train {config.task}", unit="step") as bar:
            while self.step < stop:
                if cancel is not None and cancel():
                    break
                loss = self.update()
                if clock is not None:
                    fitted = clock.observe(self.step)
                    if fitted is not None:
                        self.config = config = replace(config, steps=min(fitted, config.steps))
                        stop = config.steps if until is None else min(until, config.steps)
                        bar.total = config.steps
                        self.time_budget = (float(time_budget), clock.seconds_per_step)  # type: ignore[arg-type]
                self.seconds = time.perf_counter() - started
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
                if progress is not None:
                    progress(self.step, config.steps)
                if self.step % config.validate_every == 0 or self.step == config.steps:
                    self._log_round()
                    self.seconds = time.perf_counter() - started
                if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                    self.save_checkpoint()
                    saved_at = self.step
        self._close_loader()
        completed = self.done()
        if saved_at != self.step:
            self.save_checkpoint()
        machine = describe_machine(self.device)
        weights = None
        if completed and self.context.is_main:
            weights = self.save_weights(machine)
        self.train_set.close()
        self.val_set.close()
        return TrainingResult(task=config.task, steps=self.step, seconds=self.seconds, completed=completed, weights=weights,
                              checkpoint=self.checkpoint_path, log=self.log_path, last_validation=self.last_validation,
                              world_size=self.context.world_size, is_main=self.context.is_main, machine=machine)

    def save_weights(self, machine: str = "") -> Path:
        """Write ``<out>/<task>.safetensors`` with the run's metadata."""
        metadata = {
            "command": self.command,
            "task": self.config.task,
            "steps": str(self.step),
            "seconds": f"{self.seconds:.1f}",
            "machine": machine,
            "data": self.data.description,
            "seed": str(self.config.seed),
            "world_size": str(self.context.world_size),
            "training_config": self.config.to_json(),
            "last_validation": json.dumps(self.last_validation),
        }
        if self.time_budget is not None:
            budget, pace = self.time_budget
            metadata["time_budget"] = json.dumps({"seconds": budget, "seconds_per_step": pace, "steps": self.config.steps})
        if self.info.phase == "classifier":
            metadata["class_names"] = json.dumps(["any lesion", *self.class_names])
        if self.init_weights is not None:
            metadata["init_weights"] = str(self.init_weights)
        return save_weights(self.out / f"{self.config.task}.safetensors", self.model, metadata=metadata)
