#!/usr/bin/env bash
# Train the shipped weights (lfmri_core/weights/) with the repo's own command, then copy them
# in. Usage: bash scripts/train_weights.sh [RUNS_DIR]   (default runs/weights)
#
# Phase 1 trains Net_c on image-level labels. Phase 2 trains the no-lesion-focus network with
# 5, 3 and 1 stages and the U-Net with the same data, steps, batch and seed (3000 steps); then
# each no-focus network is fine-tuned for 1500 more steps over 48 training subjects twice, from
# the same start with the same data order and seed: once as it is (the no-focus ablation, 5
# stages) and once as LF-MRI with the lesion module added (the target form with Net_c run once,
# docs/lfmri.md "The lesion term as a target"), so that LF-MRI and its ablation differ only in
# the lesion focus. A 1-stage LF-MRI runs Net_c once too, on the zero-filled input (--cam-once
# needs 2 stages). Last, each of the four continues for 1000 steps with lesion-rich batches (half
# of each batch from the slices with a lesion), again with one data order and seed for all, the
# LF-MRI networks with their lesion loss weighted by Net_c's refined pointer, and then four times 1000
# more steps of each with the same recipe and another seed.
# A step whose weights file exists is skipped, so an interrupted run continues where it stopped
# (each step also resumes from its checkpoint).
# Synthetic training data, generated into $LFMRI_CACHE/training: Net_c trains on the 352 lesion
# slices of 48 training subjects (PD + PDFS, 16 slices each), each paired with the same slice of
# its lesion-free twin (--lesion-free-twins --twin-pairs), with top-k pooling, and validates on
# 4 subjects (about 20 GB in all); phase 2 uses 12 training subjects and 2 validation subjects
# for every model (about 3 GB), the fine-tunings 48 training subjects without twins (about 10 GB).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-runs/weights}"
CACHE="${LFMRI_CACHE:-$HOME/.cache/lfmri}/training"
LFMRI=.venv/bin/lfmri
DATA=(--cache "$CACHE" --train-volumes 12 --val-volumes 2 --seed 0)
RECON=(--steps 3000 --batch-size 2 --crop-rows 160 --validate-every 500 --checkpoint-every 500)

step() {  # step NAME WEIGHTS_FILE -- lfmri train arguments...
    local name=$1 file=$2; shift 3
    if [[ -f "$file" ]]; then echo "== $name: $file exists, skipped"; return; fi
    local resume=(); [[ -f "$RUNS/$name/checkpoint.safetensors" ]] && resume=(--resume)
    echo "== $name: lfmri train $*"
    local start=$SECONDS
    "$LFMRI" train "$@" --out "$RUNS/$name" "${resume[@]}"
    echo "== $name: $((SECONDS - start)) s"
}

step netc "$RUNS/netc/classifier.safetensors" -- classifier --cache "$CACHE" --train-volumes 48 --val-volumes 4 --seed 0 \
    --lesion-free-twins --twin-pairs --pooling top-k --norm batch --flip-fraction 0.5 --zero-filled-fraction 0 --lr 5e-4 \
    --steps 1500 --batch-size 16 --validate-every 250 --checkpoint-every 250
NETC="$RUNS/netc/classifier.safetensors"
step unet "$RUNS/unet/unet.safetensors" -- unet "${DATA[@]}" "${RECON[@]}"
for t in 5 3 1; do
    step "base-t$t" "$RUNS/base-t$t/unrolled-no-focus.safetensors" -- unrolled-no-focus "${DATA[@]}" "${RECON[@]}" --num-stages "$t"
done
# 1500 steps over 48 subjects from each base, learning rate 5e-4 with 50 warm-up steps, seed 3
# (data order and draws)
TUNE=(--cache "$CACHE" --train-volumes 48 --val-volumes 2 --seed 3 --steps 1500 --batch-size 2 --crop-rows 160 --lr 5e-4
      --warmup-steps 50 --validate-every 500 --checkpoint-every 250)
