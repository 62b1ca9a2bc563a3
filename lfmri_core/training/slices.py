"""Training slices: a torch ``Dataset`` over ``(volume, slice)`` items, read one slice at a time.

:class:`SliceDataset` reads one slice's k-space per item through
:func:`~lfmri_core.io.volume.open_volume`, so memory stays bounded by the batch, whatever the size
of the data set (or keeps every item on a device, :meth:`SliceDataset.preload`).
:func:`twin_pairs` pairs lesion slices with their lesion-free twins; :func:`validation_positions`
picks a run's fixed validation subset; :func:`describe_counts` says what a dataset holds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from lfmri_core.errors import InputError
from lfmri_core.io.volume import open_volume
from lfmri_core.training.labels import slice_targets
from lfmri_core.training.volumes import Progress, VolumeEntry

__all__ = [
    "TWIN_SUFFIX",
    "SliceDataset",
    "SliceSample",
    "describe_counts",
    "spread",
    "twin_pairs",
    "validation_positions",
]


class SliceSample(NamedTuple):
    """One training slice as read from disk."""

    kspace: torch.Tensor
    """Fully sampled coil k-space, complex64 ``(coils, H, W)``."""
    targets: torch.Tensor
    """Image-level targets, float32 ``(num_classes,)``: 1, 0, or NaN when unknown."""
    volume: int
    """Index of the volume in the dataset's volume list."""
    slice: int
    """Slice index in the volume."""


@dataclass
class SliceDataset(Dataset[SliceSample]):
    """``(volume, slice)`` items of a list of volumes, read lazily one slice at a time.

    Parameters
    ----------
    volumes
        The volumes.
    class_names
        Lesion types of classes ``1 ..`` (see :mod:`lfmri_core.training.labels`).
    items
        The ``(volume index, slice)`` pairs; None: every slice of every volume.
    open_files
        How many files each process keeps open between items.
    """

    volumes: Sequence[VolumeEntry]
    class_names: Sequence[str] = ()
    items: list[tuple[int, int]] | None = None
    open_files: int = 4

    def __post_init__(self) -> None:
        self.volumes = tuple(self.volumes)
        self.class_names = tuple(self.class_names)
        if self.items is None:
            self.items = [(v, s) for v, entry in enumerate(self.volumes) for s in range(entry.num_slices)]
        per_volume = [slice_targets(entry.annotations, entry.num_slices, self.class_names) for entry in self.volumes]
        self.targets = np.stack([per_volume[v][s] for v, s in self.items]) if self.items else \
            np.zeros((0, 1 + len(self.class_names)), np.float32)
        self._handles: OrderedDict[int, Any] = OrderedDict()
        self._preloaded: dict[tuple[int, int], torch.Tensor] | None = None

    def preload(self, device: torch.device | str = "cpu", progress: Progress | None = None) -> SliceDataset:
        """Read every item's k-space once and keep it on ``device`` (returns ``self``).

        Afterwards items come from memory: no file is read per step, which keeps a GPU fed
        (a slice of the compact geometry is 6.5 MB; 20 subjects with two contrasts of 16 slices
        hold 4.2 GB). Items then carry their k-space on ``device``.
        """
        wanted: dict[int, list[int]] = {}
        for v, s in self.items:
            wanted.setdefault(v, []).append(s)
        loaded: dict[tuple[int, int], torch.Tensor] = {}
        for n, (v, slices) in enumerate(wanted.items()):
            with open_volume(self.volumes[v].path) as vol:
                for s in sorted(set(slices)):
                    loaded[(v, s)] = torch.from_numpy(vol.kspace(s)).to(device)
            if progress is not None:
                progress(n + 1, len(wanted))
        self._preloaded = loaded
        return self

    def labelled(self) -> SliceDataset:
        """The same dataset without slices whose class-0 label is unknown."""
        keep = [item for item, target in zip(self.items, self.targets) if not np.isnan(target[0])]
        return SliceDataset(self.volumes, self.class_names, keep, self.open_files)

    def subset(self, positions: Sequence[int]) -> SliceDataset:
        """The items at ``positions`` (indices into :attr:`items`)."""
        return SliceDataset(self.volumes, self.class_names, [self.items[i] for i in positions], self.open_files)

    def __len__(self) -> int:
        return len(self.items)

    def _volume(self, index: int) -> Any:
        handle = self._handles.pop(index, None)
        if handle is None:
            handle = open_volume(self.volumes[index].path)
            while len(self._handles) >= max(1, self.open_files):
                _, oldest = self._handles.popitem(last=False)
                oldest.close()
        self._handles[index] = handle
        return handle

    def __getitem__(self, position: int) -> SliceSample:
        v, s = self.items[position]
        if self._preloaded is not None:
            kspace = self._preloaded[(v, s)]
        else:
            kspace = torch.from_numpy(self._volume(v).kspace(s))
        return SliceSample(kspace, torch.from_numpy(self.targets[position].copy()), v, s)

    def close(self) -> None:
        """Close the open files and drop preloaded items."""
        while self._handles:
            self._handles.popitem()[1].close()
        self._preloaded = None

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes open their own files (an h5py handle does not cross processes).
        state = self.__dict__.copy()
        state["_handles"] = OrderedDict()
        if state.get("_preloaded") is not None:
            raise InputError("a preloaded dataset is read in the training process: use no data-loading workers with preload")
        return state


