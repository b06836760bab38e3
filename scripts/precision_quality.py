"""Does bf16 inference keep the quality of fp32? PSNR-Y on Vid4 frames, both precisions, same model.

The protocol is `savsr evaluate`'s (BI degradation, 8-bit output, Y of BT.601, a border of `scale` pixels) on
``--frames`` consecutive frames from the middle of each sequence. Prints the mean PSNR of each
precision and the per-frame differences (docs/performance.md quotes them).

Run: .venv/bin/python scripts/precision_quality.py [--model sa-vsrgan-x4] [--frames 5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from savsr.cli import default_vid4
from savsr.errors import SavsrError
from savsr.data.color import rgb_to_y
from savsr.media import FrameSource
from savsr.infer.upscaler import load_model
from savsr.evaluation import protocol_frame
from savsr.metrics.psnr_ssim import psnr


def frame_psnrs(model: str, precision: str, data: Path, count: int) -> list[float]:
    """PSNR-Y of the middle ``count`` frames of each sequence, each through ``protocol_frame``."""
    up = load_model(model, device="cpu", precision=precision)
    values = []
    for seq in sorted(p for p in data.iterdir() if p.is_dir()):
        source = FrameSource(seq)
        first = (source.info.num_frames or 0) // 2 - count // 2
        for index in range(first, first + count):
            hr, _, sr = protocol_frame(source, index, up.scale, up)
            out = torch.round(sr.output.double() * 255.0) / 255.0  # the 8-bit output, as evaluate scores it
            values.append(float(psnr(out, rgb_to_y(hr[None].double() / 255.0)[0], up.scale)))
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sa-vsrgan-x4")
    parser.add_argument("--frames", type=int, default=5, help="frames scored per sequence")
    parser.add_argument("--data", type=Path, help="Vid4 GT (default: $SAVSR_VID4, else data/vid4/GT)")
    args = parser.parse_args()
    if args.data is None:
        try:
            args.data = default_vid4()
        except SavsrError as exc:
            parser.error(str(exc))
    fp32 = np.array(frame_psnrs(args.model, "fp32", args.data, args.frames))
    bf16 = np.array(frame_psnrs(args.model, "bf16", args.data, args.frames))
    diff = bf16 - fp32
    print(f"{args.model}, {len(fp32)} Vid4 frames: PSNR-Y fp32 {fp32.mean():.4f} dB, bf16 {bf16.mean():.4f} dB")
    print(f"bf16 - fp32: mean {diff.mean():+.4f} dB, min {diff.min():+.4f}, max {diff.max():+.4f}")


if __name__ == "__main__":
    main()
