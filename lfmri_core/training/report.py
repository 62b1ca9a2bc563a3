"""What a training run reports: one line per validation round and the run's result.

:func:`format_validation` makes a validation round's metrics (see
:mod:`lfmri_core.training.validation`) one line; :class:`TrainingResult` is what
:meth:`~lfmri_core.training.trainer.Trainer.run` returns, with a summary for the terminal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TrainingResult", "format_validation"]


def _number(value: Any, digits: int) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def format_validation(validation: dict[str, Any]) -> str:
    """One line of validation metrics."""
    if "accuracy" in validation:
        pointing = (f"  pointing game {_number(validation['pointing_game'], 3)} ({validation['boxed_slices']} boxed slices)"
                    if validation.get("boxed_slices") else "")
        return (f"accuracy {_number(validation['accuracy'], 3)}  AUC {_number(validation['auc'], 3)}{pointing}  "
                f"({validation['slices']} slices, {validation['positives']} with lesions)")
    return "  ".join(
        f"{name}: PSNR {_number(m['psnr'], 2)} dB SSIM {_number(m['ssim'], 4)} LF-PSNR {_number(m['lf_psnr'], 2)} dB"
        for name, m in validation.items()
    )


@dataclass
class TrainingResult:
    """What a run did."""

    task: str
    steps: int
    """Steps done (in all, resumed runs included)."""
    seconds: float
    """Wall-clock seconds of training (validation included), over all sessions of the run."""
    completed: bool
    """False when stopped early (``until`` or ``cancel``); a checkpoint then holds the state."""
    weights: Path | None
    """The final weights (None unless completed, and on ranks other than 0)."""
    checkpoint: Path
    log: Path
    last_validation: dict[str, Any] | None
    world_size: int = 1
    is_main: bool = True
    machine: str = ""

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines = [f"{self.task}: {self.steps} step{'' if self.steps == 1 else 's'} in {self.seconds:.1f} s "
                 f"({self.seconds / max(self.steps, 1):.2f} s/step, {self.world_size} process{'es' if self.world_size > 1 else ''})"
                 + (f" on {self.machine}" if self.machine else "")]
        if self.last_validation:
            lines.append("last validation: " + format_validation(self.last_validation))
        if self.weights is not None:
            lines.append(f"wrote {self.weights}")
        elif not self.completed:
            lines.append(f"stopped early; continue with --resume from {self.checkpoint}")
        return "\n".join(lines)
