"""Tiny synthetic fastMRI files shared by the training tests (made once per session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from lfmri_core.io.annotations import FileAnnotations, LesionBox, write_annotations
from lfmri_core.io.fastmri_h5 import write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from lfmri_core.physics import fft2c, ifft2c, rss
from lfmri_core.synthetic import SyntheticConfig, generate_volume
from lfmri_core.synthetic.splits import split_seeds

TINY_SEEDS = split_seeds("train", 3)
SIZE = 160
"""Image (= recon) size of the tiny files: the centre of a compact 320 x 320 volume."""


def _centre(volume_kspace: np.ndarray, boxes: tuple[LesionBox, ...]) -> tuple[np.ndarray, np.ndarray, list[LesionBox]]:
    """k-space, RSS target and boxes of the central SIZE x SIZE of a compact volume."""
    top = (320 - SIZE) // 2
    images = ifft2c(torch.from_numpy(volume_kspace))[..., top : top + SIZE, top : top + SIZE]
    inside = []
    for box in boxes:
        rows = (max(box.row0 - top, 0), min(box.row1 - top, SIZE))
        cols = (max(box.col0 - top, 0), min(box.col1 - top, SIZE))
        if rows[0] < rows[1] and cols[0] < cols[1]:
            inside.append(LesionBox(box.slice, box.label, rows[0], rows[1], cols[0], cols[1]))
    return fft2c(images).numpy(), rss(images).numpy(), inside


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The tensors here are tiny: one intra-op thread avoids OpenMP's spin-waiting, which on
    shared (oversubscribed) CI cores makes small ops up to 100x slower. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 2-slice, 4-coil, 160 x 160 volumes (fully sampled, image size = recon size, so
    readout crops apply) with a fastMRI+ CSV ``lfmri_knee.csv`` and its file list."""
    folder = tmp_path_factory.mktemp("tiny_training_data")
    records = []
    for seed in TINY_SEEDS:
        volume = generate_volume(SyntheticConfig(num_slices=2, num_coils=4, seed=seed))
        kspace, target, boxes = _centre(volume.kspace, volume.boxes)
        stem = f"tiny_{seed}"
        write_volume(folder / f"{stem}.h5", kspace, encoding=EncodingInfo((SIZE, SIZE), (SIZE, SIZE)),
                     reconstruction_rss=target, attrs={"acquisition": volume.acquisition})
        records.append(FileAnnotations(stem, tuple(boxes), reviewed=True))
    write_annotations(folder / "lfmri_knee.csv", records, file_list=folder / "lfmri_knee_file_list.csv", frame_height=SIZE)
    return folder
