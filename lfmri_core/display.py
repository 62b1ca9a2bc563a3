"""The display frame: how a stored slice is put on screen, defined once for every view.

Every front end keeps its data in the *stored* reconstruction frame (``reconstruction_rss[s]``
as stored in the file, the frame of :class:`~lfmri_core.io.annotations.LesionBox`) and shows it
through the transform of a :class:`DisplayFrame`: the napari layers through their ``scale``
and ``translate`` (:meth:`DisplayFrame.napari_transform`), matplotlib panels (Jupyter widgets,
the demo and docs figures) through the image extent and axis limits
(:meth:`DisplayFrame.extent`, :meth:`DisplayFrame.limits`). Boxes, CAMs and error maps share
the image's frame, so they stay aligned wherever the image goes.

Convention (radiological display, the fastMRI+ labelling frame): the stored image flipped
up/down, so the anatomy stands as the annotators saw it (superior at the top for the knee) and
the fastMRI+ ``y`` runs downwards from the top of the screen. Display coordinates are
``(y, x)`` with ``y`` downwards, in millimetres when the file's header gives the field of view
and in pixels otherwise; the centre of the top-left displayed pixel is ``(0, 0)``.

Also here, so that napari, Jupyter and the static figures look alike: the colormaps of
images, error maps and CAMs, and the window presets of the magnitude images. numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lfmri_core.io.annotations import LesionBox
    from lfmri_core.io.fastmri_h5 import VolumeInfo

IMAGE_COLORMAP = "gray"
ERROR_COLORMAP = "magma"
"""Error maps ``|recon - reference|`` in every view (black at zero)."""
CAM_COLORMAP = "inferno"
"""Net_c's CAM in every view (black at zero, so an additive overlay leaves the image alone)."""

PIXEL_UNIT = "pixel"
MM_UNIT = "mm"

WINDOW_PRESETS = ("full range", "auto (0.5-99.5 %)", "soft tissue", "high contrast")
"""Window/level presets of the magnitude images, in the order the controls offer them."""


