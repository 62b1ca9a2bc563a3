"""The data of a training run: which slices, in which seeded order, sharded over processes.

:func:`run_datasets` picks the training and validation slices a task uses (labelled slices
and twin pairs for the classifier, the fixed validation subset, preloading);
:class:`DataOrder` draws endless shuffled passes over the training items from a seeded
generator and can be captured and restored exactly (checkpoints); :class:`LesionMixOrder` draws a
set share of lesion slices (oversampling by image-level label); :class:`ShardBatches` cuts each
global batch into this process's shard (``torchrun``) and keeps twin pairs together;
:func:`run_seeds` derives the independent seeds of the data order and of the per-batch draws
from the run's one seed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from lfmri_core.errors import InputError
from lfmri_core.models import ClassifierConfig
from lfmri_core.training.config import TrainingConfig
from lfmri_core.training.factory import ModelConfig
from lfmri_core.training.labels import frequent_labels, positive_weights
from lfmri_core.training.slices import SliceDataset, SliceSample, twin_pairs, validation_positions
from lfmri_core.training.volumes import TrainingData

__all__ = ["DataOrder", "LesionMixOrder", "RunData", "ShardBatches", "keep_list", "run_datasets", "run_seeds"]


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


class LesionMixOrder:
    """Endless draws in which each item is a lesion slice with probability ``fraction``.

    The lesion slices and the other slices each run their own shuffled passes (two
    :class:`DataOrder`), and a seeded coin per item picks the stream, so a lesion slice comes
    ``fraction / share`` times as often as in plain passes (``share``: the lesion slices' share
    of the items) while both streams still visit every slice once per pass. ``epoch`` counts the
    passes over the other slices (over the lesion slices when there are no others).
    :meth:`state` / :meth:`load_state` capture it exactly, like :class:`DataOrder`.
    """

    def __init__(self, lesion: list[int], other: list[int], fraction: float, seed: int) -> None:
        if not lesion:
            raise InputError("lesion oversampling needs lesion slices: no training slice has a lesion label")
        if not 0 < fraction <= 1:
            raise InputError(f"lesion fraction must be in (0, 1], got {fraction!r}")
        if not other and fraction < 1:
            raise InputError(f"lesion fraction {fraction:g} needs slices without lesions; every training slice has one")
        coin_seed, lesion_seed, other_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(3))
        self.fraction = float(fraction)
        self.items = (list(lesion), list(other))
        self.orders = (DataOrder(len(lesion), lesion_seed), DataOrder(len(other), other_seed) if other else None)
        self.coins = torch.Generator().manual_seed(coin_seed)

    @property
    def epoch(self) -> int:
        lesion, other = self.orders
        return other.epoch if other is not None else lesion.epoch

    def take(self, count: int) -> list[int]:
        """The next ``count`` item indices."""
        heads = (torch.rand(count, generator=self.coins) < self.fraction).tolist()
        lesion, other = self.orders
        n_lesion = sum(heads)
        picks = (iter(lesion.take(n_lesion)), iter(other.take(count - n_lesion) if other is not None else ()))
        return [self.items[0][next(picks[0])] if head else self.items[1][next(picks[1])] for head in heads]

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
        """``(tensors, numbers)`` describing the order now."""
        tensors: dict[str, torch.Tensor] = {"order.coins": self.coins.get_state()}
        numbers: dict[str, int] = {}
        for name, order in zip(("lesion", "other"), self.orders):
            if order is None:
                continue
            t, n = order.state()
            tensors.update({f"{key}.{name}": value for key, value in t.items()})
            numbers.update({f"{key}.{name}": value for key, value in n.items()})
        numbers["epoch"] = self.epoch
        return tensors, numbers

    def load_state(self, tensors: dict[str, torch.Tensor], numbers: dict[str, int]) -> None:
        if "order.coins" not in tensors:
            raise InputError("the checkpoint's data order has no lesion oversampling; resume with the same --lesion-fraction")
        for name, order in zip(("lesion", "other"), self.orders):
            if order is None:
                continue
            order.load_state({key: tensors[f"{key}.{name}"] for key in ("order.generator", "order.permutation")},
                             {key: numbers[f"{key}.{name}"] for key in ("position", "epoch")})
        self.coins.set_state(tensors["order.coins"].to(torch.uint8))


class ShardBatches:
    """Batch sampler: this rank's shard of each global batch, recording the order after each.

    With ``group`` > 1 the order runs over groups of ``group`` consecutive items (a lesion
    slice and its twin), which stay together and in order within the global batch.
    """

    def __init__(self, order: DataOrder | LesionMixOrder, global_batch: int, shard: slice, states: deque, group: int = 1) -> None:
        self.order, self.global_batch, self.shard, self.states, self.group = order, global_batch, shard, states, group

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            groups = self.order.take(self.global_batch // self.group)
            indices = [g * self.group + j for g in groups for j in range(self.group)]
            self.states.append(self.order.state())
            yield indices[self.shard]


def keep_list(samples: list[SliceSample]) -> list[SliceSample]:
    """Collate function of the data loader: the samples as they are (shapes may differ)."""
    return samples


def run_seeds(seed: int) -> tuple[int, int]:
    """Independent seeds of the data order and the per-batch draws."""
    order, draws = np.random.SeedSequence(seed).generate_state(2)
    return int(order), int(draws)


@dataclass(frozen=True)
class RunData:
    """The slices a run trains and validates on."""

    train_set: SliceDataset
    """Training items (labelled ones for the classifier; twin pairs when asked for)."""
    val_set: SliceDataset
    """The fixed validation subset (:func:`~lfmri_core.training.slices.validation_positions`)."""
    class_names: tuple[str, ...]
    """Lesion types of classes ``1 ..`` of the classifier (empty otherwise)."""
    pos_weight: torch.Tensor | None
    """The classifier's per-class positive weights on the device (None for reconstruction)."""


