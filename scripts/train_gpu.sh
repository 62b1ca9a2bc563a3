#!/usr/bin/env bash
# Train every model on one GPU in about 8 minutes, evaluate them, and collect it all in one folder.
#
# Usage: bash scripts/train_gpu.sh [--smoke] [RUN_DIR]        (default RUN_DIR: runs/gpu)
#
# What it does (each step is the repository's own `lfmri` command; logs in RUN_DIR/logs):
#   1. synthetic data on all CPU cores: Net_c's training subjects with their lesion-free twins,
#      the reconstruction networks' subjects (the same files, hard-linked) and 2 validation
#      subjects (the CPU recipe's, so validation figures compare with the shipped weights');
#   2. Net_c (phase 1, the CPU recipe: twin pairs, top-k pooling, BatchNorm), and beside it the
#      U-Net baseline and the held-out test set (CPU);
#   3. phase 2, six runs side by side on the one GPU, with the same number of steps (a pace
#      group fits it to the time budget of the slowest): LF-MRI in the shipped design (T = 5, 3,
#      1: the residual lesion module that moves the denoiser's target, Net_c run once,
#      `--lesion-term target --cam-once --lesion-width 8`, the lesion loss weighted by Net_c's
#      refined pointer, `--lesion-loss-focus pointer`, docs/lfmri.md), the no-focus ablation,
#      LF-MRI with the oracle focus (the annotated boxes instead of the CAM: the ceiling of the
#      lesion mechanism) and LF-MRI in the paper's design (`lfmri-paper`: the lesion term adds
#      weight, Net_c in every stage, its loss weighted by the CAM); all six draw half of each
#      batch from the slices with a lesion (`--lesion-fraction 0.5`);
#   4. `lfmri evaluate` on the GPU (learned methods and zero filling; compressed sensing, which
#      does not depend on training, is left to the CPU evaluation), and a summary.
# Outputs: RUN_DIR/weights/*.safetensors (named as lfmri evaluate --weights-dir expects),
# RUN_DIR/runs/<name>/train_log.jsonl, RUN_DIR/evaluate/results.md|json|csv,
# RUN_DIR/summary.md, RUN_DIR/logs/*.log.
#
# --smoke runs the same steps on the CPU with tiny settings (a few minutes on 2 cores), so the
# script is known to work before a GPU is seen; without --smoke it needs a CUDA GPU.
# The time budgets can be changed: NETC_SECONDS (default 60), RECON_SECONDS (default 180).
# It needs Python with torch, numpy, scipy, h5py, safetensors and tqdm, and nothing installed:
# the project runs from this checkout (PYTHONPATH), so no network and no build are needed.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
RUN_DIR=runs/gpu
for arg in "$@"; do
    case $arg in
        --smoke) smoke=1 ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        -*) echo "train_gpu.sh: unknown option $arg (use --smoke or a run folder)" >&2; exit 2 ;;
        *) RUN_DIR=$arg ;;
    esac
done

PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
# Several runs share the machine: one intra-op thread each (OpenMP spin-waiting of oversubscribed
# threads slows small tensor operations by orders of magnitude; on a GPU the CPU only launches).
export OMP_NUM_THREADS=1
LFMRI=("$PY" -m lfmri_core.cli)

if [ "$smoke" = 0 ]; then
    if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        echo "train_gpu.sh: no CUDA GPU is visible to torch ($PY); run 'bash scripts/train_gpu.sh --smoke' for the small CPU run" >&2
        exit 3
    fi
    device=cuda
    cores=$(nproc)
    netc_subjects=48; recon_subjects=48; val_subjects=2; slices=16
    crop_rows=160
    netc_budget=(--steps 1000000 --time-budget "${NETC_SECONDS:-60}" --warmup-steps 50)
    recon_budget=(--steps 1000000 --time-budget "${RECON_SECONDS:-180}" --warmup-steps 50)
    unet_budget=(--steps 1000000 --time-budget "$(( ${NETC_SECONDS:-60} + ${RECON_SECONDS:-180} ))" --warmup-steps 50)
    netc_batch=32; recon_batch=16; recon_lr=2e-3
    test_set=()
    [ -n "${TEST_SUBJECTS:-}" ] && test_set=(--num-volumes "$TEST_SUBJECTS")
    val_slices=32
    accelerations=(4 8)
