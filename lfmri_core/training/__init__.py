"""Training the learned models: Net_c (phase 1) and the reconstruction networks (phase 2).

:mod:`.config`: the tasks (``classifier``, ``lfmri``, ``unrolled-no-focus``, ``unet``) and
:class:`TrainingConfig`; :mod:`.data`: synthetic or fastMRI volumes read per slice;
:mod:`.labels`: image-level labels from fastMRI+ annotations; :mod:`.masks`: the per-batch 4x/8x
masks; :mod:`.batch`: readout crop, mask, coil maps and target of a batch; :mod:`.losses`: L1,
SSIM, the CAM-weighted lesion loss and a perceptual loss; :mod:`.checkpoint`: exact-resume
checkpoints; :mod:`.distributed`: ``torchrun`` / DDP; the run itself: :mod:`.factory` (the model a
task trains), :mod:`.sampling` (which slices, in which seeded order, in which shard),
:mod:`.steps` (the loss of one batch), :mod:`.validation` (the validation rounds),
:mod:`.report` (log lines and the run's result), :mod:`.trainer` (the loop) and :mod:`.job` (a
whole run as the command line starts it).

The models themselves (:mod:`lfmri_core.models`) never import this package.
"""

from lfmri_core.training.batch import ReconBatch, coil_images, crops_readout, recon_batch, rss_target, zero_filled
from lfmri_core.training.checkpoint import Checkpoint, read_checkpoint, save_checkpoint
from lfmri_core.training.config import TASKS, LossWeights, TaskInfo, TrainingConfig, task_info
from lfmri_core.training.data import (
    FolderSource,
    SliceDataset,
    SliceSample,
    SyntheticSource,
    TrainingData,
    VolumeEntry,
    ensure_synthetic_split,
    scan_folder,
)
from lfmri_core.training.distributed import DistributedContext, distributed_session, environment_context, wrap_model
from lfmri_core.training.labels import frequent_labels, positive_weights, slice_targets
from lfmri_core.training.losses import (
    LossTerms,
    ReconstructionLoss,
    SSIMLoss,
    lesion_l1,
    lesion_weights,
    pointer_weights,
    ssim_loss,
)
from lfmri_core.training.masks import DEFAULT_ACCELERATIONS, draw_mask_spec
from lfmri_core.training.factory import build_model, default_model_config, load_phase1_classifier
from lfmri_core.training.job import TrainingJob, train
from lfmri_core.training.report import TrainingResult
from lfmri_core.training.sampling import DataOrder, LesionMixOrder
from lfmri_core.training.trainer import Trainer

__all__ = [
    "DEFAULT_ACCELERATIONS",
    "TASKS",
    "Checkpoint",
    "DataOrder",
    "LesionMixOrder",
    "DistributedContext",
    "FolderSource",
    "LossTerms",
    "LossWeights",
    "ReconBatch",
    "ReconstructionLoss",
    "SSIMLoss",
    "SliceDataset",
    "SliceSample",
    "SyntheticSource",
    "TaskInfo",
    "Trainer",
    "TrainingConfig",
    "TrainingData",
    "TrainingJob",
    "TrainingResult",
    "VolumeEntry",
    "build_model",
    "coil_images",
    "crops_readout",
    "default_model_config",
    "distributed_session",
    "draw_mask_spec",
    "ensure_synthetic_split",
    "environment_context",
    "frequent_labels",
    "lesion_l1",
    "lesion_weights",
    "load_phase1_classifier",
    "pointer_weights",
    "positive_weights",
    "read_checkpoint",
    "recon_batch",
    "rss_target",
    "save_checkpoint",
    "scan_folder",
    "slice_targets",
    "ssim_loss",
    "task_info",
    "train",
    "wrap_model",
    "zero_filled",
]
