"""`savsr serve` as a user runs it, in its own process: killed mid-job (SIGKILL) and started
again, it finishes the job from its last finished segment with the same output as `savsr
upscale`; a full disk fails that job and the server keeps serving (issue #34)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx2
import numpy as np
import pytest

from media_clips import rich_clip
from robustness.robust_helpers import limit_file_size
from serve_helpers import (HEADERS, children, frames, free_port, noise_image, port_is_free, reference, start_server,
                           stop, wait_job)
from savsr.infer.engine import openvino_available
from savsr.infer.pipeline import work_dir
from savsr.precision import nncf_available
from test_telemetry import CI_VARIABLES

SEGMENT = 4


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rich_clip(tmp_path_factory.mktemp("clip") / "phone.mkv", frames=24, size=(64, 48), rotation=0)


def _segments(dst: Path) -> dict[str, int]:
    """The finished segments of an output's work folder, with their modification times."""
    return {p.name: p.stat().st_mtime_ns for p in work_dir(dst).glob("seg-*")}


def test_sigkill_mid_job_then_restart_finishes_it(clip: Path, model_file: Path, tmp_path: Path) -> None:
    data, port, count = tmp_path / "data", free_port(), tmp_path / "forward_calls"
    base = f"http://127.0.0.1:{port}"
    server = start_server(data, port, model_file, "--segment-frames", str(SEGMENT), count=count, delay=0.15)
    try:
        with httpx2.Client(base_url=base, timeout=30) as c:
            r = c.post("/api/jobs", params={"name": "phone.mkv", "model": "tiny_x2", "precision": "fp32"},
                       content=clip.read_bytes(), headers=HEADERS)
            assert r.status_code == 201, r.text
            job = r.json()
            with c.stream("GET", "/api/events") as events:  # the live list, as the page receives it
                line = next(ln for ln in events.iter_lines() if ln.startswith("data: "))
            assert [j["id"] for j in json.loads(line[6:])] == [job["id"]]
            wait_job(c.get, job["id"], until=lambda j: j["done"] >= 2 * SEGMENT + 1)
            dst = data / "jobs" / job["id"] / "output" / "phone.mkv"
            server.send_signal(signal.SIGKILL)
            server.wait()
        kept = _segments(dst)
        computed_before = len(count.read_text().splitlines())
        assert len(kept) >= 2 and computed_before < 24, (kept, computed_before)

        server = start_server(data, port, model_file, "--segment-frames", str(SEGMENT), count=count, delay=0.05)
        with httpx2.Client(base_url=base, timeout=30) as c:
            resumed = wait_job(c.get, job["id"], ("running", "done"))
            if resumed["status"] == "running":  # the segments from before the kill are used, not redone
                now = _segments(dst)
                assert all(now.get(name) == t for name, t in kept.items())
            done = wait_job(c.get, job["id"])
            assert done["done"] == 24
            (tmp_path / "got.mkv").write_bytes(c.get(f"/api/jobs/{job['id']}/result").content)
        # Only what was not finished was computed again: at most the segment cut by the kill.
        computed = len(count.read_text().splitlines())
        assert computed - 24 <= computed_before - sum(int(n.split("-")[2].split(".")[0]) for n in kept)
    finally:
        stop(server)
    want = reference(clip, tmp_path / "want.mkv", model_file, "--precision", "fp32", "--segment-frames", str(SEGMENT))
    got = frames(tmp_path / "got.mkv")
    assert got.shape == (24, 96, 128, 3) and np.array_equal(got, want)


def test_a_full_disk_fails_the_job_and_the_server_keeps_serving(model_file: Path, tmp_path: Path) -> None:
    """Every file the server writes stops at 1.5 MB, as on a full disk: a job whose output is
    larger fails with one line, and the next job runs."""
    data, port = tmp_path / "data", free_port()
    big = noise_image(tmp_path / "big.png", (500, 400))  # 0.6 MB in, 2.4 MB out at ×2
    small = noise_image(tmp_path / "small.png", (40, 30), seed=1)
    server = start_server(data, port, model_file, preexec_fn=limit_file_size(1_500_000))
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            ids = []
            for src in (big, small):
                r = c.post("/api/jobs", params={"name": src.name, "model": "tiny_x2", "precision": "fp32"},
                           content=src.read_bytes(), headers=HEADERS)
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            failed = wait_job(c.get, ids[0], ("failed",))
            assert failed["message"] == ("jobs/{}/output/big.png: not written: File too large (the disk or a "
                                         "file-size limit is full)".format(ids[0])), failed
            wait_job(c.get, ids[1])
            assert c.get(f"/api/jobs/{ids[1]}/result").status_code == 200
        out = data / "jobs" / ids[0] / "output"
        assert not list(out.iterdir())  # nothing half-written, no work folder
        assert server.poll() is None
    finally:
        stop(server)
    assert "Traceback" not in server.stdout.read()


@pytest.mark.skipif(not (openvino_available() and nncf_available()), reason="int8 needs openvino and nncf")
def test_int8_jobs_start_no_process_and_sigterm_frees_the_port(clip: Path, model_file: Path, tmp_path: Path) -> None:
    """The server as a user runs it (not in CI, where OpenVINO's telemetry is quiet by itself): an
    int8 job from an empty cache, then one from the filled cache, leave no child process during or
    after them and nothing in the user's home; SIGTERM frees the port within 5 s, and a server
    started again on it answers (issue #51: forked telemetry children kept the port)."""
    data, port, home = tmp_path / "data", free_port(), tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    env.update(HOME=str(home), SAVSR_CACHE=str(tmp_path / "cache"))
    server = start_server(data, port, model_file, env=env)
    try:
        seen = []
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            for cache in ("empty", "filled"):
                r = c.post("/api/jobs", params={"name": "phone.mkv", "model": "tiny_x2", "precision": "int8"},
                           content=clip.read_bytes(), headers=HEADERS)
                assert r.status_code == 201, r.text
                while (job := c.get(f"/api/jobs/{r.json()['id']}").json())["status"] in ("queued", "running"):
                    seen += children(server.pid)
                    time.sleep(0.02)
                assert job["status"] == "done" and job["precision"] == "int8", (cache, job)
                seen += children(server.pid)
        assert seen == [] and list(home.iterdir()) == []
        assert list((tmp_path / "cache" / "int8").iterdir())  # the first job quantized
        server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not port_is_free(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert port_is_free(port)
        server.wait(10)
    finally:
        stop(server)
    again = start_server(data, port, model_file, env=env)
    try:
        assert httpx2.get(f"http://127.0.0.1:{port}/api/jobs", timeout=10).json()["jobs"][0]["status"] == "done"
    finally:
        stop(again)
