"""``lfmri train``: Net_c (phase 1) and the learned reconstruction models (phase 2), on one process
or many (``torchrun``); :mod:`lfmri_core.training` does the work."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from lfmri_core.errors import InputError
from lfmri_core.io.protected import ProtectedInputs, check_output, protect_inputs
from lfmri_core.progress import Progress, progress_bar

_TRAIN_TASKS = ("classifier", "lfmri", "unrolled-no-focus", "unet")
# Architecture options of the unrolled networks (LF-MRI and its no-focus ablation).
_UNROLLED_SHAPE = ("num_stages", "width", "denoiser", "levels")
_FOCUS_SHAPE = ("focus", "relax_denoiser", "lesion_module", "lesion_term", "lesion_width", "cam_once", "mu2_init")  # lfmri only
# Options of `lfmri train` in the order the stored command line lists them.
_TRAIN_OPTIONS = (
    "out", "data", "val_data", "annotations", "file_list", "train_volumes", "val_volumes", "num_slices", "cache", "steps",
    "batch_size", "crop_rows", "lr", "warmup_steps", "min_lr_ratio", "grad_clip", "seed", "device", "classifier",
    "num_stages", "width", "denoiser", "levels", "backbone", "num_classes",
    "pooling", "norm", "output_stride", "l1_weight", "ssim_weight", "lesion_weight", "lesion_loss_focus", "perceptual_weight", "zero_filled_fraction", "twin_pairs",
    "flip_fraction", "validate_every",
    "checkpoint_every", "val_slices", "workers", "focus", "relax_denoiser", "lesion_module", "lesion_term", "lesion_width", "cam_once", "mu2_init",
    "recon_fraction", "recon_weights", "lesion_fraction",
    "init_weights", "time_budget", "preload", "resume", "quiet",
)


def _train_command_line(args: argparse.Namespace) -> str:
    """The command as given (options at their defaults left out), for the weights' metadata."""
    import shlex

    parts = ["lfmri", "train", args.task]
    for dest in _TRAIN_OPTIONS:
        value = getattr(args, dest)
        if value is None or value is False or (dest == "data" and value == "synthetic") or (dest == "device" and value == "auto"):
            continue
        flag = "--" + dest.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    return shlex.join(parts)


def _data_bar(quiet: bool) -> Progress:
    """A progress callback that shows a tqdm bar of generated volumes once something is generated."""
    bars: list[Any] = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(progress_bar(quiet=quiet, total=total, desc="synthetic data", unit="volume"))
        bars[0].update(done - bars[0].n)
        if done >= total:
            bars.pop().close()

    return update


def _cmd_train(args: argparse.Namespace) -> int:
    with protect_inputs() as inputs:
        return _train(args, inputs)


