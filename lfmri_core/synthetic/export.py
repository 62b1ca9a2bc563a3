"""Write synthetic volumes as fastMRI files plus fastMRI+ style annotations."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from lfmri_core.io.annotations import FileAnnotations, write_annotations
from lfmri_core.io.fastmri_h5 import write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from lfmri_core.synthetic import SyntheticVolume


def encoding_of(volume: SyntheticVolume) -> EncodingInfo:
    """ISMRMRD encoding geometry of a synthetic volume."""
    rows_mm, cols_mm = volume.fov_mm
    pixel_mm = rows_mm / volume.encoded_shape[0]
    return EncodingInfo(
        encoded_shape=volume.encoded_shape,
        recon_shape=volume.recon_shape,
        encoded_fov_mm=(rows_mm, cols_mm, 3.0),
        recon_fov_mm=(pixel_mm * volume.recon_shape[0], pixel_mm * volume.recon_shape[1], 3.0),
        kspace_center=volume.kspace_center,
        kspace_maximum=volume.kspace_maximum,
    )


def write_synthetic_volume(
    path: str | os.PathLike[str], volume: SyntheticVolume, *, attrs: Mapping[str, object] | None = None
) -> Path:
    """Write one volume in the fastMRI multicoil format (atomically); ``attrs`` are added to
    the file's attributes."""
    config = volume.config
    return write_volume(
        path,
        volume.kspace,
        encoding=encoding_of(volume),
        reconstruction_rss=volume.reconstruction_rss,
        attrs={
            "acquisition": volume.acquisition,
            "patient_id": volume.patient_id,
            # Not part of fastMRI: lets a reader tell synthetic files and their recipe apart.
            "lfmri_synthetic": (
                f"geometry={config.geometry} contrast={config.contrast} slices={config.num_slices} "
                f"coils={volume.kspace.shape[1]} snr={config.snr:g} lesions={config.lesions} seed={config.seed}"
            ),
            **(attrs or {}),
        },
    )


def write_dataset(
    folder: str | os.PathLike[str],
    volumes: Sequence[tuple[str, SyntheticVolume]],
    *,
    annotations_name: str = "lfmri_knee",
    attrs: Mapping[str, object] | None = None,
) -> list[Path]:
    """Write volumes ``[(file stem, volume), ...]`` plus ``<annotations_name>.csv`` and
    ``<annotations_name>_file_list.csv`` in the fastMRI+ format. Returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_synthetic_volume(folder / f"{stem}.h5", volume, attrs=attrs) for stem, volume in volumes]
    records = [FileAnnotations(file=stem, boxes=volume.boxes, reviewed=True) for stem, volume in volumes]
    csv_path = folder / f"{annotations_name}.csv"
    list_path = folder / f"{annotations_name}_file_list.csv"
    write_annotations(csv_path, records, file_list=list_path, frame_height=volumes[0][1].recon_shape[0] if volumes else 320)
    return [*paths, csv_path, list_path]