@dataclass(frozen=True)
class DisplayFrame:
    """Where the pixels of a stored ``(rows, cols)`` slice go on screen.

    Attributes
    ----------
    shape
        ``(rows, cols)`` of the stored slice.
    pixel_mm
        ``(row, col)`` pixel spacing in mm; None when the volume has no geometry (BART arrays,
        fastMRI files without a header): display units are then pixels.
    flip_rows
        Show the stored rows bottom-up (the radiological convention above).
    """

    shape: tuple[int, int]
    pixel_mm: tuple[float, float] | None = None
    flip_rows: bool = True

    @classmethod
    def for_volume(cls, info: VolumeInfo, shape: tuple[int, int] | None = None) -> DisplayFrame:
        """The frame of a volume's reconstructions (``shape`` default its recon shape), with the
        pixel spacing of the header's recon field of view (``fieldOfView_mm / matrixSize``);
        pixel units for a volume without a header."""
        shape = tuple(int(n) for n in (shape or info.recon_shape))  # type: ignore[assignment]
        return cls(shape, pixel_spacing_mm(info))  # type: ignore[arg-type]

    @classmethod
    def for_kspace(cls, info: VolumeInfo) -> DisplayFrame:
        """The frame of the k-space images and masks ``(H, W)``: as stored (k-space has no
        anatomical up), at the image pixel size, so they keep the units of the image layers."""
        return cls(tuple(int(n) for n in info.image_shape), pixel_spacing_mm(info), flip_rows=False)  # type: ignore[arg-type]

    @property
    def unit(self) -> str:
        """``"mm"`` or ``"pixel"``: the unit of display coordinates."""
        return PIXEL_UNIT if self.pixel_mm is None else MM_UNIT

    @property
    def spacing(self) -> tuple[float, float]:
        """``(row, col)`` size of a pixel in display units (1 for pixel units)."""
        return (1.0, 1.0) if self.pixel_mm is None else self.pixel_mm

    @property
    def size(self) -> tuple[float, float]:
        """``(height, width)`` of the slice in display units."""
        return self.shape[0] * self.spacing[0], self.shape[1] * self.spacing[1]

    def to_display(self, row: float, col: float) -> tuple[float, float]:
        """Display ``(y, x)`` of the stored point ``(row, col)`` (pixel centres at integers)."""
        sr, sc = self.spacing
        y = (self.shape[0] - 1 - row) if self.flip_rows else row
        return y * sr, col * sc

    def from_display(self, y: float, x: float) -> tuple[float, float]:
        """Stored ``(row, col)`` of the display point ``(y, x)`` (inverse of :meth:`to_display`)."""
        sr, sc = self.spacing
        row = y / sr
        return ((self.shape[0] - 1 - row) if self.flip_rows else row), x / sc

    def display_array(self, image: np.ndarray) -> np.ndarray:
        """``image`` (stored frame, last two axes ``(rows, cols)``) as it appears on screen,
        row 0 at the top: what a view of this frame shows, pixel for pixel."""
        image = np.asarray(image)
        return image[..., ::-1, :] if self.flip_rows else image

    def box_edges(self, box: LesionBox) -> tuple[float, float, float, float]:
        """``(top, bottom, left, right)`` display coordinates of the outline of ``box``'s pixels
        (pixel edges half a pixel from the centres)."""
        sr, sc = self.spacing
        if self.flip_rows:
            top, bottom = self.shape[0] - box.row1 - 0.5, self.shape[0] - box.row0 - 0.5
        else:
            top, bottom = box.row0 - 0.5, box.row1 - 0.5
        return top * sr, bottom * sr, (box.col0 - 0.5) * sc, (box.col1 - 0.5) * sc

    def extent(self) -> tuple[float, float, float, float]:
        """matplotlib ``imshow(stored, extent=...)`` (default ``origin="upper"``) that puts the
        stored pixels where :meth:`to_display` says: ``(left, right, bottom, top)``."""
        sr, sc = self.spacing
        height, width = self.shape
        left, right = -0.5 * sc, (width - 0.5) * sc
        # "top" is where stored row 0 goes: the bottom of the screen when the rows are flipped.
        first, last = ((height - 0.5) * sr, -0.5 * sr) if self.flip_rows else (-0.5 * sr, (height - 0.5) * sr)
        return left, right, last, first

    def limits(self, rows: slice | None = None, cols: slice | None = None) -> tuple[tuple[float, float], tuple[float, float]]:
        """matplotlib ``(xlim, ylim)`` showing the stored ``rows`` x ``cols`` (default all), with
        display ``y`` downwards (``ylim`` decreasing)."""
        rows = rows if rows is not None else slice(0, self.shape[0])
        cols = cols if cols is not None else slice(0, self.shape[1])
        sr, sc = self.spacing
        if self.flip_rows:
            top, bottom = self.shape[0] - rows.stop - 0.5, self.shape[0] - rows.start - 0.5
        else:
            top, bottom = rows.start - 0.5, rows.stop - 0.5
        return ((cols.start - 0.5) * sc, (cols.stop - 0.5) * sc), (bottom * sr, top * sr)

    def napari_transform(self, leading: int = 1) -> dict[str, Any]:
        """Layer keyword arguments placing a stored ``(..., rows, cols)`` array in the display
        frame: ``scale``, ``translate``, ``units`` and ``axis_labels``.

        ``leading`` axes before the rows (the slice axis of a volume) keep unit scale, in
        pixels (slices are indices, not positions).
        """
        sr, sc = self.spacing
        row_scale, row_shift = (-sr, (self.shape[0] - 1) * sr) if self.flip_rows else (sr, 0.0)
        leading_labels = ("slice",) if leading == 1 else tuple(f"axis {i}" for i in range(leading))
        return {
            "scale": (*([1.0] * leading), row_scale, sc),
            "translate": (*([0.0] * leading), row_shift, 0.0),
            "units": (*([PIXEL_UNIT] * leading), self.unit, self.unit),
            "axis_labels": (*leading_labels, "y", "x"),
        }

    def scale_bar_length(self, fraction: float = 0.2) -> float:
        """A round length (1, 2 or 5 times a power of ten, in display units) near ``fraction``
        of the slice width, for a scale bar."""
        target = max(fraction * self.size[1], 1e-9)
        power = 10.0 ** math.floor(math.log10(target))
        return max((m * power for m in (1, 2, 5, 10) if m * power <= target), default=power)

    def distance(self, drow: float, dcol: float) -> float:
        """Length in display units of the stored offset ``(drow, dcol)`` pixels."""
        sr, sc = self.spacing
        return math.hypot(drow * sr, dcol * sc)