def _train(args: argparse.Namespace, inputs: ProtectedInputs) -> int:
    from lfmri_core.models import ClassifierConfig, LFMRIConfig, UNetConfig
    from lfmri_core.training import (
        FolderSource,
        LossWeights,
        SyntheticSource,
        TrainingConfig,
        TrainingJob,
        train,
    )
    from lfmri_core.training.trainer import (
        CHECKPOINT_NAME,
        LOG_NAME,
        load_phase1_classifier,
    )

    task = args.task
    architecture = {"classifier": ("width", "backbone", "num_classes", "pooling", "norm", "output_stride"),
                    "lfmri": _UNROLLED_SHAPE, "unrolled-no-focus": _UNROLLED_SHAPE, "unet": ("width",)}[task]
    for dest in ("num_stages", "width", "denoiser", "levels", "backbone", "num_classes", "pooling", "norm", "output_stride"):
        if getattr(args, dest) is not None and dest not in architecture:
            raise InputError(f"--{dest.replace('_', '-')} does not apply to {task}")
    reconstruction_only = ("crop_rows", "l1_weight", "ssim_weight", "lesion_weight", "perceptual_weight",
                           "lesion_loss_focus")
    classifier_only = ("zero_filled_fraction", "twin_pairs", "flip_fraction", "recon_fraction", "recon_weights")
    for dest in reconstruction_only if task == "classifier" else classifier_only:
        if getattr(args, dest) not in (None, False):
            raise InputError(f"--{dest.replace('_', '-')} does not apply to {task}")
    for dest in _FOCUS_SHAPE:
        if task != "lfmri" and getattr(args, dest) not in (None, False):
            raise InputError(f"--{dest.replace('_', '-')} applies to lfmri only")
    oracle = task == "lfmri" and args.focus == "oracle"
    if task == "lfmri" and args.classifier is None and not oracle:
        raise InputError("training lfmri needs --classifier PATH: the phase-1 classifier (train it with 'lfmri train classifier')")
    if oracle and args.classifier is not None:
        raise InputError("--focus oracle uses the annotated boxes instead of Net_c: leave --classifier out")
    if oracle and args.data != "synthetic" and args.annotations is None:
        raise InputError("--focus oracle needs the lesion boxes: give --annotations CSV with --data DIR")
    if args.lesion_loss_focus == "boxes" and args.data != "synthetic" and args.annotations is None:
        raise InputError("--lesion-loss-focus boxes needs the lesion boxes: give --annotations CSV with --data DIR")
    if args.pace_group_size is not None and args.pace_group is None:
        raise InputError("--pace-group-size needs --pace-group DIR")
    if args.pace_group is not None and args.time_budget is None:
        raise InputError("--pace-group needs --time-budget SECONDS")
    if args.preload and args.workers:
        raise InputError("--preload reads the data in the training process: leave --workers out")
    if args.data_workers is not None and args.data != "synthetic":
        raise InputError("--data-workers applies to --data synthetic (it generates the subjects)")
    classifier_path = Path(args.classifier) if args.classifier is not None else None

    settings: dict[str, object] = {}
    for dest, key in (("steps", "steps"), ("batch_size", "batch_size"), ("lr", "lr"), ("seed", "seed"),
                      ("warmup_steps", "warmup_steps"), ("min_lr_ratio", "min_lr_ratio"),
                      ("validate_every", "validate_every"), ("checkpoint_every", "checkpoint_every"),
                      ("val_slices", "val_slices"), ("workers", "num_workers"),
                      ("zero_filled_fraction", "zero_filled_fraction"), ("flip_fraction", "flip_fraction"),
                      ("recon_fraction", "recon_fraction"), ("lesion_fraction", "lesion_fraction")):
        if getattr(args, dest) is not None:
            settings[key] = getattr(args, dest)
    if args.crop_rows is not None:
        settings["crop_rows"] = args.crop_rows or None
    if args.grad_clip is not None:
        settings["grad_clip"] = args.grad_clip or None
    defaults = LossWeights()
    settings["loss"] = LossWeights(
        l1=defaults.l1 if args.l1_weight is None else args.l1_weight,
        ssim=defaults.ssim if args.ssim_weight is None else args.ssim_weight,
        lesion=args.lesion_weight,
        perceptual=defaults.perceptual if args.perceptual_weight is None else args.perceptual_weight,
        lesion_focus=args.lesion_loss_focus or defaults.lesion_focus,
    )
    if args.twin_pairs:
        settings["twin_pairs"] = True
    if args.recon_weights is not None:
        if not Path(args.recon_weights).is_file():
            raise InputError(f"--recon-weights {args.recon_weights} is not a file")
        settings["recon_weights"] = args.recon_weights
        settings.setdefault("recon_fraction", 0.5)
    if args.init_weights is not None and not Path(args.init_weights).is_file():
        raise InputError(f"--init-weights {args.init_weights} is not a file")
    # The run's own checkpoint is not an input: --resume reads it and rewrites it.
    inputs.add(args.classifier, args.recon_weights, args.init_weights)
    config = TrainingConfig(task=task, **settings)  # type: ignore[arg-type]

    model_config: ClassifierConfig | LFMRIConfig | UNetConfig
    if task == "classifier":
        model_config = ClassifierConfig(**{k: getattr(args, k) for k in ("backbone", "width", "num_classes", "pooling", "norm",
                                                                         "output_stride")
                                           if getattr(args, k) is not None})
    elif task == "unet":
        model_config = UNetConfig(**({"width": args.width} if args.width is not None else {}))
    else:
        shape = {k: getattr(args, k) for k in _UNROLLED_SHAPE if getattr(args, k) is not None}
        lesion = {k: getattr(args, k) for k in ("lesion_module", "lesion_term", "lesion_width", "cam_once", "mu2_init")
                  if getattr(args, k) is not None}
        if oracle:
            model_config = LFMRIConfig(lesion_focus=True, focus="oracle", relax_denoiser=args.relax_denoiser,
                                       **shape, **lesion)
        elif task == "lfmri":
            assert classifier_path is not None
            net_c = load_phase1_classifier(classifier_path)
            model_config = LFMRIConfig(lesion_focus=True, classifier=net_c.config, relax_denoiser=args.relax_denoiser,
                                       **shape, **lesion)
        else:
            model_config = LFMRIConfig(lesion_focus=False, **shape)

    keeps_architecture = not any(getattr(args, d) is not None for d in architecture)
    if args.init_weights is not None and (keeps_architecture or args.focus is not None):
        from lfmri_core.models import load_weights

        start_config = load_weights(args.init_weights).config  # type: ignore[union-attr]
        if isinstance(start_config, LFMRIConfig) and start_config.lesion_focus and args.focus is not None \
                and args.focus != start_config.focus:
            raise InputError(f"--focus {args.focus} does not match the focus of --init-weights {args.init_weights} "
                             f"({start_config.focus})")
        if isinstance(start_config, LFMRIConfig) and start_config.lesion_focus and args.lesion_module is not None \
                and args.lesion_module != start_config.lesion_module:
            raise InputError(f"--lesion-module {args.lesion_module} does not match the lesion module of --init-weights "
                             f"{args.init_weights} ({start_config.lesion_module})")
        if isinstance(start_config, LFMRIConfig) and not start_config.lesion_focus and task == "lfmri":
            if args.lesion_module != "residual":
                raise InputError(f"--init-weights {args.init_weights} is a network without lesion focus: an lfmri "
                                 f"run can start from it only with --lesion-module residual")
            # the ablation's denoisers with a new residual lesion module (it starts neutral)
            model_config = dataclasses.replace(model_config, **{k: getattr(start_config, k) for k in
                                                                 ("num_stages", "width", "depth", "cg_iterations",
                                                                  "denoiser", "levels")})
        elif keeps_architecture:
            model_config = start_config  # fine-tuning keeps the file's architecture
            if isinstance(model_config, LFMRIConfig) and model_config.lesion_focus and args.relax_denoiser:
                # how the denoiser is weighed changes no parameter: the command line's choice applies
                model_config = dataclasses.replace(model_config, relax_denoiser=True)
    if args.data == "synthetic":
        for dest in ("annotations", "file_list", "val_data"):
            if getattr(args, dest) is not None:
                raise InputError(f"--{dest.replace('_', '-')} needs --data DIR (synthetic data carry their own annotations)")
        if args.num_slices is not None and args.num_slices < 1:
            raise InputError(f"--num-slices must be at least 1, got {args.num_slices}")
        source: SyntheticSource | FolderSource = SyntheticSource(
            cache=Path(args.cache) if args.cache is not None else None,
            lesion_free_twins=args.lesion_free_twins,
            workers=1 if args.data_workers is None else args.data_workers,
            **{k: getattr(args, k) for k in ("train_volumes", "val_volumes", "num_slices") if getattr(args, k) is not None},
        )
        if args.prepare_data:
            source.ensure(progress=_data_bar(args.quiet))
            print(f"synthetic training data ready: {source.folder('train')}, {source.folder('validation')}")
            return 0
    else:
        if args.cache is not None:
            raise InputError("--cache applies to --data synthetic only")
        if args.lesion_free_twins:
            raise InputError("--lesion-free-twins applies to --data synthetic only")
        folder = Path(args.data)
        if not folder.is_dir():
            raise InputError(f"--data {folder} is not a folder" if folder.exists() else f"--data folder {folder} does not exist")
        file_list = args.file_list
        if file_list is None and args.annotations is not None:
            beside = Path(args.annotations).with_name(Path(args.annotations).stem + "_file_list.csv")
            file_list = beside if beside.is_file() else None
        inputs.add(args.annotations, file_list, *sorted(folder.glob("*.h5")),
                   *(sorted(Path(args.val_data).glob("*.h5")) if args.val_data is not None else ()))
        source = FolderSource(
            folder=folder,
            annotations=Path(args.annotations) if args.annotations is not None else None,
            file_list=Path(file_list) if file_list is not None else None,
            train_volumes=args.train_volumes,
            val_volumes=1 if args.val_volumes is None else args.val_volumes,
            val_folder=Path(args.val_data) if args.val_data is not None else None,
        )
    if args.prepare_data:
        raise InputError("--prepare-data applies to --data synthetic (a folder of files needs no preparing)")
    for name in (LOG_NAME, CHECKPOINT_NAME, f"{task}.safetensors"):
        check_output(Path(args.out) / name, option="--out")
    pace_group = None
    if args.pace_group is not None:
        from lfmri_core.training.budget import PaceGroup

        # members start together and calibrate in seconds; a member that died must not hold the others long
        pace_group = PaceGroup(Path(args.pace_group), Path(args.out).name,
                               args.pace_group_size if args.pace_group_size is not None else 1, timeout=90.0)
    job = TrainingJob(config=config, out=Path(args.out), model_config=model_config, classifier=classifier_path,
                      device=args.device, resume=args.resume, quiet=args.quiet, command=_train_command_line(args),
                      preload=args.preload, time_budget=args.time_budget, pace_group=pace_group,
                      init_weights=Path(args.init_weights) if args.init_weights is not None else None)
    result = train(job, source, say=None if args.quiet else (lambda line: print(line, file=sys.stderr)))
    if result.is_main:
        print(result.summary())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` to the ``lfmri`` parser."""
    from lfmri_core.device import DEVICE_CHOICES

    p = sub.add_parser("train", help="train Net_c (phase 1) or a learned reconstruction model (phase 2); "
                                     "multi-GPU/multi-node with torchrun")
    p.add_argument("task", choices=_TRAIN_TASKS, help="classifier (phase 1), lfmri, unrolled-no-focus or unet (phase 2)")
    p.add_argument("--out", required=True, help="run folder: train_log.jsonl, checkpoint.safetensors, <task>.safetensors")
    p.add_argument("--data", default="synthetic", help="'synthetic' (default: generated training subjects) or a folder "
                                                      "of fully sampled fastMRI .h5 files")
    p.add_argument("--val-data", help="folder of validation .h5 files (default: the last --val-volumes files of --data)")
    p.add_argument("--annotations", help="fastMRI+ CSV for --data DIR (image-level labels; validation lesion boxes)")
    p.add_argument("--file-list", help="fastMRI+ file list of reviewed files (default: <csv>_file_list.csv beside it)")
    p.add_argument("--train-volumes", type=int, help="synthetic: training subjects, each PD + PDFS (default 8); "
                                                     "folder: use only the first N files")
    p.add_argument("--val-volumes", type=int, help="synthetic: validation subjects (default 2); folder: validation files (default 1)")
    p.add_argument("--num-slices", type=int, help="synthetic: slices per volume (default 16)")
    p.add_argument("--cache", help="folder of the generated synthetic data (default $LFMRI_CACHE/training or ~/.cache/lfmri/training)")
    p.add_argument("--lesion-free-twins", action="store_true",
                   help="synthetic: add each training volume's lesion-free twin (same knee and noise, no lesion) as "
                        "negatives, so Net_c must find the lesion itself")
    p.add_argument("--steps", type=int, help="optimizer steps (default 2000)")
    p.add_argument("--batch-size", type=int, help="slices per step, over all processes (default 2)")
    p.add_argument("--crop-rows", type=int, help="readout window of reconstruction training, 0 = whole images (default 160)")
    p.add_argument("--lr", type=float, help="peak learning rate of Adam (default 1e-3; warm-up, then cosine decay)")
    p.add_argument("--warmup-steps", type=int, help="linear learning-rate warm-up steps (default min(100, steps / 10))")
    p.add_argument("--min-lr-ratio", type=float, help="final over peak learning rate of the cosine decay (default 0.01; "
                                                      "1 = constant)")
    p.add_argument("--grad-clip", type=float, help="maximum gradient norm (default 1, 0 = no clipping)")
    p.add_argument("--seed", type=int, help="seed of initial weights, data order, masks and crops (default 0)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                   help="where to compute: auto (default; a GPU when torch sees one, else the CPU), cpu or cuda "
                        "(falls back to the CPU with a warning when there is no GPU)")
    p.add_argument("--classifier", help="phase-1 classifier weights (needed by lfmri, and by a lesion or perceptual loss)")
    p.add_argument("--num-stages", type=int, help="unrolled stages (default 5)")
    p.add_argument("--width", type=int, help="channels of the model (defaults: classifier 16, unrolled 16, unet 32)")
    p.add_argument("--denoiser", choices=("cnn", "dilated-cnn", "unet"),
                   help="unrolled: architecture of each stage's D_w and G_u: cnn (default; 5 convolutions that see "
                        "11 pixels), dilated-cnn (the same, dilated, seeing 33 pixels) or unet (a small U-Net)")
    p.add_argument("--levels", type=int, help="unrolled with --denoiser unet: resolution levels of each U-Net (default 3)")
    p.add_argument("--backbone", help="classifier backbone: resnet-small (default) or vgg-small")
    p.add_argument("--num-classes", type=int, help="classifier classes: 1 = any lesion (default), more = lesion types too")
    p.add_argument("--pooling", choices=("average", "top-k"),
                   help="classifier: how position scores become the logit, average (default) or top-k (the CAM's peak)")
    p.add_argument("--norm", choices=("group", "batch"),
                   help="classifier: normalisation layers, group (default) or batch (keeps the CAM local in use)")
    p.add_argument("--output-stride", type=int, choices=(8, 4, 2),
                   help="classifier (resnet-small): pixels between CAM features, 8 (default), 4 or 2 (the last strided "
                        "blocks dilated instead; a stride-8 file can be fine-tuned at 4 or 2 with --init-weights)")
    p.add_argument("--l1-weight", type=float, help="weight of the L1 loss (default 1)")
    p.add_argument("--ssim-weight", type=float, help="weight of the SSIM loss (default 1)")
    p.add_argument("--lesion-weight", type=float, help="weight of the lesion loss, weighted inside the image as "
                                                       "--lesion-loss-focus says (default: lfmri 1, others 0)")
    p.add_argument("--lesion-loss-focus", choices=("cam", "pointer", "boxes"),  # LESION_LOSS_FOCI
                   help="what weighs the lesion loss: cam (default; Net_c's CAM on the target), pointer (Net_c's "
                        "refined pointer on the target, the CAM-gated gradient saliency; image-level labels only) "
                        "or boxes (the smoothed annotated boxes, an experiment on the loss with a perfect localiser; "
                        "the model never sees them); pointer and boxes need --lesion-weight above 0")
    p.add_argument("--perceptual-weight", type=float, help="weight of the Net_c feature loss (default 0)")
    p.add_argument("--zero-filled-fraction", type=float, help="classifier: share of zero-filled 4x/8x training images "
                                                              "(default 0.5, 0 = off)")
    p.add_argument("--twin-pairs", action="store_true",
                   help="classifier: train on lesion slices each paired with the same slice of its lesion-free twin "
                        "(needs --lesion-free-twins)")
    p.add_argument("--flip-fraction", type=float, help="classifier: share of training images flipped left-right (default 0)")
    p.add_argument("--recon-weights", metavar="PATH",
                   help="classifier: a trained reconstruction network whose 4x/8x estimates (after a random number of its "
                        "stages) replace some training images, as Net_c sees them inside LF-MRI")
    p.add_argument("--recon-fraction", type=float,
                   help="classifier: share of training images replaced by those estimates (default 0.5 with --recon-weights)")
    p.add_argument("--lesion-fraction", type=float, metavar="P",
                   help="share of training slices drawn from those with a lesion (image-level labels), e.g. 0.5 to "
                        "oversample them (default: as they come in the data)")
    p.add_argument("--init-weights", metavar="PATH",
                   help="start from this weights file's model (fine-tuning; same architecture) instead of a fresh one")
    p.add_argument("--validate-every", type=int, help="steps between validation rounds (default 200)")
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 200)")
    p.add_argument("--val-slices", type=int, help="size of the fixed validation subset (default 32)")
    p.add_argument("--workers", type=int, help="data-loading worker processes (default 0)")
    p.add_argument("--focus", choices=("cam", "oracle"),
                   help="lfmri: what weighs the lesion module and loss: cam (default; Net_c's CAM) or oracle (the "
                        "smoothed annotated boxes, no Net_c: the ceiling of the lesion mechanism, for annotated data only)")
    p.add_argument("--relax-denoiser", action="store_true",
                   help="lfmri: weigh each stage's denoiser by 1 - c_t, so inside lesions data consistency and the "
                        "lesion module decide")
    p.add_argument("--lesion-module", choices=("separate", "residual"),
                   help="lfmri: how each stage's lesion estimate U_t is made: separate (default; a second network "
                        "G_u(X)) or residual (U_t = Z_t + R_t(X, Z_t, c_t), starting at U_t = Z_t with the focus map "
                        "as an input; may start from a no-focus network's --init-weights)")
    p.add_argument("--lesion-term", choices=("weight", "target"),
                   help="lfmri: how U_t enters data consistency: weight (default; the paper's mu2 ||c_t (X - U_t)||^2, "
                        "which adds prior weight inside the map) or target (residual module only: the denoiser's "
                        "target inside the map moves towards U_t by mu2 c_t, no weight added, so a new module leaves "
                        "the network exactly as the ablation)")
    p.add_argument("--lesion-width", type=int, metavar="N",
                   help="lfmri: hidden channels of the residual lesion module (default: --width); narrower is faster")
    p.add_argument("--cam-once", action="store_true",
                   help="lfmri: run Net_c once, on the first stage's output, and weigh stages 2..T by that map (stage 1 "
                        "has no lesion term); default: Net_c on every stage's input")
    p.add_argument("--mu2-init", type=float, metavar="MU",
                   help="lfmri: initial weight mu2 of every stage's lesion term (default 0.5)")
    p.add_argument("--preload", action="store_true",
                   help="read the training slices onto the device once (keeps a GPU fed; needs the memory)")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="fit the step count (at most --steps) to this many seconds of training, from the pace of "
                        "the first steps (needs --warmup-steps >= 25)")
    p.add_argument("--pace-group", metavar="DIR", help="with --time-budget: runs sharing DIR agree on the smallest "
                                                      "step count any of them fits (equal steps for compared models)")
    p.add_argument("--pace-group-size", type=int, metavar="N", help="members of --pace-group (default 1)")
    p.add_argument("--data-workers", type=int, metavar="N",
                   help="synthetic: processes that generate missing training subjects in parallel (default 1)")
    p.add_argument("--prepare-data", action="store_true",
                   help="synthetic: generate the training and validation subjects, then stop")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)
