"""``lfmri recon``: undersample and reconstruct a volume, score it against its reference, export it."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

from lfmri_core.cli._common import (
    _add_source_options,
    _json_safe,
    _load_annotations,
    _method_param,
    _resolve_slices,
    _slice_range,
    _source_selection,
)
from lfmri_core.errors import InputError, InputWarning
from lfmri_core.io.protected import ProtectedInputs, check_distinct_outputs, check_output, protect_inputs
from lfmri_core.progress import bar_callback, progress_bar


def _cmd_recon(args: argparse.Namespace) -> int:
    from lfmri_core.batch import is_batch_input, run_recon_batch
    from lfmri_core.io.volume import volume_files

    if is_batch_input(args.file):  # a folder or a .txt list: every file, sharded over torchrun's processes
        return run_recon_batch(args, _recon)
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
        mask_requested = any(v is not None for v in (args.accel, args.mask, args.center_fraction, args.seed,
                                                      args.mask_file))
        spec = None
        if args.mask_file is not None and info.mask is None:
            spec = _read_mask_file(args.mask_file, args)
            inputs.add(args.mask_file)
        elif info.mask is None:
            spec = MaskSpec(
                name=args.mask or "random",
                acceleration=args.accel if args.accel is not None else 4.0,
                center_fraction=args.center_fraction if args.center_fraction is not None else 0.08,
                seed=args.seed,
            )
        elif mask_requested:
            raise InputError(f"{info.name} is already undersampled (stored mask); drop "
                             "--accel/--mask/--center-fraction/--seed/--mask-file")
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
                 "seed": "per-file (fastMRI convention)" if spec is not None and spec.seed is None else (spec.seed if spec else "stored"),
                 **({"spec": spec.to_dict()} if spec is not None and spec.name == "drawn" else {})},
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
    report.update(getattr(args, "report_extra", None) or {})  # a batch's record of its settings (lfmri_core.batch)
    if args.report is not None:
        from lfmri_core.io.atomic import atomic_write_text

        atomic_write_text(args.report, json.dumps(_json_safe(report), indent=2, allow_nan=False) + "\n")
    return 0


def _read_mask_file(path: str, args: argparse.Namespace) -> Any:
    """The mask of ``--mask-file``: a mask spec as JSON (``MaskSpec.to_dict``, a drawn mask
    included), or a viewer session file (its drawn mask, else its preset)."""
    from lfmri_core.masks import MaskSpec

    if any(v is not None for v in (args.accel, args.mask, args.center_fraction, args.seed)):
        raise InputError("--mask-file gives the whole mask; drop --accel/--mask/--center-fraction/--seed")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--mask-file {path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"--mask-file {path} is not JSON ({type(error).__name__}: {error})") from None
    if isinstance(data, dict) and data.get("format") == "lfmri-viewer-session":
        settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
        data = settings.get("drawn_mask") or {
            "name": settings.get("mask", "random"), "acceleration": settings.get("acceleration", 4.0),
            "center_fraction": settings.get("center_fraction", 0.08), "seed": settings.get("seed")}
    return MaskSpec.from_dict(data)


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


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``recon`` to the ``lfmri`` parser."""
    from lfmri_core.device import DEVICE_CHOICES

    p = sub.add_parser("recon", help="undersample and reconstruct a volume, scored against its reference")
    p.add_argument("file", help="k-space file (fully sampled, or a test file with its stored mask): fastMRI, M4Raw, "
                                "ISMRMRD/MRD or SKM-TEA .h5, or a BART .cfl/.hdr pair; or a folder of them or a .txt "
                                "list of them (one a line), reconstructed into --out FOLDER with a summary table, "
                                "resumable, shared over the processes of torchrun (docs/batch.md)")
    _add_source_options(p)
    p.add_argument("--accel", type=float, help="acceleration (default 4)")
    p.add_argument("--mask", help="mask type (default random; see 'lfmri list')")
    p.add_argument("--center-fraction", type=float, help="fully sampled centre fraction (default 0.08)")
    p.add_argument("--seed", type=int, help="mask seed (default: fastMRI's per-file seed from the file name)")
    p.add_argument("--mask-file", help="the mask as JSON instead of --accel/--mask/...: a mask spec (e.g. a mask drawn "
                   "in the viewer, {\"name\": \"drawn\", ...}) or a viewer session file (its mask)")
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
                   "ismrmrd_header; attribute 'acceleration' the requested one, 'achieved_acceleration' the mask's), NIfTI for .nii/.nii.gz (plus _error and _cam volumes), or a DICOM folder; for a folder or list of "
                   "inputs, the folder of every file's output, report and the summary")
    p.add_argument("--format", choices=("h5", "nifti", "dicom"),
                   help="format of --out (default: nifti for .nii/.nii.gz, else h5; dicom writes a folder: an MR series "
                   "per volume and the lesion boxes as an SR)")
    p.add_argument("--cam", action="store_true", help="add Net_c's CAM of the reconstruction to --out")
    p.add_argument("--classifier", metavar="PATH", help="Net_c weights for --cam (default: the shipped net_c)")
    p.add_argument("--report", help="write the report (settings, timings, scores) as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_recon)
