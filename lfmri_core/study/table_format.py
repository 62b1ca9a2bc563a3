"""How the paper's tables are built and written: :class:`Table` (Markdown and CSV renderings),
:class:`Summary` (mean ± standard deviation and count) and the number formats they share.

Conventions: the standard deviation is the sample standard deviation (``ddof=1``); NaN values are
left out and ``n`` counts the values used; a method that was asked for but not run shows
:data:`NOT_EVALUATED`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "METRICS",
    "NOT_EVALUATED",
    "Summary",
    "Table",
    "accel_tag",
    "format_number",
    "format_signed",
    "format_summary",
    "summarise",
]

NOT_EVALUATED = "n/e"
"""Cell of a method that was asked for but not run."""

METRICS: tuple[tuple[str, str, int], ...] = (
    ("psnr", "PSNR", 2),
    ("ssim", "SSIM", 4),
    ("lf_psnr", "LF-PSNR", 2),
    ("lf_ssim", "LF-SSIM", 4),
)
"""``(Scores field, column name, decimals)`` of the image-quality tables."""


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and count of the finite-or-infinite values."""

    mean: float
    std: float
    n: int


def summarise(values: Iterable[float]) -> Summary:
    """Mean ± std (``ddof=1``) of ``values`` without NaNs; std NaN for fewer than 2 values or
    when a value is infinite (the mean is then ``±inf``, or NaN if both signs occur)."""
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    n = int(arr.size)
    if n == 0:
        return Summary(float("nan"), float("nan"), 0)
    if np.isinf(arr).any():
        signs = set(np.sign(arr[np.isinf(arr)]).tolist())
        return Summary(float("nan") if len(signs) > 1 else float(arr[np.isinf(arr)][0]), float("nan"), n)
    return Summary(float(arr.mean()), float(arr.std(ddof=1)) if n > 1 else float("nan"), n)


def format_number(value: float, decimals: int) -> str:
    """``value`` with ``decimals`` decimals; ``"n/a"`` for NaN, ``"inf"`` / ``"-inf"``."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{decimals}f}"


def format_summary(summary: Summary, decimals: int) -> str:
    """``"31.20 ± 0.85"``; only the mean for one value; ``"n/a"`` for none."""
    if summary.n == 0:
        return "n/a"
    if math.isnan(summary.std):
        return format_number(summary.mean, decimals)
    return f"{format_number(summary.mean, decimals)} ± {format_number(summary.std, decimals)}"


@dataclass(frozen=True)
class Table:
    """A table in two renderings.

    Attributes
    ----------
    key
        File stem of its CSV (``table1_pd``).
    title
        Heading.
    header, rows
        Markdown cells (formatted text).
    csv_header, csv_rows
        CSV columns and raw values (numbers, NaN for missing).
    notes
        Lines printed under the Markdown table.
    """

    key: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    csv_header: tuple[str, ...]
    csv_rows: tuple[tuple[object, ...], ...]
    notes: tuple[str, ...] = ()

    def row_labels(self) -> list[str]:
        """First cell of every row."""
        return [row[0] for row in self.rows]

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |",
                 "|" + "|".join("---" for _ in self.header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"{note}  " if i < len(self.notes) - 1 else note for i, note in enumerate(self.notes)]
        return "\n".join(lines) + "\n"

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.csv_header)
        for row in self.csv_rows:
            writer.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in row])
        return out.getvalue()

    def as_dict(self) -> dict[str, object]:
        return {"title": self.title, "notes": list(self.notes),
                "rows": [dict(zip(self.csv_header, row)) for row in self.csv_rows]}


def accel_tag(acceleration: float) -> str:
    """``"4x"``."""
    return f"{acceleration:g}x"



def format_signed(value: float, decimals: int) -> str:
    """``"+0.52"``; non-finite values as :func:`format_number` writes them."""
    return format_number(value, decimals) if not math.isfinite(value) else f"{value:+.{decimals}f}"
