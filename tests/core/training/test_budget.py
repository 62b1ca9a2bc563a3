"""Training to a time budget: the fitted step count, pace groups, and the trainer's use of them."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from lfmri_core.errors import InputError
from lfmri_core.training import budget
from lfmri_core.training.budget import CALIBRATION_STEPS, SKIPPED_STEPS, BudgetClock, PaceGroup, check_budget


class FakeClock:
    """``time.perf_counter`` under the test's control."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_step_count_fits_the_budget_at_the_measured_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(budget.time, "perf_counter", clock)
    watch = BudgetClock(60.0)
    fitted = None
    for step in range(1, CALIBRATION_STEPS + 1):
        # the first steps are slow (warm-up costs), then 0.5 s per step
        clock.now += 3.0 if step <= SKIPPED_STEPS else 0.5
        fitted = watch.observe(step)
        if step < CALIBRATION_STEPS:
            assert fitted is None
    elapsed = SKIPPED_STEPS * 3.0 + (CALIBRATION_STEPS - SKIPPED_STEPS) * 0.5
    assert watch.seconds_per_step == pytest.approx(0.5)
    assert fitted == CALIBRATION_STEPS + int((60.0 - elapsed) / 0.5)
    assert watch.observe(CALIBRATION_STEPS + 1) is None  # decided once


def test_a_spent_budget_stops_at_the_current_step(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(budget.time, "perf_counter", clock)
    watch = BudgetClock(1.0)
    fitted = None
    for step in range(1, CALIBRATION_STEPS + 1):
        clock.now += 1.0
        fitted = watch.observe(step)
    assert fitted == CALIBRATION_STEPS


def test_a_pace_group_takes_the_smallest_count(tmp_path: Path) -> None:
    results: dict[str, int] = {}

    def member(name: str, steps: int) -> None:
        results[name] = PaceGroup(tmp_path / "pace", name, 3, timeout=30).agree(steps, poll=0.01)

    threads = [threading.Thread(target=member, args=(name, steps)) for name, steps in (("a", 900), ("b", 400), ("c", 700))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == {"a": 400, "b": 400, "c": 400}
    assert json.loads((tmp_path / "pace" / "b.json").read_text()) == {"steps": 400}


def test_a_missing_member_delays_the_group_by_its_timeout_only(tmp_path: Path) -> None:
    with pytest.warns(RuntimeWarning, match="1 of 2 members after 0.2 s; those present decide"):
        assert PaceGroup(tmp_path, "alone", 2, timeout=0.2).agree(123, poll=0.01) == 123


def test_bad_budgets_and_groups_are_refused(tmp_path: Path) -> None:
    for bad in (0, -1.0, float("inf"), float("nan"), True, "60"):
        with pytest.raises(InputError, match="time budget must be a positive number of seconds"):
            check_budget(bad)
    with pytest.raises(InputError, match="pace group size must be an integer >= 1"):
        PaceGroup(tmp_path, "a", 0)
    with pytest.raises(InputError, match="member name must be letters, digits"):
        PaceGroup(tmp_path, "../escape", 2)