def pixel_spacing_mm(info: VolumeInfo) -> tuple[float, float] | None:
    """``(row, col)`` spacing in mm of the volume's reconstructions, from its ISMRMRD header.

    The recon field of view over the recon matrix (``reconSpace``); the encoded one over the
    encoded matrix when the recon FOV is missing (cropping keeps the pixel size). None without
    a header or with a field of view that is missing, zero or not finite.
    """
    if not info.has_header:
        return None
    enc = info.encoding
    for fov, matrix in ((enc.recon_fov_mm, enc.recon_shape), (enc.encoded_fov_mm, enc.encoded_shape)):
        spacing = tuple(float(f) / int(n) if n else math.nan for f, n in zip(fov[:2], matrix, strict=True))
        if all(math.isfinite(s) and s > 0 for s in spacing):
            return spacing  # type: ignore[return-value]
    return None


def window_presets(volume: np.ndarray) -> dict[str, tuple[float, float]]:
    """Contrast limits ``(low, high)`` of the :data:`WINDOW_PRESETS` for a magnitude volume.

    MR magnitudes have no absolute scale (unlike CT's Hounsfield units), so the presets are
    taken from the reference volume's own histogram, over its foreground (pixels above 5 % of
    the 99.9th percentile, so the air around the knee does not pull the windows down):

    - ``full range``: ``[0, max]``;
    - ``auto (0.5-99.5 %)``: the 0.5th to 99.5th percentile of the foreground;
    - ``soft tissue``: ``[0, 80th percentile]``: brightens cartilage, muscle and menisci and
      saturates fat and fluid;
    - ``high contrast``: the 20th to 95th percentile (a narrow window for subtle lesions).
    """
    values = np.asarray(volume, dtype=np.float64)
    values = values[np.isfinite(values)]
    top = float(values.max()) if values.size else 0.0
    if not top > 0:
        return dict.fromkeys(WINDOW_PRESETS, (0.0, 1.0))
    foreground = values[values > 0.05 * np.percentile(values, 99.9)]
    if foreground.size == 0:
        foreground = values
    p = dict(zip((0.5, 20, 80, 95, 99.5), np.percentile(foreground, (0.5, 20, 80, 95, 99.5)), strict=True))

    def window(low: float, high: float) -> tuple[float, float]:
        return (float(low), float(high)) if high > low else (0.0, top)

    return {
        "full range": (0.0, top),
        "auto (0.5-99.5 %)": window(p[0.5], p[99.5]),
        "soft tissue": window(0.0, p[80]),
        "high contrast": window(p[20], p[95]),
    }


def describe_units(frame: DisplayFrame) -> str:
    """One line for a status label: ``"0.438 x 0.438 mm pixels"`` or that there are no units."""
    if frame.pixel_mm is None:
        return "no geometry in the file: pixel units"
    return f"{frame.pixel_mm[0]:.3g} x {frame.pixel_mm[1]:.3g} mm pixels, field of view " \
           f"{frame.size[0]:.0f} x {frame.size[1]:.0f} mm"


__all__ = [
    "CAM_COLORMAP",
    "ERROR_COLORMAP",
    "IMAGE_COLORMAP",
    "MM_UNIT",
    "PIXEL_UNIT",
    "WINDOW_PRESETS",
    "DisplayFrame",
    "describe_units",
    "pixel_spacing_mm",
    "window_presets",
]
