"""The training loop: Adam with warm-up and cosine decay, validation, checkpoints, exact resume.

:class:`Trainer` steps like an iterative algorithm (:meth:`Trainer.update` / :meth:`Trainer.done`),
so any front end can drive it; :meth:`Trainer.run` is the loop with a tqdm bar, validation every
``validate_every`` steps, a checkpoint every ``checkpoint_every`` steps and the final weights.
:func:`train` adds what the command line needs: the device, the data source, the phase-1
classifier and ``torchrun`` (see :mod:`lfmri_core.training.distributed`).

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
import copy
import json
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from lfmri_core.errors import InputError
from lfmri_core.io.atomic import atomic_write_text
from lfmri_core.metrics.classification import roc_auc
from lfmri_core.models import (
    ClassifierConfig,
    LesionClassifier,
    LFMRIConfig,
    LFMRINet,
    UNetConfig,
    UNetRecon,
    save_weights,
)
from lfmri_core.models.classifier import Normalisation, input_scales
from lfmri_core.physics import center_crop
from lfmri_core.progress import Cancel, Progress
from lfmri_core.training.batch import coil_images, recon_batch, rss_target, zero_filled
from lfmri_core.training.budget import CALIBRATION_STEPS, BudgetClock, PaceGroup, check_budget
from lfmri_core.training.checkpoint import (
    load_optimizer_state,
    read_checkpoint,
    read_checkpoint_metadata,
    save_checkpoint,
)
from lfmri_core.training.config import RESUMABLE_CHANGES, TrainingConfig
from lfmri_core.training.data import (
    SliceDataset,
    SliceSample,
    TrainingData,
    describe_counts,
    twin_pairs,
    validation_positions,
)
from lfmri_core.training.distributed import (
    DistributedContext,
    all_ranks_sum,
    unwrap,
    wrap_model,
)
from lfmri_core.training.labels import frequent_labels, positive_weights
from lfmri_core.training.losses import ReconstructionLoss
from lfmri_core.training.masks import draw_mask_spec

CHECKPOINT_NAME = "checkpoint.safetensors"
LOG_NAME = "train_log.jsonl"

ModelConfig = ClassifierConfig | LFMRIConfig | UNetConfig


# --- models ----------------------------------------------------------------------------------------


def default_model_config(task: str, classifier: LesionClassifier | None = None) -> ModelConfig:
    """The default architecture of a task (LF-MRI takes Net_c's architecture from ``classifier``)."""
    if task == "classifier":
        return ClassifierConfig()
    if task == "lfmri":
        return LFMRIConfig(lesion_focus=True, classifier=classifier.config if classifier is not None else ClassifierConfig())
    if task == "unrolled-no-focus":
        return LFMRIConfig(lesion_focus=False)
    if task == "unet":
        return UNetConfig()
    raise InputError(f"unknown training task {task!r}")


def _check_model_config(task: str, config: ModelConfig, classifier: LesionClassifier | None) -> None:
    expected = {"classifier": ClassifierConfig, "lfmri": LFMRIConfig, "unrolled-no-focus": LFMRIConfig, "unet": UNetConfig}[task]
    if not isinstance(config, expected):
        raise InputError(f"the {task} task needs a {expected.__name__}, got {type(config).__name__}")
    if isinstance(config, LFMRIConfig):
        if config.lesion_focus != (task == "lfmri"):
            raise InputError(f"the {task} task needs lesion_focus={task == 'lfmri'} in its LFMRIConfig")
        if task == "lfmri" and config.uses_classifier:
            if classifier is None:
                raise InputError("training lfmri needs the phase-1 classifier (--classifier PATH)")
            if config.classifier != classifier.config:
                raise InputError(
                    f"LF-MRI config expects classifier {config.classifier}, the given classifier is {classifier.config}"
                )


def build_model(task: str, config: ModelConfig, classifier: LesionClassifier | None, seed: int) -> nn.Module:
    """A freshly initialised model; its weights depend only on ``seed`` (global RNG untouched)."""
    _check_model_config(task, config, classifier)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(config, ClassifierConfig):
            return LesionClassifier(config)
        if isinstance(config, UNetConfig):
            return UNetRecon(config)
        # A copy: the trained model owns its frozen Net_c, the caller's stays untouched.
        return LFMRINet(config, classifier=copy.deepcopy(classifier) if config.uses_classifier else None)


def uses_oracle_focus(model_config: ModelConfig | None) -> bool:
    """Whether a model is the oracle-focus LF-MRI variant (boxes instead of Net_c's CAM)."""
    return isinstance(model_config, LFMRIConfig) and model_config.lesion_focus and model_config.focus == "oracle"


def needs_classifier(config: TrainingConfig, model_config: ModelConfig | None) -> bool:
    """Whether a run needs the phase-1 Net_c: for the model (CAM focus) or for its loss (the
    lesion loss unless the focus is the oracle's boxes; the perceptual loss)."""
    if uses_oracle_focus(model_config):
        return bool(config.loss.perceptual)
    return config.needs_classifier


# --- data order ------------------------------------------------------------------------------------


class DataOrder:
    """Endless shuffled passes over ``size`` items from a seeded generator.

    Each pass (epoch) is a fresh ``torch.randperm``; batches run across pass boundaries.
    :meth:`state` / :meth:`load_state` capture it exactly (the generator state is a uint8 tensor).
    """

    def __init__(self, size: int, seed: int) -> None:
        if size < 1:
            raise InputError("no training slices")
        self.size = size
        self.generator = torch.Generator().manual_seed(seed)
        self.permutation = torch.randperm(size, generator=self.generator)
        self.position = 0
        self.epoch = 0

    def take(self, count: int) -> list[int]:
        """The next ``count`` item indices."""
        out: list[int] = []
        while len(out) < count:
            if self.position == self.size:
                self.permutation = torch.randperm(self.size, generator=self.generator)
                self.position = 0
                self.epoch += 1
            n = min(count - len(out), self.size - self.position)
            out.extend(self.permutation[self.position : self.position + n].tolist())
            self.position += n
        return out

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
        """``(tensors, numbers)`` describing the order now."""
        return ({"order.generator": self.generator.get_state(), "order.permutation": self.permutation.clone()},
                {"position": self.position, "epoch": self.epoch})

    def load_state(self, tensors: dict[str, torch.Tensor], numbers: dict[str, int]) -> None:
        permutation = tensors["order.permutation"].to(torch.int64)
        if permutation.numel() != self.size:
            raise InputError(f"checkpoint data order covers {permutation.numel()} slices, the data has {self.size}")
        self.generator.set_state(tensors["order.generator"].to(torch.uint8))
        self.permutation = permutation
        self.position = int(numbers["position"])
        self.epoch = int(numbers["epoch"])


class _ShardBatches:
    """Batch sampler: this rank's shard of each global batch, recording the order after each.

    With ``group`` > 1 the order runs over groups of ``group`` consecutive items (a lesion
    slice and its twin), which stay together and in order within the global batch.
    """

    def __init__(self, order: DataOrder, global_batch: int, shard: slice, states: deque, group: int = 1) -> None:
        self.order, self.global_batch, self.shard, self.states, self.group = order, global_batch, shard, states, group

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            groups = self.order.take(self.global_batch // self.group)
            indices = [g * self.group + j for g in groups for j in range(self.group)]
            self.states.append(self.order.state())
            yield indices[self.shard]


def _keep_list(samples: list[SliceSample]) -> list[SliceSample]:
    return samples


def _pair_scales(images: torch.Tensor, normalisation: Normalisation) -> torch.Tensor | None:
    """Net_c's input divisor for twin pairs: each lesion image's own (as in use), and the same
    for its twin (odd positions), instead of the twin's own.

    Net_c divides every image by its own 99th percentile (or maximum). A large bright lesion
    (an effusion on PDFS) raises that statistic, by up to 2x, so a lesion image normalised on
    its own would be darker *everywhere* than its normalised twin: a global cue that says
    nothing about where the lesion is. On one scale the two inputs are equal outside the lesion.
    None for ``normalisation == "none"`` (nothing to equalise).
    """
    scales = input_scales(images[0::2].unsqueeze(1), normalisation)
    return None if scales is None else scales.repeat_interleave(2)


# --- results ---------------------------------------------------------------------------------------


@dataclass
class TrainingResult:
    """What a run did."""

    task: str
    steps: int
    """Steps done (in all, resumed runs included)."""
    seconds: float
    """Wall-clock seconds of training (validation included), over all sessions of the run."""
    completed: bool
    """False when stopped early (``until`` or ``cancel``); a checkpoint then holds the state."""
    weights: Path | None
    """The final weights (None unless completed, and on ranks other than 0)."""
    checkpoint: Path
    log: Path
    last_validation: dict[str, Any] | None
    world_size: int = 1
    is_main: bool = True
    machine: str = ""

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines = [f"{self.task}: {self.steps} step{'' if self.steps == 1 else 's'} in {self.seconds:.1f} s "
                 f"({self.seconds / max(self.steps, 1):.2f} s/step, {self.world_size} process{'es' if self.world_size > 1 else ''})"
                 + (f" on {self.machine}" if self.machine else "")]
        if self.last_validation:
            lines.append("last validation: " + format_validation(self.last_validation))
        if self.weights is not None:
            lines.append(f"wrote {self.weights}")
        elif not self.completed:
            lines.append(f"stopped early; continue with --resume from {self.checkpoint}")
        return "\n".join(lines)


def _number(value: Any, digits: int) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def format_validation(validation: dict[str, Any]) -> str:
    """One line of validation metrics."""
    if "accuracy" in validation:
        pointing = (f"  pointing game {_number(validation['pointing_game'], 3)} ({validation['boxed_slices']} boxed slices)"
                    if validation.get("boxed_slices") else "")
        return (f"accuracy {_number(validation['accuracy'], 3)}  AUC {_number(validation['auc'], 3)}{pointing}  "
                f"({validation['slices']} slices, {validation['positives']} with lesions)")
    return "  ".join(
        f"{name}: PSNR {_number(m['psnr'], 2)} dB SSIM {_number(m['ssim'], 4)} LF-PSNR {_number(m['lf_psnr'], 2)} dB"
        for name, m in validation.items()
    )


def _finite_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# --- the trainer -----------------------------------------------------------------------------------


def _seeds(seed: int) -> tuple[int, int]:
    """Independent seeds of the data order and the per-batch draws."""
    order, draws = np.random.SeedSequence(seed).generate_state(2)
    return int(order), int(draws)


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
        if needs_classifier(config, model_config) and classifier is None:
            raise InputError(
                f"training {config.task} with lesion or perceptual loss needs the phase-1 classifier (--classifier PATH)"
            )
        if self.oracle and classifier is not None and not config.loss.perceptual:
            classifier = None  # the oracle focus and its loss use the boxes, not Net_c
        classifier = classifier.to(self.device).eval() if classifier is not None else None

        # data
        self.class_names: tuple[str, ...] = ()
        if self.info.phase == "classifier":
            assert isinstance(model_config, ClassifierConfig)
            extra = model_config.num_classes - 1
            if extra:
                if data.lesion_types is not None:
                    if extra > len(data.lesion_types):
                        raise InputError(f"{model_config.num_classes} classes need {extra} lesion types; "
                                         f"the data have {len(data.lesion_types)}")
                    self.class_names = tuple(data.lesion_types[:extra])
                else:
                    self.class_names = frequent_labels((v.annotations for v in data.train if v.annotations), extra)
        train_set = SliceDataset(data.train, self.class_names)
        val_set = SliceDataset(data.validation, self.class_names)
        if self.info.phase == "classifier":
            train_set, val_set = train_set.labelled(), val_set.labelled()
            if len(train_set) == 0:
                raise InputError("no training slice has an image-level label: the classifier needs annotations "
                                 "(--annotations CSV and its --file-list)")
            if config.twin_pairs:
                train_set = twin_pairs(train_set)
            self.pos_weight = torch.from_numpy(positive_weights(train_set.targets)).to(self.device)
        if self.oracle:
            unboxed = [entry.name for entry in (*train_set.volumes, *val_set.volumes) if entry.annotations is None]
            if unboxed:
                raise InputError(f"the oracle focus needs lesion boxes for every volume; no annotations for "
                                 f"{', '.join(unboxed[:3])}{' ...' if len(unboxed) > 3 else ''}")
        if preload:
            if config.num_workers:
                raise InputError("preloaded training data are read in the training process: use --workers 0 with --preload")
            train_set = train_set.preload(self.device)
        self.train_set = train_set
        self.val_set = val_set.subset(validation_positions(val_set.targets, config.val_slices))
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
                                           classifier=net_c if ((w.lesion and not self.oracle) or w.perceptual) else None,
                                           oracle_focus=self.oracle)
        self.parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.parameters, lr=config.lr)
        order_seed, draw_seed = _seeds(config.seed)
        self.group = 2 if config.twin_pairs else 1
        if (self.shard.stop - self.shard.start) % self.group:
            raise InputError(f"twin pairs need an even batch per process; batch {config.batch_size} over "
                             f"{self.context.world_size} processes gives {self.shard.stop - self.shard.start}")
        self.order = DataOrder(len(train_set) // self.group, order_seed)
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
        if type(start) is not type(self.model) or found != wanted:
            raise InputError(f"--init-weights {path}: holds {type(start).__name__} {start.config}, the run trains "  # type: ignore[union-attr]
                             f"{type(self.model).__name__} {self.model.config}")  # type: ignore[union-attr]
        self.model.load_state_dict(start.state_dict())

    # -- describing -----------------------------------------------------------------------------

    def describe(self) -> str:
        """One line: task, model, data and sizes."""
        count = sum(p.numel() for p in self.parameters)
        return (f"{self.config.task}: {count:,} trained parameters; training {describe_counts(self.train_set)}, "
                f"validation {describe_counts(self.val_set)}; batch {self.config.batch_size}"
                + (f" over {self.context.world_size} processes" if self.context.distributed else "")
                + f", device {self.device}")

    # -- stepping -------------------------------------------------------------------------------

    def done(self) -> bool:
        return self.step >= self.config.steps

    def _loader(self) -> Iterator[list[SliceSample]]:
        if self._batches is None:
            sampler = _ShardBatches(self.order, self.config.batch_size, self.shard, self._states, self.group)
            workers = self.config.num_workers
            loader = DataLoader(self.train_set, batch_sampler=sampler, collate_fn=_keep_list, num_workers=workers,
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
                    per_item = self._classifier_losses(kspace, key[1], key[2], targets, spec, [augment[i] for i in members],
                                                       [flips[i] for i in members], [stages[i] if recon[i] else 0
                                                                                     for i in members])
                else:
                    focus = self._focus_maps(self.train_set, [(samples[i].volume, samples[i].slice) for i in members])
                    per_item = self._recon_losses(kspace, key[1], key[2], spec, [crop_fractions[i] for i in members], focus)
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
        the model's focus is the oracle); made once per slice."""
        if not self.oracle:
            return None
        from lfmri_core.models.focus import box_focus_map

        maps = []
        for v, s in items:
            key = (id(dataset.volumes), v, s)
            focus = self._focus_cache.get(key)
            if focus is None:
                entry = dataset.volumes[v]
                boxes = entry.annotations.boxes_on(s) if entry.annotations is not None else ()
                focus = box_focus_map(boxes, entry.image_shape, entry.recon_shape, device=self.device)
                self._focus_cache[key] = focus
            maps.append(focus)
        return torch.stack(maps)

    def _recon_losses(self, kspace: torch.Tensor, recon_shape: tuple[int, int], padding: tuple[int, int], spec: Any,
                      crop_fractions: Sequence[float], focus: torch.Tensor | None = None) -> torch.Tensor:
        batch = recon_batch(kspace, recon_shape, spec, padding=padding, crop_rows=self.config.crop_rows,
                            crop_fractions=crop_fractions, focus=focus)
        output = self.net(batch.kspace, batch.mask, batch.sensitivities, focus=batch.focus) if self.oracle \
            else self.net(batch.kspace, batch.mask, batch.sensitivities)
        assert self.loss is not None
        weights = None if batch.focus is None else center_crop(batch.focus, batch.crop_shape)
        return self.loss(center_crop(output.image.abs(), batch.crop_shape), batch.target, weights).total

    def _classifier_losses(self, kspace: torch.Tensor, recon_shape: tuple[int, int], padding: tuple[int, int],
                           targets: torch.Tensor, spec: Any, augment: Sequence[bool], flips: Sequence[bool],
                           recon_stages: Sequence[int] = ()) -> torch.Tensor:
        with torch.no_grad():
            images = rss_target(coil_images(kspace), recon_shape).float()
            stages = list(recon_stages) or [0] * len(augment)
            chosen = [i for i, flag in enumerate(augment) if flag and not stages[i]]
            if chosen:
                images[chosen] = zero_filled(recon_batch(kspace[chosen], recon_shape, spec, padding=padding))
            for count in sorted({c for c in stages if c}):
                members = [i for i, c in enumerate(stages) if c == count]
                images[members] = self._reconstructed(kspace[members], recon_shape, padding, spec, count)
            flipped = [i for i, flag in enumerate(flips) if flag]
            if flipped:
                images[flipped] = images[flipped].flip(-1)
            scale = _pair_scales(images, self.model_config.normalisation) if self.config.twin_pairs else None
        logits = self.net(images.unsqueeze(1), scale).logits
        losses = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=self.pos_weight, reduction="none")
        return losses.mean(dim=1)

    def _reconstructed(self, kspace: torch.Tensor, recon_shape: tuple[int, int], padding: tuple[int, int], spec: Any,
                       stages: int) -> torch.Tensor:
        """``|X_stages|`` of the frozen reconstruction network from masked k-space, cropped like the target."""
        assert self.recon_model is not None
        batch = recon_batch(kspace, recon_shape, spec, padding=padding)
        if isinstance(self.recon_model, LFMRINet):
            output = self.recon_model(batch.kspace, batch.mask, batch.sensitivities, stages=stages).image
        else:
            output = self.recon_model(batch.kspace, batch.mask, batch.sensitivities).image
        return center_crop(output.abs(), batch.crop_shape).float()

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
                return self._validate_classifier(model)
            return self._validate_recon(model)
        finally:
            model.train()

    def _by_volume(self) -> dict[int, list[int]]:
        positions: dict[int, list[int]] = {}
        for position, (v, _) in enumerate(self.val_set.items):
            positions.setdefault(v, []).append(position)
        return positions

    def _validate_classifier(self, model: nn.Module) -> dict[str, Any]:
        """Accuracy and AUC of the lesion score, and the pointing game of the CAM on the slices
        whose boxes are known (a classifier can score well from cues that merely go with
        lesions; the pointing game says whether it looks at the lesion)."""
        from lfmri_core.metrics.cam import pointing_game

        scores, labels, hits = [], [], []
        for v, positions in self._by_volume().items():
            entry = self.val_set.volumes[v]
            for chunk in _chunks(positions, self.config.batch_size):
                kspace = torch.stack([self.val_set[p].kspace for p in chunk]).to(self.device)
                images = rss_target(coil_images(kspace), entry.recon_shape).float()
                out = model(images.unsqueeze(1))
                scores.append(out.logits[:, 0].cpu().numpy())
                labels.append(self.val_set.targets[chunk, 0])
                for row, position in enumerate(chunk):
                    boxes = entry.annotations.boxes_on(self.val_set.items[position][1]) if entry.annotations else ()
                    boxes = [b for b in boxes if not b.is_empty]
                    if boxes:
                        hits.append(pointing_game(out.cam[row, 0].float().cpu().numpy(), boxes))
        score = np.concatenate(scores)
        label = np.concatenate(labels)
        return {"accuracy": float(np.mean((score > 0) == (label == 1))), "auc": _finite_or_none(roc_auc(label == 1, score)),
                "slices": int(label.size), "positives": int(np.sum(label == 1)),
                "pointing_game": float(np.mean(hits)) if hits else None, "boxed_slices": len(hits)}

    def _validate_recon(self, model: nn.Module) -> dict[str, Any]:
        from lfmri_core.evaluation import score_volume
        from lfmri_core.masks import MaskSpec, seed_from_filename

        results: dict[str, Any] = {}
        for acceleration, center_fraction in self.config.accelerations:
            per_volume = []
            for v, positions in self._by_volume().items():
                entry = self.val_set.volumes[v]
                # fastMRI's per-file mask seed: every round sees the same masks.
                spec = MaskSpec("random", acceleration, center_fraction, seed=seed_from_filename(entry.name))
                recons, targets = [], []
                for chunk in _chunks(positions, self.config.batch_size):
                    kspace = torch.stack([self.val_set[p].kspace for p in chunk]).to(self.device)
                    focus = self._focus_maps(self.val_set, [self.val_set.items[p] for p in chunk])
                    batch = recon_batch(kspace, entry.recon_shape, spec, padding=entry.padding, focus=focus)
                    output = model(batch.kspace, batch.mask, batch.sensitivities, focus=batch.focus) if self.oracle \
                        else model(batch.kspace, batch.mask, batch.sensitivities)
                    recons.append(center_crop(output.image.abs(), batch.crop_shape).float().cpu().numpy())
                    targets.append(batch.target.cpu().numpy())
                target = np.concatenate(targets)
                slices = [self.val_set.items[p][1] for p in positions]
                boxes = entry.annotations.boxes if entry.annotations is not None else ()
                maxval = entry.maxval if entry.maxval is not None else float(target.max())
                per_volume.append(score_volume(target, np.concatenate(recons), boxes, slices, maxval=maxval))
            lf = [s.lf_psnr for s in per_volume if math.isfinite(s.lf_psnr)]
            lf_ssim = [s.lf_ssim for s in per_volume if math.isfinite(s.lf_ssim)]
            results[f"{acceleration:g}x"] = {
                "psnr": float(np.mean([s.psnr for s in per_volume])),
                "ssim": float(np.mean([s.ssim for s in per_volume])),
                "nmse": float(np.mean([s.nmse for s in per_volume])),
                "lf_psnr": _finite_or_none(float(np.mean(lf))) if lf else None,
                "lf_ssim": _finite_or_none(float(np.mean(lf_ssim))) if lf_ssim else None,
                "slices": sum(s.num_slices for s in per_volume),
                "lesion_slices": sum(s.num_lesion_slices for s in per_volume),
            }
        return results

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
        if meta.get("task") != self.config.task:
            raise InputError(f"{source} is a checkpoint of {meta.get('task')!r}, not of {self.config.task!r}")
        if meta.get("model_config") != json.loads(self.model_config.to_json()):
            raise InputError(f"{source} is a checkpoint of another {self.config.task} architecture")
        current = self.config.to_dict()
        defaults = TrainingConfig(task=self.config.task).to_dict()
        stored = {k: v for k, v in defaults.items() if k not in ("task",)} | meta.get("config", {})
        differing = sorted(k for k in set(stored) | set(current) if k not in RESUMABLE_CHANGES and stored.get(k) != current.get(k))
        if differing:
            detail = ", ".join(f"{k}={stored.get(k)!r} (now {current.get(k)!r})" for k in differing)
            raise InputError(f"{source}: the run was started with other settings: {detail}")
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
        if self.context.is_main and self.log_path.is_file():
            # Rounds logged after the checkpoint will be run again.
            kept = [line for line in self.log_path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= self.step]
            atomic_write_text(self.log_path, "".join(line + "\n" for line in kept))

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


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), max(1, size)):
        yield list(items[start : start + size])


# --- the whole job -------------------------------------------------------------------------------


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


def load_phase1_classifier(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> LesionClassifier:
    """The phase-1 Net_c from its weights file (refused unless it holds a classifier)."""
    from lfmri_core.models import load_weights

    model = load_weights(path, kind="classifier", device=device)
    assert isinstance(model, LesionClassifier)
    return model


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
