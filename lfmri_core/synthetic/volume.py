"""Synthetic multi-coil knee volumes: configuration, generation and the result.

Pipeline per slice: the knee model (:mod:`.anatomy`) is painted at twice the resolution of the
encoded grid and band limited to it by k-space truncation; lesions (:mod:`.lesions`) are
blended in on the encoded grid; a smooth bias field and a smooth background phase make the
complex image; the image is flipped up/down into fastMRI's stored frame; coil maps
(:mod:`.coils`) multiply it and the centred orthonormal FFT gives each coil's k-space, to which
correlated complex Gaussian noise is added. Phase-encode columns outside the encoding limits
are exactly ``+0.0``. ``reconstruction_rss`` is computed from the noisy k-space exactly as
fastMRI does (inverse FFT, root-sum-of-squares, centre crop).

Noise level (``snr``): let ``R`` be the noise-free RSS image ``|image| * sqrt(sum_c |S_c|^2)``
on the recon crop, and the *object* the crop pixels (all slices) where ``R`` exceeds 10 % of
its 99th percentile. Then ``snr = mean(R over the object) / sigma``, where ``sigma`` is the
standard deviation of the complex noise of each coil (``E|n|^2 = sigma^2``, the same in k-space
and in the image since the FFT is orthonormal). With maps whose RSS is about 1 this is the
mean object signal over the noise level of the RSS image. Default 30 (about 30 dB).

Random numbers: every stream derives from ``config.seed`` through
``numpy.random.SeedSequence(seed, spawn_key=(stream, ...))``; the subject, its lesions,
textures, fields and coils do not depend on the contrast, the geometry or ``lesions``, so the
PD and PDFS volumes of one seed show the same knee and ``lesions=False`` the same knee without
lesions. The noise stream depends on the contrast.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.progress import Progress
from lfmri_core.synthetic.anatomy import KneeSubject, SliceAnatomy, SliceTextures
from lfmri_core.synthetic.coils import CoilArray, coil_maps, flatten_maps, reference_rss
from lfmri_core.synthetic.compose import FractionPainter, SignalPainter
from lfmri_core.synthetic.contrast import ACQUISITIONS, SIGNAL, Tissue, check_contrast
from lfmri_core.synthetic.geometry import KneeGeometry, get_geometry
from lfmri_core.synthetic.lesions import Lesion, LesionSupport, apply_lesions, sample_lesions
from lfmri_core.synthetic.raster import Grid, band_limit, fft2c_numpy, ifft2c_numpy
from lfmri_core.synthetic.texture import PolynomialField

#: Render at this many times the encoded resolution before band limiting.
SUPERSAMPLING = 2
#: Over the knee the coil maps are divided by ``rss ** FLATTEN`` (see
#: :func:`.coils.flatten_maps`): what is left is the mild shading of a vendor-combined knee
#: image, with the natural fall-off of the receive field beyond the coil.
FLATTEN = 0.8
#: Threads rendering slices concurrently.
_WORKERS = max(1, min(4, os.cpu_count() or 1))
#: Largest number of coils.
MAX_COILS = 32

# Stream keys of the random number generators (see the module docstring).
_SUBJECT, _LESIONS, _TEXTURE, _FIELDS, _COILS, _NOISE = range(6)


@dataclass(frozen=True)
class SyntheticConfig:
    """Recipe of one synthetic knee volume.

    Attributes
    ----------
    geometry
        Acquisition geometry name (:func:`available_geometries`): ``"compact"`` (320 x 320,
        8 coils) or ``"fastmri-knee"`` (640 x 368, 15 coils, fastMRI's encoding limits).
    contrast
        ``"PD"`` (``CORPD_FBK``) or ``"PDFS"`` (``CORPDFS_FBK``).
    num_slices
        Sagittal slices, evenly spread from lateral to medial.
    num_coils
        Receive coils (1..32); None uses the geometry's default.
    snr
        Mean object signal of the noise-free RSS image over the per-coil noise standard
        deviation (see the module docstring), > 0.
    lesions
        False renders the same subject without any lesion (and no boxes).
    seed
        Non-negative integer; everything random derives from it.
    """

    geometry: str = "compact"
    contrast: str = "PD"
    num_slices: int = 16
    num_coils: int | None = None
    snr: float = 30.0
    lesions: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        get_geometry(self.geometry)
        check_contrast(self.contrast)
        if not _is_int(self.num_slices) or self.num_slices < 1:
            raise InputError(f"num_slices must be an integer >= 1, got {self.num_slices!r}")
        if self.num_coils is not None and (not _is_int(self.num_coils) or not 1 <= self.num_coils <= MAX_COILS):
            raise InputError(f"num_coils must be an integer in 1..{MAX_COILS} (or None), got {self.num_coils!r}")
        if isinstance(self.snr, bool) or not isinstance(self.snr, (int, float)) or not math.isfinite(self.snr) or self.snr <= 0:
            raise InputError(f"snr must be a finite number > 0, got {self.snr!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {self.seed!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class SyntheticVolume:
    """A generated volume, in fastMRI's stored frame (the up/down flip of the display frame).

    Attributes
    ----------
    kspace
        Multi-coil k-space, complex64, shape ``(slices, coils, H, W)``; rows are the readout
        (superior-inferior), columns the phase encode; columns outside
        ``[padding_left, padding_right)`` are exactly ``+0.0``.
    image
        Noise-free complex image, complex64, ``(slices, H, W)``.
    sensitivities
        True coil maps, complex64, ``(slices, coils, H, W)``; ``kspace`` (without noise) is
        ``fft2c(sensitivities * image[:, None])`` on the encoded columns.
    reconstruction_rss
        RSS of ``ifft2c(kspace)`` over coils, centre-cropped to ``recon_shape``, float32.
    lesion_free_image
        ``image`` rendered without lesions (identical when there are none), complex64.
    boxes
        One box per lesion and slice where it changes the recon crop: the exact bounding box
        of the changed pixels, in the stored frame of the recon crop.
    acquisition
        fastMRI contrast code (``CORPD_FBK`` / ``CORPDFS_FBK``).
    encoded_shape, recon_shape
        ``(H, W)`` of k-space and of the reconstruction.
    kspace_center, kspace_maximum
        Phase-encode encoding limits.
    fov_mm
        Encoded field of view ``(rows, cols)`` in mm.
    patient_id
        Derived from the seed.
    config
        The recipe.
    noise_std
        ``sigma``: standard deviation of each coil's complex noise.
    noise_correlation
        ``(coils, coils)`` correlation matrix of the coil noise (unit diagonal).
    slice_positions
        Slice positions ``t`` (-1 lateral .. 1 medial), shape ``(slices,)``.
    """

    kspace: np.ndarray
    image: np.ndarray
    sensitivities: np.ndarray
    reconstruction_rss: np.ndarray
    lesion_free_image: np.ndarray | None
    boxes: tuple[LesionBox, ...]
    acquisition: str
    encoded_shape: tuple[int, int]
    recon_shape: tuple[int, int]
    kspace_center: int
    kspace_maximum: int
    fov_mm: tuple[float, float]
    patient_id: str
    config: SyntheticConfig
    noise_std: float = 0.0
    noise_correlation: np.ndarray | None = None
    slice_positions: np.ndarray | None = None

    @property
    def padding(self) -> tuple[int, int]:
        """``(padding_left, padding_right)`` of the phase-encode axis."""
        left = self.encoded_shape[1] // 2 - self.kspace_center
        return left, left + self.kspace_maximum + 1


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def slice_positions(num_slices: int) -> np.ndarray:
    """Slice positions ``t``: centres of ``num_slices`` equal bins of [-1, 1]."""
    return (np.arange(num_slices) + 0.5) / num_slices * 2.0 - 1.0


def subject_for(seed: int) -> KneeSubject:
    """The knee of a seed (the same in every geometry and contrast)."""
    return KneeSubject.sample(_rng(seed, _SUBJECT))


def lesions_for(seed: int) -> tuple[Lesion, ...]:
    """The lesions of a seed's knee (present when ``lesions=True``)."""
    return sample_lesions(_rng(seed, _LESIONS), subject_for(seed))


def render_tissue_fractions(config: SyntheticConfig, slice_index: int) -> dict[Tissue, np.ndarray]:
    """Fraction of every tissue in every pixel of one slice, on the encoded grid in the stored
    frame, without band limiting or lesions (for checks on contrast and anatomy)."""
    geometry = get_geometry(config.geometry)
    grid = Grid(geometry.encoded_shape, geometry.pixel_mm)
    anatomy = SliceAnatomy(subject_for(config.seed), float(slice_positions(config.num_slices)[slice_index]))
    painter = FractionPainter(grid)
    anatomy.render(painter, grid, None)
    return {tissue: frac[::-1].copy() for tissue, frac in painter.fractions.items()}


def _boxes(supports: list[LesionSupport], slice_index: int, geometry: KneeGeometry) -> list[LesionBox]:
    h = geometry.encoded_shape[0]
    crop_rows, crop_cols = geometry.crop
    boxes = []
    for support in supports:
        rows, cols = np.nonzero(support.mask)
        rows = rows + support.window.rows.start
        cols = cols + support.window.cols.start
        keep = (rows >= crop_rows.start) & (rows < crop_rows.stop) & (cols >= crop_cols.start) & (cols < crop_cols.stop)
        if not keep.any():
            continue
        rows, cols = rows[keep], cols[keep]
        # Display row r is stored row h - 1 - r.
        top, bottom = h - 1 - rows.max(), h - 1 - rows.min() + 1
        boxes.append(
            LesionBox(
                slice=slice_index,
                label=support.label,
                row0=int(top - crop_rows.start),
                row1=int(bottom - crop_rows.start),
                col0=int(cols.min() - crop_cols.start),
                col1=int(cols.max() + 1 - crop_cols.start),
            )
        )
    return boxes


def generate_volume(config: SyntheticConfig, progress: Progress | None = None) -> SyntheticVolume:
    """Generate one synthetic multi-coil knee volume.

    Parameters
    ----------
    config
        The recipe (validated on construction).
    progress
        Called as ``progress(done, total)`` after each slice is rendered.
    """
    geometry = get_geometry(config.geometry)
    contrast = check_contrast(config.contrast)
    num_coils = config.num_coils or geometry.num_coils
    n = config.num_slices
    h, w = geometry.encoded_shape
    grid = Grid(geometry.encoded_shape, geometry.pixel_mm)
    fine = grid.refined(SUPERSAMPLING)
    seed = config.seed

    subject = subject_for(seed)
    lesions = lesions_for(seed) if config.lesions else ()
    fields_rng = _rng(seed, _FIELDS)
    bias_field = PolynomialField.random(fields_rng, 0.09, (80.0, 100.0, 60.0))
    phase_field = PolynomialField.random(fields_rng, 0.7, (80.0, 80.0, 60.0), constant=fields_rng.uniform(-np.pi, np.pi))
    leg_axis_u = subject.condyle_center[0] - 3.0
    coils = CoilArray.ring(num_coils, _rng(seed, _COILS, num_coils), leg_axis_u, 0.5 * (subject.condyle_center[1] + subject.joint_v))
    # Flatten the coil profile over the knee, keep the natural fall-off beyond it.
    floor = 0.25 * reference_rss(coils, (leg_axis_u, subject.joint_v + 10.0, 0.0))
    table = {tissue: SIGNAL[contrast][tissue] * subject.gains[tissue] for tissue in Tissue}

    positions = slice_positions(n)
    image = np.empty((n, h, w), dtype=np.complex64)
    free_image = np.empty((n, h, w), dtype=np.complex64)
    maps = np.empty((n, num_coils, h, w), dtype=np.complex64)
    rss_maps = np.empty((n, h, w), dtype=np.float32)
    boxes_per_slice: list[list[LesionBox]] = [[] for _ in range(n)]

    def render(index: int) -> None:
        # Slices are independent (each has its own random stream), so they can be rendered
        # concurrently; numpy and scipy.fft release the GIL in the heavy parts.
        anatomy = SliceAnatomy(subject, float(positions[index]))
        painter = SignalPainter(fine, SIGNAL[contrast])
        anatomy.render(painter, fine, SliceTextures.random(_rng(seed, _TEXTURE, index, n), fine))
        magnitude = band_limit(painter.image, geometry.encoded_shape)
        lesion_free = magnitude.copy()
        supports = apply_lesions(lesions, anatomy, grid, magnitude, table.__getitem__) if lesions else []
        boxes_per_slice[index] = _boxes(supports, index, geometry)
        bias = np.clip(np.exp(bias_field.evaluate(grid, anatomy.x)), 0.6, 1.6)
        phase = np.exp(1j * phase_field.evaluate(grid, anatomy.x))
        image[index] = (magnitude * bias * phase)[::-1]
        free_image[index] = (lesion_free * bias * phase)[::-1]
        maps[index] = flatten_maps(coil_maps(coils, grid, anatomy.x), FLATTEN, floor)[:, ::-1]
        rss_maps[index] = np.sqrt(np.sum(maps[index].real ** 2 + maps[index].imag ** 2, axis=0))

    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for done, _ in enumerate(pool.map(render, range(n)), start=1):
            if progress is not None:
                progress(done, n)
    boxes = [box for per_slice in boxes_per_slice for box in per_slice]

    crop_rows, crop_cols = geometry.crop
    # One constant per volume: RSS of the maps ~ 1 over the knee.
    rss_crop = rss_maps[:, crop_rows, crop_cols]
    crop = np.abs(free_image[:, crop_rows, crop_cols]) * rss_crop
    inside = crop > 0.1 * np.percentile(crop, 99)
    scale = np.float32(1.0 / float(np.median(rss_crop[inside])))
    maps *= scale
    clean = np.abs(image[:, crop_rows, crop_cols]) * rss_crop * scale
    sigma = float(np.mean(clean[clean > 0.1 * np.percentile(clean, 99)])) / float(config.snr)

    correlation = coils.noise_covariance()
    kspace = _acquire(image, maps, sigma, correlation, geometry, _rng(seed, _NOISE, list(ACQUISITIONS).index(contrast)))
    recon = np.empty((n, *geometry.recon_shape), dtype=np.float32)
    for index in range(n):
        coil_images = ifft2c_numpy(kspace[index])[:, crop_rows, crop_cols]
        recon[index] = np.sqrt(np.sum(coil_images.real**2 + coil_images.imag**2, axis=0))

    return SyntheticVolume(
        kspace=kspace,
        image=image,
        sensitivities=maps,
        reconstruction_rss=np.ascontiguousarray(recon),
        lesion_free_image=free_image,
        boxes=tuple(boxes),
        acquisition=ACQUISITIONS[contrast],
        encoded_shape=geometry.encoded_shape,
        recon_shape=geometry.recon_shape,
        kspace_center=geometry.kspace_center,
        kspace_maximum=geometry.kspace_maximum,
        fov_mm=geometry.fov_mm,
        patient_id=f"lfmri-synthetic-{seed:08d}",
        config=config,
        noise_std=sigma,
        noise_correlation=correlation,
        slice_positions=positions,
    )


def _acquire(
    image: np.ndarray,
    maps: np.ndarray,
    sigma: float,
    correlation: np.ndarray,
    geometry: KneeGeometry,
    rng: np.random.Generator,
) -> np.ndarray:
    """k-space of every coil plus correlated complex Gaussian noise on the encoded columns."""
    n, c, h, w = maps.shape
    left, right = geometry.padding
    chol = np.linalg.cholesky(correlation).astype(np.complex64)
    kspace = np.zeros((n, c, h, w), dtype=np.complex64)
    for index in range(n):
        k = fft2c_numpy(maps[index] * image[index][None])
        white = rng.standard_normal((c, h * (right - left), 2), dtype=np.float32).view(np.complex64)[..., 0]
        noise = chol @ white
        noise *= np.float32(sigma / np.sqrt(2.0))
        kspace[index, :, :, left:right] = k[:, :, left:right] + noise.reshape(c, h, right - left)
    return kspace
