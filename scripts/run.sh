#!/usr/bin/env bash
# The main job on the embedded sample data: set up .venv if needed (with the viewer and, as root,
# the Debian packages napari needs), synthesise the sample volumes (cached) and open napari with
# the sample, the "LF-MRI reconstruction" dock widget and its overlays. Without a display it
# renders the same scene under Xvfb at 4x and 8x and writes screenshots, the metrics of the
# shown slice and the CAM failure-case table to out/view (or the folder given).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
exec .venv/bin/lfmri-view --out "${1:-out/view}"
