"""What can be trained (:data:`TASKS`) and how (:class:`TrainingConfig`).

Two phases, as in the LF-MRI paper:

1. ``classifier``: Net_c on fully sampled (and, as augmentation, zero-filled 4x/8x) RSS images
   with image-level labels;
2. end-to-end reconstruction: ``lfmri`` (unrolled network with lesion focus, steered by the
   frozen phase-1 Net_c, and the CAM-weighted lesion loss), ``unrolled-no-focus`` (the
   ablation: no lesion-focused module and no lesion loss) and ``unet`` (image-domain baseline).
   The ablation and the baseline use the same pixel losses as ``lfmri`` with the lesion weight
   0 by default, so a comparison isolates the lesion focus; ``--lesion-weight`` overrides it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from lfmri_core.errors import InputError
from lfmri_core.training.masks import DEFAULT_ACCELERATIONS, AccelerationChoice, check_accelerations


@dataclass(frozen=True)
class TaskInfo:
    """A trainable model.

    Attributes
    ----------
    name
        The task (``lfmri train <name>``) and the stem of its weights file.
    description
        One line for help texts.
    phase
        ``"classifier"`` (phase 1) or ``"reconstruction"`` (phase 2).
    weights_kind
        Model kind of its weights file (:func:`~lfmri_core.models.model_kinds`).
    lesion_weight
        Default weight of the lesion-focused loss.
    needs_classifier
        Whether a phase-1 Net_c must be given.
    """

    name: str
    description: str
    phase: Literal["classifier", "reconstruction"]
    weights_kind: str
    lesion_weight: float = 0.0
    needs_classifier: bool = False


TASKS: dict[str, TaskInfo] = {
    "classifier": TaskInfo("classifier", "phase 1: Net_c, the lesion classifier, with image-level labels",
                           "classifier", "classifier"),
    "lfmri": TaskInfo("lfmri", "phase 2: LF-MRI, the unrolled network with lesion focus (needs a phase-1 classifier)",
                      "reconstruction", "lfmri", lesion_weight=1.0, needs_classifier=True),
    "unrolled-no-focus": TaskInfo("unrolled-no-focus", "phase 2: the ablation, unrolled network without lesion focus",
                                  "reconstruction", "lfmri"),
    "unet": TaskInfo("unet", "phase 2: the image-domain U-Net baseline", "reconstruction", "unet"),
}
"""Trainable models by name."""


def task_info(name: str) -> TaskInfo:
    """The :class:`TaskInfo` of ``name`` (one-line :class:`InputError` for an unknown one)."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown training task {name!r}; known: {', '.join(TASKS)}") from None


@dataclass(frozen=True)
class LossWeights:
    """Weights of the reconstruction loss terms (see :mod:`lfmri_core.training.losses`).

    ``lesion`` None takes the task's default (1 for ``lfmri``, 0 otherwise). ``lesion_focus``
    says what weighs the lesion term's pixels: ``"cam"`` (Net_c's CAM on the target, LF-MRI's
    weak supervision), ``"pointer"`` (Net_c's refined pointer on the target, the CAM-gated
    gradient saliency of :func:`lfmri_core.pipeline.classifier.gated_saliency`: still image-level
    labels only, at pixel resolution) or ``"boxes"`` (the smoothed annotated boxes, as the oracle
    focus uses them: an experiment on what the loss can do with a perfect localiser; it needs
    boxes for every training volume and never reaches the model, which sees no boxes).
    """

    l1: float = 1.0
    ssim: float = 1.0
    lesion: float | None = None
    perceptual: float = 0.0
    lesion_focus: str = "cam"


