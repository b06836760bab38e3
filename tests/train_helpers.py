"""Tiny training set-ups shared by the training tests."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

from savsr.data.prepare import prepare_dataset


def make_dataset(root: Path) -> Path:
    """Two short scenes of smooth moving texture, prepared as a savsr dataset."""
    yy, xx = np.mgrid[0:48, 0:56].astype(np.float64)
    for k in range(2):
        folder = root / "src" / f"scene{k}"
        folder.mkdir(parents=True)
        for t in range(7):
            v = 0.5 + 0.3 * np.sin(0.4 * xx + 0.25 * yy * (k + 1) + 0.3 * t) * np.cos(0.2 * yy - 0.1 * t)
            rgb = np.stack([v, v**2, 1 - v], axis=2)
            Image.fromarray((rgb * 255).round().astype(np.uint8)).save(folder / f"{t}.png")
    out = root / "ds"
    prepare_dataset(sorted((root / "src").iterdir()), out, progress=False)
    return out


def write_config(path: Path, dataset: Path, stage: str = "pretrain", **run: object) -> Path:
    """A tiny but complete config: 2-block, 8-feature generator, 16-pixel patches."""
    cfg = {
        "stage": stage,
        "data": {"roots": [str(dataset)], "scale": 2, "patch_size": 16, "samples_per_epoch": 32, "workers": 0,
                 "val": [str(dataset.parent / "src" / "scene1")], "val_frames": 2, "val_crop": 32},
        "model": {"blocks": 2, "features": 8},
        "discriminator": {"features": [8, 8, 8]},
        "run": {"epochs": 2, "batch_size": 4, "log_every": 2, "image_every": 8, "val_every": 8,
                "checkpoint_every": 4, "seed": 1, **run},
    }
    if stage == "gan":
        cfg["optim"] = {"lr_g": 1e-4, "lr_d": 1e-4, "weight_decay_g": 1e-4, "weight_decay_d": 1e-3, "milestones": []}
    path.write_text(yaml.safe_dump(cfg))
    return path


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def start_training(cfg: Path, out: Path, *extra: str) -> subprocess.Popen:
    """`savsr train CFG --out OUT ...` in a child process."""
    return subprocess.Popen([str(Path(sys.executable).parent / "savsr"), "train", str(cfg), "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def checkpoint_steps(out: Path) -> list[int]:
    """Steps of the complete checkpoint folders under ``out``."""
    return sorted(int(p.name[5:]) for p in (out / "checkpoints").glob("step_*")) if (out / "checkpoints").is_dir() else []


def wait_for_checkpoint(out: Path, proc: subprocess.Popen, newer_than: int = -1, timeout: float = 120) -> int:
    """Wait until a checkpoint of a step after ``newer_than`` appears under ``out``; return its step."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        steps = checkpoint_steps(out)
        if steps and steps[-1] > newer_than:
            return steps[-1]
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")
