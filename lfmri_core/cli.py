"""``lfmri``: the command line (works without any GUI).

Commands: ``info`` (what a file holds), ``sample`` (make the synthetic sample data), ``recon``
(undersample and reconstruct a volume, scored against its reference), ``list`` (registered
masks and methods), ``demo`` (the main job on the sample data), ``train`` (Net_c and the learned
reconstruction models, :mod:`lfmri_core.training`) and ``evaluate`` (the paper's tables on a
held-out test set, :mod:`lfmri_core.study`).

Bad input ends with one line ``lfmri: error: <problem>`` on stderr and exit status 2; no
traceback, and nothing on stdout before it. A part of an input that is skipped (a CSV beside
the volume that is not a fastMRI+ annotation CSV) or dropped (a lesion box entirely outside
the image) is one line ``lfmri: warning: <what>``, and the command goes on. Input files are
opened read-only and protected while a command runs: an output that is one of them (or another
output of the same command) is refused before anything is written
(:mod:`lfmri_core.io.protected`); outputs are written atomically.

Long commands show tqdm progress bars on stderr, one per stage, when stderr is a terminal;
``--quiet`` turns them off and ``LFMRI_PROGRESS=1`` forces them on (:mod:`lfmri_core.progress`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lfmri_core.errors import InputError, InputWarning
from lfmri_core.io.protected import ProtectedInputs, check_distinct_outputs, check_output, protect_inputs
from lfmri_core.progress import Progress, bar_callback, bar_on_first_step, progress_bar

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line too."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"{message} (see '{self.prog} --help')")


def _slice_range(text: str) -> slice | list[int]:
    """``"5"``, ``"2:8"`` or ``"1,4,7"``."""
    try:
        if ":" in text:
            start, _, stop = text.partition(":")
            return slice(int(start) if start else None, int(stop) if stop else None)
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not N, START:STOP or N,M,...") from None


def _method_param(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` of ``--method-param``: VALUE as JSON when it is JSON (``0.01``, ``true``,
    ``[1, 2]``), else the text itself (``-l2 -r 0.05``)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name.strip(), json.loads(value)
    except ValueError:
        return name.strip(), value


def _resolve_slices(spec: slice | list[int] | None, num_slices: int) -> list[int] | None:
    if spec is None:
        return None
    if isinstance(spec, slice):
        chosen = list(range(num_slices))[spec]
        if not chosen:
            raise InputError(f"--slices selects no slice of a {num_slices}-slice volume")
        return chosen
    for s in spec:
        if not 0 <= s < num_slices:
            raise InputError(f"--slices names slice {s}, but the volume has {num_slices} slices (0..{num_slices - 1})")
    twice = sorted({s for s in spec if spec.count(s) > 1})
    if twice:
        raise InputError(f"--slices names slice {', '.join(map(str, twice))} more than once")
    return spec


def _load_annotations(volume_path: Path, csv_path: str | None, num_slices: int, image_shape: tuple[int, int],
                      inputs: ProtectedInputs | None = None):
    """The volume's annotations (``csv_path``, else CSVs beside it); the files read join ``inputs``."""
    from lfmri_core.io.annotations import find_annotations, read_annotations

    # Boxes are labelled on the recon-size image, so that is the frame to flip them in.
    read: tuple[Path | None, ...] = ()
    if csv_path is not None:
        file_list = Path(csv_path).with_name(Path(csv_path).stem + "_file_list.csv")
        read = (Path(csv_path), file_list if file_list.is_file() else None)
        found = read_annotations(csv_path, read[1], frame_shape=image_shape)
        ann = found.for_file(volume_path)
    else:
        beside = find_annotations(volume_path, frame_shape=image_shape)
        ann = beside.annotations if beside is not None else None
        if beside is not None:
            read = (beside.csv, beside.file_list)
    if inputs is not None:
        inputs.add(*read)
    if ann is not None:
        ann = ann.within(image_shape)
        ann.validate(num_slices, image_shape)
    return ann


def _source_selection(args: argparse.Namespace) -> dict[str, int | None]:
    """The --average/--repetition (MRD) and --echo (SKM-TEA) choices for open_volume."""
    chosen = {"average": args.average, "repetition": args.repetition, "echo": args.echo}
    for name, value in chosen.items():
        if value is not None and value < 0:
            raise InputError(f"--{name} must be >= 0, got {value}")
    return chosen


