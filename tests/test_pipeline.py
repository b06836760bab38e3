"""Resumable upscaling, every stream kept, two runs on one output, batches and shards (issue #21)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from conftest import COUNTED, REPO
from media_clips import frame_times, rich_clip, streams
from savsr.cli import main
from savsr.errors import ParameterError, SavsrError
from savsr.fileio import Lock
from savsr.infer.batch import parse_shard
from savsr.infer.pipeline import EncodeOptions, upscale_file, work_dir
from savsr.infer.upscaler import load_model
from savsr.media import FrameSource
from savsr.media.writer import VideoWriter


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rich_clip(tmp_path_factory.mktemp("clip") / "phone.mkv", frames=40)


@pytest.fixture(scope="module")
def tall_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48×64: ×2 gives 96×128, 8 macroblock rows, which x264 cuts into 2 slices given 2 threads,
    and a width at which its AVX-512 mb-tree code read memory it never wrote."""
    return rich_clip(tmp_path_factory.mktemp("clip") / "tall.mkv", frames=40, size=(48, 64))


def _start(count: Path | str, delay: float, *args: str, env: dict[str, str] | None = None,
           preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-c", COUNTED, str(count), str(delay), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            preexec_fn=preexec_fn)


def _calls(count: Path) -> int:
    return len(count.read_text().splitlines()) if count.exists() else 0


def _done_frames(dst: Path) -> int:
    return sum(int(p.stem.split("-")[2]) for p in work_dir(dst).glob("seg-*.mp4"))


def test_every_stream_is_kept(model_file: Path, clip: Path, tmp_path: Path) -> None:
    """Two audio tracks, a subtitle track, chapters, tags, variable frame timing and a 90° display
    rotation survive; the frames are the model's own output on the decoded frames."""
    dst = tmp_path / "up.mkv"
    assert main(["upscale", str(clip), "-o", str(dst), "--model", str(model_file), "--codec", "ffv1",
                 "--segment-frames", "16", "--precision", "fp32"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["up.mkv"]  # the work folder is gone
    src, out = streams(clip), streams(dst)
    assert out["streams"] == src["streams"] == [("video", None), ("audio", "eng"), ("audio", "fra"), ("subtitle", "deu")]
    assert out["rotation"] == src["rotation"] == 90
    assert out["chapters"] == src["chapters"] and len(src["chapters"]) == 2
    assert out["title"] == "a test clip"
    assert out["pts"] == src["pts"] == [Fraction(t, 1000) for t in frame_times(40)]  # not uniform
    assert out["audio"] == src["audio"] and all(len(a) > 50 for a in src["audio"])
    assert out["subtitles"] == src["subtitles"] == [[(b"Hallo", Fraction(1, 10)), (b"Welt", src["subtitles"][0][1][1])]]
    assert out["size"] == (96, 64)
    model = load_model(model_file, device="cpu", precision="fp32")
    want = model(torch.from_numpy(src["frames"]).permute(0, 3, 1, 2))
    want = torch.round(want * 255).permute(0, 2, 3, 1).numpy().astype(np.uint8)
    # FFV1 is lossless in YUV 4:2:0, so the same frames through the same conversion come back the same.
    writer = VideoWriter(tmp_path / "want.mkv", 96, 64, Fraction(25), codec="ffv1")
    for frame in want:
        writer.write(frame)
    writer.close()
    assert np.array_equal(out["frames"], np.stack(list(FrameSource(tmp_path / "want.mkv"))))


def test_mp4_keeps_what_it_can_hold_and_says_what_it_cannot(model_file: Path, clip: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    dst = tmp_path / "up.mp4"
    assert main(["upscale", str(clip), "-o", str(dst), "--model", str(model_file), "--preset", "ultrafast"]) == 0
    out, src = streams(dst), streams(clip)
    kept = [s for s in out["streams"] if s[0] in ("audio", "subtitle")]  # MP4 adds a chapter text track
    assert out["rotation"] == 90 and kept == [("audio", "eng"), ("audio", "fra"), ("subtitle", "deu")]
    assert out["pts"] == src["pts"] and len(out["chapters"]) == 2 and out["audio"] == src["audio"]
    # mov_text samples: a 2-byte length, then the text; the muxer fills the gaps with empty ones.
    assert [(b[2:], t) for b, t in out["subtitles"][0] if len(b) > 2] == src["subtitles"][0]
    assert "subtitle stream 3 (srt) converted to mov_text" in capsys.readouterr().out


def test_a_new_frame_rate_says_which_streams_it_leaves_out(model_file: Path, clip: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """--fps retimes the video: audio, subtitles and chapters would no longer match it, so each is
    left out with a note rather than silently; the frames get the new, uniform timing."""
    dst = tmp_path / "up.mkv"
    assert main(["upscale", str(clip), "-o", str(dst), "--model", str(model_file), "--preset", "ultrafast",
                 "--fps", "10", "--frames", "0:8"]) == 0
    out = streams(dst)
    assert out["streams"] == [("video", None)] and out["chapters"] == []
    assert out["pts"] == [Fraction(i, 10) for i in range(8)]
    with av.open(str(dst)) as c:  # H.264 in Matroska: the rate, not x264's 1/time base
        assert c.streams.video[0].average_rate == 10
    notes = capsys.readouterr().out
    for what in ("audio stream 1", "audio stream 2", "subtitle stream 3"):
        assert f"{what} " in notes and "left out: --fps" in notes, notes


def test_killed_runs_resume_without_recomputing(model_file: Path, clip: Path, tmp_path: Path) -> None:
    """SIGKILL at random points, rerun each time: finished segments are not recomputed, and the
    result equals an uninterrupted run's, frames bit for bit (FFV1), audio and timestamps too."""
    args = ["upscale", str(clip), "--model", str(model_file), "--codec", "ffv1", "--segment-frames", "8",
            "--device", "cpu"]
    ref = tmp_path / "ref.mkv"
    count = tmp_path / "ref.count"
    p = _start(count, 0.0, *args, "-o", str(ref))
    assert p.wait(120) == 0, p.stderr.read()
    assert _calls(count) == 40

    dst = tmp_path / "resumed.mkv"
    rng = random.Random(21)
    kills = 0
    for attempt in range(6):
        count = tmp_path / f"run{attempt}.count"
        done_before = _done_frames(dst)
        p = _start(count, 0.05, *args, "-o", str(dst))
        target = rng.randint(3, 14)
        deadline = time.monotonic() + 60
        while _calls(count) < target and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if p.poll() is None and attempt < 5:
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
            assert not dst.exists()
            continue
        assert p.wait(120) == 0, p.stderr.read()
        assert _calls(count) == 40 - done_before  # only the frames not in a finished segment
        break
    assert kills >= 3 and dst.exists() and not work_dir(dst).exists()
    got, want = streams(dst), streams(ref)
    assert np.array_equal(got["frames"], want["frames"])
    assert got["pts"] == want["pts"] and got["audio"] == want["audio"] and got["subtitles"] == want["subtitles"]


def _one_cpu() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_two_runs_give_the_same_h264_bytes(model_file: Path, tall_clip: Path, tmp_path: Path, suffix: str) -> None:
    """The same command twice, with the default encoder (x264), gives the same file. The second run
    has another heap (MALLOC_PERTURB_, as an empty or a filled int8 cache leaves it), which x264's
    AVX-512 mb-tree read, and one CPU, from which x264's automatic thread (slice) count came; and
    Matroska's random IDs are left out (bitexact muxing)."""
    args = ["upscale", str(tall_clip), "--model", str(model_file), "--segment-frames", "16"]
    first, second = tmp_path / f"first{suffix}", tmp_path / f"second{suffix}"
    p = _start("", 0.0, *args, "-o", str(first))
    assert p.wait(120) == 0, p.stderr.read()
    one_cpu = _one_cpu if hasattr(os, "sched_setaffinity") else None
    p = _start("", 0.0, *args, "-o", str(second), env={"MALLOC_PERTURB_": "165"}, preexec_fn=one_cpu)
    assert p.wait(120) == 0, p.stderr.read()
    assert first.read_bytes() == second.read_bytes()


def test_a_twice_killed_h264_run_equals_an_uninterrupted_one(model_file: Path, tall_clip: Path,
                                                             tmp_path: Path) -> None:
    """Killed twice, each time after one more segment, and run again: the H.264 file (the default
    encoder) is the uninterrupted run's, byte for byte. Each resumed process has another heap, as
    a fresh process (or another node) has, and the last one CPU."""
    args = ["upscale", str(tall_clip), "--model", str(model_file), "--segment-frames", "8"]
    ref, dst = tmp_path / "ref.mp4", tmp_path / "resumed.mp4"
    p = _start("", 0.0, *args, "-o", str(ref))
    assert p.wait(120) == 0, p.stderr.read()
    for kill in (1, 2):
        p = _start(tmp_path / f"run{kill}.count", 0.05, *args, "-o", str(dst),
                   env={"MALLOC_PERTURB_": str(40 * kill)})
        deadline = time.monotonic() + 60
        while len(list(work_dir(dst).glob("seg-*.mp4"))) < kill and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert p.poll() is None, "the run ended before it could be killed"
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert not dst.exists() and _done_frames(dst) in (16, 24)
    one_cpu = _one_cpu if hasattr(os, "sched_setaffinity") else None
    p = _start("", 0.0, *args, "-o", str(dst), env={"MALLOC_PERTURB_": "165"}, preexec_fn=one_cpu)
    assert p.wait(120) == 0, p.stderr.read()
    assert dst.read_bytes() == ref.read_bytes()


def test_two_runs_on_one_output_do_not_race(model_file: Path, clip: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    args = ["upscale", str(clip), "--model", str(model_file), "-o", str(dst), "--codec", "ffv1"]
    first = _start(tmp_path / "a.count", 0.1, *args)
    time.sleep(3)
    second = _start(tmp_path / "b.count", 0.0, *args)
    assert second.wait(60) == 2
    err = second.stderr.read().strip().splitlines()
    assert len(err) == 1 and "is being written by process" in err[0] and str(first.pid) in err[0]
    assert first.wait(120) == 0 and dst.exists()
    assert _calls(tmp_path / "b.count") == 0


def test_a_killed_runs_lock_is_taken_over(model_file: Path, clip: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    args = ["upscale", str(clip), "--model", str(model_file), "-o", str(dst), "--codec", "ffv1", "--segment-frames", "8"]
    p = _start(tmp_path / "a.count", 0.05, *args)
    while _calls(tmp_path / "a.count") < 12:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert json.loads((work_dir(dst) / "lock").read_text())["pid"] == p.pid  # left behind by the kill
    assert main(args) == 0 and dst.exists() and not work_dir(dst).exists()


def test_a_lost_nodes_lock_is_waited_for_then_taken_over(model_file: Path, clip: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock another host left (its node lost) is fresh for Lock.STALE: without lock_wait the run
    fails at once naming that host; with it (what a Ray retry passes) the run waits until the lock
    is stale, takes it over and finishes."""
    monkeypatch.setattr(Lock, "STALE", 1.5)
    monkeypatch.setattr(Lock, "HEARTBEAT", 0.2)
    dst = tmp_path / "out.mkv"
    lock = work_dir(dst) / "lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": 1, "host": "lost-node", "started": time.time()}))
    up = load_model(model_file, device="cpu", precision="fp32")
    with pytest.raises(SavsrError, match="being written by process 1 on lost-node"):
        upscale_file(up, clip, dst, frames="0:4", encode=EncodeOptions(codec="ffv1"))
    t0 = time.monotonic()
    upscale_file(up, clip, dst, frames="0:4", encode=EncodeOptions(codec="ffv1"), lock_wait=10)
    assert time.monotonic() - t0 >= 1.0 and dst.exists() and not work_dir(dst).exists()


def test_changed_settings_refuse_or_restart(model_file: Path, clip: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    dst = tmp_path / "out.mkv"
    args = ["upscale", str(clip), "--model", str(model_file), "-o", str(dst), "--segment-frames", "8"]
    p = _start(tmp_path / "a.count", 0.05, *args, "--crf", "20")
    while not list(work_dir(dst).glob("seg-*")):
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    capsys.readouterr()
    assert main([*args, "--crf", "22"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'crf': 20" in err[0] and "'crf': 22" in err[0] and "--restart" in err[0]
    assert main([*args, "--crf", "22", "--restart"]) == 0 and dst.exists()


def test_an_output_that_appears_meanwhile_is_not_replaced(model_file: Path, clip: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    model = load_model(model_file, device="cpu")

    def someone_else_writes(n: int) -> None:
        if not dst.exists():
            dst.write_text("another run's output")

    with pytest.raises(ParameterError, match="appeared while this run was writing it"):
        upscale_file(model, clip, dst, progress=someone_else_writes)
    assert dst.read_text() == "another run's output"
    # The finished work is kept: with overwrite, the rerun only joins it.
    calls = []
    model.model.register_forward_hook(lambda *a: calls.append(1))
    upscale_file(model, clip, dst, overwrite=True)
    assert calls == [] and streams(dst)["size"] == (96, 64)


def test_frame_folder_output_resumes(model_file: Path, clip: Path, tmp_path: Path) -> None:
    dst = tmp_path / "frames"
    args = ["upscale", str(clip), "--model", str(model_file), "-o", str(dst), "--frames", "5:25"]
    p = _start(tmp_path / "a.count", 0.05, *args)
    while _calls(tmp_path / "a.count") < 8:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = len(list((work_dir(dst) / "frames").glob("0*.png")))
    assert done >= 5 and not dst.exists()
    count = tmp_path / "b.count"
    assert _start(count, 0.0, *args).wait(60) == 0
    assert _calls(count) == 20 - done
    names = sorted(p.name for p in dst.iterdir())
    assert names == [f"{i:08d}.png" for i in range(5, 25)]


def test_shard_from_flag_or_scheduler() -> None:
    assert parse_shard("1/4", {}) == (1, 4)
    assert parse_shard(None, {"RANK": "2", "WORLD_SIZE": "3"}) == (2, 3)
    assert parse_shard(None, {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_COUNT": "2"}) == (1, 2)
    assert parse_shard(None, {}) is None
    for bad in ("4/4", "x", "1/0"):
        with pytest.raises(ParameterError):
            parse_shard(bad, {})


def test_scale_alone_picks_the_bundled_model(tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--scale", "2"]) == 0
    assert Image.open(tmp_path / "out.png").size == (48, 40)


def test_pixel_aspect_ratio_is_kept(model_file: Path, tmp_path: Path) -> None:
    """An anamorphic source (pixels 4:3 wide) keeps its display aspect ratio."""
    import av

    src = tmp_path / "anamorphic.mkv"
    with av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 48, 32, "yuv420p"
        v.codec_context.sample_aspect_ratio = Fraction(4, 3)
        for i in range(6):
            f = av.VideoFrame.from_ndarray(np.full((32, 48, 3), i * 20, np.uint8), format="rgb24")
            f.pts = i
            for p in v.encode(f):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
    for name in ("up.mkv", "up.mp4"):
        assert main(["upscale", str(src), "-o", str(tmp_path / name), "--model", str(model_file)]) == 0
        with av.open(str(tmp_path / name)) as c:
            assert c.streams.video[0].sample_aspect_ratio == Fraction(4, 3), name
            assert c.streams.video[0].display_aspect_ratio == 2, name  # 96×64 at 4:3 pixels
