"""Which LPIPS variant could give the paper's PercepDist? Bicubic (and models) on Vid4 under several.

    .venv/bin/pip download --no-deps lpips==0.1.4 -d /tmp/lpips     # for the v0.0 linear layers
    .venv/bin/python scripts/percepdist_variants.py --scale 4 --lpips-wheel /tmp/lpips/lpips-0.1.4-py3-none-any.whl \
        --model sa-vsrgan-x4 --every 10

Bicubic BI-degraded Vid4 frames (docs/evaluation.md), and the SR frames of each ``--model``
(RGB: the SR Y joined to the bicubic Cb/Cr), are scored with LPIPS-alex in the variants
that a 2018 evaluation could have used: versions v0.1 and v0.0 of the linear layers (v0.0 also
skips the "scaling layer", as the official code did), inputs in [-1, 1] as the official code
expects or [0, 1] / 0-255 passed unconverted, RGB or Y, and the uncalibrated trunk distance
("lpips=False"). Prints a markdown table: mean over sequences of the per-sequence means.
docs/reproduction.md quotes it.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from savsr.data.color import rgb_to_y
from savsr.media import FrameSource
from savsr.infer.upscaler import load_model
from savsr.evaluation import protocol_frame, sequences
from savsr.metrics.lpips import LPIPS, unit_normalize


def wheel_lins(wheel: Path, version: str) -> list[Tensor]:
    """The five (1, C, 1, 1) linear layers of LPIPS-alex ``version`` from the lpips wheel."""
    with zipfile.ZipFile(wheel) as zf:
        state = torch.load(io.BytesIO(zf.read(f"lpips/weights/v{version}/alex.pth")), map_location="cpu", weights_only=True)
    return [state[f"lin{i}.model.1.weight"].float() for i in range(5)]


def distance(model: LPIPS, x0: Tensor, x1: Tensor, lins: list[Tensor] | None, scaling: bool) -> float:
    """LPIPS of the official recipe on inputs already in the trunk's range (no ×2−1 here).

    ``scaling``: apply the v0.1 scaling layer; ``lins`` None: the uncalibrated distance
    (channel sums of the squared unit-normalised feature differences, averaged in space).
    """
    if scaling:
        x0, x1 = (x0 - model.shift) / model.scale, (x1 - model.shift) / model.scale
    total = 0.0
    for i, (f0, f1) in enumerate(zip(model.trunk(x0), model.trunk(x1))):
        diff = (unit_normalize(f0) - unit_normalize(f1)).pow(2)
        total += float((diff * lins[i] if lins is not None else diff).sum(1).mean())
    return total


def variants(model: LPIPS, wheel: Path | None) -> dict[str, Callable[[Tensor, Tensor], float]]:
    """name -> f(sr_rgb, gt_rgb) for (1, 3, H, W) images in [0, 1]."""
    v01 = [lin.weight.detach() for lin in model.lins]
    pm1 = lambda x: x * 2 - 1  # noqa: E731 (the official [-1, 1] input)
    yrep = lambda x: rgb_to_y(x).expand(-1, 3, -1, -1)  # noqa: E731
    out = {
        "v0.1, RGB in [-1, 1] (official; savsr default)": lambda a, b: distance(model, pm1(a), pm1(b), v01, True),
        "v0.1, Y replicated, [-1, 1] (savsr --lpips-on y)": lambda a, b: distance(model, pm1(yrep(a)), pm1(yrep(b)), v01, True),
        "v0.1, RGB in [0, 1] passed as if [-1, 1]": lambda a, b: distance(model, a, b, v01, True),
        "v0.1, RGB 0-255 passed as if [-1, 1]": lambda a, b: distance(model, a * 255, b * 255, v01, True),
        "no linear layers (lpips=False), RGB in [-1, 1]": lambda a, b: distance(model, pm1(a), pm1(b), None, True),
    }
    if wheel is not None:
        v00, v01w = wheel_lins(wheel, "0.0"), wheel_lins(wheel, "0.1")
        gap = max(float((x - y).abs().max()) for x, y in zip(v01w, v01))
        if gap > 1e-6:  # the two distributions of v0.1 must be the same weights
            raise SystemExit(f"lpips wheel v0.1 differs from savsr's weights by {gap}")
        out |= {
            "v0.0, RGB in [-1, 1] (no scaling layer, as v0.0 ran)": lambda a, b: distance(model, pm1(a), pm1(b), v00, False),
            "v0.0, RGB in [0, 1] passed as if [-1, 1]": lambda a, b: distance(model, a, b, v00, False),
            "v0.0, Y replicated, [-1, 1]": lambda a, b: distance(model, pm1(yrep(a)), pm1(yrep(b)), v00, False),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/vid4/GT"))
    parser.add_argument("--scale", type=int, default=4, choices=(2, 3, 4))
    parser.add_argument("--lpips-wheel", type=Path, help="lpips-0.1.4 wheel, for the v0.0 linear layers")
    parser.add_argument("--model", action="append", default=[], help="also score this model (repeatable)")
    parser.add_argument("--every", type=int, default=1, help="score every N-th frame (default 1: all)")
    args = parser.parse_args()
    lpips = LPIPS("alex")
    funcs = variants(lpips, args.lpips_wheel)
    upscalers = {"bicubic": None} | {m: load_model(m, "cpu", precision="fp32") for m in args.model}  # as evaluate
    # method -> variant -> per-sequence means
    per_seq = {m: {name: [] for name in funcs} for m in upscalers}
    frames = 0
    with torch.no_grad():
        for seq in sequences(args.data):
            source = FrameSource(seq)
            values = {m: {name: [] for name in funcs} for m in upscalers}
            for index in range(0, source.info.num_frames or 0, args.every):
                for method, upscaler in upscalers.items():
                    hr, up, sr = protocol_frame(source, index, args.scale, upscaler)
                    # Scored as savsr evaluate does: the SR RGB rounded to 8 bits.
                    a = up.float() / 255.0 if sr is None else torch.round(sr.rgb.float() * 255.0) / 255.0
                    for name, f in funcs.items():
                        values[method][name].append(f(a[None], hr[None].float() / 255.0))
                frames += 1
            for method in upscalers:
                for name in funcs:
                    per_seq[method][name].append(float(np.mean(values[method][name])))
    print(f"×{args.scale} on {args.data} ({frames} frames: every {args.every}th), LPIPS-alex, mean over sequences:\n")
    print(f"| variant | {' | '.join(upscalers)} |\n|---|{'---:|' * len(upscalers)}")
    for name in funcs:
        print(f"| {name} | {' | '.join(f'{np.mean(per_seq[m][name]):.4f}' for m in upscalers)} |")


if __name__ == "__main__":
    main()
