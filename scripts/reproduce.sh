#!/usr/bin/env bash
# Reproduce docs/reproduction.md from the bundled weights (no training): evaluate bicubic and
# every bundled model on Vid4 at x2, x3 and x4 with --regions and --temporal, draw the
# Fig. 4/5-style crops and the per-frame tLP plot, and rewrite the generated tables of the doc
# (scripts/reproduction_tables.py).
#
#   scripts/reproduce.sh                                    # all (about 20 min of 2 CPU cores per model and scale)
#   SCALES="4" MODELS="bicubic sa-vsrgan-x4" scripts/reproduce.sh
#   QUICK=2 scripts/reproduce.sh                            # first 2 frames of each sequence: a smoke test
#   PRECISION=bf16 scripts/reproduce.sh                     # networks in bf16: about 2x faster on CPUs with
#                                                           # native bf16, Vid4 PSNR within 0.01 dB of fp32
#
#   ENSEMBLE="sa-vsrgan-x4 sa-vsrgan-x3" scripts/reproduce.sh  # models also scored with --self-ensemble
#                                                           # (8x slower; default sa-vsrgan-x4; "" for none)
#
#   TEMPORAL= scripts/reproduce.sh                          # without tOF/tLP (on by default; off for QUICK
#                                                           # runs under 6 frames, too short for a pair)
#
# MODELS holds families (vsrresnet, vsrresfeatgan, sa-vsrgan and their LR-space siblings
# vsrresnet-lr, vsrresfeatgan-lr, sa-vsrgan-lr: every scale) or full names (sa-vsrgan-x4).
# Each scale's models are also timed end to end in one run (scripts/time_per_frame.py) for the
# LR-space table: run on an otherwise idle machine. A model without weights in WEIGHTS is skipped and shows as "not trained".
# An evaluation is reused when its weights (sha256), data and QUICK setting are unchanged;
# FORCE=1 redoes them all. QUICK results and tables go to their own folder, never to the doc.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
SCALES=${SCALES:-2 3 4}
MODELS=${MODELS:-bicubic vsrresnet vsrresfeatgan sa-vsrgan vsrresnet-lr vsrresfeatgan-lr sa-vsrgan-lr}
DATA=${DATA:-../shared/data/vid4/GT}
WEIGHTS=${WEIGHTS:-src/savsr/weights}
DEVICE=${DEVICE:-auto}
PRECISION=${PRECISION:-fp32}
ENSEMBLE=${ENSEMBLE-sa-vsrgan-x4}
QUICK=${QUICK:-}
FORCE=${FORCE:-}
if [[ -n $QUICK && $QUICK -lt 6 ]]; then TEMPORAL=${TEMPORAL-}; else TEMPORAL=${TEMPORAL-1}; fi
# The sequence whose per-frame tLP is plotted (TecoGAN's Fig. of tLP over time).
TLP_SEQUENCE=${TLP_SEQUENCE:-calendar}
if [[ -n $QUICK ]]; then
    OUT=${OUT:-eval_output/reproduction-quick$QUICK}
    DOC=${DOC:-$OUT/reproduction.md}
else
    OUT=${OUT:-eval_output/reproduction}
    DOC=${DOC:-docs/reproduction.md}
fi
# Table 1's families (the paper's generator), then the LR-space generator's (issue #31).
FAMILIES="vsrresnet vsrresfeatgan sa-vsrgan vsrresnet-lr vsrresfeatgan-lr sa-vsrgan-lr"
CROP_FAMILIES="vsrresnet vsrresfeatgan sa-vsrgan sa-vsrgan-lr"
# Fig. 4/5-style crops: sequence, frame, box (top left height width) at x3 and x4.
CROP_SEQUENCE=${CROP_SEQUENCE:-calendar}
CROP_FRAME=${CROP_FRAME:-$([[ -n $QUICK ]] && echo 0 || echo 20)}
CROP_BOX=${CROP_BOX:-190 150 96 128}

die() { echo "reproduce: error: $*" >&2; exit 2; }
[[ -x $BIN/savsr ]] || die "$BIN/savsr not found; run 'make install' first"
[[ -d $DATA ]] || die "$DATA: no such folder (Vid4 ground truth, one folder per sequence)"
for s in $SCALES; do [[ $s == 2 || $s == 3 || $s == 4 ]] || die "SCALES: $s is not 2, 3 or 4"; done
[[ -z $QUICK || $QUICK =~ ^[1-9][0-9]*$ ]] || die "QUICK must be a positive number of frames, got '$QUICK'"

selected() {  # selected FAMILY SCALE: is FAMILY (or FAMILY-xSCALE) in MODELS?
    [[ " $MODELS " == *" $1 "* || " $MODELS " == *" $1-x$2 "* ]]
}

