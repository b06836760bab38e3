"""Memory: peak resident memory of ``savsr upscale`` on a short and a ten-times-longer video.

Streaming must keep memory flat: the longer video may not cost more. Each run is a fresh
process, so its peak RSS is its own (``upscale_peak_rss`` of the robustness suite, which
tests/robustness/test_long_video.py also uses). The videos have small frames and the generator
is tiny and random, because the question is what the streaming holds on to, not the network's
arithmetic (the inference section measures that; the peak of one 720×576 frame through the
bundled model is reported here too).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tests.robustness.robust_helpers import SAVSR, run_measured, upscale_peak_rss

from .common import Report, Row

FRAMES = (100, 1000)  # the lengths docs/performance.md reports; --memory-frames changes them


def run(report: Report, device: torch.device, quick: bool, frames: tuple[int, ...] = FRAMES) -> None:
    counts = (20, 200) if quick else frames
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        peaks = {}
        for n in counts:
            peaks[n], written = upscale_peak_rss(work, n)
            assert written == n, f"{written} of {n} frames written"
            report.add(Row("memory", f"peak RSS, upscale {n} frames 32×24 → ×2 video", peaks[n], "MiB",
                           note="tiny random generator, streamed"))
        short, long = min(counts), max(counts)
        report.add(Row("memory", f"peak RSS growth {short} → {long} frames", peaks[long] - peaks[short], "MiB",
                       note="flat streaming: about 0"))
        if not quick:
            image = work / "frame.png"
            Image.fromarray(np.random.default_rng(0).integers(0, 256, (144, 180, 3), dtype=np.uint8)).save(image)
            res = run_measured([SAVSR, "upscale", str(image), "-o", str(work / "sr.png"), "--device", device.type],
                               env={"OMP_NUM_THREADS": str(torch.get_num_threads())})
            assert res.returncode == 0, res.stderr[-2000:]
            report.add(Row("memory", "peak RSS, one 720×576 frame, bundled model", res.peak_rss_mb, "MiB",
                           note="whole frame, default precision"))
