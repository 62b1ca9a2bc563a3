#!/bin/bash
# The residual-lesion-module probes of docs/lfmri.md ("Residual lesion module"): every arm is
# fine-tuned for 500 steps from the shipped no-focus ablation with the same data order, learning
# rate and seed, so the arms differ only in the lesion module and the loss.
#
#   scripts/focus_probes.sh OUT [ARM...]     arms: res-cam res-oracle ctl-camloss ctl-plain netc-recon
#                                            tgt-cam tgt-oracle tgt-cam-fast
#
# Needs the phase-2 training cache (LFMRI_TRAIN_CACHE, default ~/.cache/lfmri/training; it is
# generated on first use); SEED (default 2) sets the run seed (data order and draws). Each arm writes OUT/<arm>/ and OUT/<arm>.log and appends its time to
# OUT/done.log. On 2 CPU cores an lfmri arm takes about 25-40 minutes, a no-focus arm 10-15.
set -euo pipefail
out=${1:?usage: scripts/focus_probes.sh OUT [ARM...]}
shift
arms=("$@")
[ ${#arms[@]} -gt 0 ] || arms=(res-cam ctl-camloss res-oracle ctl-plain netc-recon)
here=$(cd "$(dirname "$0")/.." && pwd)
weights=$here/lfmri_core/weights
cache=${LFMRI_TRAIN_CACHE:-$HOME/.cache/lfmri/training}
py=${PYTHON:-python}
mkdir -p "$out"
common=(--cache "$cache" --train-volumes 12 --val-volumes 2 --batch-size 2 --crop-rows 160 --quiet
        --init-weights "$weights/unrolled-no-focus.safetensors" --lr 5e-4 --warmup-steps 50 --steps 500
        --validate-every 500 --checkpoint-every 250 --seed "${SEED:-2}")
for arm in "${arms[@]}"; do
    case $arm in
        res-cam) args=(lfmri --classifier "$weights/net_c.safetensors" --lesion-module residual --mu2-init 0.1 "${common[@]}");;
        res-oracle) args=(lfmri --focus oracle --lesion-module residual --mu2-init 0.1 "${common[@]}");;
        tgt-cam) args=(lfmri --classifier "$weights/net_c.safetensors" --lesion-module residual --lesion-term target
                       --mu2-init 1 "${common[@]}");;
        tgt-cam-fast) args=(lfmri --classifier "$weights/net_c.safetensors" --lesion-module residual --lesion-term target
                            --cam-once --lesion-width 8 --mu2-init 1 "${common[@]}");;
        tgt-oracle) args=(lfmri --focus oracle --lesion-module residual --lesion-term target --mu2-init 1 "${common[@]}");;
        ctl-camloss) args=(unrolled-no-focus --classifier "$weights/net_c.safetensors" --lesion-weight 1 "${common[@]}");;
        ctl-plain) args=(unrolled-no-focus "${common[@]}");;
        netc-recon) args=(classifier --cache "$cache" --train-volumes 12 --val-volumes 4 --lesion-free-twins --twin-pairs
                          --flip-fraction 0.5 --zero-filled-fraction 0 --lr 2e-4 --warmup-steps 30 --steps 200
                          --batch-size 16 --validate-every 200 --checkpoint-every 100 --seed 2 --quiet
                          --init-weights "$weights/net_c.safetensors" --recon-weights "$weights/lfmri.safetensors"
                          --recon-fraction 0.5);;
        *) echo "focus_probes.sh: unknown arm $arm" >&2; exit 2;;
    esac
    start=$(date +%s)
    rc=0
    "$py" -m lfmri_core.cli train "${args[@]}" --out "$out/$arm" > "$out/$arm.log" 2>&1 || rc=$?
    echo "$arm rc $rc $(( $(date +%s) - start )) s $(date -u)" >> "$out/done.log"
done