if [[ -n $QUICK ]]; then  # the first QUICK frames of each sequence, as links
    quick_data=$OUT/data
    rm -rf "$quick_data"
    for seq in "$DATA"/*/; do
        name=$(basename "$seq")
        mkdir -p "$quick_data/$name"
        for f in $(ls "$seq" | sort | head -n "$QUICK"); do ln -s "$(cd "$seq" && pwd)/$f" "$quick_data/$name/$f"; done
    done
    DATA=$quick_data
fi

evaluate() {  # evaluate SCALE METHOD MODEL-ARG STAMP [EXTRA-ARG...]
    local dir=$OUT/x$1/$2
    if [[ -z $FORCE && -f $dir/stamp && $(cat "$dir/stamp") == "$4" && -f $dir/results.json ]]; then
        echo "x$1 $2: results reused ($dir)"
        return
    fi
    echo "x$1 $2: evaluating into $dir"
    nice -n 10 "$BIN/savsr" evaluate --scale "$1" --model "$3" --data "$DATA" --regions --device "$DEVICE" \
        --precision "$PRECISION" ${TEMPORAL:+--temporal} "${@:5}" \
        -o "$dir" --overwrite > "$dir.log" 2>&1 || { tail -n 5 "$dir.log" >&2; die "x$1 $2 failed (log: $dir.log)"; }
    echo "$4" > "$dir/stamp"
}

mkdir -p "$OUT"
for s in $SCALES; do
    mkdir -p "$OUT/x$s"
    if selected bicubic "$s"; then evaluate "$s" bicubic bicubic "bicubic data=$DATA quick=$QUICK temporal=$TEMPORAL"; fi
    timed=()  # every evaluated network of this scale, then timed end to end in one run
    for family in $FAMILIES; do
        weights=$WEIGHTS/$family-x$s.safetensors
        selected "$family" "$s" || continue
        if [[ ! -f $weights ]]; then echo "x$s $family: not trained ($weights missing)"; continue; fi
        stamp="$(sha256sum "$weights" | cut -d' ' -f1) data=$DATA quick=$QUICK precision=$PRECISION temporal=$TEMPORAL"
        evaluate "$s" "$family" "$weights" "$stamp"
        timed+=(--model "$family=$weights")
        if [[ " $ENSEMBLE " == *" $family-x$s "* ]]; then
            evaluate "$s" "$family+se" "$weights" "$stamp self_ensemble=1" --self-ensemble
        fi
    done
    (( ${#timed[@]} )) || continue
    rounds=$([[ -n $QUICK ]] && echo "--frames 2 --rounds 1" || echo "--frames 8 --rounds 3")
    # shellcheck disable=SC2086  # rounds is two options
    "$BIN/python" scripts/time_per_frame.py --scale "$s" "${timed[@]}" $rounds -o "$OUT/x$s/speed.json" --overwrite \
        > "$OUT/x$s/speed.log" 2>&1 || { tail -n 5 "$OUT/x$s/speed.log" >&2; die "x$s timing failed"; }
done

for s in $SCALES; do  # Fig. 4 (x4), Fig. 5 (x3) and the same at x2: GT | bicubic | the bundled models of that scale
    panels=()
    for family in $CROP_FAMILIES; do
        weights=$WEIGHTS/$family-x$s.safetensors
        if selected "$family" "$s" && [[ -f $weights ]]; then panels+=(--model "$family=$weights"); fi
    done
    (( ${#panels[@]} )) || continue
    figures=$([[ -n $QUICK ]] && echo "$OUT" || echo docs/figures)
    # shellcheck disable=SC2086  # CROP_BOX is four numbers
    "$BIN/python" scripts/compare_crops.py --data "$DATA" --sequence "$CROP_SEQUENCE" --frame "$CROP_FRAME" \
        --scale "$s" --box $CROP_BOX "${panels[@]}" -o "$figures/crops_x$s.png" --overwrite
done

if [[ -n $TEMPORAL ]]; then  # per-frame tLP of every evaluated method on one sequence, one panel per scale
    figures=$([[ -n $QUICK ]] && echo "$OUT" || echo docs/figures)
    "$BIN/python" scripts/plot_temporal.py "$OUT" --sequence "$TLP_SEQUENCE" -o "$figures/tlp_$TLP_SEQUENCE.png" --overwrite
fi

if [[ -n $QUICK && ! -f $DOC ]]; then cp docs/reproduction.md "$DOC"; fi
cards=()
[[ -n $QUICK ]] || cards=(--cards)  # the model cards carry their Vid4 tables too, but never a quick run's
# shellcheck disable=SC2086  # SCALES is a list: only their blocks of each section are rewritten
"$BIN/python" scripts/reproduction_tables.py "$OUT" --doc "$DOC" --weights "$WEIGHTS" --scales $SCALES "${cards[@]}"
