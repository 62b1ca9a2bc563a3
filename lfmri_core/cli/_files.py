"""``lfmri info``, ``lfmri list`` and ``lfmri sample``: what a file holds, what is registered, the
sample data."""

from __future__ import annotations

import argparse
from pathlib import Path

from lfmri_core.cli._common import _add_source_options, _check_folder, _load_annotations, _source_selection
from lfmri_core.progress import bar_on_first_step


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


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``info``, ``list`` and ``sample`` to the ``lfmri`` parser."""
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
