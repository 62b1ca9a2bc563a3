"""What the commands share: one-line usage errors, slice and parameter syntax, the source
options of multi-average and multi-echo files, annotations beside a volume, JSON without NaN.

The names keep the leading underscore they had when the CLI was one module: they are internal
to :mod:`lfmri_core.cli`.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from lfmri_core.errors import InputError
from lfmri_core.io.protected import ProtectedInputs


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
