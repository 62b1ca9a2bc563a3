"""Rows of a table written as CSV, atomically (a reader never sees half a file)."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from lfmri_core.io.atomic import atomic_path


def write_csv(path: str | os.PathLike[str], rows: Sequence[Mapping[str, object]],
              columns: Sequence[str] | None = None) -> Path:
    """Write ``rows`` under ``columns`` (default: every key, in first-seen order) to ``path``."""
    fields = list(columns) if columns is not None else list(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields or ["method"])
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


__all__ = ["write_csv"]
