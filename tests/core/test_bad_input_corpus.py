"""Every bad input is a clean error: a corpus of malformed files, annotation CSVs, weights
files, parameters and output paths, each run through ``lfmri``.

Each case builds its inputs in a folder of its own from a small valid volume (:func:`volume`)
and returns the command line. The command runs in-process and must end with exactly one line
``lfmri: error: ...`` on stderr that names the problem, nothing on stdout, exit status 2, and
every file of the folder as it was (sha256; no file added). A few cases run in a subprocess
too, for the real exit status and the absence of a traceback. The cases marked ``viewer`` are
what a viewing session opens (a volume and its annotations): the lfmri-view and controller
tests (tests/viewer/test_bad_input_view.py) run them as well.

Skipped and dropped parts of an input (a CSV beside the volume that is not an annotation CSV,
a lesion box outside the image) are warnings, and the command goes on: tested at the end.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import ismrmrd
import numpy as np
import pytest
from ismrmrd.hdf5 import acquisition_dtype

from lfmri_core.cli import main
from lfmri_core.io.bart_cfl import write_cfl
from lfmri_core.io.budget import BUDGET_ENV
from lfmri_core.io.fastmri_h5 import write_volume
from lfmri_core.io.ismrmrd_header import ISMRMRD_NAMESPACE, EncodingInfo, build_header
from lfmri_core.io.protected import protected_inputs
from tests.core.io.mrd_files import kspace_lines, mrd_header, write_mrd
from tests.core.io.test_protected import digests

SLICES, COILS, SIZE = 2, 2, 16
ENCODING = EncodingInfo.for_shape((SIZE, SIZE))
CSV_HEADER = "file,slice,study_level,x,y,width,height,label\n"
GOOD_ROW = "in,1,No,2,3,4,5,Meniscus Tear\n"
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "lfmri_core" / "weights"


# --- valid inputs, to break ------------------------------------------------------------------
def kspace(slices: int = SLICES, coils: int = COILS) -> np.ndarray:
    rng = np.random.default_rng(7)
    shape = (slices, coils, SIZE, SIZE)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def target(data: np.ndarray) -> np.ndarray:
    return np.sqrt((np.abs(np.fft.ifft2(data)) ** 2).sum(1)).astype(np.float32)


def volume(folder: Path, name: str = "in.h5", **changes: object) -> Path:
    """A valid multicoil volume with a target (``changes`` go to :func:`write_volume`)."""
    data = kspace()
    options: dict[str, object] = {"encoding": ENCODING, "reconstruction_rss": target(data),
                                  "attrs": {"acquisition": "CORPD_FBK"}}
    options.update(changes)
    return write_volume(folder / name, options.pop("kspace", data), **options)  # type: ignore[arg-type]


GROUP = object()
"""A value of :func:`raw_h5`: an HDF5 group instead of a dataset."""


def raw_h5(folder: Path, datasets: dict[str, object], attrs: dict[str, object] | None = None,
           name: str = "in.h5") -> Path:
    """An HDF5 file with exactly these datasets (written by h5py, bypassing our checks)."""
    path = folder / name
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            if value is GROUP:
                f.create_group(key).create_dataset("x", data=np.zeros(2))
            elif isinstance(value, tuple):  # (shape, dtype): declared, never written
                f.create_dataset(key, shape=value[0], dtype=value[1], chunks=(1,) * (len(value[0]) - 2) + (64, 64))
            else:
                f.create_dataset(key, data=value)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
    return path


def header_with(path: str, text: str) -> str:
    """The ISMRMRD header of :data:`ENCODING` with the element at ``path`` set to ``text``."""
    root = ET.fromstring(build_header(ENCODING, num_coils=COILS))
    node = root.find("/".join(f"{{{ISMRMRD_NAMESPACE}}}{p}" for p in path.split("/")))
    assert node is not None, path
    node.text = text
    return ET.tostring(root, encoding="unicode")


def nifti1_header(magic: bytes = b"n+1\0") -> bytes:
    """A 348-byte NIfTI-1 header (``magic`` of four zero bytes: an Analyze 7.5 header)."""
    header = bytearray(348)
    header[0:4] = (348).to_bytes(4, "little")
    header[344:348] = magic
    return bytes(header)


def write_file(folder: Path, content: str | bytes, name: str = "ann.csv") -> Path:
    path = folder / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def bart(folder: Path, hdr: str | bytes | None = "# Dimensions\n16 16 1 2\n", cfl_bytes: int | None = None,
         array: np.ndarray | None = None) -> Path:
    """A BART array ``k.{hdr,cfl}``: a valid one from ``array``, else the header text given and
    a .cfl of ``cfl_bytes`` zero bytes (None: no .cfl; no header when ``hdr`` is None)."""
    base = folder / "k"
    if array is not None:
        write_cfl(base, array)
        return base.with_suffix(".cfl")
    if hdr is not None:
        base.with_suffix(".hdr").write_bytes(hdr.encode() if isinstance(hdr, str) else hdr)
    if cfl_bytes is not None:
        base.with_suffix(".cfl").write_bytes(bytes(cfl_bytes))
    return base.with_suffix(".cfl")


def damaged(folder: Path, fill: bytes = b"\0") -> Path:
    """A valid volume with bytes 512-2047 (HDF5 object headers and heaps) overwritten by ``fill``
    repeated."""
    path = volume(folder)
    data = bytearray(path.read_bytes())
    data[512:2048] = (fill * 1536)[:1536]
    path.write_bytes(bytes(data))
    return path


# --- the corpus --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One bad input: ``make`` builds it in a folder and returns the ``lfmri`` arguments."""

    name: str
    make: Callable[[Path], list[str]]
    expect: str
    """A fragment of the error line (after ``lfmri: error: ``)."""
    viewer: bool = False
    """A volume (and ``--annotations``) that lfmri-view and the session controller refuse too."""
    env: dict[str, str] = field(default_factory=dict)