TWIN_SUFFIX = "_twin"
"""Stem suffix of a volume's lesion-free twin (``<stem>_twin.h5``)."""


def _same_size(a: VolumeEntry, b: VolumeEntry) -> bool:
    return (a.num_slices, a.num_coils, a.image_shape, a.recon_shape) == (b.num_slices, b.num_coils, b.image_shape, b.recon_shape)


def twin_pairs(dataset: SliceDataset) -> SliceDataset:
    """The lesion slices of ``dataset`` each followed by the same slice of its lesion-free twin.

    Items come in pairs ``[lesion slice, twin slice, ...]`` (positions ``2i`` and ``2i + 1``),
    for every slice with a class-0 label of 1 whose volume ``<stem>`` has a twin
    ``<stem>_twin`` of the same size (slices, coils, image and recon shape) in the dataset.

    Raises
    ------
    InputError
        No such pair (no twin volumes, or no lesion slice in the volumes that have one).
    """
    index = {entry.path.stem: v for v, entry in enumerate(dataset.volumes)}
    positive = {item for item, target in zip(dataset.items, dataset.targets) if target[0] == 1}
    items: list[tuple[int, int]] = []
    for v, s in dataset.items:
        twin = index.get(dataset.volumes[v].path.stem + TWIN_SUFFIX)
        if (v, s) in positive and twin is not None and _same_size(dataset.volumes[twin], dataset.volumes[v]):
            items += [(v, s), (twin, s)]
    if not items:
        raise InputError("twin pairs need lesion slices whose volume has a lesion-free twin <stem>_twin "
                         "(synthetic data: --lesion-free-twins)")
    return SliceDataset(dataset.volumes, dataset.class_names, items, dataset.open_files)


def spread(count: int, available: int) -> list[int]:
    """``count`` (or all) evenly spaced positions out of ``range(available)``."""
    if count >= available:
        return list(range(available))
    if count <= 0:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, available - 1, count)})


def validation_positions(targets: np.ndarray, count: int) -> list[int]:
    """A fixed validation subset of at most ``count`` items: up to half with lesions.

    Positives and the other slices are each taken evenly spaced (so every volume is visited),
    which keeps lesion-focused metrics and classifier AUC defined whenever the data allow.

    Parameters
    ----------
    targets
        ``(n, K)`` image-level targets of the candidate items (class 0 is used).
    count
        Maximum subset size.
    """
    positives = [i for i, t in enumerate(targets[:, 0]) if t == 1]
    others = [i for i, t in enumerate(targets[:, 0]) if t != 1]
    take_pos = min(len(positives), max(count // 2, count - len(others)))
    take_other = min(len(others), count - take_pos)
    chosen = [positives[i] for i in spread(take_pos, len(positives))] + [others[i] for i in spread(take_other, len(others))]
    return sorted(chosen)


def describe_counts(dataset: SliceDataset) -> str:
    """``"120 slices (34 with lesions, 6 unknown)"``."""
    labels = dataset.targets[:, 0] if len(dataset) else np.zeros(0)
    positives = int(np.sum(labels == 1))
    unknown = int(np.sum(np.isnan(labels)))
    return f"{len(dataset)} slices ({positives} with lesions" + (f", {unknown} unknown)" if unknown else ")")
