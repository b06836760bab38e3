"""The share of `savsr upscale`'s wall time spent inside the network.

Kept apart from the inference section and written against APIs older than the OpenVINO engine
(load_model, upscale_file, FrameSource, VideoWriter), so that the same function can measure an
older checkout: ``PYTHONPATH=OLD/src python -c 'from benchmarks.end_to_end import
end_to_end_share as e; print(e(12))'`` from this tree's root.
"""

from __future__ import annotations

import tempfile
import time
from fractions import Fraction
from importlib.resources import files
from pathlib import Path

import torch

from savsr.infer.pipeline import upscale_file
from savsr.infer.upscaler import load_model
from savsr.media.reader import FrameSource
from savsr.media.writer import VideoWriter


def end_to_end_share(frames: int, lr_size: tuple[int, int] = (180, 144), name: str = "sa-vsrgan-x4",
                     device: str = "cpu") -> tuple[float, float]:
    """`savsr upscale` of a ``lr_size`` clip of ``frames`` frames (cut from the bundled demo clip)
    to an mp4 with the bundled model ``name``: (share of the wall time spent inside the network,
    frames per second)."""
    w, h = lr_size
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mkv"
        writer = VideoWriter(clip, w, h, Fraction(25), codec="libx264", crf=12)
        source = FrameSource(Path(str(files("savsr") / "assets" / "bedroom_clip.mkv")))
        for i, frame in enumerate(source):
            if i == frames:
                break
            writer.write(frame[:h, :w])
        writer.close()
        up = load_model(name, device)
        inside = 0.0
        forward = up._forward

        def timed(x: torch.Tensor) -> torch.Tensor:
            nonlocal inside
            start = time.perf_counter()
            out = forward(x)
            if out.is_cuda:
                torch.cuda.synchronize(out.device)  # the network's time, not its launch
            inside += time.perf_counter() - start
            return out

        up._forward = timed  # type: ignore[method-assign]
        up._forward(torch.rand(1, 5, h * up.scale, w * up.scale))  # the engine's first-shape set-up, outside the clock
        inside = 0.0
        start = time.perf_counter()
        upscale_file(up, clip, Path(tmp) / "out.mp4")
        wall = time.perf_counter() - start
    return inside / wall, frames / wall
