"""Training curves of several runs side by side, from their TensorBoard logs.

    .venv/bin/python scripts/plot_curves.py runs/cpu_vsrresfeatgan_x4 runs/cpu_sa_vsrgan_x4 \
        -o docs/figures/curves_x4.png

One panel per scalar (every ``loss/*`` tag, then ``val/psnr_y``, ``val/lpips_alex`` and ``val/grid2``), one line
and colour per run, against the training step; positive losses on a log scale. A run is a folder
holding ``tensorboard/`` (savsr train's run folder) or the event files themselves.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from savsr.errors import SavsrError
from savsr.fileio import atomic_output
from savsr.figures import check_figure_path, plt

VALIDATION = ("val/psnr_y", "val/lpips_alex", "val/grid2")


def read_scalars(run: Path) -> dict[str, tuple[list[int], list[float]]]:
    """tag -> (steps, values) of one run's loss and validation scalars, by step.

    A run resumed from a checkpoint has one event file per start, and a step logged after the last
    checkpoint is logged again by the resume: each step keeps its latest value, once.
    """
    logdir = run / "tensorboard" if (run / "tensorboard").is_dir() else run
    if not logdir.is_dir() or not any(logdir.glob("events.out.tfevents.*")):
        raise SavsrError(f"{run}: no TensorBoard event files (expected {run}/tensorboard/events.out.tfevents.*)")
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    wanted = [t for t in acc.Tags()["scalars"] if t.startswith("loss/") or t in VALIDATION]
    out = {}
    for tag in wanted:
        # By wall time, not by file: files are read in name order, and a writer's name ends in a
        # per-process counter that sorts ".10" before ".9".
        latest = {e.step: e.value for e in sorted(acc.Scalars(tag), key=lambda e: e.wall_time)}
        steps = sorted(latest)
        out[tag] = (steps, [latest[s] for s in steps])
    return out


def plot_curves(runs: list[Path], out: Path, overwrite: bool = False) -> Path:
    """Draw every loss and validation tag found in ``runs`` into one PNG grid."""
    check_figure_path(out, overwrite)  # before reading logs that can be large
    data = {run.name: read_scalars(run) for run in runs}
    losses = sorted({t for scalars in data.values() for t in scalars if t.startswith("loss/")})
    tags = losses + [t for t in VALIDATION if any(t in s for s in data.values())]
    cols = min(3, len(tags))
    rows = math.ceil(len(tags) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax, tag in zip(axes.flat, tags):
        for k, (name, scalars) in enumerate(data.items()):
            if tag in scalars:  # one colour per run in every panel
                ax.plot(*scalars[tag], label=name, color=f"C{k}", linewidth=1.2)
        if tag.startswith("loss/") and all(min(s[tag][1]) > 0 for s in data.values() if tag in s):
            ax.set_yscale("log")  # MSE and Charbonnier terms fall by orders of magnitude
        ax.set_title(tag)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.flat[len(tags):]:
        ax.set_axis_off()
    fig.tight_layout()
    with atomic_output(out, overwrite) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.png")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT.png if it exists")
    args = parser.parse_args(argv)
    try:
        print(f"wrote {plot_curves(args.runs, args.output, args.overwrite)}")
    except SavsrError as exc:
        print(f"plot_curves: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
