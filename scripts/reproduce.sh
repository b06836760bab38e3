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
#   DEGRADED="h264:25" scripts/reproduce.sh                # degraded input (issue #33): the specs evaluated at
#                                                           # x4 (default "bd h264:15 h264:25 h264:35"; "" for none)
#   REAL_CLIP= scripts/reproduce.sh                         # without the real-footage figures
#
# MODELS holds families (vsrresnet, vsrresfeatgan, sa-vsrgan and their LR-space siblings
# vsrresnet-lr, vsrresfeatgan-lr, sa-vsrgan-lr: every scale; the degraded-input families below:
# x4) or full names (sa-vsrgan-x4).
#
# Layout: $OUT/xS/FAMILY/ holds `savsr evaluate` of FAMILY-xS (or bicubic) on BI Vid4, and
# $OUT/xS/FAMILY+se/ the same with --self-ensemble. Degraded input: $OUT/x4/FAMILY@TAG/ holds
# `savsr evaluate --degradation SPEC`, TAG the SPEC as savsr evaluate names its own folders (':'
# written '-', '+' written '_': bicubic@bd, sa-vsrgan@h264-25). A spec of BD (bd, bd+...) is run for
# bicubic and BD_FAMILIES (LR-space, trained on BD), any other for bicubic and CRF_FAMILIES (the BI
# models and the one trained on the `real` pipeline), which are also scored on the clean BI input;
# reproduction_tables.py's degraded section tabulates bd and h264 at CRF 15, 25 and 35. With x4 in
# SCALES, REAL_CLIP (a 720p clip) gives two figures, each on REAL_REGION of frame REAL_FRAME: taken x4
# down and through REAL_DEGRADATION, GT | bicubic | CRF_FAMILIES (real_x4.png), and upscaled from the
# clip's own frames (real_original_x4.png).
# Each scale's models are also timed end to end in one run (scripts/time_per_frame.py) for the
# LR-space table, in PRECISION as they are scored (auto would put some in int8, some not): run
# on an otherwise idle machine. A model without weights in WEIGHTS is skipped and shows as "not trained".
# An evaluation is reused when its weights (sha256), data and QUICK setting are unchanged;
# FORCE=1 redoes them all. QUICK results and tables go to their own folder, never to the doc.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
SCALES=${SCALES:-2 3 4}
MODELS=${MODELS:-bicubic vsrresnet vsrresfeatgan sa-vsrgan vsrresnet-lr vsrresfeatgan-lr sa-vsrgan-lr vsrresnet-bd-lr vsrresfeatgan-bd-lr sa-vsrgan-bd-lr sa-vsrgan-real}
DATA=${DATA:-../shared/data/vid4/GT}
WEIGHTS=${WEIGHTS:-src/savsr/weights}
DEVICE=${DEVICE:-auto}
PRECISION=${PRECISION:-fp32}
ENSEMBLE=${ENSEMBLE-sa-vsrgan-x4}
DEGRADED=${DEGRADED-bd h264:15 h264:25 h264:35}
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
# Degraded input (issue #33, x4 only): the BD-trained LR-space families, and those shown on compressed input.
BD_FAMILIES="vsrresnet-bd-lr vsrresfeatgan-bd-lr sa-vsrgan-bd-lr"
CRF_FAMILIES="sa-vsrgan sa-vsrgan-lr sa-vsrgan-real"
# Real footage: a clip, its frame, the region of it (top left height width) and the zoomed box in that region.
REAL_CLIP=${REAL_CLIP-../shared/data/videos/sam2gallery_02_cups.mp4}
REAL_FRAME=${REAL_FRAME:-30}
REAL_REGION=${REAL_REGION:-144 384 320 512}
REAL_BOX=${REAL_BOX:-136 196 96 128}
REAL_DEGRADATION=${REAL_DEGRADATION:-h264:25}

die() { echo "reproduce: error: $*" >&2; exit 2; }
[[ -x $BIN/savsr ]] || die "$BIN/savsr not found; run 'make install' first"
[[ -d $DATA ]] || die "$DATA: no such folder (Vid4 ground truth, one folder per sequence)"
for s in $SCALES; do [[ $s == 2 || $s == 3 || $s == 4 ]] || die "SCALES: $s is not 2, 3 or 4"; done
[[ -z $QUICK || $QUICK =~ ^[1-9][0-9]*$ ]] || die "QUICK must be a positive number of frames, got '$QUICK'"
[[ -z $REAL_CLIP || -f $REAL_CLIP ]] || die "REAL_CLIP: $REAL_CLIP: no such file (REAL_CLIP= skips the real-footage figures)"

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

stamp() {  # stamp bicubic|WEIGHTS: what an evaluation's results depend on, besides its degradation
    if [[ $1 == bicubic ]]; then echo "bicubic data=$DATA quick=$QUICK temporal=$TEMPORAL"
    else echo "$(sha256sum "$1" | cut -d' ' -f1) data=$DATA quick=$QUICK precision=$PRECISION temporal=$TEMPORAL"; fi
}