FOCUS=(--classifier "$NETC" --lesion-module residual --lesion-term target --mu2-init 1 --lesion-width 8)
step unrolled-no-focus "$RUNS/unrolled-no-focus/unrolled-no-focus.safetensors" -- unrolled-no-focus "${TUNE[@]}" \
    --init-weights "$RUNS/base-t5/unrolled-no-focus.safetensors"
step lfmri "$RUNS/lfmri/lfmri.safetensors" -- lfmri "${TUNE[@]}" "${FOCUS[@]}" --cam-once \
    --init-weights "$RUNS/base-t5/unrolled-no-focus.safetensors"
step lfmri-t3 "$RUNS/lfmri-t3/lfmri.safetensors" -- lfmri "${TUNE[@]}" "${FOCUS[@]}" --cam-once --num-stages 3 \
    --init-weights "$RUNS/base-t3/unrolled-no-focus.safetensors"
step lfmri-t1 "$RUNS/lfmri-t1/lfmri.safetensors" -- lfmri "${TUNE[@]}" "${FOCUS[@]}" --num-stages 1 \
    --init-weights "$RUNS/base-t1/unrolled-no-focus.safetensors"

# continue_all FROM TO SEED: 1000 more steps of the four networks "<name>FROM" into "<name>TO",
# all with one data order and seed: lesion-rich batches (half of every batch drawn from the slices
# with a lesion, image-level labels; docs/lfmri.md "Lesion-rich batches"), LF-MRI's lesion loss
# weighted by Net_c's refined pointer instead of its CAM (docs/lfmri.md "The refined pointer as
# the lesion-loss weight")
continue_all() {
    local from=$1 to=$2 seed=$3
    local rich=(--cache "$CACHE" --train-volumes 48 --val-volumes 2 --seed "$seed" --steps 1000 --batch-size 2
                --crop-rows 160 --lr 5e-4 --warmup-steps 50 --validate-every 500 --checkpoint-every 250 --lesion-fraction 0.5)
    local lesion=("${FOCUS[@]}" --lesion-loss-focus pointer)
    step "unrolled-no-focus$to" "$RUNS/unrolled-no-focus$to/unrolled-no-focus.safetensors" -- unrolled-no-focus "${rich[@]}" \
        --init-weights "$RUNS/unrolled-no-focus$from/unrolled-no-focus.safetensors"
    step "lfmri$to" "$RUNS/lfmri$to/lfmri.safetensors" -- lfmri "${rich[@]}" "${lesion[@]}" --cam-once \
        --init-weights "$RUNS/lfmri$from/lfmri.safetensors"
    step "lfmri-t3$to" "$RUNS/lfmri-t3$to/lfmri.safetensors" -- lfmri "${rich[@]}" "${lesion[@]}" --cam-once --num-stages 3 \
        --init-weights "$RUNS/lfmri-t3$from/lfmri.safetensors"
    step "lfmri-t1$to" "$RUNS/lfmri-t1$to/lfmri.safetensors" -- lfmri "${rich[@]}" "${lesion[@]}" --num-stages 1 \
        --init-weights "$RUNS/lfmri-t1$from/lfmri.safetensors"
}
# then five such rounds: seed 4 (the first 2026-12-06 release), then seeds 6, 7, 8 and 9 (the
# second to fifth releases: the training budget raises every network's quality, docs/lfmri.md
# "Evaluation of the second 2026-12-06 weights" and the sections after it, up to "Evaluation
# of the shipped weights")
continue_all "" -rich 4
continue_all -rich -more 6
continue_all -more -more2 7
continue_all -more2 -more3 8
continue_all -more3 -more4 9

mkdir -p lfmri_core/weights
cp "$NETC" lfmri_core/weights/net_c.safetensors
cp "$RUNS/unet/unet.safetensors" lfmri_core/weights/unet.safetensors
for name in lfmri unrolled-no-focus; do cp "$RUNS/$name-more4/$name.safetensors" "lfmri_core/weights/$name.safetensors"; done
for t in 3 1; do cp "$RUNS/lfmri-t$t-more4/lfmri.safetensors" "lfmri_core/weights/lfmri-t$t.safetensors"; done
ls -l lfmri_core/weights/*.safetensors
