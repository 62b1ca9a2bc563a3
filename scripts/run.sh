#!/usr/bin/env bash
# The main job on the embedded sample data: set up .venv if needed, synthesise the sample
# volumes (cached), reconstruct them at 4x and 8x and write the report and figures to out/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
exec .venv/bin/lfmri demo --out "${1:-out/demo}"
