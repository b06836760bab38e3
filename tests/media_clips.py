"""Test clips made in the test: a phone-like video with every kind of stream a user's file has."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from savsr.media import FrameSource

TIME_BASE = Fraction(1, 1000)


def frame_times(n: int) -> list[int]:
    """Non-uniform presentation times (ms): every third frame lasts twice as long (variable rate)."""
    t, out = 0, []
    for i in range(n):
        out.append(t)
        t += 80 if i % 3 == 2 else 40
    return out


def rich_clip(path: Path, frames: int = 40, size: tuple[int, int] = (48, 32), rotation: int = 90,
              seed: int = 0) -> Path:
    """A Matroska clip: H.264 at variable frame rate with a display rotation, two AAC tracks
    (eng, fra), a subtitle track (deu), two chapters and a title; smooth moving content."""
    w, h = size
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 4 + 2, w // 4 + 2, 3)).astype(np.float32)
    with av.open(str(path), "w") as out:
        out.metadata["title"] = "a test clip"
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "10"}
        v.codec_context.time_base = TIME_BASE
        if rotation:
            v.set_display_rotation(rotation)
        audio = []
        for lang in ("eng", "fra"):
            a = out.add_stream("aac", rate=48000)
            a.metadata["language"] = lang
            audio.append(a)
        sub = out.add_mux_stream("subrip")
        sub.metadata["language"] = "deu"
        sub.time_base = TIME_BASE
        end = frame_times(frames + 1)[-1]
        out.set_chapters([
            {"id": 1, "start": 0, "end": end // 2, "time_base": TIME_BASE, "metadata": {"title": "first"}},
            {"id": 2, "start": end // 2, "end": end, "time_base": TIME_BASE, "metadata": {"title": "second"}},
        ])
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        for i, pts in enumerate(frame_times(frames)):
            sy, sx = yy / 4 + i * 0.15, xx / 4 + i * 0.1
            y0, x0 = np.floor(sy).astype(int) % (h // 4 + 1), np.floor(sx).astype(int) % (w // 4 + 1)
            img = base[y0, x0] * 0.7 + base[y0 + 1, x0 + 1] * 0.3
            f = av.VideoFrame.from_ndarray(img.clip(0, 255).astype(np.uint8), format="rgb24")
            f.pts, f.time_base = pts, TIME_BASE
            for p in v.encode(f):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        seconds = end / 1000
        for k, a in enumerate(audio):
            t = 0
            while t < seconds * 48000:
                tone = np.sin(2 * np.pi * (440 + 220 * k) * (t + np.arange(1024)) / 48000).astype(np.float32)
                af = av.AudioFrame.from_ndarray(np.stack([tone, tone])[None].reshape(1, -1) * 0.2, format="flt",
                                                layout="stereo")
                af.sample_rate, af.pts = 48000, t
                t += 1024
                for p in a.encode(af):
                    out.mux(p)
            for p in a.encode():
                out.mux(p)
        for i, (start, text) in enumerate(((100, b"Hallo"), (end // 2, b"Welt"))):
            p = av.Packet(text)
            p.stream, p.pts, p.dts, p.duration, p.time_base = sub, start, start, 400, TIME_BASE
            out.mux(p)
    return path


def streams(path: Path) -> dict:
    """Everything a user would check in an output: streams with their tags, chapters, rotation,
    video timestamps, audio packets, and the decoded frames."""
    with av.open(str(path)) as c:
        info = {
            "title": c.metadata.get("title"),
            "streams": [(s.type, s.metadata.get("language")) for s in c.streams],
            "chapters": [(ch["start"] * ch["time_base"], ch["metadata"].get("title")) for ch in c.chapters()],
        }
        v = c.streams.video[0]
        frames = list(c.decode(v))
        info["rotation"] = frames[0].rotation if frames else None
        info["pts"] = [f.pts * f.time_base for f in frames]
        info["frames"] = np.stack(list(FrameSource(path))) if frames else None  # with the stream's colour matrix
        info["size"] = (frames[0].width, frames[0].height) if frames else None
        kinds = [(s.index, s.type) for s in c.streams]
    info["audio"], info["subtitles"] = [], []
    for index, kind in kinds:
        if kind in ("audio", "subtitle"):
            with av.open(str(path)) as c:  # one pass per stream: a demuxer reads its file once
                packets = [(bytes(p), p.pts * p.time_base) for p in c.demux(c.streams[index]) if p.size]
            info["audio" if kind == "audio" else "subtitles"].append(packets)
    return info


def marked_clip(path: Path, frames: int, rotation: int = 0, options: dict | None = None) -> Path:
    """An H.264 MP4 of 64 × 48 frames, grey with a white mark at the coded top-left, with a display rotation."""
    with av.open(str(path), "w", options=options or {}) as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt, v.options = 64, 48, "yuv420p", {"crf": "0", "preset": "ultrafast"}
        if rotation:
            v.set_display_rotation(rotation)
        for i in range(frames):
            rgb = np.full((48, 64, 3), 40 + i, np.uint8)
            rgb[:12, :16] = 250
            for packet in v.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
    return path
