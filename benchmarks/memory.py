"""Memory: peak resident memory of ``savsr upscale`` on a short and a ten-times-longer video.

Streaming must keep memory flat: the longer video may not cost more. Each run is a fresh
process, so its peak RSS (``ru_maxrss`` of that child alone) is its own. The videos have small
frames and the generator is small and random, because the question is what the streaming holds
on to, not the network's arithmetic (the inference section measures that, and the peak of one
720×576 frame is reported here too).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from savsr.models.checkpoint import GeneratorSpec, save_generator

from .common import Report, Row

PEAK_RSS = """
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if rc == 0 else -rc)
"""


def write_video(path: Path, frames: int, width: int = 32, height: int = 24) -> None:
    """A moving gradient, H.264, 25 fps."""
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for t in range(frames):
            v = ((xx * 3 + yy * 2 + t * 5) % 256).astype(np.uint8)
            rgb = np.stack([v, np.roll(v, t, 1), 255 - v], axis=2)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        out.mux(stream.encode())


def peak_rss_mib(args: list[str]) -> float:
    """Peak resident memory in MiB of one ``savsr`` process (fails loudly if it fails)."""
    result = subprocess.run([sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "savsr", *args],
                            capture_output=True, text=True, check=True)
    kib = int(result.stdout.strip())
    if kib < 0:
        raise RuntimeError(f"savsr {' '.join(args)} failed with exit status {-kib}")
    return kib / 1024


def run(report: Report, device: torch.device, quick: bool) -> None:
    short, long = (20, 200) if quick else (100, 1000)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spec = GeneratorSpec(scale=4, color="y", frames=5, blocks=2, features=16)
        model = work / "small.safetensors"
        torch.manual_seed(0)
        save_generator(spec.build(), spec, model)
        peaks = {}
        for n in (short, long):
            video = work / f"in{n}.mp4"
            write_video(video, n)
            peaks[n] = peak_rss_mib(["upscale", str(video), "-o", str(work / f"out{n}.mp4"), "--model", str(model),
                                     "--device", device.type])
            report.add(Row("memory", f"peak RSS, upscale {n} frames 32×24 → ×4 video", peaks[n], "MiB",
                           note="small random generator, streamed"))
        report.add(Row("memory", f"peak RSS growth {short} → {long} frames", peaks[long] - peaks[short], "MiB",
                       note="flat streaming: about 0"))
        if not quick:
            image = work / "frame.png"
            Image.fromarray(np.random.default_rng(0).integers(0, 256, (144, 180, 3), dtype=np.uint8)).save(image)
            big = peak_rss_mib(["upscale", str(image), "-o", str(work / "sr.png"), "--device", device.type])
            report.add(Row("memory", "peak RSS, one 720×576 frame, bundled model", big, "MiB",
                           note="whole frame, default precision"))
