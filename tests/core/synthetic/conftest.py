"""Volumes shared by the synthetic-data tests (generated once per session).

Seed 4 carries a meniscus tear, a cartilage defect, subchondral edema and a periarticular cyst;
seed 16 a meniscus tear, subchondral edema and a joint effusion: together every label.
"""

from __future__ import annotations

import pytest

from lfmri_core.synthetic import SyntheticConfig, SyntheticVolume, generate_volume

RICH_SEED = 4
EFFUSION_SEED = 16


@pytest.fixture(scope="session")
def pd_volume() -> SyntheticVolume:
    return generate_volume(SyntheticConfig(contrast="PD", seed=RICH_SEED))


@pytest.fixture(scope="session")
def pdfs_volume() -> SyntheticVolume:
    return generate_volume(SyntheticConfig(contrast="PDFS", seed=RICH_SEED))


@pytest.fixture(scope="session")
def effusion_volume() -> SyntheticVolume:
    return generate_volume(SyntheticConfig(contrast="PDFS", seed=EFFUSION_SEED))


@pytest.fixture(scope="session")
def fastmri_volume() -> SyntheticVolume:
    return generate_volume(SyntheticConfig(geometry="fastmri-knee", contrast="PD", num_slices=3, seed=EFFUSION_SEED))
