"""Shared by the savsr serve tests: small inputs, a server in its own process, and waiting for jobs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import numpy as np
from PIL import Image

from conftest import COUNTED, REPO
from savsr.cli import main
from savsr.media import FrameSource

HEADERS = {"X-Savsr-Request": "1"}


def noise_image(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    """A PNG of uniform noise (w, h): incompressible, so its size is known in advance."""
    w, h = size
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path, port: int, model_file: Path, *args: str, count: Path | None = None,
                 delay: float = 0.0, preexec_fn: Callable[[], None] | None = None,
                 env: dict[str, str] | None = None) -> subprocess.Popen:
    """``savsr serve`` in its own process (one thread), with the tiny model offered; returns once
    it answers. ``env``: its environment (default: this one)."""
    env = {**(os.environ if env is None else env), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", COUNTED, str(count or ""), str(delay), "serve", "--port", str(port), "--data", str(data),
         "--model", str(model_file), "--device", "cpu", *args],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=preexec_fn)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server stopped: {proc.stdout.read()}")
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/api/models", timeout=2).status_code == 200:
                return proc
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise AssertionError("the server did not answer within 90 s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop a server process and reap it."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_job(get: Callable[[str], httpx2.Response], job_id: str, statuses: tuple[str, ...] = ("done",),
             timeout: float = 120, until: Callable[[dict], bool] | None = None) -> dict:
    """Poll a job until its status is one of ``statuses`` (or ``until`` holds); fail on another end state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get(f"/api/jobs/{job_id}").json()
        if (until or (lambda j: j["status"] in statuses))(job):
            return job
        assert job["status"] not in {"done", "failed", "cancelled"} - set(statuses), job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")


def reference(src: Path, out: Path, model_file: Path, *args: str) -> np.ndarray:
    """What `savsr upscale` makes of ``src``, decoded: the frames a job's result must equal."""
    assert main(["upscale", str(src), "-o", str(out), "--model", str(model_file), "--device", "cpu", *args]) == 0
    return frames(out)


def frames(path: Path) -> np.ndarray:
    """Every frame of a video or image, decoded with PyAV (through FrameSource), stacked."""
    return np.stack(list(FrameSource(path)))


def children(pid: int) -> list[str]:
    """The processes whose parent is ``pid`` (as ``ps --ppid``), each as "PID NAME"."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        name_end = text.rindex(")")
        if int(text[name_end + 2:].split()[1]) == pid:
            found.append(f"{stat.parent.name} {text[text.index('(') + 1:name_end]}")
    return found


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be bound (nothing listens there)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
