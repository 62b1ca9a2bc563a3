"""Training to a wall-clock budget: the step count fitted to the measured pace.

``lfmri train --time-budget SECONDS`` runs the first steps of the warm-up, measures the seconds
per step (after a few steps that absorb one-off costs such as kernel selection), and fixes the
run's step count so that training ends when the budget is spent; the cosine learning-rate decay
then ends there too. The step count is decided inside the warm-up, whose learning rates do not
depend on it, so the run is the same as one started with that ``--steps``.

Runs that are compared with each other (LF-MRI and its ablations) must train for the same
number of steps, not the same time: a :class:`PaceGroup` makes every member take the smallest
step count any member can fit (each writes its own into a shared folder and waits for the
others). The members that are faster than the slowest finish early, which only frees the
device for it.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from lfmri_core.errors import InputError
from lfmri_core.io.atomic import atomic_write_text

CALIBRATION_STEPS = 25
"""Steps after which the pace is measured (they must lie inside the learning-rate warm-up)."""

SKIPPED_STEPS = 5
"""Of those, the first steps left out of the pace (one-off costs: kernel selection, caches)."""


@dataclass(frozen=True)
class PaceGroup:
    """Runs that must agree on one step count.

    Attributes
    ----------
    folder
        A folder all members can write to (created).
    name
        This member's name (unique in the group; letters, digits, ``-``, ``_`` and ``.``).
    size
        Members in the group, this one included.
    timeout
        Seconds to wait for the others; after it the members present decide (with a warning).
    """

    folder: Path
    name: str
    size: int
    timeout: float = 600.0

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise InputError(f"pace group size must be an integer >= 1, got {self.size!r}")
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name) or self.name.startswith("."):
            raise InputError(f"pace group member name must be letters, digits, '-', '_' or '.', got {self.name!r}")
        if not isinstance(self.timeout, (int, float)) or not self.timeout > 0:
            raise InputError(f"pace group timeout must be a positive number of seconds, got {self.timeout!r}")

    def agree(self, steps: int, *, poll: float = 0.2) -> int:
        """Publish ``steps`` and return the smallest step count of the group."""
        folder = Path(self.folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / f"{self.name}.json", json.dumps({"steps": int(steps)}) + "\n")
        deadline = time.monotonic() + self.timeout
        while True:
            counts = _read_counts(folder)
            if len(counts) >= self.size:
                return min(counts.values())
            if time.monotonic() > deadline:
                warnings.warn(f"pace group {folder}: {len(counts)} of {self.size} members after {self.timeout:g} s; "
                              "those present decide the step count", RuntimeWarning, stacklevel=2)
                return min(counts.values())
            time.sleep(poll)


def _read_counts(folder: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in folder.glob("*.json"):
        try:
            counts[path.stem] = int(json.loads(path.read_text(encoding="utf-8"))["steps"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a member still writing (atomic writes make this rare)
    return counts


def check_budget(seconds: object) -> float:
    """``seconds`` as a float, or a one-line :class:`InputError` unless it is finite and > 0."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < math.inf:
        raise InputError(f"time budget must be a positive number of seconds, got {seconds!r}")
    return float(seconds)


class BudgetClock:
    """Watches the first steps of a run and fits its step count to a time budget.

    Parameters
    ----------
    seconds
        The budget of the training steps, counted from this object's creation (validation
        rounds count too, but are not in the pace).
    first_step
        Steps already done when the clock starts.
    group
        Members that must share the step count (see :class:`PaceGroup`).
    """

    def __init__(self, seconds: float, first_step: int = 0, group: PaceGroup | None = None) -> None:
        self.seconds = check_budget(seconds)
        self.first_step = first_step
        self.group = group
        self.started = time.perf_counter()
        self._mark: tuple[int, float] | None = None
        self.fitted: int | None = None
        self.seconds_per_step: float | None = None

    def observe(self, step: int) -> int | None:
        """Call after every step; returns the fitted step count once, when it is decided."""
        if self.fitted is not None:
            return None
        now = time.perf_counter()
        done = step - self.first_step
        if done == SKIPPED_STEPS:
            self._mark = (step, now)
        if done < CALIBRATION_STEPS or self._mark is None:
            return None
        mark_step, mark_time = self._mark
        self.seconds_per_step = (now - mark_time) / max(step - mark_step, 1)
        left = self.seconds - (now - self.started)
        steps = step + max(0, math.floor(left / self.seconds_per_step))
        if self.group is not None:
            steps = self.group.agree(steps)
        self.fitted = max(step, steps)
        return self.fitted

