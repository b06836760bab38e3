#!/usr/bin/env bash
# Does bf16 autocast + channels_last train like fp32? Two short VSRResNet ×4 pretraining runs from
# scratch, identical but for run.amp (same seed, data order and budget: 512 steps of 16 patches),
# one thread each so they can share the machine, then their curves side by side.
# Needs `make data`. The figure and numbers of docs/performance.md come from here.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
for amp in none bf16; do
  OMP_NUM_THREADS=1 $BIN/savsr train configs/cpu/vsrresnet_x4.yaml --out runs/precision_$amp \
    --set run.amp=$amp --set run.channels_last=true --set optim.lr_g=3e-4 --set run.batch_size=16 \
    --set data.samples_per_epoch=4096 --set run.epochs=2 --set run.log_every=16 --set run.val_every=128 \
    --set data.val_frames=2 --set run.checkpoint_every=128 --set run.image_every=100000 --set run.seed=7 \
    --resume auto > runs/precision_$amp.log 2>&1 &
done
wait
grep -h "val/psnr_y" runs/precision_none.log runs/precision_bf16.log
$BIN/python scripts/plot_curves.py runs/precision_none runs/precision_bf16 -o docs/figures/precision_convergence.png --overwrite
