#!/usr/bin/env bash
# The viewer screenshots in docs/images (README, docs/viewer.md): the rendered scene of
# `lfmri-view --screenshots` on the embedded sample at 4x and 8x, renamed, and the dock's
# mask drawing and Movie tab (scripts/make_viewer_tab_screenshots.py). Needs .venv (run
# scripts/setup.sh run first); renders under Xvfb when there is no display.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
.venv/bin/lfmri-view --screenshots --out "$out"
run=()
if [ -z "${DISPLAY:-}" ]; then
    run=(xvfb-run -a -s "-screen 0 1920x1200x24")
fi
"${run[@]}" .venv/bin/python scripts/make_viewer_tab_screenshots.py "$out"
mkdir -p docs/images
for accel in 4 8; do
    cp "$out"/lfmri_knee_pd_slice*_"${accel}"x.png "docs/images/viewer_${accel}x.png"
done
cp "$out"/viewer_mask.png "$out"/viewer_movie.png docs/images/
cp "$out"/lfmri_knee_pd_metrics.md docs/images/viewer_metrics.md
ls -l docs/images/viewer_*
