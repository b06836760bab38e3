"""Fuzzing savsr's frame readers: seed files, byte mutations, and a reader in a child process.

Shared by tests/robustness/test_fuzz_readers.py (a few hundred cases in the normal suite) and
scripts/fuzz_readers.py (the long campaign whose figures docs/reliability.md reports).

Each case is a valid seed file (PNG, 16-bit PNG, grey PNG, JPEG, TIFF, MP4, MKV made with
savsr's own writers, or Pillow for JPEG, which savsr does not write), mutated by one to three
edits (truncation, flipped bytes, extreme values written over a field, inserted or deleted
bytes) and saved under its own or a lying extension. A child process opens it with
:class:`savsr.media.reader.FrameSource`, decodes every frame and, for a video, probes it as
``savsr upscale`` does. The child is what may hang or
crash, so a case that does either fails on its own instead of killing the test run.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from PIL import Image

from savsr.media.writer import VideoWriter, write_image

CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def write_clip(path: Path, frames: int, width: int = 32, height: int = 24) -> Path:
    """An H.264 clip of ``frames`` moving random frames, written with savsr's VideoWriter."""
    rgb = (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)
    writer = VideoWriter(path, width, height, Fraction(25), preset="ultrafast")
    for t in range(frames):
        writer.write(np.roll(rgb, t, axis=1))
    writer.close()
    return path

CASE_TIMEOUT_S = 20.0  # a healthy case takes milliseconds; this is only the hang detector
MEMORY_LIMIT = 4 << 30  # address space of the child: a decoder that tries to swallow a bomb fails
EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".mp4", ".mkv", ".mov", ".avi", "")
GOOD_OUTCOMES = ("ok", "error")  # decoded, or refused with a SavsrError


def make_seeds(folder: Path) -> dict[str, bytes]:
    """Small valid files of every kind the readers take, keyed by a name with their extension."""
    rng = np.random.default_rng(0)
    rgb = (rng.random((12, 16, 3)) * 255).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    write_image(folder / "rgb.png", rgb)
    write_image(folder / "grey.png", rgb[..., :1])
    write_image(folder / "deep.png", (rgb.astype(np.uint16) * 257))
    write_image(folder / "rgb.tif", rgb)
    Image.fromarray(rgb).save(folder / "rgb.jpg", quality=90)
    for suffix in (".mp4", ".mkv"):
        write_clip(folder / f"clip{suffix}", 3, 16, 12)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@dataclass(frozen=True)
class Case:
    """One fuzz case: which seed, what was done to it, the bytes, and the name they are saved under."""

    seed: str
    edits: tuple[str, ...]
    data: bytes
    suffix: str

    def describe(self) -> str:
        return f"{self.seed} [{', '.join(self.edits) or 'unchanged'}] as *{self.suffix or '(no extension)'}"


def _position(draw, size: int) -> int:
    # Half the edits land in the first 64 bytes, where the headers declaring sizes and lengths are.
    return draw(st.one_of(st.integers(0, min(size, 64) - 1), st.integers(0, size - 1)))


def _edit(draw, data: bytearray) -> str:
    """Apply one random edit to ``data`` in place; return what it was."""
    kind = draw(st.sampled_from(("truncate", "flip", "extreme", "insert", "delete")))
    if len(data) < 2:
        kind = "insert"
    if kind == "truncate":
        n = draw(st.integers(0, len(data) - 1))
        del data[n:]
        return f"truncate@{n}"
    pos = _position(draw, len(data)) if data else 0
    if kind == "flip":
        data[pos] ^= draw(st.integers(1, 255))
        return f"flip@{pos}"
    if kind == "extreme":
        value = draw(st.sampled_from((b"\x00", b"\xff", b"\x7f", b"\x80")))
        n = draw(st.integers(1, 4))
        data[pos:pos + n] = value * n
        return f"extreme@{pos}x{n}"
    if kind == "insert":
        extra = draw(st.binary(min_size=1, max_size=16))
        data[pos:pos] = extra
        return f"insert@{pos}+{len(extra)}"
    n = draw(st.integers(1, 64))
    del data[pos:pos + n]
    return f"delete@{pos}-{n}"


@st.composite
def cases(draw, seeds: dict[str, bytes]) -> Case:
    """A seed with zero to three edits, under its own extension or (half the time) a lie."""
    name = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[name])
    edits = tuple(_edit(draw, data) for _ in range(draw(st.integers(0, 3))))
    own = Path(name).suffix
    suffix = draw(st.one_of(st.just(own), st.sampled_from(EXTENSIONS)))
    return Case(name, edits, bytes(data), suffix)


_WORKER = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from savsr.media import FrameSource
from savsr.errors import SavsrError
for line in sys.stdin:
    path = json.loads(line)
    try:
        source = FrameSource(path)
        answer = {{"outcome": "ok", "frames": sum(1 for _ in source)}}
    except SavsrError as exc:
        answer = {{"outcome": "error", "message": str(exc)}}
    except BaseException as exc:
        answer = {{"outcome": "exception", "message": f"{{type(exc).__name__}}: {{exc}}"}}
    print(json.dumps(answer), flush=True)
"""


@dataclass(frozen=True)
class Result:
    """How the reader took a case: outcome is ok, error (SavsrError), exception, crash or hang."""

    outcome: str
    message: str = ""
    stderr: str = ""  # anything the decoder printed (a clean error prints nothing)


class ReaderWorker:
    """A child Python process that reads files with FrameSource on request, restarted after a
    crash or a hang. Use as a context manager."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._err = tempfile.TemporaryFile()

    def __enter__(self) -> ReaderWorker:
        return self

    def __exit__(self, *_exc) -> None:
        self._stop()
        self._err.close()

    def _start(self) -> subprocess.Popen:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER.format(limit=MEMORY_LIMIT)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._err, text=True, env=CHILD_ENV,
        )
        return self._proc

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def read(self, path: Path, timeout: float = CASE_TIMEOUT_S) -> Result:
        """Ask the child to read ``path``; a hang is killed after ``timeout`` seconds."""
        proc = self._proc or self._start()
        start = self._err.seek(0, os.SEEK_END)
        proc.stdin.write(json.dumps(str(path)) + "\n")
        proc.stdin.flush()
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout)
        line = proc.stdout.readline() if ready else None
        self._err.seek(start)
        stderr = self._err.read().decode(errors="replace")
        if line is None:
            self._stop()
            return Result("hang", f"no answer in {timeout} s", stderr)
        if not line:
            code = proc.wait()
            self._proc = None
            return Result("crash", f"reader died with status {code}", stderr)
        answer = json.loads(line)
        return Result(answer["outcome"], answer.get("message", ""), stderr)


def check(case_path: Path, result: Result) -> str | None:
    """None if the reader took the case cleanly, else what was wrong with it."""
    if result.outcome not in GOOD_OUTCOMES:
        return f"{result.outcome}: {result.message}"
    if result.stderr.strip():
        return f"printed to stderr: {result.stderr.strip()[:300]}"
    if result.outcome == "error":
        if "\n" in result.message:
            return f"multi-line error: {result.message!r}"
        if case_path.name not in result.message:
            return f"error does not name the file: {result.message!r}"
    return None


def write_case(case: Case, folder: Path, index: int) -> Path:
    """Save a case's bytes as ``folder/case<index><suffix>``."""
    path = folder / f"case{index}{case.suffix}"
    path.write_bytes(case.data)
    return path
