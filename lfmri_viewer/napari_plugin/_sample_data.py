"""napari sample data: the embedded synthetic knee, PD and fat-suppressed PD.

The volumes are generated on first use into the cache folder (``$LFMRI_CACHE/sample``, about a
minute once) by :func:`lfmri_sample_data.ensure_sample_data` and read by the plugin's reader,
so a sample opens exactly like the file would.
"""

from __future__ import annotations

from pathlib import Path

from lfmri_core.errors import InputError
from lfmri_sample_data import ensure_sample_data, manifest
from lfmri_viewer.napari_plugin._layers import LayerDataTuple
from lfmri_viewer.napari_plugin._reader import volume_layers


def sample_path(contrast: str) -> Path:
    """Path of the sample volume of one contrast (``"PD"`` or ``"PDFS"``), generated if missing."""
    stems = {v["contrast"]: v["stem"] for v in manifest()["volumes"]}
    if contrast not in stems:
        raise InputError(f"no sample volume with contrast {contrast!r} (have: {', '.join(stems)})")
    by_stem = {p.stem: p for p in ensure_sample_data() if p.suffix == ".h5"}
    return by_stem[stems[contrast]]


def knee_pd() -> list[LayerDataTuple]:
    """Synthetic knee (PD): the reference image and lesion boxes of the PD sample volume."""
    return volume_layers(sample_path("PD"))


def knee_pdfs() -> list[LayerDataTuple]:
    """Synthetic knee (PDFS): the reference image and lesion boxes of the PDFS sample volume."""
    return volume_layers(sample_path("PDFS"))
