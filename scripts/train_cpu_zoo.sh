#!/usr/bin/env bash
# Train the CPU budget zoo, stage after stage, from the x4 pretraining that ended on a GPU
# (zoo/gpu_vsrresnet_x4, scripts/gpu/train_pretrain.sh): the x4 GAN stages, the x2/x3
# pretraining fine-tuned from it, and their GAN stages.
# Every stage resumes (`--resume auto`), so after a crash or a stop run the script again and it
# goes on where it was. A finished stage exports its best checkpoint (generator and
# discriminator in fp16, no optimizer state: scripts/export_run.py) to zoo/cpu_STAGE, which the
# later stages start from (their configs' run.init) and which git carries to the next machine.
# A stage whose zoo/cpu_STAGE exists is skipped.
#
#   make data && scripts/train_cpu_zoo.sh                          # every stage, about 3.5 hours on 2 cores
#   STAGES="sa_vsrgan_x4 vsrresfeatgan_x4" scripts/train_cpu_zoo.sh
#
# The order matters: the x2/x3 pretraining (fine-tuned from the x4 one) before their GAN stages.
# The SA and baseline GAN stages of a scale share the init, seed and budget (their configs differ
# only in β2, β3), so the ablation is fair. Logs: runs/cpu_STAGE.log.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
STAGES=${STAGES:-sa_vsrgan_x4 vsrresfeatgan_x4 vsrresnet_x2 vsrresnet_x3 sa_vsrgan_x2 sa_vsrgan_x3 vsrresfeatgan_x2 vsrresfeatgan_x3}

die() { echo "train_cpu_zoo: error: $*" >&2; exit 2; }
[[ -x $BIN/savsr ]] || die "$BIN/savsr not found; run 'make install' first"
[[ -d datasets/train_native && -d datasets/train_half ]] || die "no training sets in datasets/; run 'make data' first"
[[ -f zoo/gpu_vsrresnet_x4/generator.safetensors ]] || die "zoo/gpu_vsrresnet_x4 is missing (the x4 pretraining every stage starts from)"

for stage in $STAGES; do
    config=configs/cpu/$stage.yaml
    [[ -f $config ]] || die "$config: no such config"
    zoo=zoo/cpu_$stage run=runs/cpu_$stage
    if [[ -d $zoo ]]; then echo "$stage: done ($zoo)"; continue; fi
    echo "$stage: training into $run (log: $run.log)"
    mkdir -p runs
    "$BIN/savsr" train "$config" --out "$run" --resume auto >> "$run.log" 2>&1 \
        || { tail -n 3 "$run.log" >&2; die "$stage stopped (log: $run.log); run the script again to resume"; }
    "$BIN/python" scripts/export_run.py "$run" best "$zoo"
    echo "$stage: best checkpoint exported to $zoo"
done