evaluate() {  # evaluate SCALE METHOD MODEL-ARG STAMP DEGRADATION [EXTRA-ARG...]
    local name=$2 stamp=$4 tag
    if [[ $5 != bi ]]; then  # METHOD@TAG, and the spec in the stamp (BI's stamps predate it)
        tag=${5//:/-}
        name=$2@${tag//+/_}
        stamp="$4 degradation=$5"
    fi
    local dir=$OUT/x$1/$name
    if [[ -z $FORCE && -f $dir/stamp && $(cat "$dir/stamp") == "$stamp" && -f $dir/results.json ]]; then
        echo "x$1 $name: results reused ($dir)"
        return
    fi
    echo "x$1 $name: evaluating into $dir"
    nice -n 10 "$BIN/savsr" evaluate --scale "$1" --model "$3" --data "$DATA" --regions --device "$DEVICE" \
        --precision "$PRECISION" ${TEMPORAL:+--temporal} --degradation "$5" "${@:6}" \
        -o "$dir" --overwrite > "$dir.log" 2>&1 || { tail -n 5 "$dir.log" >&2; die "x$1 $name failed (log: $dir.log)"; }
    echo "$stamp" > "$dir/stamp"
}

mkdir -p "$OUT"
for s in $SCALES; do
    mkdir -p "$OUT/x$s"
    if selected bicubic "$s"; then evaluate "$s" bicubic bicubic "$(stamp bicubic)" bi; fi
    timed=()  # every evaluated network of this scale, then timed end to end in one run
    for family in $FAMILIES; do
        weights=$WEIGHTS/$family-x$s.safetensors
        selected "$family" "$s" || continue
        if [[ ! -f $weights ]]; then echo "x$s $family: not trained ($weights missing)"; continue; fi
        evaluate "$s" "$family" "$weights" "$(stamp "$weights")" bi
        timed+=(--model "$family=$weights")
        if [[ " $ENSEMBLE " == *" $family-x$s "* ]]; then
            evaluate "$s" "$family+se" "$weights" "$(stamp "$weights") self_ensemble=1" bi --self-ensemble
        fi
    done
    (( ${#timed[@]} )) || continue
    rounds=$([[ -n $QUICK ]] && echo "--frames 2 --rounds 1" || echo "--frames 8 --rounds 3")
    # shellcheck disable=SC2086  # rounds is two options
    "$BIN/python" scripts/time_per_frame.py --scale "$s" "${timed[@]}" --precision "$PRECISION" $rounds -o "$OUT/x$s/speed.json" --overwrite \
        > "$OUT/x$s/speed.log" 2>&1 || { tail -n 5 "$OUT/x$s/speed.log" >&2; die "x$s timing failed"; }
done

if [[ " $SCALES " == *" 4 "* ]]; then  # degraded input (issue #33): x4 only
    # bi first: the real model's clean-input row of the H.264 table (the BI models' are reused)
    for spec in ${DEGRADED:+bi} $DEGRADED; do
        case $spec in bd | bd+*) families=$BD_FAMILIES ;; *) families=$CRF_FAMILIES ;; esac
        if selected bicubic 4; then evaluate 4 bicubic bicubic "$(stamp bicubic)" "$spec"; fi
        for family in $families; do
            weights=$WEIGHTS/$family-x4.safetensors
            selected "$family" 4 || continue
            if [[ ! -f $weights ]]; then echo "x4 $family ($spec): not trained ($weights missing)"; continue; fi
            evaluate 4 "$family" "$weights" "$(stamp "$weights")" "$spec"
        done
    done
fi

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

if [[ -n $REAL_CLIP && " $SCALES " == *" 4 "* ]]; then  # real footage: degraded with GT, then from the original
    panels=()
    for family in $CRF_FAMILIES; do
        weights=$WEIGHTS/$family-x4.safetensors
        if selected "$family" 4 && [[ -f $weights ]]; then panels+=(--model "$family=$weights"); fi
    done
    figures=$([[ -n $QUICK ]] && echo "$OUT" || echo docs/figures)
    # shellcheck disable=SC2086  # REAL_REGION and REAL_BOX are four numbers each
    real=(--video "$REAL_CLIP" --frame "$REAL_FRAME" --region $REAL_REGION --box $REAL_BOX --scale 4
          --clip-frames "${QUICK:-16}" "${panels[@]}" --overwrite)
    "$BIN/python" scripts/compare_crops.py "${real[@]}" --degradation "$REAL_DEGRADATION" -o "$figures/real_x4.png"
    "$BIN/python" scripts/compare_crops.py "${real[@]}" --original -o "$figures/real_original_x4.png"
fi

if [[ -n $TEMPORAL ]]; then  # per-frame tLP of every evaluated method on one sequence, one panel per scale
    figures=$([[ -n $QUICK ]] && echo "$OUT" || echo docs/figures)
    "$BIN/python" scripts/plot_temporal.py "$OUT" --sequence "$TLP_SEQUENCE" -o "$figures/tlp_$TLP_SEQUENCE.png" --overwrite
fi

if [[ -n $QUICK && ! -f $DOC ]]; then cp docs/reproduction.md "$DOC"; fi
cards=()
[[ -n $QUICK ]] || cards=(--cards)  # the model cards carry their Vid4 tables too, but never a quick run's
# shellcheck disable=SC2086  # SCALES is a list: only their blocks of each section are rewritten
"$BIN/python" scripts/reproduction_tables.py "$OUT" --doc "$DOC" --weights "$WEIGHTS" --scales $SCALES "${cards[@]}"
