"""Data-path measurements behind the choices in docs/data.md.

1. Storage: reading the 5 HR regions of a training sample from the memory-mapped .npy that
   `savsr prepare` writes, against decoding the 5 source PNG frames each time.
2. LR: degrading on the fly (what VideoPatchDataset does) against reading a precomputed
   LR-upsampled cache (simulated by reading the same amount of uint8 from a memory map).
3. The whole sample, against the patches per second that a training step consumes.

Run: .venv/bin/python benchmarks/bench_data.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from savsr.data.dataset import VideoPatchDataset
from savsr.data.io import read_image
from savsr.data.prepare import prepare_dataset
from savsr.models import VSRResNet

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def rate(fn, n: int) -> float:
    fn(0)
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one DataLoader worker's view
    folder = SHARED / "train" / "davis2016_blackswan_854x480"
    with tempfile.TemporaryDirectory() as tmp:
        png_dir = Path(tmp) / "png"
        png_dir.mkdir()
        for i, f in enumerate(sorted(folder.iterdir())):
            Image.fromarray(read_image(f)).save(png_dir / f"{i:05d}.png")
        pngs = sorted(png_dir.iterdir())
        prepare_dataset([png_dir], Path(tmp) / "ds", progress=False)
        arr = np.load(next((Path(tmp) / "ds" / "scenes").glob("*.npy")), mmap_mode="r")
        rng = np.random.default_rng(0)
        pos = [(int(rng.integers(2, 23)), int(rng.integers(0, 380)), int(rng.integers(0, 750))) for _ in range(args.samples)]
        results: dict[str, float] = {}
        region = 36 + 2 * 24  # a ×4 sample reads its patch plus a 6s margin on each side
        results["mmap npy: 5 regions/s"] = rate(
            lambda i: np.array(arr[pos[i][0] - 2 : pos[i][0] + 3, pos[i][1] : pos[i][1] + region, pos[i][2] : pos[i][2] + region]),
            args.samples,
        )
        results["png decode: 5 frames/s"] = rate(
            lambda i: [np.asarray(Image.open(pngs[t])) for t in range(pos[i][0] - 2, pos[i][0] + 3)], 20
        )
        results["cached LR (mmap read of 5 patches)/s"] = rate(
            lambda i: np.array(arr[pos[i][0] - 2 : pos[i][0] + 3, pos[i][1] : pos[i][1] + 36, pos[i][2] : pos[i][2] + 36]),
            args.samples,
        )
        for scale in (2, 4):
            ds = VideoPatchDataset(Path(tmp) / "ds", scale=scale, samples_per_epoch=args.samples)
            results[f"on-the-fly sample x{scale} (Y)/s"] = rate(lambda i: ds[i], args.samples)
        torch.set_num_threads(2)  # the training step gets both cores
        model = VSRResNet()
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        x, y = torch.rand(16, 5, 36, 36), torch.rand(16, 1, 36, 36)

        def step(_: int) -> None:
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()

        results["pretrain step (fp32, 2 threads): patches/s"] = 16 * rate(step, 5)
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value:10.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
