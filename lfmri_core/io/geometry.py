"""Where the voxels of a reconstruction lie: pixel spacing, slice spacing and orientation.

The image exports (:mod:`lfmri_core.io.nifti`, :mod:`lfmri_core.io.dicom`) place a volume
``(slices, rows, cols)`` in the stored frame of ``reconstruction_rss`` (rows: the readout ``x``,
columns: the phase encode ``y``, as in :mod:`lfmri_core.io.ismrmrd_header`) in millimetres:

- pixel spacing from the ISMRMRD header: ``reconSpace/fieldOfView_mm / reconSpace/matrixSize``
  per axis (the encoded space when the recon field of view is missing): rows are
  ``fov_x / matrix_x`` apart, columns ``fov_y / matrix_y``;
- slice thickness ``reconSpace/fieldOfView_mm/z`` (else the encoded one), and slices that
  thick apart: the XML header of a fastMRI file has no slice gap and no slice positions, so
  slices are taken as contiguous;
- orientation: the XML header holds no patient orientation either (ISMRMRD keeps it in the
  per-acquisition headers, which fastMRI files do not carry). Unless a reader supplies one, the
  rows run along the patient's posterior (DICOM ``+y``), the columns along the patient's left
  (``+x``) and the slices along ``+z``, centred on the isocentre. That is a fixed, documented
  convention, not the scanner's geometry.

A volume without a header (a BART array, a fastMRI file without ``ismrmrd_header``) or with a
zero field of view gets 1 mm everywhere, with an :class:`~lfmri_core.errors.InputWarning` that
says so: never silently.

Coordinates: DICOM patient coordinates (LPS, mm). :meth:`ImageGeometry.nifti_affine` converts
to NIfTI's RAS for data stored ``(rows, cols, slices)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lfmri_core.errors import InputError, InputWarning
from lfmri_core.io.ismrmrd_header import EncodingInfo, parse_header

DEFAULT_SPACING_MM = 1.0
"""Pixel spacing and slice thickness of a volume whose geometry is unknown."""


@dataclass(frozen=True)
class ImageGeometry:
    """Geometry of a reconstructed volume ``(slices, rows, cols)``.

    Attributes
    ----------
    pixel_spacing_mm
        ``(between rows, between columns)`` in mm: DICOM's Pixel Spacing order.
    slice_thickness_mm
        Thickness of one slice, mm.
    slice_spacing_mm
        Distance between the centres of adjacent slices, mm.
    row_direction
        Unit vector (LPS) along a row, i.e. of increasing column index: DICOM's Image
        Orientation (Patient), first triplet.
    column_direction
        Unit vector (LPS) along a column, i.e. of increasing row index: the second triplet.
    center_mm
        LPS position of the volume's centre, mm.
    from_header
        False when defaults stand in for what the header lacks (see the module docstring).
    """

    pixel_spacing_mm: tuple[float, float]
    slice_thickness_mm: float
    slice_spacing_mm: float
    row_direction: tuple[float, float, float] = (1.0, 0.0, 0.0)
    column_direction: tuple[float, float, float] = (0.0, 1.0, 0.0)
    center_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    from_header: bool = True

    def __post_init__(self) -> None:
        values = (*self.pixel_spacing_mm, self.slice_thickness_mm, self.slice_spacing_mm)
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise InputError(f"image geometry needs positive spacings, got pixel spacing {self.pixel_spacing_mm}, "
                             f"slice thickness {self.slice_thickness_mm}, slice spacing {self.slice_spacing_mm}")
        row, col = np.asarray(self.row_direction, float), np.asarray(self.column_direction, float)
        if abs(np.linalg.norm(row) - 1) > 1e-6 or abs(np.linalg.norm(col) - 1) > 1e-6 or abs(row @ col) > 1e-6:
            raise InputError(f"image orientation {self.row_direction}, {self.column_direction} is not two "
                             "orthogonal unit vectors")

    @property
    def slice_direction(self) -> np.ndarray:
        """Unit normal (LPS) of the slices, the direction of increasing slice index."""
        return np.cross(np.asarray(self.row_direction, float), np.asarray(self.column_direction, float))

    def voxel_to_patient(self, shape: tuple[int, int, int]) -> np.ndarray:
        """4 x 4 matrix from ``(slice, row, col, 1)`` indices to LPS millimetres (``(x, y, z, 1)``)
        for a volume of ``shape = (slices, rows, cols)``; index ``(k, r, c)`` is a voxel centre."""
        slices, rows, cols = shape
        d_row, d_col = self.pixel_spacing_mm
        axes = np.stack([
            self.slice_direction * self.slice_spacing_mm,          # slice index
            np.asarray(self.column_direction, float) * d_row,      # row index
            np.asarray(self.row_direction, float) * d_col,         # column index
        ], axis=1)
        middle = np.array([(slices - 1) / 2, (rows - 1) / 2, (cols - 1) / 2])
        matrix = np.eye(4)
        matrix[:3, :3] = axes
        matrix[:3, 3] = np.asarray(self.center_mm, float) - axes @ middle
        return matrix

    def slice_position(self, index: int, shape: tuple[int, int, int]) -> np.ndarray:
        """LPS position (mm) of the centre of the first pixel of slice ``index``: DICOM's
        Image Position (Patient)."""
        return (self.voxel_to_patient(shape) @ np.array([index, 0.0, 0.0, 1.0]))[:3]

    def nifti_affine(self, shape: tuple[int, int, int], slices: Sequence[int] | None = None) -> np.ndarray:
        """NIfTI affine (RAS mm) of a volume stored as ``(rows, cols, slices)``, i.e.
        ``volume.transpose(1, 2, 0)`` for a volume ``(slices, rows, cols)``.

        ``shape`` is the whole volume's; ``slices`` the indices of the planes stored (default
        all), evenly spaced (a NIfTI volume has one slice step): the affine then places them
        where they lie in the whole volume, as the DICOM export does.
        """
        lps = self.voxel_to_patient(shape)
        chosen = list(range(shape[0])) if slices is None else [int(s) for s in slices]
        steps = {b - a for a, b in zip(chosen, chosen[1:])}
        if not chosen or len(steps) > 1 or (steps and steps.pop() <= 0):
            raise InputError(f"a NIfTI volume needs evenly spaced, increasing slices; got {chosen}")
        step = chosen[1] - chosen[0] if len(chosen) > 1 else 1
        # NIfTI voxel (i, j, k) = (row, col, plane) is volume index (first + step * k, row, col).
        reorder = np.zeros((4, 4))
        reorder[0, 2], reorder[0, 3] = step, chosen[0]
        reorder[1, 0] = reorder[2, 1] = reorder[3, 3] = 1.0
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps @ reorder

    @classmethod
    def default(cls, why: str) -> ImageGeometry:
        """1 mm everywhere, with an :class:`InputWarning` naming ``why`` (what the volume lacks)."""
        warnings.warn(f"{why}: exported with the default geometry ({DEFAULT_SPACING_MM:g} mm pixels and slices, "
                      "axial, centred on the isocentre)", InputWarning, stacklevel=2)
        return cls((DEFAULT_SPACING_MM, DEFAULT_SPACING_MM), DEFAULT_SPACING_MM, DEFAULT_SPACING_MM, from_header=False)

    @classmethod
    def from_encoding(cls, encoding: EncodingInfo | None, *, source: str = "the volume") -> ImageGeometry:
        """Geometry from a header's encoding (see the module docstring); ``None`` (no header)
        or a zero field of view falls back to 1 mm with an :class:`InputWarning`."""
        if encoding is None:
            return cls.default(f"{source} has no ISMRMRD header")
        spacing = []
        for axis in (0, 1):
            for fov, matrix in ((encoding.recon_fov_mm, encoding.recon_shape),
                                (encoding.encoded_fov_mm, encoding.encoded_shape)):
                if fov[axis] > 0:
                    spacing.append(fov[axis] / matrix[axis])
                    break
        thickness = next((fov[2] for fov in (encoding.recon_fov_mm, encoding.encoded_fov_mm) if fov[2] > 0), None)
        if len(spacing) < 2 or thickness is None:
            missing = "field of view" if not spacing else ("in-plane field of view" if len(spacing) < 2 else
                                                           "slice thickness (fieldOfView_mm/z)")
            return cls.default(f"the ISMRMRD header of {source} gives no {missing}")
        return cls((spacing[0], spacing[1]), thickness, thickness)

    @classmethod
    def from_header_xml(cls, xml: str | bytes | None, *, source: str = "the volume") -> ImageGeometry:
        """:meth:`from_encoding` of an ISMRMRD XML header (None: no header)."""
        return cls.from_encoding(None if xml is None else parse_header(xml, source=source), source=source)


__all__ = ["DEFAULT_SPACING_MM", "ImageGeometry"]
