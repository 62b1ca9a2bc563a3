"""Acquisition geometries of the synthetic knee: encoded grid, recon crop, coils, encoding limits.

A geometry fixes the encoded k-space size ``(H, W)`` (rows = readout, the superior-inferior
axis; columns = phase encode, the anterior-posterior axis), the pixel size, the recon crop and
the phase-encode encoding limits that fastMRI stores in the ISMRMRD header. Columns of k-space
outside ``[padding_left, padding_right)`` carry no data and are exactly ``+0.0``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lfmri_core.errors import InputError


@dataclass(frozen=True)
class KneeGeometry:
    """One acquisition geometry.

    Attributes
    ----------
    name
        Registry name.
    encoded_shape
        ``(H, W)`` of the encoded k-space: rows are the readout (superior-inferior), columns the
        phase encode (anterior-posterior).
    recon_shape
        ``(H, W)`` of the centre crop that fastMRI stores as ``reconstruction_rss``.
    pixel_mm
        Isotropic in-plane pixel size in mm.
    num_coils
        Default number of receive coils.
    kspace_center, kspace_maximum
        Phase-encode encoding limits (ISMRMRD ``kspace_encoding_step_1``).
    """

    name: str
    encoded_shape: tuple[int, int]
    recon_shape: tuple[int, int]
    pixel_mm: float
    num_coils: int
    kspace_center: int
    kspace_maximum: int

    @property
    def fov_mm(self) -> tuple[float, float]:
        """Encoded field of view ``(rows, cols)`` in mm."""
        return (self.encoded_shape[0] * self.pixel_mm, self.encoded_shape[1] * self.pixel_mm)

    @property
    def padding(self) -> tuple[int, int]:
        """``(padding_left, padding_right)``: phase-encode columns ``[left, right)`` hold data."""
        left = self.encoded_shape[1] // 2 - self.kspace_center
        return left, left + self.kspace_maximum + 1

    @property
    def crop(self) -> tuple[slice, slice]:
        """Row and column slices of the recon crop in the encoded grid (fastMRI's centre crop)."""
        (h, w), (rh, rw) = self.encoded_shape, self.recon_shape
        r0, c0 = (h - rh) // 2, (w - rw) // 2
        return slice(r0, r0 + rh), slice(c0, c0 + rw)


_REGISTRY: dict[str, Callable[[], KneeGeometry]] = {}


def register_geometry(name: str) -> Callable[[Callable[[], KneeGeometry]], Callable[[], KneeGeometry]]:
    """Decorator registering a geometry builder under ``name``."""

    def wrap(builder: Callable[[], KneeGeometry]) -> Callable[[], KneeGeometry]:
        _REGISTRY[name] = builder
        return builder

    return wrap


@register_geometry("compact")
def _compact() -> KneeGeometry:
    # 160 x 160 mm at 0.5 mm, no readout oversampling, fully encoded phase axis.
    return KneeGeometry("compact", (320, 320), (320, 320), 0.5, 8, kspace_center=160, kspace_maximum=319)


@register_geometry("fastmri-knee")
def _fastmri_knee() -> KneeGeometry:
    # fastMRI's multicoil knee: readout oversampled 2x (320 mm), 184 mm phase FOV, 15 coils and
    # the typical encoding limits, which leave the first and last phase-encode column empty.
    return KneeGeometry("fastmri-knee", (640, 368), (320, 320), 0.5, 15, kspace_center=183, kspace_maximum=365)


def available_geometries() -> list[str]:
    """Registered geometry names, sorted."""
    return sorted(_REGISTRY)


def get_geometry(name: str) -> KneeGeometry:
    """The geometry registered as ``name``; :class:`InputError` if there is none."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise InputError(
            f"geometry {name!r} is unknown; choose one of {', '.join(available_geometries())}"
        ) from None