LESION_LOSS_FOCI: tuple[str, ...] = ("cam", "pointer", "boxes")
"""What can weigh the lesion loss (:attr:`LossWeights.lesion_focus`)."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainingConfig:
    """How a model is trained (stored, as JSON, in checkpoints and weights files).

    Attributes
    ----------
    task
        Name in :data:`TASKS`.
    steps
        Optimizer steps in all.
    batch_size
        Slices per step (the global batch: split over the processes of a distributed run).
    lr
        Peak learning rate of Adam.
    warmup_steps
        Linear warm-up from ``lr / warmup_steps`` to ``lr``; then a cosine decay to
        ``lr * min_lr_ratio`` at ``steps``. None: ``min(100, steps // 10)``.
    min_lr_ratio
        Final learning rate over the peak.
    grad_clip
        Maximum global gradient norm (None: no clipping).
    crop_rows
        Readout window of the reconstruction tasks (None: whole images); only used where the
        image size equals the recon size (see :mod:`lfmri_core.training.batch`).
    accelerations
        ``(acceleration, centre fraction)`` choices of the per-batch "random" masks.
    loss
        Reconstruction loss weights (the lesion weight resolved from the task).
    zero_filled_fraction
        Classifier: the fraction of training images replaced by their zero-filled
        ``|A^H y|`` at 4x/8x, since inside LF-MRI Net_c sees intermediate estimates (0: off).
    twin_pairs
        Classifier: train on lesion slices paired with the same slice of their lesion-free twin
        volume (``<stem>_twin``, see ``SyntheticSource.lesion_free_twins``), half a batch each,
        and on nothing else. The two images of a pair differ only by the lesion, so the only
        way to score them apart is to find it: cues that merely go with lesions (which slice,
        which anatomy) carry no signal. Both images of a pair get the same augmentation.
    flip_fraction
        Classifier: the fraction of training images flipped left-right (phase-encode axis).
    recon_fraction
        Classifier: the fraction of training images replaced by a frozen reconstruction
        network's estimate from 4x/8x undersampled k-space (``recon_weights``), after a random
        number of its stages (1 to all): the intermediate, still aliased or blurred estimates
        that LF-MRI's Net_c looks at inside the network. Labels stay image-level (0: off).
    recon_weights
        Classifier: the weights file of that network (an unrolled network or a U-Net).
    lesion_fraction
        The share of training draws taken from the slices with a lesion (image-level labels),
        each stream in its own shuffled passes (:class:`~lfmri_core.training.sampling.LesionMixOrder`);
        None: plain shuffled passes, where lesion slices come as often as they are in the data.
    validate_every, checkpoint_every
        Steps between validation rounds / checkpoints (both also at the end).
    val_slices
        Size of the fixed validation subset (up to half of it slices with lesions).
    num_workers
        DataLoader worker processes (0: read in the training process).
    seed
        Seed of the model's initial weights, the data order, masks and crops.
    """

    task: str
    steps: int = 2000
    batch_size: int = 2
    lr: float = 1e-3
    warmup_steps: int | None = None
    min_lr_ratio: float = 0.01
    grad_clip: float | None = 1.0
    crop_rows: int | None = 160
    accelerations: tuple[AccelerationChoice, ...] = DEFAULT_ACCELERATIONS
    loss: LossWeights = field(default_factory=LossWeights)
    zero_filled_fraction: float = 0.5
    twin_pairs: bool = False
    flip_fraction: float = 0.0
    recon_fraction: float = 0.0
    recon_weights: str | None = None
    lesion_fraction: float | None = None
    validate_every: int = 200
    checkpoint_every: int = 200
    val_slices: int = 32
    num_workers: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        info = task_info(self.task)
        for name, low in (("steps", 1), ("batch_size", 1), ("validate_every", 1), ("checkpoint_every", 1),
                          ("val_slices", 0), ("num_workers", 0), ("seed", 0)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise InputError(f"{name.replace('_', ' ')} must be an integer >= {low}, got {value!r}")
        if self.warmup_steps is None:
            object.__setattr__(self, "warmup_steps", min(100, self.steps // 10))
        elif not _is_int(self.warmup_steps) or self.warmup_steps < 0:
            raise InputError(f"warmup steps must be an integer >= 0, got {self.warmup_steps!r}")
        if not _is_number(self.lr) or not self.lr > 0:
            raise InputError(f"learning rate must be a positive number, got {self.lr!r}")
        if not _is_number(self.min_lr_ratio) or not 0 <= self.min_lr_ratio <= 1:
            raise InputError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if self.grad_clip is not None and (not _is_number(self.grad_clip) or not self.grad_clip > 0):
            raise InputError(f"gradient clip must be a positive number or None, got {self.grad_clip!r}")
        if self.crop_rows is not None and (not _is_int(self.crop_rows) or self.crop_rows < 8):
            raise InputError(f"crop rows must be an integer >= 8 (or None for no crop), got {self.crop_rows!r}")
        if not _is_number(self.zero_filled_fraction) or not 0 <= self.zero_filled_fraction <= 1:
            raise InputError(f"zero-filled fraction must be in [0, 1], got {self.zero_filled_fraction!r}")
        if not _is_number(self.flip_fraction) or not 0 <= self.flip_fraction <= 1:
            raise InputError(f"flip fraction must be in [0, 1], got {self.flip_fraction!r}")
        if not _is_number(self.recon_fraction) or not 0 <= self.recon_fraction <= 1:
            raise InputError(f"reconstruction fraction must be in [0, 1], got {self.recon_fraction!r}")
        if self.recon_weights is not None and not isinstance(self.recon_weights, str):
            raise InputError(f"recon_weights must be a path string or None, got {type(self.recon_weights).__name__}")
        if (self.recon_fraction > 0) != (self.recon_weights is not None):
            raise InputError("a reconstruction fraction above 0 and the reconstruction network's weights go together")
        if self.recon_fraction > 0 and info.phase != "classifier":
            raise InputError("training on reconstructed images applies to the classifier only")
        if self.lesion_fraction is not None and (not _is_number(self.lesion_fraction)
                                                 or not 0 < self.lesion_fraction <= 1):
            raise InputError(f"lesion fraction must be in (0, 1], got {self.lesion_fraction!r}")
        if self.lesion_fraction is not None and self.twin_pairs:
            raise InputError("twin pairs are lesion slices already: a lesion fraction does not apply to them")
        if not isinstance(self.twin_pairs, bool):
            raise InputError(f"twin_pairs must be true or false, got {self.twin_pairs!r}")
        if self.twin_pairs and info.phase != "classifier":
            raise InputError("twin pairs apply to the classifier only")
        if self.twin_pairs and self.batch_size % 2:
            raise InputError(f"twin pairs need an even batch size (a lesion slice and its twin), got {self.batch_size}")
        object.__setattr__(self, "accelerations", check_accelerations(self.accelerations))
        loss = self.loss
        if isinstance(loss, Mapping):
            loss = LossWeights(**loss)
        if not isinstance(loss, LossWeights):
            raise InputError(f"loss must be LossWeights, got {type(loss).__name__}")
        if loss.lesion is None:
            loss = LossWeights(loss.l1, loss.ssim, info.lesion_weight, loss.perceptual, loss.lesion_focus)
        if loss.lesion_focus not in LESION_LOSS_FOCI:
            raise InputError(f"lesion loss focus must be one of {', '.join(LESION_LOSS_FOCI)}, got {loss.lesion_focus!r}")
        if loss.lesion_focus != "cam" and not (info.phase == "reconstruction" and _is_number(loss.lesion)
                                               and loss.lesion > 0):
            what = "the boxes" if loss.lesion_focus == "boxes" else "Net_c's refined pointer"
            raise InputError(f"a lesion loss weighted by {what} needs a reconstruction task and a lesion weight above 0")
        for name in ("l1", "ssim", "lesion", "perceptual"):
            value = getattr(loss, name)
            if not _is_number(value) or not value >= 0:
                raise InputError(f"loss weight {name} must be a number >= 0, got {value!r}")
        if info.phase == "reconstruction" and loss.l1 + loss.ssim + loss.lesion + loss.perceptual <= 0:
            raise InputError("at least one loss weight must be positive")
        object.__setattr__(self, "loss", loss)

    @property
    def info(self) -> TaskInfo:
        return TASKS[self.task]

    @property
    def box_lesion_loss(self) -> bool:
        """Whether the lesion loss is on and weighted by the annotated boxes."""
        return bool(self.loss.lesion) and self.loss.lesion_focus == "boxes"

    @property
    def pointer_lesion_loss(self) -> bool:
        """Whether the lesion loss is on and weighted by Net_c's refined pointer on the target."""
        return bool(self.loss.lesion) and self.loss.lesion_focus == "pointer"

    @property
    def needs_classifier(self) -> bool:
        """Whether the run needs a phase-1 Net_c (the model's, or the loss's)."""
        cam_loss = bool(self.loss.lesion) and not self.box_lesion_loss
        return self.info.needs_classifier or (
            self.info.phase == "reconstruction" and (cam_loss or bool(self.loss.perceptual))
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingConfig:
        """Inverse of :meth:`to_dict`."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"unknown training config fields {', '.join(unknown)}")
        values = dict(data)
        if "loss" in values and isinstance(values["loss"], Mapping):
            values["loss"] = LossWeights(**values["loss"])
        if "accelerations" in values:
            values["accelerations"] = tuple(tuple(pair) for pair in values["accelerations"])
        return cls(**values)

    def learning_rate(self, step: int) -> float:
        """Learning rate of the update that starts at ``step`` (0-based)."""
        import math

        warmup = int(self.warmup_steps or 0)
        if step < warmup:
            return self.lr * (step + 1) / warmup
        span = max(1, self.steps - warmup)
        progress = min(1.0, (step - warmup) / span)
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


RESUMABLE_CHANGES = frozenset({"steps", "warmup_steps", "validate_every", "checkpoint_every", "val_slices", "num_workers"})
"""Fields a resumed run may change; any other difference is refused."""
