"""Fig. 4/5-style comparison: GT | bicubic | models on one Vid4 frame, with a zoomed crop.

    .venv/bin/python scripts/compare_crops.py --sequence calendar --frame 20 --scale 4 \
        --box 190 150 96 128 --model VSRResFeatGAN=vsrresfeatgan-x4 --model SA-VSRGAN=sa-vsrgan-x4 \
        -o docs/figures/crops_x4.png

The frame goes through the protocol of ``savsr evaluate`` (BI degradation, the model's 2M+1
window, 8-bit output), so the figure shows what the tables score; each label gives the frame's
PSNR-Y (s border pixels cropped).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from savsr.data.color import rgb_to_y
from savsr.media import FrameSource
from savsr.errors import SavsrError
from savsr.fileio import check_writable
from savsr.figures import save_comparison_figure
from savsr.infer.upscaler import load_model
from savsr.evaluation import protocol_frame
from savsr.metrics.psnr_ssim import psnr


def render(
    data: Path, sequence: str, frame: int, scale: int, box: tuple[int, int, int, int],
    models: dict[str, str], out: Path, overwrite: bool = False,
) -> Path:
    """Write the comparison figure of ``frame`` of ``sequence``; ``models`` maps label -> model."""
    check_writable(out, overwrite)
    seq = data / sequence
    if not seq.is_dir():
        raise SavsrError(f"{seq}: no such sequence folder")
    source = FrameSource(seq)
    hr, up, _ = protocol_frame(source, frame, scale)
    top, left, bh, bw = box
    if bh < 1 or bw < 1 or top < 0 or left < 0 or top + bh > hr.shape[1] or left + bw > hr.shape[2]:
        raise SavsrError(f"--box {top} {left} {bh} {bw} is not inside the {hr.shape[2]}×{hr.shape[1]} frame")
    gt = hr.double() / 255.0

    def labelled(name: str, rgb: torch.Tensor) -> tuple[str, torch.Tensor]:
        return f"{name} ({psnr(rgb_to_y(rgb[None])[0], rgb_to_y(gt[None])[0], scale):.2f} dB)", rgb

    panels = dict([("GT", gt), labelled("bicubic", up.double() / 255.0)])
    for label, name in models.items():
        _, _, sr = protocol_frame(source, frame, scale, load_model(name, "cpu", precision="fp32"))
        panels.update([labelled(label, torch.round(sr.rgb.double() * 255.0) / 255.0)])
    images = {k: v.permute(1, 2, 0).numpy() for k, v in panels.items()}
    title = f"{sequence} frame {frame}, ×{scale}; PSNR-Y of the whole frame"
    return save_comparison_figure(images, out, box, overwrite, title)


def _model_arg(text: str) -> tuple[str, str]:
    label, sep, name = text.partition("=")
    if not sep or not label or not name:
        raise argparse.ArgumentTypeError(f"expected LABEL=MODEL, got {text!r}")
    return label, name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/vid4/GT"), help="one folder per sequence")
    parser.add_argument("--sequence", required=True)
    parser.add_argument("--frame", type=int, required=True)
    parser.add_argument("--scale", type=int, required=True, choices=(2, 3, 4))
    parser.add_argument("--box", type=int, nargs=4, required=True, metavar=("TOP", "LEFT", "HEIGHT", "WIDTH"))
    parser.add_argument("--model", type=_model_arg, action="append", default=[], metavar="LABEL=MODEL",
                        help="a bundled model or .safetensors, shown as LABEL (repeatable, in order)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.png")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        out = render(args.data, args.sequence, args.frame, args.scale, tuple(args.box), dict(args.model),
                     args.output, args.overwrite)
    except SavsrError as exc:
        print(f"compare_crops: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
