"""Which convolutions int8 should keep in fp32: each choice's PSNR-Y and speed, measured in one run.

    .venv/bin/python scripts/int8_ablation.py sa-vsrgan-x4

The model's OpenVINO graph is quantized by infer/quantize.py ``quantize`` (calibrated on the bundled
clips of the training sources) with nothing, the first, the last, or the first and last
convolution left in fp32, and each version super-resolves the bundled demo clip (held out of
training and calibration: BI-degraded, all its windows), scored by `savsr evaluate`'s Scorer on
the 8-bit output: PSNR-Y with s border pixels cropped, and LPIPS-alex on the RGB frame a user sees
(a Y output joined to the bicubic chroma), the measure `--precision auto` judges int8 by, beside
fp32 and bf16. Speed: seconds per 720×576 output window of
each, timed round-robin on random input (benchmarks.common.interleaved). docs/performance.md
("int8") shows its table.
"""

from __future__ import annotations

import argparse
import sys
from importlib.resources import files
from pathlib import Path

import openvino as ov
import torch

from savsr import load_model
from savsr.data.color import assemble_rgb
from savsr.data.resize import bi_degrade
from savsr.data.window import sliding_windows, stack_window
from savsr.demo import CLIP
from savsr.evaluation import Scorer, SequenceResult
from savsr.evaluation.protocol import score_output
from savsr.infer.engine import compiled_precision, to_openvino
from savsr.infer.quantize import calibration_windows, convolutions, kept_convolutions, quantize
from savsr.infer.upscaler import SRFrame
from savsr.media import FrameSource

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import interleaved, machine_info  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default="sa-vsrgan-x4")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    up = load_model(args.model, device="cpu", precision="fp32", backend="torch")
    model, s, frames = up.model.float().eval(), up.scale, up.spec.frames
    in_channels = frames * up.spec.channels
    ov_model = to_openvino(model, in_channels)
    convs = convolutions(ov_model)
    windows = calibration_windows(lambda lr: up.prepare(lr)[0], s, frames)
    variants = {"fp32": (ov_model, "f32"), "bf16": (ov_model, "bf16")}
    recipe = kept_convolutions(ov_model, model)
    for label, keep in (("int8, all convolutions", []), ("int8, first convolution fp32", convs[:1]),
                        ("int8, last convolution fp32", convs[-1:]), ("int8, first and last fp32", [convs[0], convs[-1]])):
        variants[label + (" (the recipe)" if keep == recipe else "")] = (quantize(ov_model, windows, keep), "f32")
    core = ov.Core()
    threads = torch.get_num_threads()
    compiled = {k: core.compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads})
                for k, (m, hint) in variants.items()}

    clip = [torch.from_numpy(f).permute(2, 0, 1) for f in FrameSource(str(files("savsr") / "assets" / CLIP)).frames()]
    hr_lr = [bi_degrade(f, s)[:2] for f in clip]
    inputs, bicubic = zip(*(up.prepare(lr) for _, lr in hr_lr))
    gt_rgb = [hr.float() / 255 for hr, _ in hr_lr]
    scorer = Scorer(s, lpips="alex")
    x_speed = torch.rand(1, in_channels, *((144, 180) if up.spec.lr_input else (576, 720))).numpy()
    requests = {k: c.create_infer_request() for k, c in compiled.items()}
    secs = interleaved({k: (lambda r=r: r.infer({0: x_speed})) for k, r in requests.items()}, args.rounds, torch.device("cpu"))
    print(f"{args.model}, demo clip ({len(clip)} frames, ×{s}); speed per 720×576 output, {threads} threads, "
          f"{machine_info()['cpu']}\n")
    print("| version | computes | PSNR-Y (dB) | vs fp32 (dB) | LPIPS-alex | vs fp32 | s / frame | speed vs fp32 |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|")
    base = None
    for k, request in requests.items():
        res = SequenceResult(k, len(inputs))
        for i, window in enumerate(sliding_windows(list(range(len(inputs))), frames // 2)):
            x = stack_window([inputs[j] for j in window])[None].float()
            out = (model.base(x) + torch.from_numpy(request.infer({0: x.numpy()})[0])).clamp(0, 1)[0]
            score_output(scorer, res, i, SRFrame(out, assemble_rgb(out, bicubic[i]), bicubic[i]), gt_rgb[i])
        score, lp = res.mean("psnr"), res.mean("lpips")
        base = (score, lp) if base is None else base
        print(f"| {k} | {compiled_precision(compiled[k])} | {score:.3f} | {score - base[0]:+.3f} | {lp:.4f} | "
              f"{lp / base[1] - 1:+.2%} | {secs[k]:.3f} | {secs['fp32'] / secs[k]:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
