"""Real ISMRMRD/MRD files for the tests, written with the ``ismrmrd`` package itself.

:func:`mrd_header` builds the XML header from the package's schema bindings,
:func:`write_mrd` writes one acquisition per acquired k-space line through
``ismrmrd.Dataset.append_acquisition``, so the reader is tested against the format's own
library, not against our reading of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import ismrmrd
import ismrmrd.xsd as xsd
import numpy as np
from skimage.data import shepp_logan_phantom
from skimage.transform import resize

from lfmri_core.synthetic.raster import fft2c_numpy


def phantom_kspace(slices: int, coils: int, height: int, width: int) -> np.ndarray:
    """Shepp-Logan k-space ``(slices, coils, height, width)`` complex64: a scaled phantom per
    slice seen by smooth complex coil maps, centred orthonormal FFT (fastMRI's convention)."""
    base = resize(shepp_logan_phantom(), (height, width), anti_aliasing=True)
    rows, cols = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    out = np.empty((slices, coils, height, width), np.complex64)
    for c in range(coils):
        angle = 2 * np.pi * c / coils
        cy, cx = 0.5 + 0.4 * np.sin(angle), 0.5 + 0.4 * np.cos(angle)
        amplitude = np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / 0.3)
        smap = amplitude * np.exp(1j * (angle + 2.0 * rows - 1.5 * cols))
        for s in range(slices):
            out[s, c] = fft2c_numpy(base * (1.0 + 0.2 * s) * smap)
    return out


def mrd_header(
    *,
    encoded: tuple[int, int],
    recon: tuple[int, int],
    encoded_fov: tuple[float, float] = (0.0, 0.0),
    recon_fov: tuple[float, float] = (0.0, 0.0),
    step1: tuple[int, int, int] | None = None,
    slices: int = 1,
    trajectory: str = "cartesian",
    matrix_z: int = 1,
    protocol: str = "AXT2",
    extra_encoding: str | None = None,
) -> str:
    """An ISMRMRD XML header: encoded/recon matrix ``(x, y)`` and fields of view in mm,
    ``step1 = (minimum, maximum, center)`` limits of ``kspace_encoding_step_1`` (default: the
    full width, centre ``y // 2``); ``extra_encoding`` adds a second encoding of that trajectory."""
    ex, ey = encoded
    step1 = step1 or (0, ey - 1, ey // 2)

    def space(matrix: tuple[int, int], fov: tuple[float, float]) -> xsd.encodingSpaceType:
        return xsd.encodingSpaceType(
            matrixSize=xsd.matrixSizeType(x=matrix[0], y=matrix[1], z=matrix_z),
            fieldOfView_mm=xsd.fieldOfViewMm(x=fov[0], y=fov[1], z=3.0))

    def encoding(kind: str) -> xsd.encodingType:
        return xsd.encodingType(
            encodedSpace=space(encoded, encoded_fov),
            reconSpace=space(recon, recon_fov),
            encodingLimits=xsd.encodingLimitsType(
                kspace_encoding_step_0=xsd.limitType(minimum=0, maximum=ex - 1, center=ex // 2),
                kspace_encoding_step_1=xsd.limitType(minimum=step1[0], maximum=step1[1], center=step1[2]),
                kspace_encoding_step_2=xsd.limitType(minimum=0, maximum=max(matrix_z - 1, 0), center=0),
                slice=xsd.limitType(minimum=0, maximum=slices - 1, center=0)),
            trajectory=xsd.trajectoryType(kind))

    header = xsd.ismrmrdHeader(
        experimentalConditions=xsd.experimentalConditionsType(H1resonanceFrequency_Hz=127_740_000),
        measurementInformation=xsd.measurementInformationType(
            patientPosition=xsd.patientPositionType.HFS, protocolName=protocol),
        subjectInformation=xsd.subjectInformationType(patientID="mrd-test"),
        encoding=[encoding(trajectory)] + ([encoding(extra_encoding)] if extra_encoding else []),
    )
    return header.toXML("utf-8")


Line = dict
"""One acquisition: ``data`` ``(coils, samples)`` complex64 plus AcquisitionHeader fields and
``idx`` counters (``kspace_encode_step_1``, ``slice``, ``average``, ``repetition``, ...)."""


def kspace_lines(
    kspace: np.ndarray,
    *,
    center: int | None = None,
    columns: Iterable[int] | None = None,
    rows: tuple[int, int] | None = None,
    averages: int = 1,
    average_offset: Callable[[int], complex] = lambda a: 0.0,
) -> list[Line]:
    """The acquisitions of ``kspace`` ``(slices, coils, X, Y)``: one line per slice, acquired
    column and average. Column ``c`` gets ``kspace_encode_step_1 = c - (Y // 2 - center)``;
    ``rows = (first, stop)`` keeps only those readout samples (an asymmetric echo) with
    ``center_sample = X // 2 - first``; average ``a`` adds ``average_offset(a)``."""
    slices, _, height, width = kspace.shape
    center = width // 2 if center is None else center
    first, stop = rows or (0, height)
    lines = []
    for s in range(slices):
        for c in (range(width) if columns is None else columns):
            for a in range(averages):
                lines.append({
                    "data": (kspace[s, :, first:stop, c] + average_offset(a)).astype(np.complex64),
                    "center_sample": height // 2 - first,
                    "idx": {"kspace_encode_step_1": c - (width // 2 - center), "slice": s, "average": a},
                })
    return lines


def write_mrd(path: Path, header_xml: str | None, lines: Iterable[Line], *, noise_scan: bool = True,
              rng: np.random.Generator | None = None) -> Path:
    """Write an MRD file with ``ismrmrd.Dataset``: the header (unless None), a noise scan of
    other size first (which readers must skip), then ``lines``."""
    lines = list(lines)
    dataset = ismrmrd.Dataset(str(path), "dataset", create_if_needed=True)
    try:
        if header_xml is not None:
            dataset.write_xml_header(header_xml.encode("utf-8"))
        if noise_scan and lines:
            rng = rng or np.random.default_rng(0)
            coils = lines[0]["data"].shape[0]
            noise = (rng.standard_normal((coils, 7)) + 1j * rng.standard_normal((coils, 7))).astype(np.complex64)
            acq = ismrmrd.Acquisition.from_array(noise)
            acq.set_flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
            dataset.append_acquisition(acq)
        for scan, line in enumerate(lines):
            fields = {k: v for k, v in line.items() if k not in ("data", "idx", "flags", "trajectory")}
            acq = ismrmrd.Acquisition.from_array(line["data"], line.get("trajectory"), scan_counter=scan, **fields)
            for name, value in line.get("idx", {}).items():
                setattr(acq.idx, name, value)
            for flag in line.get("flags", ()):
                acq.set_flag(flag)
            dataset.append_acquisition(acq)
    finally:
        dataset.close()
    return path
