"""Shared by the robustness tests: child processes (peak memory, file-size limits), tiny models, clips."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from scripts.fuzzing import write_clip  # shared with the fuzzer, which lives in scripts/
from savsr.models.checkpoint import GeneratorSpec, save_generator

SAVSR = str(Path(sys.executable).parent / "savsr")
# Children run on one thread: on a shared, loaded machine, the tiny tensors of these tests are
# over ten times slower spread over several threads.
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Finished:
    """A child process that ran to its end: exit status, output and peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float


def limit_file_size(max_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` that makes every file the child writes stop at ``max_bytes``, as on a full
    disk: writes past it fail with EFBIG (SIGXFSZ, which would kill the child, is ignored)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return apply


# A child's peak RSS starts from its parent's at fork (Linux carries the old mm's high-water mark
# across exec), so a torch-sized test process would hide a child's own peak. The child is
# therefore started by this small launcher, which reports the grandchild's rusage.
_LAUNCH = r"""
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(str(usage.ru_maxrss))
if os.WIFSIGNALED(status):
    os.kill(os.getpid(), os.WTERMSIG(status))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(
    args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 600,
    preexec_fn: Callable[[], None] | None = None,
) -> Finished:
    """Run ``args`` to completion (killed after ``timeout`` s) and report the peak RSS of that
    child alone, from the rusage its own ``wait4`` returns (in a small launcher process)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as peak:
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, peak.name, *args], stdout=out, stderr=err,
                                env={**CHILD_ENV, **(env or {})}, preexec_fn=preexec_fn, start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
        out.seek(0)
        err.seek(0)
        text = peak.read()
        return Finished(proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                        int(text) / 1024 if text else 0.0)  # kB on Linux


def one_line_error(res: Finished) -> str:
    """The single ``savsr: error:`` line of a failed command; asserts there is nothing else."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("savsr: error: "), res.stderr[-2000:]
    return lines[0]


def tiny_generator(path: Path, scale: int = 2) -> Path:
    """A random-weight 1-block, 8-feature generator file: fast, and enough to exercise the I/O."""
    torch.manual_seed(0)
    spec = GeneratorSpec(scale=scale, blocks=1, features=8)
    return save_generator(spec.build(), spec, path)


def upscale_peak_rss(folder: Path, frames: int) -> tuple[float, int]:
    """`savsr upscale` of a ``frames``-frame 32×24 clip to an MP4 with a tiny ×2 generator, in a
    child process: its peak RSS in MB, and the number of frames in the output."""
    import av

    model = folder / "tiny_x2.safetensors"
    if not model.exists():
        tiny_generator(model)
    clip = write_clip(folder / f"clip_{frames}.mp4", frames)
    out = folder / f"sr_{frames}.mp4"
    res = run_measured([SAVSR, "upscale", str(clip), "-o", str(out), "--model", str(model), "--device", "cpu",
                        "--overwrite"])
    assert res.returncode == 0, res.stderr[-2000:]
    with av.open(str(out)) as c:
        written = sum(1 for _ in c.decode(video=0))
    return res.peak_rss_mb, written