CASES: list[Case] = []


def case(name: str, expect: str, *, viewer: bool = False, env: dict[str, str] | None = None,
         ) -> Callable[[Callable[[Path], list[str]]], Callable[[Path], list[str]]]:
    def register(make: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
        CASES.append(Case(name, make, expect, viewer, env or {}))
        return make
    return register


def info(path: Path, *extra: str) -> list[str]:
    return ["info", str(path), *extra]


def recon(path: Path, *extra: str) -> list[str]:
    return ["recon", str(path), "--quiet", *extra]


# Files that are no fastMRI volume at all.
NOT_KSPACE = "not raw k-space: k-space cannot be recovered from reconstructed images"
case("dicom-file", f"scan.dcm is a DICOM image, {NOT_KSPACE}", viewer=True)(
    lambda d: info(write_file(d, b"\0" * 128 + b"DICM" + bytes(range(256)), "scan.dcm")))
case("dicom-named-h5", f"in.h5 is a DICOM image, {NOT_KSPACE}", viewer=True)(
    lambda d: recon(write_file(d, b"\0" * 128 + b"DICM" + bytes(range(256)), "in.h5")))
case("nifti-file", f"t1.nii is a NIfTI-1 image, {NOT_KSPACE}", viewer=True)(
    lambda d: info(write_file(d, nifti1_header() + bytes(64), "t1.nii")))
case("nifti-gz-file", f"t1.nii.gz is a NIfTI-1 image (gzip), {NOT_KSPACE}", viewer=True)(
    lambda d: recon(write_file(d, gzip.compress(nifti1_header() + bytes(64)), "t1.nii.gz")))
case("nifti-pair-as-bart", f"k.hdr is an Analyze 7.5 image header, {NOT_KSPACE}", viewer=True)(
    lambda d: info(bart(d, hdr=nifti1_header(magic=b"\0\0\0\0"), cfl_bytes=64)))
case("png-file", f"slice.png is a PNG image, {NOT_KSPACE}", viewer=True)(
    lambda d: info(write_file(d, b"\x89PNG\r\n\x1a\n" + bytes(32), "slice.png")))
case("empty-file", "is not an HDF5 file", viewer=True)(lambda d: info(write_file(d, b"", "in.h5")))
case("text-named-h5", "is not an HDF5 file", viewer=True)(lambda d: recon(write_file(d, "k-space, really\n", "in.h5")))
case("truncated-hdf5", "cannot be read as HDF5", viewer=True)(
    lambda d: info(write_file(d, volume(d, "full.h5").read_bytes()[:3000], "in.h5")))
case("damaged-hdf5-info", "in.h5 is damaged: HDF5 cannot read", viewer=True)(lambda d: info(damaged(d)))
case("damaged-hdf5-recon", "in.h5 is damaged: HDF5 cannot read")(lambda d: recon(damaged(d, bytes(range(256)))))
case("folder-as-volume", "is a folder")(lambda d: info(d))
case("missing-volume", "does not exist")(lambda d: recon(d / "nothing.h5"))


@case("damaged-kspace-chunk", "in.h5 is damaged: HDF5 cannot read the k-space of slice 0", viewer=True)
def _(d: Path) -> list[str]:
    path = d / "in.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace(), chunks=(1, COILS, SIZE, SIZE), compression="gzip")
        offset = f["kspace"].id.get_chunk_info(0).byte_offset
    data = bytearray(path.read_bytes())
    data[offset:offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    return recon(path)


# The kspace dataset.
case("kspace-group", "'kspace' is a group", viewer=True)(lambda d: info(raw_h5(d, {"kspace": GROUP})))
case("kspace-rank-2", "rank 2", viewer=True)(lambda d: info(raw_h5(d, {"kspace": kspace()[0, 0]})))
case("kspace-rank-5", "rank 5", viewer=True)(lambda d: info(raw_h5(d, {"kspace": kspace()[None]})))
case("kspace-real", "dtype float32", viewer=True)(lambda d: info(raw_h5(d, {"kspace": kspace().real})))
case("kspace-integer", "dtype int64", viewer=True)(lambda d: info(raw_h5(d, {"kspace": np.ones((2, 2, 16, 16), np.int64)})))
case("kspace-no-slices", "is empty", viewer=True)(lambda d: info(raw_h5(d, {"kspace": kspace()[:0]})))
case("kspace-nan", "contains NaN or Inf")(
    lambda d: recon(volume(d, kspace=np.where(np.arange(SIZE) == 3, np.nan, 1).astype(np.complex64) * kspace())))
case("kspace-huge-slice", "one k-space slice (1 x 100000 x 100000 complex64) would take 74.5 GiB", viewer=True)(
    lambda d: recon(raw_h5(d, {"kspace": ((1, 1, 100000, 100000), np.complex64)})))
case("kspace-huge-coils", "one k-space slice (100000 x 320 x 320 complex64)", viewer=True)(
    lambda d: info(raw_h5(d, {"kspace": ((1, 100000, 320, 320), np.complex64)})))
case("memory-budget-env", "more than the memory budget of 1.0 KiB", viewer=True, env={BUDGET_ENV: "1K"})(
    lambda d: info(volume(d)))
case("memory-budget-env-bad", f"{BUDGET_ENV}='lots' is not a size", env={BUDGET_ENV: "lots"})(
    lambda d: info(volume(d)))


# The ISMRMRD header.
case("header-not-xml", "ISMRMRD header is not valid XML", viewer=True)(
    lambda d: info(volume(d, header_xml="<ismrmrdHeader><encoding>")))
case("header-integer", "ISMRMRD header is not text but int", viewer=True)(
    lambda d: info(raw_h5(d, {"kspace": kspace(), "ismrmrd_header": 5})))
case("header-group", "'ismrmrd_header' is a group", viewer=True)(
    lambda d: info(raw_h5(d, {"kspace": kspace(), "ismrmrd_header": GROUP})))
case("header-no-recon-matrix", "lacks encoding/reconSpace/matrixSize/x", viewer=True)(
    lambda d: info(volume(d, header_xml=header_with("encoding/reconSpace/matrixSize/x", ""))))
case("header-negative-recon", "reconSpace/matrixSize/x is -320; a matrix size must be at least 1", viewer=True)(
    lambda d: info(volume(d, header_xml=header_with("encoding/reconSpace/matrixSize/x", "-320"))))
case("header-zero-encoded", "encodedSpace/matrixSize/y is 0", viewer=True)(
    lambda d: info(volume(d, header_xml=header_with("encoding/encodedSpace/matrixSize/y", "0"))))
case("header-matrix-text", "is 'big', not a number", viewer=True)(
    lambda d: info(volume(d, header_xml=header_with("encoding/reconSpace/matrixSize/y", "big"))))
case("header-matrix-overflow", "is '1e400', not a finite number", viewer=True)(
    lambda d: info(volume(d, header_xml=header_with("encoding/reconSpace/matrixSize/y", "1e400"))))
case("header-matrix-fraction", "is '12.5', not an integer", viewer=True)(
    lambda d: info(volume(d, header_xml=header_with("encoding/reconSpace/matrixSize/y", "12.5"))))
case("header-negative-limit", "kspace_encoding_step_1/maximum is -5", viewer=True)(
    lambda d: info(volume(d, header_xml=header_with("encoding/encodingLimits/kspace_encoding_step_1/maximum", "-5"))))
case("header-limits-outside", "leave no acquired column", viewer=True)(
    lambda d: info(volume(d, header_xml=header_with("encoding/encodingLimits/kspace_encoding_step_1/center", "500"))))
case("header-huge-recon", "the images at the recon size (2 x 100000 x 100000 float32)", viewer=True)(
    lambda d: recon(volume(d, reconstruction_rss=None, header_xml=build_header(
        EncodingInfo(encoded_shape=(SIZE, SIZE), recon_shape=(100000, 100000)), num_coils=COILS))))



# ISMRMRD/MRD raw data (files written by the ismrmrd package, tests/core/io/mrd_files.py).
def mrd(folder: Path, lines: list[dict] | None = None, *, header: str | None | bool = True,
        **header_options: object) -> Path:
    """An MRD file ``raw.h5`` of the corpus k-space: ``lines`` (default every line of it) and the
    header of ``header_options`` (``header`` None: no header; a string: that header)."""
    if header is True:
        header = mrd_header(encoded=(SIZE, SIZE), recon=(SIZE, SIZE), slices=SLICES, **header_options)
    return write_mrd(folder / "raw.h5", header, kspace_lines(kspace()) if lines is None else lines)


def mrd_lines(change: Callable[[int, dict], None]) -> list[dict]:
    """Every line of the corpus k-space, ``change(number, line)`` applied to each."""
    lines = kspace_lines(kspace())
    for number, line in enumerate(lines):
        change(number, line)
    return lines


case("mrd-no-acquisitions", "raw.h5: MRD file has no acquisitions ('dataset/data' is missing)", viewer=True)(
    lambda d: info(mrd(d, [])))
case("mrd-empty-acquisitions", "MRD file has no acquisitions ('dataset/data' is empty)", viewer=True)(
    lambda d: info(raw_h5(d, {"dataset/xml": np.bytes_(mrd_header(encoded=(SIZE, SIZE), recon=(SIZE, SIZE)).encode()),
                              "dataset/data": np.zeros(0, acquisition_dtype)}, name="raw.h5")))
case("mrd-only-noise", "MRD file has no imaging acquisitions (4 acquisitions, all noise", viewer=True)(
    lambda d: info(mrd(d, mrd_lines(lambda n, line: line.update(flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT]))[:3])))
case("mrd-no-header", "raw.h5: MRD file has no XML header ('dataset/xml' is missing)", viewer=True)(
    lambda d: recon(mrd(d, header=None)))
case("mrd-header-not-xml", "raw.h5: MRD XML header is malformed (", viewer=True)(
    lambda d: info(mrd(d, header="<ismrmrdHeader><encoding>")))
case("mrd-header-not-ismrmrd", "raw.h5: MRD XML header is malformed (", viewer=True)(
    lambda d: info(mrd(d, header="<ismrmrdHeader><scanner>7T</scanner></ismrmrdHeader>")))
case("mrd-header-empty", "raw.h5: MRD XML header is empty or not text", viewer=True)(
    lambda d: info(mrd(d, header="  ")))
case("mrd-radial", "raw.h5: not supported yet: radial trajectory (only Cartesian", viewer=True)(
    lambda d: info(mrd(d, trajectory="radial")))
case("mrd-3d", "raw.h5: not supported yet: 3-D encoding (encoded matrix z = 4)", viewer=True)(
    lambda d: recon(mrd(d, matrix_z=4)))
case("mrd-3d-lines", "not supported yet: 3-D encoding (kspace_encode_step_2 above 0)", viewer=True)(
    lambda d: info(mrd(d, mrd_lines(lambda n, line: line["idx"].update(kspace_encode_step_2=n % 2)))))
case("mrd-mixed-trajectories", "raw.h5: mixed trajectories (cartesian, spiral) in one file", viewer=True)(
    lambda d: info(mrd(d, mrd_lines(lambda n, line: line.update(encoding_space_ref=n % 2)), extra_encoding="spiral")))
case("mrd-trajectory-points", "mixed trajectories: 16 of 32 imaging acquisitions carry k-space trajectory points",
     viewer=True)(
    lambda d: info(mrd(d, mrd_lines(lambda n, line: line.update(
        trajectory=np.zeros((SIZE, 2), np.float32)) if n % 2 else None))))
case("mrd-samples-disagree", "raw.h5: acquisitions disagree in size: number_of_samples (after discards) 12, 16",
     viewer=True)(
    lambda d: info(mrd(d, mrd_lines(lambda n, line: line.update(data=line["data"][:, :12]) if n == 5 else None))))
case("mrd-channels-disagree", "raw.h5: acquisitions disagree in size: active_channels 1, 2", viewer=True)(
    lambda d: recon(mrd(d, mrd_lines(lambda n, line: line.update(data=line["data"][:1]) if n == 9 else None))))
case("mrd-line-outside", "acquisition 4 (kspace_encode_step_1 40) falls outside the encoded matrix y = 16", viewer=True)(
    lambda d: info(mrd(d, mrd_lines(lambda n, line: line["idx"].update(kspace_encode_step_1=40) if n == 3 else None))))
case("mrd-several-contrasts", "not supported yet: several contrasts (contrast counters 0, 1)", viewer=True)(
    lambda d: info(mrd(d, mrd_lines(lambda n, line: line["idx"].update(contrast=n % 2)))))
case("mrd-average-missing", "raw.h5: average 3 does not exist (the file has averages 0)")(
    lambda d: info(mrd(d), "--average", "3"))
case("mrd-echo-option", "raw.h5: --echo selects an echo of an SKM-TEA file; this is a mrd file")(
    lambda d: info(mrd(d), "--echo", "1"))
case("average-option-on-fastmri", "in.h5: --average/--repetition select lines of ISMRMRD/MRD raw data")(
    lambda d: recon(volume(d), "--repetition", "0"))
case("average-option-negative", "--average must be >= 0, got -1")(lambda d: info(mrd(d), "--average", "-1"))


# Targets, the stored mask and its attributes.
case("target-rank-2", "'reconstruction_rss' has shape (16, 16)", viewer=True)(
    lambda d: info(raw_h5(d, {"kspace": kspace(), "reconstruction_rss": np.ones((16, 16), np.float32)})))
case("target-slices", "'reconstruction_rss' has shape (3, 16, 16); expected (2, rh, rw)", viewer=True)(
    lambda d: info(raw_h5(d, {"kspace": kspace(), "reconstruction_rss": np.ones((3, 16, 16), np.float32)})))
case("target-complex", "'reconstruction_rss' has dtype complex64", viewer=True)(
    lambda d: recon(raw_h5(d, {"kspace": kspace(), "reconstruction_rss": kspace()[:, 0]})))
case("target-text", "'reconstruction_esc' has dtype |S3", viewer=True)(
    lambda d: info(raw_h5(d, {"kspace": kspace()[:, 0], "reconstruction_esc": np.full((2, 4, 4), b"abc")})))
case("target-group", "'reconstruction_rss' is a group", viewer=True)(
    lambda d: info(raw_h5(d, {"kspace": kspace(), "reconstruction_rss": GROUP})))

MASK = np.zeros(SIZE, bool)
MASK[6:10] = True
MASK_ATTRS = {"acceleration": 4, "num_low_frequency": 4}
case("mask-length", "'mask' has 15 entries but k-space has 16 columns", viewer=True)(
    lambda d: info(volume(d, mask=MASK[:-1], attrs=MASK_ATTRS)))
case("mask-all-zero", "the stored 'mask' samples no k-space column", viewer=True)(
    lambda d: recon(volume(d, kspace=kspace() * 0, mask=MASK & False, attrs=MASK_ATTRS)))
case("mask-text", "'mask' has dtype |S1", viewer=True)(
    lambda d: info(raw_h5(d, {"kspace": kspace(), "mask": np.full(SIZE, b"y")})))
case("mask-acceleration-text", "attribute 'acceleration' is 'fast'", viewer=True)(
    lambda d: recon(volume(d, mask=MASK, attrs={"acceleration": "fast", "num_low_frequency": 4})))
case("mask-acceleration-zero", "attribute 'acceleration' is 0", viewer=True)(
    lambda d: info(volume(d, mask=MASK, attrs={"acceleration": 0, "num_low_frequency": 4})))
case("mask-acceleration-nan", "attribute 'acceleration' is nan", viewer=True)(
    lambda d: info(volume(d, mask=MASK, attrs={"acceleration": float("nan"), "num_low_frequency": 4})))
case("mask-low-frequency", "attribute 'num_low_frequency' is 'many'", viewer=True)(
    lambda d: info(volume(d, mask=MASK, attrs={"acceleration": 4, "num_low_frequency": "many"})))
case("mask-low-frequency-too-many", "attribute 'num_low_frequency' is 40", viewer=True)(
    lambda d: recon(volume(d, mask=MASK, attrs={"acceleration": 4, "num_low_frequency": 40})))
case("mask-and-accel", "already undersampled")(lambda d: recon(volume(d, mask=MASK, attrs=MASK_ATTRS), "--accel", "8"))


# BART arrays.
case("bart-no-hdr", ".hdr does not exist", viewer=True)(lambda d: info(bart(d, hdr=None, cfl_bytes=8)))
case("bart-no-cfl", ".cfl does not exist", viewer=True)(lambda d: info(bart(d, cfl_bytes=None).with_suffix(".hdr")))
case("bart-cfl-size", "holds 100 bytes but its header (16, 16, 1, 2) needs 4096", viewer=True)(
    lambda d: info(bart(d, cfl_bytes=100)))
case("bart-hdr-text", "is not a list of integers", viewer=True)(lambda d: info(bart(d, hdr="# Dimensions\nsixteen\n", cfl_bytes=8)))
case("bart-hdr-empty", "has no dimension line", viewer=True)(lambda d: info(bart(d, hdr="", cfl_bytes=8)))
case("bart-hdr-negative", "must all be positive", viewer=True)(lambda d: info(bart(d, hdr="# Dimensions\n16 -16\n", cfl_bytes=8)))
case("bart-hdr-latin1", "is not a list of integers", viewer=True)(
    lambda d: info(bart(d, hdr="# Dimensions\n16 16 \xe9\n".encode("latin-1"), cfl_bytes=8)))
case("bart-hdr-huge", "header (100000000000, 100000000000) needs 80000000000000000000000", viewer=True)(
    lambda d: info(bart(d, hdr="# Dimensions\n100000000000 100000000000\n", cfl_bytes=8)))
case("bart-maps", "more than k-space and coil dimensions", viewer=True)(
    lambda d: info(bart(d, array=np.ones((16, 16, 1, 2, 2), np.complex64))))
case("bart-nan", "contains NaN or Inf")(lambda d: recon(bart(d, array=np.full((16, 16, 1, 2), np.nan, np.complex64))))


# Annotation CSVs.
def annotated(d: Path, content: str | bytes, *extra: str, command: Callable[..., list[str]] = info) -> list[str]:
    """The volume with ``content`` as its annotation CSV, given with --annotations."""
    (d / "labels").mkdir()
    return command(volume(d), "--annotations", str(write_file(d / "labels", content)), *extra)


case("csv-missing", "annotation file", viewer=True)(lambda d: info(volume(d), "--annotations", str(d / "none.csv")))
case("csv-folder", "is not a file", viewer=True)(lambda d: info(volume(d), "--annotations", str(d)))
case("csv-latin1", "is not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8", viewer=True)(
    lambda d: annotated(d, (CSV_HEADER + "in,1,No,2,3,4,5,Ménisque\n").encode("latin-1")))
case("csv-binary", "is not UTF-8 text (byte 0x89 on line 1)", viewer=True)(
    lambda d: annotated(d, b"\x89PNG\r\n\x1a\n" + bytes(range(256))))
case("csv-empty", "header is (empty)", viewer=True)(lambda d: annotated(d, ""))
case("csv-other-header", "not a fastMRI+ annotation CSV: header is name,size", viewer=True)(
    lambda d: annotated(d, "name,size\nin,3\n"))
case("csv-nul", "line 2: y is '3\\x00', not an integer", viewer=True)(
    lambda d: annotated(d, CSV_HEADER + "in,1,No,2,3\0,4,5,x\n"))
case("csv-utf16", "is not UTF-8 text (byte 0xff on line 1)", viewer=True)(
    lambda d: annotated(d, (CSV_HEADER + GOOD_ROW).encode("utf-16")))
case("csv-unbalanced-quote", "line 2: a quoted field is never closed", viewer=True)(
    lambda d: annotated(d, CSV_HEADER + 'in,0,No,2,3,4,5,"Meniscus Tear\n' + GOOD_ROW))
case("csv-quote-swallows-row", "line 2: a quoted field runs on to line 3", viewer=True)(
    lambda d: annotated(d, CSV_HEADER + 'in,0,No,2,3,4,5,"Meniscus Tear\nin,1,No,2,3,4,5,x"\n' + GOOD_ROW))
case("csv-slice-text", "line 3: slice is 'one', not an integer", viewer=True)(
    lambda d: annotated(d, CSV_HEADER + GOOD_ROW + "in,one,No,2,3,4,5,x\n"))
case("csv-x-fraction", "line 2: x is '2.5', not an integer", viewer=True)(lambda d: annotated(d, CSV_HEADER + "in,1,No,2.5,3,4,5,x\n"))
case("csv-negative-width", "line 2: lesion box 'x' on slice 1 has negative size (-4 x 5)", viewer=True)(
    lambda d: annotated(d, CSV_HEADER + "in,1,No,2,3,-4,5,x\n"))
case("csv-short-row", "line 2: missing column(s) x, y, width, height, label", viewer=True)(
    lambda d: annotated(d, CSV_HEADER + "in,1,No\n"))
case("csv-slice-outside", "names slice 9, but the volume has 2 slices", viewer=True)(
    lambda d: annotated(d, CSV_HEADER + "in,9,No,2,3,4,5,x\n", command=recon))


@case("csv-file-list-latin1", "file list", viewer=True)
def _(d: Path) -> list[str]:
    (d / "labels").mkdir()
    csv = write_file(d / "labels", CSV_HEADER + GOOD_ROW)
    write_file(d / "labels", "in\nfichier_\xe9\n".encode("latin-1"), "ann_file_list.csv")
    return info(volume(d), "--annotations", str(csv))


@case("csv-beside-bad-row", "ann.csv line 2: height is '', not an integer", viewer=True)
def _(d: Path) -> list[str]:
    write_file(d, CSV_HEADER + "in,1,No,2,3,4,,x\n")  # ours by its header, but broken
    return info(volume(d))


# Parameters.
for flag, value, expect in [
    ("--accel", "0", "acceleration"), ("--accel", "-2", "acceleration"), ("--accel", "nan", "acceleration"),
    ("--accel", "inf", "acceleration"), ("--accel", "four", "invalid float value"),
    ("--center-fraction", "1.5", "center"), ("--center-fraction", "-0.1", "center"),
    ("--mask", "spiral", "spiral"), ("--method", "magic-ai", "magic-ai"), ("--maps", "guess", "guess"),
    ("--coil-compression", "0", "coil"), ("--coil-compression", "-3", "coil"),
    ("--seed", "-1", "seed"), ("--seed", str(2**40), "seed"),
    ("--slices", "abc", "argument --slices: 'abc' is not N, START:STOP or N,M,..."),
    ("--slices", "7", "--slices names slice 7, but the volume has 2 slices"),
    ("--slices", "-1", "--slices names slice -1"),
    ("--slices", "1:1", "--slices selects no slice"),
    ("--slices", "0,0,0", "--slices names slice 0 more than once"),
    ("--device", "tpu", "invalid choice: 'tpu'"),
    ("--bogus", "1", "unrecognized arguments: --bogus 1"),
]:
    case(f"recon{flag}={value}", expect)(lambda d, f=flag, v=value: recon(volume(d), f, v, *(
        ["--method", "cg-sense"] if f == "--maps" else [])))
case("no-command", "the following arguments are required: COMMAND")(lambda d: [])
case("no-file", "the following arguments are required: file")(lambda d: ["recon"])
case("sample-slices", "num_slices must be an integer >= 1, got 0")(lambda d: ["sample", "--out", str(d / "s"), "--slices", "0"])
case("sample-geometry", "geometry 'bogus' is unknown")(lambda d: ["sample", "--out", str(d / "s"), "--geometry", "bogus"])
case("evaluate-tolerance", "--pointing-tolerance must be >= 0")(
    lambda d: ["evaluate", "--out", str(d / "e"), "--pointing-tolerance", "-1"])
case("evaluate-prior", "--prior-center must be a row and a column >= 0")(
    lambda d: ["evaluate", "--out", str(d / "e"), "--prior-center", "-1", "nan"])
case("evaluate-data-without-annotations", "--data needs --annotations")(
    lambda d: ["evaluate", "--out", str(d / "e"), "--data", str(d)])
case("train-without-classifier", "training lfmri needs --classifier")(lambda d: ["train", "lfmri", "--out", str(d / "t")])
case("train-option-of-another-task", "--crop-rows does not apply to classifier")(
    lambda d: ["train", "classifier", "--out", str(d / "t"), "--crop-rows", "5"])


# Weights files.
def weights(d: Path, content: bytes | None = None, *, shipped: str | None = None, method: str = "unet") -> list[str]:
    path = d / "w.safetensors"
    path.write_bytes((SHIPPED_WEIGHTS / f"{shipped}.safetensors").read_bytes() if shipped else content or b"")
    return recon(volume(d), "--method", method, "--weights", str(path))


case("weights-missing", "weights file not found")(lambda d: recon(volume(d), "--method", "unet", "--weights", str(d / "no.safetensors")))
case("weights-folder", "is a folder")(lambda d: recon(volume(d), "--method", "unet", "--weights", str(d)))
case("weights-empty", "not a readable safetensors file")(lambda d: weights(d, b""))
case("weights-garbage", "not a readable safetensors file")(lambda d: weights(d, bytes(range(256)) * 4))
case("weights-pickle", "not a readable safetensors file")(lambda d: weights(d, b"\x80\x04\x95" + b"\0" * 64))
case("weights-truncated", "not a readable safetensors file")(
    lambda d: weights(d, (SHIPPED_WEIGHTS / "unet.safetensors").read_bytes()[:5000]))
case("weights-other-kind", "holds a model of kind 'classifier'")(lambda d: weights(d, shipped="net_c"))
case("weights-for-classical-method", "--weights is for the learned methods")(
    lambda d: recon(volume(d), "--weights", str(SHIPPED_WEIGHTS / "unet.safetensors")))


@case("weights-no-metadata", "has no LF-MRI model config")
def _(d: Path) -> list[str]:
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3, np.float32)}, str(d / "w.safetensors"))
    return recon(volume(d), "--method", "unet", "--weights", str(d / "w.safetensors"))


