from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.io.bart_cfl import cfl_to_kspace, read_cfl, read_cfl_dims, write_cfl
from tests.conftest import random_complex


def test_round_trip_and_layout(tmp_path: Path, rng: np.random.Generator) -> None:
    data = random_complex(rng, (6, 5, 1, 3))
    write_cfl(tmp_path / "ks", data)
    hdr = (tmp_path / "ks.hdr").read_text().splitlines()
    assert hdr[0].startswith("#") and hdr[1].split()[:4] == ["6", "5", "1", "3"]
    # Fortran order: the first (read) index runs fastest in the file.
    raw = np.fromfile(tmp_path / "ks.cfl", dtype=np.complex64)
    assert raw[1] == data[1, 0, 0, 0] and raw[6] == data[0, 1, 0, 0]
    back = read_cfl(tmp_path / "ks.cfl")
    assert read_cfl_dims(tmp_path / "ks") == (6, 5, 1, 3)
    np.testing.assert_array_equal(back, data)
    kspace = cfl_to_kspace(back)
    assert kspace.shape == (1, 3, 6, 5)
    np.testing.assert_array_equal(kspace[0, 2], data[:, :, 0, 2])


def test_bad_cfl(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_cfl(tmp_path / "missing")
    (tmp_path / "a.hdr").write_text("# Dimensions\n4 4 1 2\n")
    (tmp_path / "a.cfl").write_bytes(b"\0" * 8)
    with pytest.raises(InputError, match="holds 8 bytes but its header"):
        read_cfl(tmp_path / "a")
    (tmp_path / "b.hdr").write_text("# Dimensions\nfour\n")
    with pytest.raises(InputError, match="not a list of integers"):
        read_cfl_dims(tmp_path / "b")
    with pytest.raises(InputError, match="more than k-space and coil"):
        cfl_to_kspace(np.zeros((4, 4, 1, 2, 2), np.complex64))
