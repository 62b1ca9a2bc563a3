"""Record the shipped weights' PSNR on the quality-regression slice (after retraining them).

Run from the repository root::

    .venv/bin/python scripts/record_weights_quality.py

It measures LF-MRI, the no-focus ablation, the U-Net and zero-filled on the fixed slice and
masks of ``tests/core/recon/test_shipped_quality.py`` (the protocol in
``tests/core/recon/shipped_weights_quality.json``), rewrites that file's PSNR values, weights
hashes and machine, and prints the table for docs/lfmri.md. Check the numbers before you
commit them: the test then holds every later run to them.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lfmri_core.weights as shipped  # noqa: E402
from lfmri_core.io.atomic import atomic_path  # noqa: E402
from lfmri_core.machine import describe_machine  # noqa: E402
from tests.core.recon.test_shipped_quality import EXPECTED, METHODS, expected, measure, sha256  # noqa: E402


def main() -> int:
    record = expected()
    decimals = record["decimals"]
    table = {}
    for setting, chosen in record["protocol"]["settings"].items():
        measured = measure(chosen["acceleration"], chosen["center_fraction"], METHODS)
        table[setting] = {m: round(v["psnr"], decimals) for m, v in measured.items()}
    record["psnr_db"] = table
    record["weights_sha256"] = {m: sha256(shipped.shipped_weights(m)) for m in METHODS}
    record["recorded"] = {"date": datetime.date.today().isoformat(), "machine": describe_machine("cpu")}
    with atomic_path(EXPECTED) as part:
        Path(part).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {EXPECTED}\n")
    print("| method | " + " | ".join(f"PSNR {s}" for s in table) + " |")
    print("|---|" + "---|" * len(table))
    for method in ("zero-filled", *METHODS):
        print(f"| {method} | " + " | ".join(f"{table[s][method]:.{decimals}f} dB" for s in table) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
