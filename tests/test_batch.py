"""Batches of inputs: a folder, a list, shards, and a Ray cluster of two workers (issue #21)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from media_clips import rich_clip, streams
from savsr.cli import main

ARGS = ["--codec", "ffv1", "--segment-frames", "4", "--device", "cpu"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six clips of unequal lengths in a folder (one in a subfolder), one of them corrupt."""
    folder = tmp_path_factory.mktemp("batch")
    (folder / "sub").mkdir()
    for i, n in enumerate((12, 30, 8, 20, 16)):
        rich_clip(folder / ("sub" if i == 4 else ".") / f"clip{i}.mkv", frames=n, size=(64, 48), rotation=0, seed=i)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    return folder


@pytest.fixture(scope="module")
def single(batch: Path, model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each clip upscaled alone, one process per clip as a user would, with one thread like a Ray worker."""
    out = tmp_path_factory.mktemp("single")
    torch.set_num_threads(1)
    try:
        results = {}
        for src in sorted(batch.rglob("clip*.mkv")):
            dst = out / src.name
            assert main(["upscale", str(src), "-o", str(dst), "--model", str(model_file), *ARGS]) == 0
            results[str(src.relative_to(batch))] = streams(dst)
    finally:
        torch.set_num_threads(os.cpu_count() or 1)
    return results


def _check(out: Path, single: dict[str, dict]) -> None:
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*.mkv"))
    assert made == sorted(single) and len(made) == 5
    for name, want in single.items():
        got = streams(out / name)
        assert np.array_equal(got["frames"], want["frames"]), name
        assert got["pts"] == want["pts"] and got["audio"] == want["audio"], name
    assert not list(out.rglob(".*.savsr"))


def test_a_folder_of_videos(batch: Path, model_file: Path, single: dict, tmp_path: Path,
                            capsys: pytest.CaptureFixture) -> None:
    torch.set_num_threads(1)
    try:
        out = tmp_path / "out"
        assert main(["upscale", str(batch), "-o", str(out), "--model", str(model_file), *ARGS]) == 1
        text = capsys.readouterr().out
        assert "5 done, 0 skipped, 1 failed" in text
        failed = [ln for ln in text.splitlines() if "broken.mp4" in ln and "failed" in ln]
        assert len(failed) == 1 and "not a readable image or video" in failed[0]
        _check(out, single)
        # Run again: finished outputs are skipped, the broken one fails again.
        assert main(["upscale", str(batch), "-o", str(out), "--model", str(model_file), *ARGS]) == 1
        assert "0 done, 5 skipped, 1 failed" in capsys.readouterr().out
    finally:
        torch.set_num_threads(os.cpu_count() or 1)


def test_shards_split_the_batch(batch: Path, model_file: Path, single: dict, tmp_path: Path,
                                capsys: pytest.CaptureFixture) -> None:
    listing = tmp_path / "inputs.txt"
    listing.write_text("".join(f"{batch / name}\n" for name in sorted(single)) + "# a comment\n\n")
    out = tmp_path / "out"
    torch.set_num_threads(1)
    try:
        for i in range(2):
            assert main(["upscale", str(batch), "-o", str(out), "--model", str(model_file), "--shard", f"{i}/2", *ARGS]) in (0, 1)
        _check(out, single)
        # A list file names inputs one per line; its outputs are named after the files.
        flat = tmp_path / "flat"
        assert main(["upscale", str(listing), "-o", str(flat), "--model", str(model_file), "--shard", "1/2", *ARGS]) == 0
        assert "shard 1/2" in capsys.readouterr().out and len(list(flat.glob("*.mkv"))) in (2, 3)
    finally:
        torch.set_num_threads(os.cpu_count() or 1)


def test_a_ray_cluster_of_two_workers(batch: Path, model_file: Path, single: dict, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    """Two actors share the batch; one is killed mid-video, Ray restarts it and the video
    continues from its segments; the results equal single-process runs."""
    import ray  # the cluster extra, which `make test` installs
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": f"{REPO / 'tests'}:{os.environ.get('PYTHONPATH', '')}"},
                          "worker_process_setup_hook": "ray_hooks.slow_network"})
    try:
        out = tmp_path / "out"
        killed: list[int] = []

        def kill_one_mid_video() -> None:
            deadline = time.monotonic() + 120
            while not killed and time.monotonic() < deadline:
                for work in out.rglob(".*.savsr") if out.exists() else ():
                    try:
                        if list(work.glob("seg-*")):
                            pid = json.loads((work / "lock").read_text())["pid"]
                            os.kill(pid, signal.SIGKILL)
                            killed.append(pid)
                            return
                    except (OSError, ValueError, KeyError):
                        pass
                time.sleep(0.005)

        watcher = threading.Thread(target=kill_one_mid_video)
        watcher.start()
        code = main(["upscale", str(batch), "-o", str(out), "--model", str(model_file), "--ray", "--workers", "2",
                     "--cpus-per-worker", "1", *ARGS])
        watcher.join()
        text = capsys.readouterr().out
        assert killed, "no worker was caught mid-video"
        assert code == 1 and "5 done, 0 skipped, 1 failed" in text, text
        _check(out, single)
    finally:
        ray.shutdown()


def test_frame_count_follows_the_frames_range(batch: Path, tmp_path: Path) -> None:
    """The progress bars' totals: what an upscale will make, not the whole input, with --frames."""
    from PIL import Image

    from savsr.infer.batch import frame_count

    clip = tmp_path / "frames"
    clip.mkdir()
    for i in range(30):
        Image.new("RGB", (8, 6), (i, 0, 0)).save(clip / f"{i:03d}.png")
    assert frame_count(clip) == 30
    assert frame_count(batch / "clip1.mkv") is None  # Matroska keeps no frame count: no total, no ETA
    assert frame_count(clip, "5:12") == 7 and frame_count(clip, "25:") == 5 and frame_count(clip, ":100") == 30
    assert frame_count(clip, "40:50") == 0
    assert frame_count(batch / "broken.mp4") is None and frame_count(clip, "bad") is None
