"""``lfmri``: the command line (works without any GUI).

Commands: ``info`` (what a file holds), ``sample`` (make the synthetic sample data), ``recon``
(undersample and reconstruct a volume, scored against its reference), ``list`` (registered
masks and methods) and ``demo`` (the main job on the sample data).

Bad input ends with one line ``lfmri: error: <problem>`` on stderr and exit status 2; no
traceback. Input files are opened read-only; outputs are written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from lfmri_core.errors import InputError

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
        raise InputError(f"--slices {text!r} is not N, START:STOP or N,M,...") from None


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
    return spec


def _load_annotations(volume_path: Path, csv_path: str | None, num_slices: int, image_shape: tuple[int, int]):
    from lfmri_core.io.annotations import discover_annotations, read_annotations

    # Boxes are labelled on the recon-size image, so that is the frame to flip them in.
    if csv_path is not None:
        file_list = Path(csv_path).with_name(Path(csv_path).stem + "_file_list.csv")
        found = read_annotations(csv_path, file_list if file_list.is_file() else None, frame_shape=image_shape)
        ann = found.for_file(volume_path)
    else:
        ann = discover_annotations(volume_path, frame_shape=image_shape)
    if ann is not None:
        ann.validate(num_slices, image_shape)
    return ann


def _cmd_info(args: argparse.Namespace) -> int:
    from lfmri_core.io.volume import open_volume

    with open_volume(args.file) as vol:
        info = vol.info
        enc = info.encoding
        print(f"file            {info.name}")
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
        ann = _load_annotations(Path(args.file), args.annotations, info.num_slices, info.recon_shape)
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
    from lfmri_core.recon import METHOD_REGISTRY

    print("masks:     " + ", ".join(available_masks()))
    print("coil maps: " + ", ".join(available_sensitivity_methods()))
    print("methods:")
    for info in METHOD_REGISTRY.values():
        print(f"  {info.name:<18} {info.description}" + ("  [needs coil maps]" if info.needs_sensitivities else ""))
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from lfmri_sample_data import ensure_sample_data

    paths = ensure_sample_data(args.out, geometry=args.geometry, num_slices=args.slices, seed=args.seed, force=args.force)
    for path in paths:
        print(path)
    return 0


def _cmd_recon(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lfmri_core.evaluation import score_volume
    from lfmri_core.io.fastmri_h5 import write_reconstruction
    from lfmri_core.io.volume import open_volume
    from lfmri_core.masks import MaskSpec
    from lfmri_core.recon.pipeline import reconstruct_volume

    path = Path(args.file)
    if args.out is not None and path.exists() and Path(args.out).resolve() == path.resolve():
        raise InputError(f"--out {args.out} is the input file; input files are never overwritten")
    with open_volume(path) as vol:
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
        ann = _load_annotations(path, args.annotations, info.num_slices, info.recon_shape)
        with tqdm(total=len(slices) if slices else info.num_slices, desc=f"{args.method} {path.name}",
                  unit="slice", disable=args.quiet, file=sys.stderr) as bar:
            result = reconstruct_volume(
                vol, method=args.method, mask_spec=spec, slices=slices, device=args.device,
                sensitivity_method=args.maps, progress=lambda done, total: bar.update(done - bar.n),
            )
        target = vol.target_volume()
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
        "slices": list(result.slices),
        "seconds_per_slice": float(result.seconds.mean()),
    }
    if target is not None:
        boxes = ann.boxes if ann is not None else ()
        scores = score_volume(target[list(result.slices)], result.images, boxes, result.slices, maxval=float(target.max()))
        report["scores"] = scores.as_dict()
    if args.out is not None:
        write_reconstruction(args.out, result.images, mask=mask.pattern, attrs={
            "method": result.method, "source": path.name, "acceleration": mask.achieved_acceleration,
            "mask": mask.name, "slices": list(result.slices)})
        report["out"] = str(args.out)
    _print_report(report)
    if args.report is not None:
        from lfmri_core.io.atomic import atomic_write_text

        atomic_write_text(args.report, json.dumps(report, indent=2) + "\n")
    return 0


def _print_report(report: dict[str, object]) -> None:
    mask = report["mask"]
    assert isinstance(mask, dict)
    print(f"{report['file']}: {report['method']} on {report['device']}, {len(report['slices'])} slices, "  # type: ignore[arg-type]
          f"{report['seconds_per_slice'] * 1e3:.1f} ms/slice")  # type: ignore[operator]
    print(f"mask {mask['name']}: nominal {mask['nominal_acceleration']:g}x, achieved {mask['achieved_acceleration']:.2f}x, "
          f"{mask['num_low_frequencies']} centre lines")
    scores = report.get("scores")
    if isinstance(scores, dict):
        print(f"PSNR {scores['psnr']:.2f} dB  SSIM {scores['ssim']:.4f}  NMSE {scores['nmse']:.4f}  "
              f"LF-PSNR {scores['lf_psnr']:.2f} dB  LF-SSIM {scores['lf_ssim']:.4f}  "
              f"({scores['num_lesion_slices']} of {scores['num_slices']} slices with lesion boxes)")
    else:
        print("no reference image in the file: metrics not computed")
    if "out" in report:
        print(f"wrote {report['out']}")


def _cmd_demo(args: argparse.Namespace) -> int:
    from lfmri_core.demo import run_demo

    run_demo(Path(args.out), quiet=args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from lfmri_core import __version__
    from lfmri_core.device import DEVICE_CHOICES

    parser = _Parser(prog="lfmri", description="Lesion-focused accelerated MRI: data, masks, reconstruction, metrics.")
    parser.add_argument("--version", action="version", version=f"lfmri {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("info", help="show what a fastMRI .h5 (or BART .cfl) file holds: shapes, header, annotations")
    p.add_argument("file")
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
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("recon", help="undersample and reconstruct a volume, scored against its reference")
    p.add_argument("file")
    p.add_argument("--accel", type=float, help="acceleration (default 4)")
    p.add_argument("--mask", help="mask type (default random; see 'lfmri list')")
    p.add_argument("--center-fraction", type=float, help="fully sampled centre fraction (default 0.08)")
    p.add_argument("--seed", type=int, help="mask seed (default: fastMRI's per-file seed from the file name)")
    p.add_argument("--method", default="zero-filled", help="reconstruction method (see 'lfmri list')")
    p.add_argument("--maps", default="espirit", help="coil-map estimation for methods that need maps: espirit (default) or lowres")
    p.add_argument("--slices", type=_slice_range, help="slices to reconstruct: N, START:STOP or N,M,... (default all)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--annotations", help="fastMRI+ CSV (default: look beside the file)")
    p.add_argument("--out", help="write the reconstruction here (fastMRI 'reconstruction' format)")
    p.add_argument("--report", help="write the report as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_recon)

    p = sub.add_parser("demo", help="the main job: sample data, 4x and 8x reconstructions, report and figures")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_demo)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
    print(f"lfmri: warning: {message}", file=sys.stderr)


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
    except KeyboardInterrupt:
        print("lfmri: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