# Output paths.
def with_annotations(d: Path) -> Path:
    path = volume(d)
    write_file(d, CSV_HEADER + GOOD_ROW)
    return path


case("out-is-input", "--out {d}/in.h5 is an input file")(lambda d: recon(volume(d), "--out", str(d / "in.h5")))
case("report-is-annotations", "is an input file")(lambda d: recon(with_annotations(d), "--report", str(d / "ann.csv")))
case("out-is-folder", "is a folder; an output needs a file name")(lambda d: recon(volume(d), "--out", str(d)))
case("report-below-a-file", "which is not a folder")(lambda d: recon(volume(d), "--report", str(d / "in.h5" / "r.json")))
case("out-equals-report", "are the same file")(lambda d: recon(volume(d), "--out", str(d / "o"), "--report", str(d / "o")))
case("out-name-too-long", "File name too long")(lambda d: recon(volume(d), "--out", str(d / ("x" * 300 + ".h5"))))
case("sample-out-is-a-file", "--out {d}/in.h5 is a file, not a folder")(lambda d: ["sample", "--out", str(volume(d))])
case("evaluate-out-is-a-file", "is a file, not a folder")(lambda d: ["evaluate", "--out", str(volume(d))])


# --- running them ----------------------------------------------------------------------------
def _refused(argv: list[str], folder: Path, capsys: pytest.CaptureFixture[str]) -> str:
    before = digests(folder)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert out == "", out
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lfmri: error: "), err
    assert digests(folder) == before
    assert protected_inputs() == ()
    return lines[0]


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("bad", CASES, ids=lambda c: c.name)
def test_bad_input_is_one_error_line(bad: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    argv = bad.make(folder)
    for key, value in bad.env.items():
        monkeypatch.setenv(key, value)
    line = _refused(argv, folder, capsys)
    assert bad.expect.format(d=folder) in line, line


SUBPROCESS_CASES = ("dicom-file", "damaged-hdf5-recon", "kspace-huge-slice", "csv-latin1", "mask-acceleration-text")


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_in_a_process(name: str, tmp_path: Path) -> None:
    """The real exit status, and no traceback."""
    bad = next(c for c in CASES if c.name == name)
    folder = tmp_path / "in"
    folder.mkdir()
    argv = bad.make(folder)
    before = digests(folder)
    env = {**os.environ, "OMP_NUM_THREADS": "1", **bad.env}
    done = subprocess.run([sys.executable, "-m", "lfmri_core.cli", *argv], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("lfmri: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert bad.expect in done.stderr
    assert digests(folder) == before


# --- skipped and dropped parts: a warning, and the command goes on ------------------------------
def _warned(argv: list[str], folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, list[str]]:
    before = digests(folder)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = err.splitlines()
    assert lines and all(line.startswith("lfmri: warning: ") for line in lines), err
    assert digests(folder) == before
    return out, lines


@pytest.mark.parametrize(("content", "why"), [
    ((CSV_HEADER + "in,1,No,2,3,4,5,Ménisque\n").encode("latin-1"), "not UTF-8 text (byte 0xe9 on line 2)"),
    (b"patient;age\nin;42\n", "not a fastMRI+ annotation CSV"),
    ("\xe9t\xe9,size\n".encode("latin-1"), "not a fastMRI+ annotation CSV"),
])
def test_a_csv_beside_the_volume_that_is_not_ours_is_skipped(content: bytes, why: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = volume(tmp_path)
    write_file(tmp_path, content, "notes.csv")
    out, lines = _warned(info(path), tmp_path, capsys)
    assert lines == [f"lfmri: warning: skipped {tmp_path / 'notes.csv'} beside in.h5: {why}" + (
        "; save it as UTF-8" if "UTF-8" in why else f" (its header is not {CSV_HEADER.strip()})")]
    assert "annotations     none found" in out


def test_a_box_outside_the_image_is_dropped_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data").mkdir()
    path = volume(tmp_path / "data")
    write_file(tmp_path / "data", CSV_HEADER + GOOD_ROW + "in,0,No,100,3,4,5,far away\n")
    report = tmp_path / "out" / "report.json"
    out, lines = _warned(recon(path, "--report", str(report)), tmp_path / "data", capsys)
    assert lines == ["lfmri: warning: annotation box 'far away' on slice 0 of in (x 100, y 3, width 4, height 5) lies "
                     "entirely outside the 16 x 16 image: dropped"]
    assert json.loads(report.read_text())["scores"]["num_lesion_slices"] == 1


def test_the_report_is_strict_json_without_boxes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """LF-PSNR and LF-SSIM of a volume without lesion boxes are undefined: null, not a bare NaN."""
    report = tmp_path / "report.json"
    assert main(recon(volume(tmp_path), "--report", str(report))) == 0
    capsys.readouterr()

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in {report}")

    scores = json.loads(report.read_text(), parse_constant=refuse)["scores"]
    assert scores["lf_psnr"] is None and scores["lf_ssim"] is None and scores["num_lesion_slices"] == 0
    assert np.isfinite(scores["psnr"])
