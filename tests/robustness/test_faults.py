"""Faults: processes SIGKILLed at random points, and a disk that fills up while writing.

Training killed N times and resumed ends with the weights of an uninterrupted run; a killed
upscale leaves nothing under the output's name; a write that meets a full disk (a file-size
limit, RLIMIT_FSIZE, which needs no privileges) ends with one line, no temporary files, and the
earlier checkpoints intact and resumable.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from savsr.infer.pipeline import work_dir
from robust_helpers import CHILD_ENV, SAVSR, limit_file_size, one_line_error, run_measured, tiny_generator, write_clip
from savsr.cli import main
from savsr.fileio import atomic_output, current_umask
from savsr.train.checkpoint import CheckpointManager, verify
from train_helpers import (
    checkpoint_steps, make_dataset, same_weights, start_training, wait_for_checkpoint, weights, write_config,
)

KILLS = 5


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("train"))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_generator(tmp_path_factory.mktemp("m") / "tiny_x2.safetensors")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".part" in p.name)


@pytest.mark.slow
def test_training_killed_n_times_resumes_to_the_same_weights(dataset: Path, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", dataset, epochs=10, checkpoint_every=2, val_every=8, image_every=1000)
    assert main(["train", str(cfg), "--out", str(tmp_path / "whole")]) == 0
    out, rng = tmp_path / "killed", random.Random(8)
    kills, last = 0, -1
    while kills < KILLS:
        proc = start_training(cfg, out, "--resume", "auto")
        last = wait_for_checkpoint(out, proc, newer_than=last)  # progress since the previous kill
        time.sleep(rng.uniform(0, 0.4))  # then anywhere: mid-step, mid-checkpoint, mid-rotation
        assert proc.poll() is None, "the run ended before it was killed"
        proc.kill()
        proc.wait()
        kills += 1
        latest = CheckpointManager(out).latest()
        assert latest is not None and verify(latest) is None
    assert checkpoint_steps(out)[-1] < 80
    assert main(["train", str(cfg), "--out", str(out), "--resume", "auto"]) == 0
    final = "checkpoints/step_00000080/generator.safetensors"
    assert same_weights(weights(tmp_path / "whole" / final), weights(out / final))
    assert _leftovers(out / "checkpoints") == []


@pytest.mark.parametrize("output", ["sr.mp4", "sr_frames"])
def test_killed_upscale_leaves_nothing_under_the_final_name(model: Path, tmp_path: Path, output: str) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 100)
    dst = tmp_path / output
    work = work_dir(dst)
    args = [SAVSR, "upscale", str(clip), "-o", str(dst), "--model", str(model), "--device", "cpu",
            "--segment-frames", "10"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=CHILD_ENV)
    deadline = time.time() + 120
    while not list(work.glob("seg-*")) + list(work.glob("frames/0*")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, f"finished before it could be killed: {proc.stderr.read()}"
    proc.kill()
    proc.wait()
    assert work.exists() and not dst.exists()
    # Running it again resumes from the work folder, completes and removes it.
    assert run_measured(args).returncode == 0
    assert not work.exists()
    if dst.suffix:
        with av.open(str(dst)) as c:
            assert sum(1 for _ in c.decode(video=0)) == 100
    else:
        assert len(list(dst.iterdir())) == 100


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    """Four 64×48 frames of noise: every output file is far above 4000 bytes."""
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray((rng.random((48, 64, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("command, output", [("upscale", "o.mp4"), ("upscale", "o_frames"), ("prepare", "ds")])
def test_full_disk_during_an_output_write(model: Path, frames: Path, command: str, output: str) -> None:
    dst = frames.parent / output
    extra = ["--model", str(model), "--device", "cpu"] if command == "upscale" else []
    res = run_measured([SAVSR, command, str(frames), "-o", str(dst), *extra], preexec_fn=limit_file_size(4000))
    line = one_line_error(res)
    assert f"{dst}: not written: File too large" in line
    assert sorted(p.name for p in frames.parent.iterdir()) == ["in"]  # no output, no temporary file


def test_full_disk_during_a_checkpoint_keeps_the_earlier_ones(dataset: Path, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", dataset, epochs=1, checkpoint_every=4, val_every=1000, image_every=1000)
    run = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(run)]) == 0
    before = {p: p.read_bytes() for p in (run / "checkpoints").rglob("*") if p.is_file()}
    state_size = (run / "checkpoints" / "step_00000008" / "state.pt").stat().st_size
    # Room for the generator (12 kB) and the logs, not for the optimizer state (48 kB).
    limit = state_size // 2
    assert (run / "checkpoints" / "step_00000008" / "generator.safetensors").stat().st_size < limit
    more = ["--resume", "auto", "--set", "run.epochs=2"]
    res = run_measured([SAVSR, "train", str(cfg), "--out", str(run), *more], preexec_fn=limit_file_size(limit))
    lines = [x for x in res.stderr.splitlines() if " INFO " not in x]  # the training log is not an error
    assert res.returncode == 2 and len(lines) == 1, res.stderr[-2000:]
    assert lines[0].startswith(f"savsr: error: {run / 'checkpoints' / 'step_00000012'}: not written: File too large")
    assert {p: p.read_bytes() for p in (run / "checkpoints").rglob("*") if p.is_file()} == before
    assert _leftovers(run) == []
    # The run goes on from the last checkpoint once there is room again.
    assert main(["train", str(cfg), "--out", str(run), *more]) == 0
    assert checkpoint_steps(run)[-1] == 16



@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_get_the_permissions_of_the_umask(tmp_path: Path, umask: int) -> None:
    """atomic_output's temporary file is made 0600 by mkstemp; a writer that opens it in place
    (matplotlib, json, safetensors) must still leave a file with the mode the umask gives."""
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        with atomic_output(tmp_path / "out.json") as tmp:
            tmp.write_text("{}")
    finally:
        os.umask(old)
    assert oct((tmp_path / "out.json").stat().st_mode & 0o777) == oct(0o666 & ~umask)