def run_datasets(config: TrainingConfig, data: TrainingData, model_config: ModelConfig, *, oracle: bool,
                 preload: bool, device: torch.device) -> RunData:
    """The training and validation slices of a run, checked against what the task needs.

    The classifier trains on the labelled slices (twin pairs with ``config.twin_pairs``), its
    classes ``1 ..`` named by the source's lesion types or the most frequent labels; the oracle
    focus needs boxes for every volume; ``preload`` reads the training slices onto ``device``.
    """
    class_names: tuple[str, ...] = ()
    pos_weight: torch.Tensor | None = None
    if config.info.phase == "classifier":
        assert isinstance(model_config, ClassifierConfig)
        extra = model_config.num_classes - 1
        if extra:
            if data.lesion_types is not None:
                if extra > len(data.lesion_types):
                    raise InputError(f"{model_config.num_classes} classes need {extra} lesion types; "
                                     f"the data have {len(data.lesion_types)}")
                class_names = tuple(data.lesion_types[:extra])
            else:
                class_names = frequent_labels((v.annotations for v in data.train if v.annotations), extra)
    train_set = SliceDataset(data.train, class_names)
    val_set = SliceDataset(data.validation, class_names)
    if config.info.phase == "classifier":
        train_set, val_set = train_set.labelled(), val_set.labelled()
        if len(train_set) == 0:
            raise InputError("no training slice has an image-level label: the classifier needs annotations "
                             "(--annotations CSV and its --file-list)")
        if config.twin_pairs:
            train_set = twin_pairs(train_set)
        pos_weight = torch.from_numpy(positive_weights(train_set.targets)).to(device)
    if oracle:
        unboxed = [entry.name for entry in (*train_set.volumes, *val_set.volumes) if entry.annotations is None]
        if unboxed:
            raise InputError(f"the oracle focus and a box-weighted lesion loss need lesion boxes for every volume; no annotations for "
                             f"{', '.join(unboxed[:3])}{' ...' if len(unboxed) > 3 else ''}")
    if preload:
        if config.num_workers:
            raise InputError("preloaded training data are read in the training process: use --workers 0 with --preload")
        train_set = train_set.preload(device)
    val_set = val_set.subset(validation_positions(val_set.targets, config.val_slices))
    return RunData(train_set, val_set, class_names, pos_weight)