else
    device=cpu
    cores=2
    netc_subjects=1; recon_subjects=1; val_subjects=1; slices=8; crop_rows=32
    netc_budget=(--steps 2); recon_budget=(--steps 2); unet_budget=(--steps 2)
    netc_batch=4; recon_batch=2; recon_lr=1e-3
    test_set=(--num-volumes 1 --num-slices 2)
    val_slices=4
    accelerations=(8)
fi

CACHE=${LFMRI_CACHE:-$RUN_DIR/cache}
mkdir -p "$RUN_DIR/logs" "$RUN_DIR/weights" "$RUN_DIR/runs"
rm -rf "$RUN_DIR/pace"
started=$SECONDS
say() { echo "[train_gpu $((SECONDS - started)) s] $*"; }
fail() { echo "train_gpu.sh: $1 failed; the end of $2:" >&2; tail -n 20 "$2" >&2; exit 1; }

common=(--cache "$CACHE/training" --num-slices "$slices" --val-volumes "$val_subjects" --seed 0 --device "$device" --quiet
        --validate-every 1000000 --checkpoint-every 1000000 --val-slices "$val_slices")
netc_data=(--train-volumes "$netc_subjects" --lesion-free-twins)
recon_data=(--train-volumes "$recon_subjects")

# 1. data (generated once, all cores; the phase-2 set links the Net_c set's files)
say "generating data on $cores processes ($netc_subjects subjects with twins, $val_subjects validation subjects)"
"${LFMRI[@]}" train classifier --out "$RUN_DIR/runs/prepare" "${common[@]}" "${netc_data[@]}" \
    --data-workers "$cores" --prepare-data > "$RUN_DIR/logs/data.log" 2>&1 || fail "data generation" "$RUN_DIR/logs/data.log"
"${LFMRI[@]}" train unrolled-no-focus --out "$RUN_DIR/runs/prepare" "${common[@]}" "${recon_data[@]}" \
    --data-workers "$cores" --prepare-data >> "$RUN_DIR/logs/data.log" 2>&1 || fail "data generation" "$RUN_DIR/logs/data.log"

# 2. Net_c, with the U-Net and the test set beside it
run() {  # run NAME TASK ARGS...: one training run in the background; its pid goes to pids[NAME]
    local name=$1 task=$2; shift 2
    rm -rf "$RUN_DIR/runs/$name"
    "${LFMRI[@]}" train "$task" --out "$RUN_DIR/runs/$name" "${common[@]}" --preload "$@" \
        > "$RUN_DIR/logs/$name.log" 2>&1 &
    pids[$name]=$!
}
failed=()
finish() {  # finish NAME WEIGHTS: wait for a run and copy its weights to RUN_DIR/weights/NAME.safetensors
    local name=$1 weights=$2
    if wait "${pids[$name]}"; then
        cp "$RUN_DIR/runs/$name/$weights" "$RUN_DIR/weights/$name.safetensors"
        say "$name done: $(tail -n 3 "$RUN_DIR/logs/$name.log" | head -n 1)"
    else  # the other runs go on; the evaluation leaves this one out
        failed+=("$name")
        echo "train_gpu.sh: training $name failed; the end of $RUN_DIR/logs/$name.log:" >&2
        tail -n 20 "$RUN_DIR/logs/$name.log" >&2
    fi
}
declare -A pids=()
say "phase 1: Net_c; beside it the U-Net and the test set"
run net_c classifier "${netc_data[@]}" --twin-pairs --pooling top-k --norm batch --flip-fraction 0.5 \
    --zero-filled-fraction 0 --lr 5e-4 --batch-size "$netc_batch" "${netc_budget[@]}"
