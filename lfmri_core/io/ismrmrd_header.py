"""The ISMRMRD XML header of fastMRI files: the parts a reconstruction needs.

fastMRI stores the header of the raw acquisition as the ``ismrmrd_header`` dataset. From it we
need the encoded matrix (k-space grid), the recon matrix (the crop of the final image) and the
phase-encode encoding limits, which say which k-space columns were acquired at all:

``padding_left = encoded_y // 2 - center`` and ``padding_right = padding_left + maximum + 1``
(``encodingLimits/kspace_encoding_step_1``); columns outside ``[padding_left, padding_right)``
carry no data and stay zero whatever the sampling mask says.

Axis naming follows ISMRMRD: ``x`` is the readout (k-space rows, ``H``), ``y`` the phase
encode (k-space columns, ``W``).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from lfmri_core.errors import InputError

ISMRMRD_NAMESPACE = "http://www.ismrm.org/ISMRMRD"
_NS = {"ismrmrd": ISMRMRD_NAMESPACE}


@dataclass(frozen=True)
class EncodingInfo:
    """Encoding geometry of a fastMRI volume.

    Attributes
    ----------
    encoded_shape
        Encoded matrix ``(x, y)`` = k-space ``(H, W)``: readout rows, phase-encode columns.
    recon_shape
        Recon matrix ``(x, y)``: the centre crop of the image that is the final reconstruction.
    encoded_fov_mm
        Encoded field of view ``(x, y, z)`` in mm.
    recon_fov_mm
        Recon field of view ``(x, y, z)`` in mm.
    kspace_center
        ``encodingLimits/kspace_encoding_step_1/center``: index of the k-space centre line
        among the acquired phase-encode lines.
    kspace_maximum
        ``encodingLimits/kspace_encoding_step_1/maximum``: index of the last acquired line.
    """

    encoded_shape: tuple[int, int]
    recon_shape: tuple[int, int]
    encoded_fov_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    recon_fov_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    kspace_center: int | None = None
    kspace_maximum: int | None = None

    @property
    def padding(self) -> tuple[int, int]:
        """Acquired phase-encode columns ``[left, right)``; the whole width if limits are absent."""
        width = self.encoded_shape[1]
        if self.kspace_center is None or self.kspace_maximum is None:
            return (0, width)
        left = width // 2 - self.kspace_center
        right = left + self.kspace_maximum + 1
        return (max(left, 0), min(right, width))

    @classmethod
    def for_shape(
        cls, encoded_shape: tuple[int, int], recon_shape: tuple[int, int] | None = None
    ) -> EncodingInfo:
        """Geometry of k-space with every column acquired (no padding), 0.5 mm pixels."""
        recon_shape = recon_shape or encoded_shape
        h, w = encoded_shape
        return cls(
            encoded_shape=(h, w),
            recon_shape=recon_shape,
            encoded_fov_mm=(0.5 * h, 0.5 * w, 3.0),
            recon_fov_mm=(0.5 * recon_shape[0], 0.5 * recon_shape[1], 3.0),
            kspace_center=w // 2,
            kspace_maximum=w - 1,
        )


def _find(root: ET.Element, path: str) -> ET.Element | None:
    namespaced = "/".join(f"ismrmrd:{p}" for p in path.split("/"))
    node = root.find(namespaced, _NS)
    return node if node is not None else root.find(path)


def _number(root: ET.Element, path: str, kind: type, *, required: bool, source: str):
    node = _find(root, path)
    if node is None or node.text is None or not node.text.strip():
        if required:
            raise InputError(f"{source}: ISMRMRD header lacks {path}")
        return None
    try:
        value = float(node.text)
    except ValueError:
        raise InputError(f"{source}: ISMRMRD header {path} is {node.text.strip()!r}, not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{source}: ISMRMRD header {path} is {node.text.strip()!r}, not a finite number")
    if kind is int:
        if not value.is_integer():
            raise InputError(f"{source}: ISMRMRD header {path} is {node.text.strip()!r}, not an integer")
        return int(value)
    return kind(value)


def parse_header(xml: str | bytes, *, source: str = "ismrmrd_header") -> EncodingInfo:
    """Parse the encoding geometry from an ISMRMRD XML header.

    Parameters
    ----------
    xml
        The header text (the ``ismrmrd_header`` dataset of a fastMRI file).
    source
        Where it came from, for error messages.

    Raises
    ------
    InputError
        Not XML text, a matrix size or encoding limit missing, not an integer or not positive
        (limits: not negative).
    """
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8", errors="replace")
    if not isinstance(xml, str):
        raise InputError(f"{source}: ISMRMRD header is not text but {type(xml).__name__}")
    try:
        root = ET.fromstring(xml)
    except (ET.ParseError, ValueError) as err:  # ValueError: a declared encoding expat cannot read
        raise InputError(f"{source}: ISMRMRD header is not valid XML ({err})") from None

    def size(space: str) -> tuple[int, int]:
        shape = []
        for axis in ("x", "y"):
            path = f"encoding/{space}/matrixSize/{axis}"
            value = _number(root, path, int, required=True, source=source)
            if value < 1:
                raise InputError(f"{source}: ISMRMRD header {path} is {value}; a matrix size must be at least 1")
            shape.append(value)
        return (shape[0], shape[1])

    def limit(name: str) -> int | None:
        path = f"encoding/encodingLimits/kspace_encoding_step_1/{name}"
        value = _number(root, path, int, required=False, source=source)
        if value is not None and value < 0:
            raise InputError(f"{source}: ISMRMRD header {path} is {value}; an encoding limit must be at least 0")
        return value

    def fov(space: str) -> tuple[float, float, float]:
        return tuple(
            _number(root, f"encoding/{space}/fieldOfView_mm/{a}", float, required=False, source=source)
            or 0.0
            for a in ("x", "y", "z")
        )  # type: ignore[return-value]

    return EncodingInfo(
        encoded_shape=size("encodedSpace"),
        recon_shape=size("reconSpace"),
        encoded_fov_mm=fov("encodedSpace"),
        recon_fov_mm=fov("reconSpace"),
        kspace_center=limit("center"),
        kspace_maximum=limit("maximum"),
    )


def build_header(
    info: EncodingInfo,
    *,
    num_coils: int,
    protocol_name: str = "",
    field_strength_t: float = 3.0,
    system_vendor: str = "LF-MRI synthetic",
    tr_ms: float | None = None,
    te_ms: float | None = None,
) -> str:
    """An ISMRMRD XML header that :func:`parse_header` (and fastMRI's own loader) can read."""
    ET.register_namespace("", ISMRMRD_NAMESPACE)
    q = f"{{{ISMRMRD_NAMESPACE}}}"
    root = ET.Element(f"{q}ismrmrdHeader")

    def add(parent: ET.Element, tag: str, text: object | None = None) -> ET.Element:
        node = ET.SubElement(parent, f"{q}{tag}")
        if text is not None:
            node.text = str(text)
        return node

    measurement = add(root, "measurementInformation")
    add(measurement, "protocolName", protocol_name)
    system = add(root, "acquisitionSystemInformation")
    add(system, "systemVendor", system_vendor)
    add(system, "systemFieldStrength_T", field_strength_t)
    add(system, "receiverChannels", num_coils)
    add(add(root, "experimentalConditions"), "H1resonanceFrequency_Hz", round(42.577478e6 * field_strength_t))

    encoding = add(root, "encoding")
    add(encoding, "trajectory", "cartesian")
    for space, shape, fov in (
        ("encodedSpace", info.encoded_shape, info.encoded_fov_mm),
        ("reconSpace", info.recon_shape, info.recon_fov_mm),
    ):
        node = add(encoding, space)
        matrix = add(node, "matrixSize")
        add(matrix, "x", shape[0])
        add(matrix, "y", shape[1])
        add(matrix, "z", 1)
        fov_node = add(node, "fieldOfView_mm")
        for axis, value in zip(("x", "y", "z"), fov, strict=True):
            add(fov_node, axis, f"{value:g}")
    limits = add(encoding, "encodingLimits")
    width = info.encoded_shape[1]
    center = info.kspace_center if info.kspace_center is not None else width // 2
    maximum = info.kspace_maximum if info.kspace_maximum is not None else width - 1
    for name, lo, hi, mid in (
        ("kspace_encoding_step_0", 0, info.encoded_shape[0] - 1, info.encoded_shape[0] // 2),
        ("kspace_encoding_step_1", 0, maximum, center),
        ("kspace_encoding_step_2", 0, 0, 0),
        ("slice", 0, 0, 0),
    ):
        node = add(limits, name)
        add(node, "minimum", lo)
        add(node, "maximum", hi)
        add(node, "center", mid)

    if tr_ms is not None or te_ms is not None:
        sequence = add(root, "sequenceParameters")
        if tr_ms is not None:
            add(sequence, "TR", f"{tr_ms:g}")
        if te_ms is not None:
            add(sequence, "TE", f"{te_ms:g}")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")
