#!/usr/bin/env bash
# The GPU checks, in about 4 minutes on one GPU: the test suite's CUDA-parametrised tests, the
# CPU/GPU agreement of the SENSE operator, ESPIRiT and every shipped model
# (scripts/gpu_check.py), and the model benchmark on the GPU (LF-MRI against fastMRI's VarNet
# per slice at 320 x 320 x 8 and 640 x 368 x 15, and a 35-slice 640 x 368 x 15 volume through
# LF-MRI).
#
# Usage: bash scripts/gpu_check.sh [OUT_DIR]          (default runs/gpu_check)
# Needs a CUDA GPU, Python with torch, pytest and the project's dependencies; the benchmark's
# VarNet needs the fastmri package (pip install --no-deps fastmri==0.3.0). Every part runs even
# when an earlier one fails; the exit status is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/gpu_check}
mkdir -p "$out"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check.sh: no CUDA GPU is visible to torch ($PY)" >&2
    exit 3
fi
status=0
start=$SECONDS
echo "== CUDA-parametrised tests"
# pytest options of the project (napari and Qt plugins) are not needed here
"$PY" -m pytest -q -p no:cacheprovider -o addopts="" -W "ignore::pytest.PytestConfigWarning" \
    --continue-on-collection-errors -k cuda tests/core/physics tests/core/coils tests/core/models \
    tests/core/recon/test_learned.py tests/core/recon/test_classical.py 2>&1 | tee "$out/tests.log" | tail -n 15
[ "${PIPESTATUS[0]}" = 0 ] || status=1
echo "== CPU/GPU agreement ($((SECONDS - start)) s)"
"$PY" scripts/gpu_check.py --out "$out/agreement.json" 2>&1 | tee "$out/agreement.log" || status=1
echo "== model benchmark ($((SECONDS - start)) s)"
"$PY" benchmarks/bench_models.py --device cuda --repeats 10 --volume-slices 35 2>&1 | tee "$out/bench_models.log" || status=1
echo "== done in $((SECONDS - start)) s, status $status"
exit $status