run unet unet "${recon_data[@]}" --batch-size "$recon_batch" --lr "$recon_lr" --crop-rows "$crop_rows" "${unet_budget[@]}"
"${LFMRI[@]}" evaluate --prepare-data --out "$RUN_DIR/evaluate" --cache "$CACHE/evaluate" "${test_set[@]}" \
    --data-workers "$(( cores > 4 ? cores - 3 : 1 ))" --quiet > "$RUN_DIR/logs/testset.log" 2>&1 &
testset_pid=$!
finish net_c classifier.safetensors
NETC="$RUN_DIR/weights/net_c.safetensors"

# 3. phase 2: six runs (those that need Net_c only if it trained), one step count
recon_runs=(unrolled-no-focus lfmri-oracle)
[ -f "$NETC" ] && recon_runs+=(lfmri lfmri-paper lfmri-t3 lfmri-t1)
say "phase 2: ${#recon_runs[@]} reconstruction networks with one step count"
group=(--pace-group "$RUN_DIR/pace" --pace-group-size "${#recon_runs[@]}")
[ "$smoke" = 1 ] && group=()
target=(--classifier "$NETC" --lesion-module residual --lesion-term target --lesion-width 8 --mu2-init 1
        --lesion-loss-focus pointer)
recon=("${recon_data[@]}" --batch-size "$recon_batch" --lr "$recon_lr" --crop-rows "$crop_rows" --lesion-fraction 0.5
       "${recon_budget[@]}" "${group[@]}")
for name in "${recon_runs[@]}"; do
    case $name in
        unrolled-no-focus) run "$name" unrolled-no-focus "${recon[@]}" ;;
        lfmri-oracle) run "$name" lfmri --focus oracle "${recon[@]}" ;;
        lfmri) run "$name" lfmri "${target[@]}" --cam-once "${recon[@]}" ;;
        lfmri-paper) run "$name" lfmri --classifier "$NETC" "${recon[@]}" ;;
        lfmri-t3) run "$name" lfmri "${target[@]}" --cam-once --num-stages 3 "${recon[@]}" ;;
        lfmri-t1) run "$name" lfmri "${target[@]}" --num-stages 1 "${recon[@]}" ;;  # Net_c once, on the zero-filled input
    esac
done
for name in "${recon_runs[@]}"; do
    case $name in unrolled-no-focus) file=unrolled-no-focus.safetensors ;; *) file=lfmri.safetensors ;; esac
    finish "$name" "$file"
done
finish unet unet.safetensors
wait "$testset_pid" || fail "test set generation" "$RUN_DIR/logs/testset.log"

# 4. evaluation (GPU) of what trained, and summary
methods=(zero-filled)
for name in unet unrolled-no-focus lfmri lfmri-oracle; do
    [ -f "$RUN_DIR/weights/$name.safetensors" ] && methods+=("$name")
done
variants=()
[ -f "$RUN_DIR/weights/lfmri-paper.safetensors" ] && variants=(--variant "lfmri-paper=$RUN_DIR/weights/lfmri-paper.safetensors")
say "evaluation: ${methods[*]} ${variants[*]}"
"${LFMRI[@]}" evaluate --out "$RUN_DIR/evaluate" --cache "$CACHE/evaluate" "${test_set[@]}" --device "$device" \
    --weights-dir "$RUN_DIR/weights" --accelerations "${accelerations[@]}" --methods "${methods[@]}" "${variants[@]}" \
    --quiet > "$RUN_DIR/logs/evaluate.log" 2>&1 || fail "evaluation" "$RUN_DIR/logs/evaluate.log"
"$PY" scripts/summarise_runs.py "$RUN_DIR" > "$RUN_DIR/summary.md"
say "done: $RUN_DIR/summary.md, $RUN_DIR/evaluate/results.md"
cat "$RUN_DIR/summary.md"
if [ ${#failed[@]} -gt 0 ]; then
    echo "train_gpu.sh: these runs failed: ${failed[*]}" >&2
    exit 1
fi
