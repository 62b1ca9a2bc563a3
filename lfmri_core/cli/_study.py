"""``lfmri demo`` and ``lfmri evaluate``: the main job on the sample data, and the paper's tables on a
held-out test set (:mod:`lfmri_core.study`; the CLI is the one part of the core that imports it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from lfmri_core.cli._common import _check_folder, _resolve_slices, _slice_range
from lfmri_core.errors import InputError
from lfmri_core.io.protected import ProtectedInputs, check_output, protect_inputs
from lfmri_core.progress import bar_callback, bar_on_first_step, progress_bar

if TYPE_CHECKING:
    from lfmri_core.sharding import Shard


def _cmd_demo(args: argparse.Namespace) -> int:
    from lfmri_sample_data import ensure_sample_data, manifest

    from lfmri_core.demo import run_demo
    from lfmri_core.io.volume import open_volume
    from lfmri_core.recon import LEARNED_METHODS, method_info, weights_installed

    _check_folder(args.out)
    contrasts = [v["contrast"] for v in manifest()["volumes"]]
    for contrast in args.contrasts or ():
        if contrast not in contrasts:
            raise InputError(f"--contrasts: the sample has no {contrast!r} volume (have: {', '.join(contrasts)})")
    if args.contrasts and len(set(args.contrasts)) < len(args.contrasts):
        raise InputError("--contrasts names a contrast more than once")
    for method in args.methods or ():
        method_info(method)  # an unknown name is an InputError listing the known ones
        if method in LEARNED_METHODS and not weights_installed(method):
            raise InputError(f"--methods {method}: no weights installed for this learned method (see 'lfmri list')")
    if args.methods and len(set(args.methods)) < len(args.methods):
        raise InputError("--methods names a method more than once")
    with bar_on_first_step(quiet=args.quiet, desc="sample data", unit="slice", leave=False) as progress:
        paths = ensure_sample_data(progress=progress)
    with open_volume(next(p for p in paths if p.suffix == ".h5")) as vol:
        slices = _resolve_slices(args.slices, vol.info.num_slices)
    with protect_inputs(*paths):
        run_demo(Path(args.out), quiet=args.quiet, methods=args.methods, slices=slices, contrasts=args.contrasts)
    return 0


def _stage_weight(text: str) -> tuple[int, str]:
    """``"T=PATH"`` of ``--stage-weights``."""
    count, sep, path = text.partition("=")
    if not sep or not path or not count.strip().isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not T=PATH with T a number of stages >= 1")
    return int(count), path


def _variant(text: str) -> tuple[str, str]:
    """``NAME=PATH`` of ``--variant``."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, path


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from lfmri_core.sharding import shard_session

    # Under torchrun the volumes are shared out over the processes (lfmri_core.study.shards).
    with shard_session(args.device) as shard, protect_inputs() as inputs:
        return _evaluate(args, inputs, shard)


