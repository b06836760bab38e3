"""How much MATLAB's uint8 rounding (after each imresize pass) changes Vid4 bicubic PSNR.

savsr follows Octave (float32, one rounding at the end). This script emulates MATLAB's
imresizemex (float64, round and saturate after each of the two 1-D passes, rows first) and
reports the PSNR difference per frame and on the mean, for ×2, ×3 and ×4.

Run: .venv/bin/python scripts/matlab_rounding_effect.py [--data ../shared/data/vid4/GT]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from savsr.media import FrameSource
from savsr.data.resize import resize_along, crop_to_multiple, imresize
from savsr.metrics import psnr


def matlab_imresize_uint8(x: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB's uint8 path: double precision, rounded and saturated after each pass."""
    def one(t: torch.Tensor, dim: int) -> torch.Tensor:
        return torch.floor(resize_along(t, dim, scale) + 0.5).clamp_(0, 255)
    work = x.to(torch.float64)
    return one(one(work, work.dim() - 2), work.dim() - 1).to(torch.uint8)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/data/vid4/GT"))
    args = parser.parse_args()
    for s in (2, 3, 4):
        seq_means = {"octave": [], "matlab": []}
        worst = worst_seq = 0.0
        for seq in sorted(p for p in args.data.iterdir() if p.is_dir()):
            values = {"octave": [], "matlab": []}
            for frame in FrameSource(seq):
                hr = crop_to_multiple(torch.from_numpy(frame).permute(2, 0, 1), s)
                ups = {
                    "octave": imresize(imresize(hr, 1 / s), s),
                    "matlab": matlab_imresize_uint8(matlab_imresize_uint8(hr, 1 / s), s),
                }
                for k, up in ups.items():
                    values[k].append(psnr(up.double() / 255, hr.double() / 255, s))
            worst = max(worst, float(np.max(np.abs(np.subtract(values["octave"], values["matlab"])))))
            for k in values:
                seq_means[k].append(np.mean(values[k]))
            worst_seq = max(worst_seq, abs(seq_means["octave"][-1] - seq_means["matlab"][-1]))
        o, m = np.mean(seq_means["octave"]), np.mean(seq_means["matlab"])
        print(f"x{s}: Octave {o:.4f} dB, MATLAB-style {m:.4f} dB, mean difference {abs(o - m):.4f} dB, "
              f"largest sequence difference {worst_seq:.4f} dB, largest frame difference {worst:.4f} dB")


if __name__ == "__main__":
    main()