def _add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--average", type=int, help="ISMRMRD/MRD: keep this average counter (default: average them all)")
    p.add_argument("--repetition", type=int, help="ISMRMRD/MRD: keep this repetition (default: average them all)")
    p.add_argument("--echo", type=int, help="SKM-TEA: which echo to read (default 0)")


def _check_folder(path: str, option: str = "--out") -> None:
    """An output folder must be one, or not exist yet: refused before any work, not after it."""
    if Path(path).exists() and not Path(path).is_dir():
        raise InputError(f"{option} {path} is a file, not a folder")


def _cmd_info(args: argparse.Namespace) -> int:
    from lfmri_core.io.volume import open_volume

    with open_volume(args.file, **_source_selection(args)) as vol:
        info = vol.info
    # Everything is read before anything is printed: bad input prints its error line only.
    ann = _load_annotations(Path(args.file), args.annotations, info.num_slices, info.recon_shape)
    enc = info.encoding
    print(f"file            {info.name}")
    kind = info.attrs.get("format")
    if kind == "ismrmrd":
        counts = [f"{info.attrs[c + 's']} {c}s" + (f", {c} {info.attrs[c]} kept" if c in info.attrs else " averaged")
                  for c in ("average", "repetition") if c + "s" in info.attrs]
        print(f"format          ISMRMRD/MRD raw data ({'; '.join(counts)})")
    elif kind == "skm-tea":
        print(f"format          SKM-TEA hybrid k-space, slices along the readout x (echo {info.attrs.get('echo', 0)})")
    print(f"kspace          {'multicoil' if info.multicoil else 'singlecoil'} "
          f"{info.num_slices} slices x {info.num_coils} coils x {info.image_shape[0]} x {info.image_shape[1]} (H readout x W phase encode)")
    print(f"encoded matrix  {enc.encoded_shape[0]} x {enc.encoded_shape[1]}   FOV {enc.encoded_fov_mm[0]:g} x {enc.encoded_fov_mm[1]:g} mm")
    print(f"recon matrix    {info.recon_shape[0]} x {info.recon_shape[1]}")
    print(f"acquired cols   [{enc.padding[0]}, {enc.padding[1]})" + ("" if info.has_header else "  (no ISMRMRD header)"))
    print(f"targets         {', '.join(info.targets) or 'none'}")
    if info.mask is not None:
        print(f"stored mask     {int(info.mask.sum())}/{info.mask.size} lines "
              f"(acceleration {info.attrs.get('acceleration', '?')}, {info.attrs.get('num_low_frequency', '?')} low-frequency lines)")
    for key in ("acquisition", "patient_id", "max", "norm"):
        if key in info.attrs:
            print(f"{key:<15} {info.attrs[key]}")
    if ann is None:
        print("annotations     none found")
    else:
        positives = sorted({b.slice for b in ann.boxes})
        print(f"annotations     {len(ann.boxes)} boxes on {len(positives)} slices"
              + (f", study-level: {', '.join(ann.study_findings)}" if ann.study_findings else ""))
        for label in ann.labels:
            on = sorted({b.slice for b in ann.boxes if b.label == label})
            print(f"  {label}: slices {', '.join(map(str, on))}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from lfmri_core.coils import available_sensitivity_methods
    from lfmri_core.masks import available_masks
    from lfmri_core.recon import LEARNED_METHODS, METHOD_REGISTRY, weights_installed

    print("masks:     " + ", ".join(available_masks()))
    print("coil maps: " + ", ".join(available_sensitivity_methods()))
    print("methods:")
    for info in METHOD_REGISTRY.values():
        note = "  [needs coil maps]" if info.needs_sensitivities else ""
        if info.name in LEARNED_METHODS:
            note = ("  [learned; weights installed]" if weights_installed(info.name)
                    else "  [learned; no weights installed: train them or pass --weights FILE]")
        elif info.learned:
            note += "  [learned]"
        if info.plugin is not None:
            note += f"  [plugin: {info.plugin}]"
        print(f"  {info.name:<18} {info.description}{note}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from lfmri_sample_data import ensure_sample_data

    if args.out is not None:
        _check_folder(args.out)
    with bar_on_first_step(quiet=args.quiet, desc="sample data", unit="slice", leave=False) as progress:
        paths = ensure_sample_data(args.out, geometry=args.geometry, num_slices=args.slices, seed=args.seed,
                                   force=args.force, progress=progress)
    for path in paths:
        print(path)
    return 0


def _cmd_recon(args: argparse.Namespace) -> int:
    from lfmri_core.io.volume import volume_files

    with protect_inputs(*volume_files(args.file)) as inputs:
        return _recon(args, inputs)


def _recon(args: argparse.Namespace, inputs: ProtectedInputs) -> int:
    import numpy as np

    from lfmri_core.coils import virtual_coil_count
    from lfmri_core.evaluation import score_volume
    from lfmri_core.io.export import ExportVolumes, check_export, export_format, export_targets, export_volumes
    from lfmri_core.io.volume import open_volume
    from lfmri_core.masks import MaskSpec
    from lfmri_core.recon import LEARNED_METHODS, build_method, method_info
    from lfmri_core.recon.learned import resolve_weights
    from lfmri_core.recon.pipeline import reconstruct_volume

    path = Path(args.file)
    check_distinct_outputs({"--out": args.out, "--report": args.report})
    out_format = None
    if args.out is not None:
        out_format = export_format(args.out, args.format)
    elif args.format is not None:
        raise InputError("--format needs --out")
    if args.cam and args.out is None:
        raise InputError("--cam adds Net_c's CAM to --out; give --out too")
    if args.classifier is not None:
        if not args.cam:
            raise InputError("--classifier is the Net_c of --cam; give --cam too")
        if not Path(args.classifier).is_file():
            raise InputError(f"--classifier {args.classifier} is not a file")
        inputs.add(args.classifier)
    method_params: dict[str, object] = {}
    for name, value in args.method_param or ():
        if name in method_params:
            raise InputError(f"--method-param {name} is given twice")
        if name == "weights":
            raise InputError("pass a weights file with --weights, not --method-param weights=...")
        method_params[name] = value
    weights = None
    if method_info(args.method).learned and args.method in LEARNED_METHODS:
        weights = resolve_weights(args.method, args.weights)
        method_params["weights"] = weights
        inputs.add(weights)
    elif args.weights is not None:
        raise InputError(f"--weights is for the learned methods ({', '.join(LEARNED_METHODS)}), not {args.method!r}")
    # Built once here so that a bad weights file fails before any progress bar (models are cached).
    build_method(args.method, **method_params)
    with open_volume(path, **_source_selection(args)) as vol:
        info = vol.info
        mask_requested = any(v is not None for v in (args.accel, args.mask, args.center_fraction, args.seed))
        spec = None
        if info.mask is None:
            spec = MaskSpec(
                name=args.mask or "random",
                acceleration=args.accel if args.accel is not None else 4.0,
                center_fraction=args.center_fraction if args.center_fraction is not None else 0.08,
                seed=args.seed,
            )
        elif mask_requested:
            raise InputError(f"{info.name} is already undersampled (stored mask); drop --accel/--mask/--center-fraction/--seed")
        slices = _resolve_slices(args.slices, info.num_slices)
        ann = _load_annotations(path, args.annotations, info.num_slices, info.recon_shape, inputs)
        # Every input is known now: refuse a bad output before the reconstruction, not after it.
        if args.report is not None:
            check_output(args.report, option="--report")
        if args.out is not None:
            assert out_format is not None
            wanted = {"error": bool(info.targets), "cam": args.cam, "boxes": ann is not None and bool(ann.boxes)}
            planes = len(slices) if slices else info.num_slices
            if out_format == "nifti" and slices:
                from lfmri_core.io.nifti import check_slice_steps

                check_slice_steps(slices)
            check_export(args.out, out_format, num_planes=planes, option="--out", **wanted)
            if args.report is not None:  # the report is none of the export's files (NIfTI siblings, DICOM files)
                targets = export_targets(args.out, out_format, num_planes=planes, **wanted)
                check_distinct_outputs({"--report": args.report, **{f"--out ({t.name})": t for t in targets}})
        with progress_bar(quiet=args.quiet, total=len(slices) if slices else info.num_slices,
                          desc=f"{args.method} {path.name}", unit="slice") as bar:
            result = reconstruct_volume(
                vol, method=args.method, mask_spec=spec, slices=slices, device=args.device,
                sensitivity_method=args.maps, progress=bar_callback(bar),
                method_params=method_params, coil_compression=args.coil_compression,
            )
        target = vol.target_volume()
        header_xml = vol.header_xml if info.has_header else None
    mask = result.mask
    report: dict[str, object] = {
        "file": str(path),
        "method": result.method,
        "device": result.device,
        "mask": {"name": mask.name, "nominal_acceleration": mask.nominal_acceleration,
                 "achieved_acceleration": mask.achieved_acceleration,
                 "num_low_frequencies": mask.num_low_frequencies,
                 "seed": "per-file (fastMRI convention)" if spec is not None and spec.seed is None else (spec.seed if spec else "stored")},
        "coil_maps": result.sensitivity_method,
        "coil_map_warnings": list(result.map_warnings),
        "virtual_coils": virtual_coil_count(args.coil_compression, info.num_coils),
        "slices": list(result.slices),
        "seconds_per_slice": float(result.seconds.mean()),
        **({"method_params": dict(args.method_param)} if args.method_param else {}),
    }
    if weights is not None:
        from lfmri_core.models.inputs import MODEL_MAPS

        report["coil_maps"] = f"{MODEL_MAPS} (the learned model's own maps)"
        report["weights"] = str(weights)
    if target is not None:
        boxes = ann.boxes if ann is not None else ()
        scores = score_volume(target[list(result.slices)], result.images, boxes, result.slices, maxval=float(target.max()))
        report["scores"] = scores.as_dict()
    if args.out is not None:
        requested = spec.acceleration if spec is not None else info.attrs.get("acceleration", mask.nominal_acceleration)
        error = None
        if target is not None:
            error = np.abs(result.images - target[list(result.slices)]).astype(np.float32)
        cam = None
        if args.cam:
            from lfmri_core.inference import SHIPPED, cam_volume

            classifier = args.classifier if args.classifier is not None else SHIPPED
            cam = cam_volume(result.images, classifier, device=args.device)
            if cam is None:
                warnings.warn("no Net_c weights are installed: the export has no CAM", InputWarning, stacklevel=1)
        data = ExportVolumes(
            reconstruction=result.images, slices=tuple(result.slices), num_slices=info.num_slices,
            method=result.method, acceleration=mask.achieved_acceleration, mask_name=mask.name, error=error, cam=cam,
            boxes=tuple(b for b in (ann.boxes if ann is not None else ()) if b.slice in result.slices),
            mask_pattern=mask.pattern, header_xml=header_xml, source_attrs=info.attrs, source=path.name,
            # fastMRI's test files keep the requested acceleration in "acceleration"; the one the
            # mask reached (its sampled fraction) sits beside it.
            extra_attrs={"acceleration": float(requested), "achieved_acceleration": float(mask.achieved_acceleration),
                         **({"weights": str(weights)} if weights is not None else {})})
        files = export_volumes(args.out, data, out_format)
        report["out"] = str(args.out)
        report["out_format"] = out_format
        report["out_files"] = [str(f) for f in files]
    _print_report(report)
    if args.report is not None:
        from lfmri_core.io.atomic import atomic_write_text

        atomic_write_text(args.report, json.dumps(_json_safe(report), indent=2, allow_nan=False) + "\n")
    return 0


def _json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity (LF-PSNR without lesion boxes, say) as None: JSON has
    no NaN, and a bare ``NaN`` makes the file unreadable to strict parsers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _print_report(report: dict[str, object]) -> None:
    mask = report["mask"]
    assert isinstance(mask, dict)
    print(f"{report['file']}: {report['method']} on {report['device']}, {len(report['slices'])} slices, "  # type: ignore[arg-type]
          f"{report['seconds_per_slice'] * 1e3:.1f} ms/slice")  # type: ignore[operator]
    print(f"mask {mask['name']}: nominal {mask['nominal_acceleration']:g}x, achieved {mask['achieved_acceleration']:.2f}x, "
          f"{mask['num_low_frequencies']} centre lines")
    if "weights" in report:
        print(f"weights {report['weights']}")
    if report.get("coil_maps"):
        print(f"coil maps {report['coil_maps']}")
    for line in report.get("coil_map_warnings") or ():  # type: ignore[union-attr]
        print(f"warning: coil maps: {line}")
    scores = report.get("scores")
    if isinstance(scores, dict):
        line = f"PSNR {scores['psnr']:.2f} dB  SSIM {scores['ssim']:.4f}  NMSE {scores['nmse']:.4f}  "
        if scores["num_lesion_slices"]:
            line += (f"LF-PSNR {scores['lf_psnr']:.2f} dB  LF-SSIM {scores['lf_ssim']:.4f}  "
                     f"({scores['num_lesion_slices']} of {scores['num_slices']} slices with lesion boxes)")
        else:
            line += f"no lesion boxes on the {scores['num_slices']} slices: LF-PSNR and LF-SSIM not computed"
        print(line)
    else:
        print("no reference image in the file: metrics not computed")
    if "out" in report:
        files = report.get("out_files") or [report["out"]]
        more = f" ({len(files)} files)" if len(files) > 1 else ""  # type: ignore[arg-type]
        print(f"wrote {report['out']} as {report.get('out_format', 'h5')}{more}")


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
    with protect_inputs() as inputs:
        return _evaluate(args, inputs)


def _evaluate(args: argparse.Namespace, inputs: ProtectedInputs) -> int:
    import math
    import shlex

    from lfmri_core.study import (
        SyntheticRecipe,
        ensure_synthetic_set,
        load_fastmri_set,
        plan_evaluation,
        run_evaluation,
        write_results,
    )
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
        file_list = args.file_list
        if file_list is None:
            beside = Path(args.annotations).with_name(Path(args.annotations).stem + "_file_list.csv")
            file_list = beside if beside.is_file() else None
        inputs.add(args.annotations, file_list, *sorted(Path(args.data).glob("*.h5")))
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
        with bar_on_first_step(quiet=args.quiet, desc="test set", unit="volume", leave=False) as progress:
            evaluation_set = ensure_synthetic_set(recipe, args.cache, progress=progress, workers=args.data_workers or 1)
        if args.prepare_data:
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
    with progress_bar(quiet=args.quiet, total=None, desc="evaluate", unit="slice") as bar:
        def progress(done: int, total: int, what: str) -> None:
            bar_callback(bar, what)(done, total)

        results = run_evaluation(evaluation_set, plan, device=args.device,
                                 pointing_tolerance=args.pointing_tolerance, prior_center=prior_center,
                                 progress=progress)
    written = write_results(out, results, evaluation_set, command=shlex.join(command),
                            tolerance=args.pointing_tolerance, prior_center=prior_center)
    if not args.quiet:
        print(written[0].read_text())
    for path in written:
        print(f"wrote {path}")
    return 0


_TRAIN_TASKS = ("classifier", "lfmri", "unrolled-no-focus", "unet")
# Architecture options of the unrolled networks (LF-MRI and its no-focus ablation).
_UNROLLED_SHAPE = ("num_stages", "width", "denoiser", "levels")
_FOCUS_SHAPE = ("focus", "relax_denoiser")  # lfmri only
# Options of `lfmri train` in the order the stored command line lists them.
_TRAIN_OPTIONS = (
    "out", "data", "val_data", "annotations", "file_list", "train_volumes", "val_volumes", "num_slices", "cache", "steps",
    "batch_size", "crop_rows", "lr", "warmup_steps", "min_lr_ratio", "grad_clip", "seed", "device", "classifier",
    "num_stages", "width", "denoiser", "levels", "backbone", "num_classes",
    "pooling", "norm", "l1_weight", "ssim_weight", "lesion_weight", "perceptual_weight", "zero_filled_fraction", "twin_pairs",
    "flip_fraction", "validate_every",
    "checkpoint_every", "val_slices", "workers", "focus", "relax_denoiser", "recon_fraction", "recon_weights",
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
    from lfmri_core.training import FolderSource, LossWeights, SyntheticSource, TrainingConfig, TrainingJob, train
    from lfmri_core.training.trainer import CHECKPOINT_NAME, LOG_NAME, load_phase1_classifier

    task = args.task
    architecture = {"classifier": ("width", "backbone", "num_classes", "pooling", "norm"),
                    "lfmri": _UNROLLED_SHAPE, "unrolled-no-focus": _UNROLLED_SHAPE, "unet": ("width",)}[task]
    for dest in ("num_stages", "width", "denoiser", "levels", "backbone", "num_classes", "pooling", "norm"):
        if getattr(args, dest) is not None and dest not in architecture:
            raise InputError(f"--{dest.replace('_', '-')} does not apply to {task}")
    reconstruction_only = ("crop_rows", "l1_weight", "ssim_weight", "lesion_weight", "perceptual_weight")
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
                      ("recon_fraction", "recon_fraction")):
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
        model_config = ClassifierConfig(**{k: getattr(args, k) for k in ("backbone", "width", "num_classes", "pooling", "norm")
                                           if getattr(args, k) is not None})
    elif task == "unet":
        model_config = UNetConfig(**({"width": args.width} if args.width is not None else {}))
    else:
        shape = {k: getattr(args, k) for k in _UNROLLED_SHAPE if getattr(args, k) is not None}
        if oracle:
            model_config = LFMRIConfig(lesion_focus=True, focus="oracle", relax_denoiser=args.relax_denoiser, **shape)
        elif task == "lfmri":
            assert classifier_path is not None
            net_c = load_phase1_classifier(classifier_path)
            model_config = LFMRIConfig(lesion_focus=True, classifier=net_c.config, relax_denoiser=args.relax_denoiser,
                                       **shape)
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
        if keeps_architecture:
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


def build_parser() -> argparse.ArgumentParser:
    from lfmri_core import __version__
    from lfmri_core.device import DEVICE_CHOICES

    parser = _Parser(prog="lfmri", description="Lesion-focused accelerated MRI: data, masks, reconstruction, metrics.",
                     epilog="Long commands draw progress bars on stderr when it is a terminal: --quiet turns them "
                            "off, the environment variable LFMRI_PROGRESS=1 draws them into any stream (a log file) "
                            "and LFMRI_PROGRESS=0 never.")
    parser.add_argument("--version", action="version", version=f"lfmri {__version__}", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND",
                                help="what to do (each has its own --help)")

    p = sub.add_parser("info", help="show what a k-space file holds (fastMRI, M4Raw, ISMRMRD/MRD or SKM-TEA .h5, BART "
                                    ".cfl): shapes, header, annotations")
    p.add_argument("file", help="k-space file: fastMRI, M4Raw, ISMRMRD/MRD or SKM-TEA .h5, or a BART .cfl/.hdr pair "
                                "(either name)")
    _add_source_options(p)
    p.add_argument("--annotations", help="fastMRI+ CSV (default: look beside the file)")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("list", help="list the registered masks and reconstruction methods")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("sample", help="make the synthetic knee sample data (fastMRI format + fastMRI+ CSV)")
    p.add_argument("--out", help="output folder (default: the sample cache, $LFMRI_CACHE or ~/.cache/lfmri)")
    p.add_argument("--geometry", help="compact (320 x 320, 8 coils; default) or fastmri-knee (640 x 368, 15 coils)")
    p.add_argument("--slices", type=int, help="slices per volume (default 16)")
    p.add_argument("--seed", type=int, help="subject seed (default: the sample's, see sample_data/manifest.json)")
    p.add_argument("--force", action="store_true", help="regenerate even if the files exist")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("recon", help="undersample and reconstruct a volume, scored against its reference")
    p.add_argument("file", help="k-space file (fully sampled, or a test file with its stored mask): fastMRI, M4Raw, "
                                "ISMRMRD/MRD or SKM-TEA .h5, or a BART .cfl/.hdr pair")
    _add_source_options(p)
    p.add_argument("--accel", type=float, help="acceleration (default 4)")
    p.add_argument("--mask", help="mask type (default random; see 'lfmri list')")
    p.add_argument("--center-fraction", type=float, help="fully sampled centre fraction (default 0.08)")
    p.add_argument("--seed", type=int, help="mask seed (default: fastMRI's per-file seed from the file name)")
    p.add_argument("--method", default="zero-filled",
                   help="reconstruction method (default zero-filled; see 'lfmri list' for all)")
    p.add_argument("--weights", metavar="PATH",
                   help="safetensors weights for a learned method (default: the installed ones; see 'lfmri list')")
    p.add_argument("--method-param", action="append", type=_method_param, metavar="NAME=VALUE",
                   help="a parameter of the method, repeatable (VALUE read as JSON when it is JSON): "
                        "--method-param lam=0.005, --method-param options='-l2 -r 0.05' (see 'lfmri list'; default: the method's defaults)")
    p.add_argument("--maps", default="espirit",
                   help="coil-map estimation for methods that need maps: espirit (default; replaced by nlinv, with a "
                        "warning, when its maps fail their checks), lowres or nlinv")
    p.add_argument("--coil-compression", type=int, metavar="N",
                   help="compress to N virtual coils first (SVD of the calibration data, as bart cc -S): faster for "
                        "many-coil data (default: keep all coils)")
    p.add_argument("--slices", type=_slice_range, help="slices to reconstruct: N, START:STOP or N,M,... (default all)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                   help="where to compute: auto (default; a GPU when torch sees one, else the CPU), cpu or cuda "
                        "(falls back to the CPU with a warning when there is no GPU)")
    p.add_argument("--annotations", help="fastMRI+ CSV (default: look beside the file)")
    p.add_argument("--out", help="write the reconstruction here: HDF5 (fastMRI 'reconstruction' format with the source's "
                   "ismrmrd_header; attribute 'acceleration' the requested one, 'achieved_acceleration' the mask's), NIfTI for .nii/.nii.gz (plus _error and _cam volumes), or a DICOM folder")
    p.add_argument("--format", choices=("h5", "nifti", "dicom"),
                   help="format of --out (default: nifti for .nii/.nii.gz, else h5; dicom writes a folder: an MR series "
                   "per volume and the lesion boxes as an SR)")
    p.add_argument("--cam", action="store_true", help="add Net_c's CAM of the reconstruction to --out")
    p.add_argument("--classifier", metavar="PATH", help="Net_c weights for --cam (default: the shipped net_c)")
    p.add_argument("--report", help="write the report (settings, timings, scores) as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_recon)

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

    p = sub.add_parser("evaluate", help="the paper's tables on a held-out synthetic test set (or fastMRI files)")
    p.add_argument("--out", required=True, help="output folder: results.md, one CSV per table, results.json")
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
                   "of synthetic data")
    p.add_argument("--annotations", help="fastMRI+ CSV of the lesion boxes of --data")
    p.add_argument("--file-list", help="fastMRI+ file list of reviewed files (default: <csv>_file_list.csv beside it)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                   help="where to compute: auto (default; a GPU when torch sees one, else the CPU), cpu or cuda "
                        "(falls back to the CPU with a warning when there is no GPU)")
    p.add_argument("--cache", help="folder of the synthetic test set (default $LFMRI_CACHE/evaluate or "
                                   "~/.cache/lfmri/evaluate)")
    p.add_argument("--quiet", action="store_true", help="no progress bars and no printed report")
    p.set_defaults(func=_cmd_evaluate)
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
    p.add_argument("--l1-weight", type=float, help="weight of the L1 loss (default 1)")
    p.add_argument("--ssim-weight", type=float, help="weight of the SSIM loss (default 1)")
    p.add_argument("--lesion-weight", type=float, help="weight of the CAM-weighted lesion loss (default: lfmri 1, others 0)")
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
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
    print(f"lfmri: warning: {message}", file=sys.stderr)


def _out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says memory ran out: Python's MemoryError, torch's (GPU)
    OutOfMemoryError, or torch's CPU allocator failing."""
    return (isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError"
            or "can't allocate memory" in str(error))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lfmri`` command."""
    try:
        args = build_parser().parse_args(argv)
        with warnings.catch_warnings():
            # Warnings (say, a GPU request falling back to the CPU) are one line each too.
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return int(args.func(args))
    except InputError as err:
        print(f"lfmri: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        print(f"lfmri: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_BAD_INPUT
    except (MemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        reason = " ".join(str(err).split())
        print(f"lfmri: error: out of memory{f' ({reason[:200]})' if reason else ''}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("lfmri: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
