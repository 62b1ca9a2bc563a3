"""The ``bart pics`` options that correspond to our parameters (no BART needed)."""

from __future__ import annotations

import pytest

from lfmri_core.errors import InputError
from lfmri_core.recon import CgSenseParams, CsTvParams, CsWaveletParams
from lfmri_core.recon.bart_reference import pics_arguments


def test_options_for_each_method() -> None:
    assert pics_arguments(CgSenseParams(lam=0.02, iterations=7), 0.5) == ["-S", "-w", "0.5", "-l2", "-r", "0.02", "-i", "7"]
    wavelet = pics_arguments(CsWaveletParams(lam=0.01, iterations=9, wavelet="haar", cycle_spinning=False), 2.0)
    assert wavelet == ["-S", "-w", "2.0", "-l1", "-r", "0.01", "-i", "9", "-s", "0.95", "--wavelet", "haar", "-n"]
    tv = pics_arguments(CsTvParams(lam=0.003, max_total_cg_iterations=50, rho=1.0, cg_iterations=5), 1.0)
    assert tv == ["-S", "-w", "1.0", "-R", "T:3:0:0.003", "-i", "50", "-u", "1.0", "-C", "5"]


def test_settings_bart_cannot_reproduce() -> None:
    with pytest.raises(InputError, match="set max_total_cg_iterations"):
        pics_arguments(CsTvParams(), 1.0)
    with pytest.raises(InputError, match="over-relaxation 1.6"):
        pics_arguments(CsTvParams(relaxation=1.0, max_total_cg_iterations=10), 1.0)
    with pytest.raises(InputError, match="seed 1"):
        pics_arguments(CsWaveletParams(seed=5), 1.0)
    with pytest.raises(InputError, match="power iteration"):
        pics_arguments(CsWaveletParams(eigen_step=True), 1.0)
