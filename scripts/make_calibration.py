"""Make src/savsr/assets/calibration.npz: the HR clips that int8 quantization calibrates on.

    .venv/bin/python scripts/make_calibration.py ../shared/data/train -o src/savsr/assets/calibration.npz

Takes 5 consecutive frames from each of the first ``--clips`` Vimeo-90K septuplets of the
training sources (never Vid4, never the held-out validation video) and keeps, of 16 random
crops of ``--size`` pixels, the one with the most detail (the largest variance of its Laplacian),
so that the statistics cover edges and texture and not only sky. The result is stored in the
package because nothing may be fetched at run time and ../shared is not there for users.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from savsr.fileio import atomic_output

FRAMES = 5


def detail(crop: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of the crop's mean over channels."""
    g = crop.astype(np.float32).mean(axis=-1)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap.var())


def calibration_clips(root: Path, clips: int, size: int, seed: int = 0) -> np.ndarray:
    """(clips, FRAMES, size, size, 3) uint8 RGB crops of consecutive frames of the septuplets under ``root``."""
    rng = np.random.default_rng(seed)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("vimeo90k_sep_"))[:clips]
    if len(folders) < clips:
        raise SystemExit(f"make_calibration: error: {root} holds {len(folders)} Vimeo-90K septuplets, {clips} needed")
    out = []
    for folder in folders:
        frames = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in sorted(folder.glob("*.png"))[:FRAMES]])
        h, w = frames.shape[1:3]
        corners = [(rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)) for _ in range(16)]
        y, x = max(corners, key=lambda c: detail(frames[FRAMES // 2, c[0]:c[0] + size, c[1]:c[1] + size]))
        out.append(frames[:, y:y + size, x:x + size])
    return np.stack(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="the training sources (../shared/data/train)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--size", type=int, default=120, help="crop side in HR pixels, a multiple of 2, 3 and 4 (default 120)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    if args.size % 12:
        parser.error(f"--size {args.size} is not a multiple of 12 (every scale must divide it)")
    clips = calibration_clips(args.root, args.clips, args.size)
    with atomic_output(args.output, overwrite=args.overwrite) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, clips=clips)
    print(f"{args.output}: {clips.shape[0]} clips of {FRAMES} frames, {args.size}×{args.size}, "
          f"{args.output.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
