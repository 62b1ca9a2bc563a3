"""The memory budget that declared sizes are checked against before anything is read."""

from __future__ import annotations

import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.io.budget import BUDGET_ENV, MEMORY_FRACTION, check_size, format_bytes, machine_memory, memory_budget


def test_the_budget_is_a_share_of_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert memory_budget() == int(machine_memory() * MEMORY_FRACTION) > 0


@pytest.mark.parametrize(("text", "size"), [("4096", 4096), ("64G", 64 * 2**30), ("1.5 MiB", 3 * 2**19),
                                            ("2k", 2048), ("1T", 2**40)])
def test_the_budget_can_be_set(text: str, size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, text)
    assert memory_budget() == size


@pytest.mark.parametrize("text", ["lots", "-1G", "0", "nanG", "1Q"])
def test_a_bad_budget_is_refused(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, text)
    with pytest.raises(InputError, match=f"{BUDGET_ENV}="):
        memory_budget()


def test_declared_sizes_beyond_the_budget_are_refused_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, "1M")
    assert check_size((256, 512), np.complex64, what="x") == 2**20
    with pytest.raises(InputError, match=r"^x \(257 x 512 complex64\) would take 1.0 MiB, more than the memory "
                                         r"budget of 1.0 MiB"):
        check_size((257, 512), np.complex64, what="x")
    # Far beyond int64: Python integers, no overflow into a small number.
    with pytest.raises(InputError, match="would take"):
        check_size((2**40, 2**40, 2**40), np.float32, what="y")
    assert format_bytes(80_000_000_000) == "74.5 GiB" and format_bytes(12) == "12 bytes"
