"""Width and depth of the LR-space generator at equal CPU time (issue #31, docs/method.md).

Each size trains configs/cpu/lr_vsrresnet_x4.yaml from scratch for the same wall-clock minutes
on this machine's cores (SIGTERM then, which writes a checkpoint), and the checkpoint is scored on
the config's validation set as the trainer scores it. One line per size is appended to OUT; a
size already there is not run again, so the study resumes.

    .venv/bin/python scripts/lr_size_study.py --minutes 12 --sizes 64x15 64x24 128x16 --out zoo/lr_size_study.txt
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from savsr import load_model
from savsr.train import config_validator, load_config
from savsr.train.checkpoint import CheckpointManager

CONFIG = "configs/cpu/lr_vsrresnet_x4.yaml"


def train_for(size: str, minutes: float, runs: Path) -> tuple[int, Path]:
    """Train one size for ``minutes`` of wall time; returns the step and folder of its newest checkpoint."""
    features, blocks = size.split("x")
    out = runs / f"lr_size_{size}"
    cmd = [sys.executable, "-m", "savsr", "train", CONFIG, "--out", str(out),
           "--set", f"model.features={features}", "--set", f"model.blocks={blocks}",
           "--set", "run.val_every=1000000", "--set", "run.image_every=1000000", "--set", "run.checkpoint_every=1000000"]
    child = subprocess.Popen(cmd)
    try:
        child.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        child.terminate()  # the trainer writes a checkpoint and exits
        child.wait()
    folders = CheckpointManager(out).folders()
    if not folders:
        sys.exit(f"lr_size_study: error: {out} holds no checkpoint")
    return folders[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--sizes", nargs="+", default=["64x15", "64x24", "128x16"], metavar="FxB")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("zoo/lr_size_study.txt"))
    args = parser.parse_args()
    done = args.out.read_text() if args.out.exists() else ""
    validator = config_validator(load_config(CONFIG))
    for size in args.sizes:
        if f"size {size}:" in done:
            continue
        start = time.time()
        step, folder = train_for(size, args.minutes, args.runs)
        minutes = (time.time() - start) / 60
        scores = validator(load_model(folder / "generator.safetensors", "cpu", precision="fp32", tile=0))
        line = (f"size {size}: {step} steps of 16 patches in {minutes:.1f} min; "
                f"validation PSNR-Y {scores['psnr_y']:.4f} dB, LPIPS-alex {scores['lpips_alex']:.4f}\n")
        print(line, end="", flush=True)
        with args.out.open("a") as fh:
            fh.write(line)


if __name__ == "__main__":
    main()
