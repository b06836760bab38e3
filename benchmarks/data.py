"""Data path: where training samples come from, and whether the loader keeps up with a step.

1. Storage: reading the 5 HR regions of a training sample from the memory-mapped .npy that
   `savsr prepare` writes, against decoding the 5 source PNG frames each time.
2. LR: degrading on the fly (what VideoPatchDataset does by default) against `cache_lr=True`
   (each scene degraded once, whole frames; samples are then crops).
3. The DataLoader as the budget configs run it (one worker, batch 32, ×4) in samples per second,
   against the patches per second the training section measured for a pretraining step.

Everything runs on the bundled demo clip, so the section needs nothing outside the repository.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from savsr.data.dataset import VideoPatchDataset
from savsr.media import FrameSource

from .common import Report, Row
from .training import bundled_clip, tiny_dataset


def rate(fn: Callable[[int], object], n: int) -> float:
    """Calls per second of ``fn(i)`` for i < n, after one warm-up call."""
    fn(0)
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def run(report: Report, device: torch.device, quick: bool) -> None:
    samples = 40 if quick else 400
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one DataLoader worker's view
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            ds_root = tiny_dataset(root)
            arr = np.load(next((ds_root / "scenes").glob("*.npy")), mmap_mode="r")
            t, h, w = arr.shape[:3]
            pngs = []
            for i, frame in enumerate(FrameSource(bundled_clip())):
                if i >= 8:
                    break
                pngs.append(root / f"{i:03d}.png")
                Image.fromarray(frame).save(pngs[-1])
            rng = np.random.default_rng(0)
            region = 36 + 2 * 24  # a ×4 sample reads its patch plus a 6s margin on each side
            pos = [(int(rng.integers(2, t - 2)), int(rng.integers(0, h - region)), int(rng.integers(0, w - region)))
                   for _ in range(samples)]

            def hr_regions(i: int) -> None:
                f, y, x = pos[i]
                np.array(arr[f - 2 : f + 3, y : y + region, x : x + region])

            report.add(
                Row("data", "mmap .npy: 5 HR regions of a ×4 sample", rate(hr_regions, samples), "sample/s"),
                Row("data", "PNG decode: 5 frames of a sample instead", rate(
                    lambda i: [np.asarray(Image.open(pngs[(i + k) % len(pngs)])) for k in range(5)], 10), "sample/s"),
            )
            for scale in (2, 4):
                ds = VideoPatchDataset(ds_root, scale=scale, samples_per_epoch=samples)
                report.add(Row("data", f"one sample, LR made on the fly, ×{scale} (Y)", rate(lambda i: ds[i], samples),
                               "sample/s", note="one thread"))
            cached = VideoPatchDataset(ds_root, scale=4, samples_per_epoch=samples, cache_lr=True)
            report.add(Row("data", "one sample, data.cache_lr, ×4 (Y)", rate(lambda i: cached[i], samples), "sample/s",
                           note="one thread; the cache is built first"))
            torch.set_num_threads(threads)
            ds = VideoPatchDataset(ds_root, scale=4, samples_per_epoch=samples)
            loader = DataLoader(ds, batch_size=32 if not quick else 8, num_workers=1, persistent_workers=False)
            start = time.perf_counter()
            seen = sum(lr.shape[0] for lr, _ in loader)
            loaded = seen / (time.perf_counter() - start)
        report.add(Row("data", "DataLoader, 1 worker, ×4 (as configs/cpu)", loaded, "sample/s"))
        consumed = next((r.value for r in report.rows if r.section == "training"
                         and r.name == "pretrain step, bf16 autocast channels_last"), None)
        if consumed is not None:
            report.add(Row("data", "step consumption / loader production", consumed / loaded, "×",
                           note="< 1: the loader keeps up; also the share of one core the loader needs"))
    finally:
        torch.set_num_threads(threads)