def _evaluate(args: argparse.Namespace, inputs: ProtectedInputs, shard: Shard) -> int:
    import math
    import shlex

    from lfmri_core.sharding import main_first
    from lfmri_core.study import (
        SyntheticRecipe,
        ensure_synthetic_set,
        load_fastmri_set,
        plan_evaluation,
        write_results,
    )
    from lfmri_core.study.shards import evaluate_in_parts
    from lfmri_core.study.testset import lesion_slices_only

    real = (args.data, args.annotations, args.file_list)
    if args.data is None and any(v is not None for v in real):
        raise InputError("--annotations and --file-list go with --data (a folder of fastMRI files)")
    if args.data is not None and args.annotations is None:
        raise InputError("--data needs --annotations (the fastMRI+ CSV of its lesion boxes)")
    if args.pointing_tolerance < 0:
        raise InputError(f"--pointing-tolerance must be >= 0, got {args.pointing_tolerance:g}")
    prior_center: tuple[float, float] | None = None
    if args.prior_center is not None:
        row, col = args.prior_center
        if not (0 <= row < math.inf and 0 <= col < math.inf):
            raise InputError(f"--prior-center must be a row and a column >= 0 in the recon frame, got {row:g} {col:g}")
        prior_center = (row, col)
    stage_weights: dict[int, str] = {}
    for count, path in args.stage_weights or ():
        if count in stage_weights:
            raise InputError(f"--stage-weights names T={count} twice")
        stage_weights[count] = path
    if stage_weights and args.no_stage_ablation:
        raise InputError("--stage-weights and --no-stage-ablation contradict each other")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder")
    variants: dict[str, str] = {}
    for name, path in args.variant or ():
        if name in variants:
            raise InputError(f"--variant names {name} twice")
        variants[name] = path
    if args.data_workers is not None and args.data_workers < 1:
        raise InputError(f"--data-workers must be at least 1, got {args.data_workers}")
    if args.prepare_data and args.data is not None:
        raise InputError("--prepare-data makes the synthetic test set; --data names files that exist")
    plan = None
    if not args.prepare_data:
        plan = plan_evaluation(
            args.methods, accelerations=args.accelerations, weights_dir=args.weights_dir, classifier=args.classifier,
            stage_weights=stage_weights, stage_ablation=not args.no_stage_ablation, variants=variants)
    if plan is not None:
        inputs.add(*(f.path for f in plan.weights_files()))
    if args.data is not None:
        from lfmri_core.sharding import is_file_list, read_file_list
        from lfmri_core.study.shards import check_out_apart

        check_out_apart(out, args.data)
        file_list = args.file_list
        if file_list is None:
            beside = Path(args.annotations).with_name(Path(args.annotations).stem + "_file_list.csv")
            file_list = beside if beside.is_file() else None
        data_files = [args.data, *read_file_list(args.data)] if is_file_list(args.data) else sorted(Path(args.data).glob("*.h5"))
        inputs.add(args.annotations, file_list, *data_files)
    for name in ("results.md", "results.json"):
        check_output(out / name, option="--out")
    if args.data is not None:
        evaluation_set = load_fastmri_set(args.data, args.annotations, args.file_list, contrasts=args.contrasts,
                                          num_volumes=args.num_volumes, num_slices=args.num_slices)
    else:
        defaults = SyntheticRecipe()
        recipe = SyntheticRecipe(
            num_volumes=defaults.num_volumes if args.num_volumes is None else args.num_volumes,
            num_slices=defaults.num_slices if args.num_slices is None else args.num_slices,
            contrasts=tuple(args.contrasts or defaults.contrasts))
        with main_first(shard), bar_on_first_step(quiet=args.quiet or not shard.is_main, desc="test set",
                                                  unit="volume", leave=False) as progress:
            evaluation_set = ensure_synthetic_set(recipe, args.cache, progress=progress, workers=args.data_workers or 1)
        if args.prepare_data:
            if not shard.is_main:
                return 0
            print(f"test set ready: {evaluation_set.description.get('folder')} "
                  f"({len(evaluation_set.volumes)} volumes, {evaluation_set.description.get('lesion_slices')} lesion slices)")
            return 0
    assert plan is not None
    if args.lesion_slices_only:
        evaluation_set = lesion_slices_only(evaluation_set)
    command = ["lfmri", "evaluate", "--out", args.out]
    for flag, value in (("--num-volumes", args.num_volumes), ("--num-slices", args.num_slices),
                        ("--weights-dir", args.weights_dir), ("--classifier", args.classifier),
                        ("--data", args.data), ("--annotations", args.annotations), ("--file-list", args.file_list),
                        ("--cache", args.cache)):
        if value is not None:
            command += [flag, str(value)]
    for flag, values in (("--contrasts", args.contrasts), ("--methods", args.methods)):
        if values:
            command += [flag, *values]
    command += ["--accelerations", *(f"{a:g}" for a in args.accelerations)]
    if stage_weights:
        command += ["--stage-weights", *(f"{t}={p}" for t, p in stage_weights.items())]
    if variants:
        command += ["--variant", *(f"{n}={p}" for n, p in variants.items())]
    if args.no_stage_ablation:
        command.append("--no-stage-ablation")
    if args.lesion_slices_only:
        command.append("--lesion-slices-only")
    command += ["--device", args.device, "--pointing-tolerance", f"{args.pointing_tolerance:g}"]
    if prior_center is not None:
        command += ["--prior-center", *(f"{v:g}" for v in prior_center)]
    with progress_bar(quiet=args.quiet or not shard.is_main, total=None, desc="evaluate", unit="slice") as bar:
        def progress(done: int, total: int, what: str) -> None:
            bar_callback(bar, what)(done, total)

        # Volume by volume into --out/parts (resumable); rank 0 merges every process's rows.
        results = evaluate_in_parts(evaluation_set, plan, out, shard, device=args.device,
                                    pointing_tolerance=args.pointing_tolerance, prior_center=prior_center,
                                    progress=progress)
    if results is None:
        return 0
    written = write_results(out, results, evaluation_set, command=shlex.join(command),
                            tolerance=args.pointing_tolerance, prior_center=prior_center)
    if not args.quiet:
        print(written[0].read_text())
    for path in written:
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``demo`` and ``evaluate`` to the ``lfmri`` parser."""
    from lfmri_core.device import DEVICE_CHOICES

    p = sub.add_parser("demo", help="the main job: sample data, 4x and 8x reconstructions, report and figures")
    p.add_argument("--out", default="out/demo", help="output folder: report.md, report.json, figures (default out/demo)")
    p.add_argument("--methods", nargs="+", metavar="METHOD",
                   help="methods to run (default: every classical method and every learned one whose weights are "
                        "installed; see 'lfmri list')")
    p.add_argument("--slices", type=_slice_range,
                   help="slices of each sample volume to reconstruct and score: N, START:STOP or N,M,... (default all)")
    p.add_argument("--contrasts", nargs="+", metavar="CONTRAST",
                   help="sample volumes by contrast (default all: PD PDFS)")
    p.add_argument("--quiet", action="store_true", help="no progress bars and no printed report")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("evaluate", help="the paper's tables on a held-out synthetic test set (or fastMRI files); "
                                        "resumable, the volumes shared over the processes of torchrun")
    p.add_argument("--out", required=True, help="output folder: results.md, one CSV per table, results.json, and "
                                                "parts/ (each volume's rows: a rerun skips the volumes done)")
    p.add_argument("--num-volumes", type=int, help="volumes per contrast (default 8: test seeds 0-7, 60 lesion "
                                                   "slices; with --data: all)")
    p.add_argument("--num-slices", type=int, help="slices per volume (default 16; with --data: all, else the central N)")
    p.add_argument("--contrasts", nargs="+", help="contrasts (default PD PDFS)")
    p.add_argument("--accelerations", nargs="+", type=float, default=[4.0, 8.0],
                   help="random-mask accelerations (default 4 8; centre fraction 0.08 at 4x, 0.04 at 8x)")
    p.add_argument("--methods", nargs="+",
                   help="methods (default zero-filled cs-wavelet unet unrolled-no-focus lfmri; see 'lfmri list')")
    p.add_argument("--weights-dir", help="folder of <method>.safetensors, net_c.safetensors, lfmri-t<T>.safetensors "
                                         "(default: the shipped weights)")
    p.add_argument("--classifier", help="Net_c weights for the classifier and CAM tables (default: net_c from "
                                        "--weights-dir or the shipped one)")
    p.add_argument("--stage-weights", nargs="+", type=_stage_weight, metavar="T=PATH",
                   help="LF-MRI weights with T stages for the stage ablation (default: the shipped lfmri-t<T> files)")
    p.add_argument("--no-stage-ablation", action="store_true", help="leave the stage ablation (Table 3) out")
    p.add_argument("--variant", nargs="+", type=_variant, metavar="NAME=PATH",
                   help="extra rows: a weights file under a name of its own (an LF-MRI variant, say), run by the method "
                        "its model needs (lfmri, lfmri-oracle, unrolled-no-focus or unet)")
    p.add_argument("--data-workers", type=int, metavar="N",
                   help="processes that generate the synthetic test set in parallel (default 1)")
    p.add_argument("--prepare-data", action="store_true", help="generate the synthetic test set, then stop")
    p.add_argument("--pointing-tolerance", type=float, default=0.0,
                   help="pixels of slack for the CAM pointing game (default 0: the maximum must lie in a box)")
    p.add_argument("--prior-center", nargs=2, type=float, metavar=("ROW", "COL"),
                   help="pixel of the centre-prior baseline of the CAM table, in the recon frame (default: the "
                        "centre (rh // 2, rw // 2) of each volume's frame)")
    p.add_argument("--lesion-slices-only", action="store_true",
                   help="evaluate only the slices with lesion boxes (LF metrics and CAM unchanged; PSNR/SSIM over "
                        "those slices; no AUC)")
    p.add_argument("--data", help="folder of fully sampled fastMRI (or ISMRMRD/MRD) .h5 files to evaluate instead "
                   "of synthetic data, or a .txt list of them (one a line)")
    p.add_argument("--annotations", help="fastMRI+ CSV of the lesion boxes of --data")
    p.add_argument("--file-list", help="fastMRI+ file list of reviewed files (default: <csv>_file_list.csv beside it)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                   help="where to compute: auto (default; a GPU when torch sees one, else the CPU), cpu or cuda "
                        "(falls back to the CPU with a warning when there is no GPU)")
    p.add_argument("--cache", help="folder of the synthetic test set (default $LFMRI_CACHE/evaluate or "
                                   "~/.cache/lfmri/evaluate)")
    p.add_argument("--quiet", action="store_true", help="no progress bars and no printed report")
    p.set_defaults(func=_cmd_evaluate)
