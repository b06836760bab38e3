"""The validation history of training runs (step, PSNR-Y, LPIPS-alex), read from their TensorBoard
logs, in the format of zoo/validation_log.txt. With --check FILE, verify instead that FILE's block
for each run (the one headed "# RUN_NAME (") holds exactly these numbers; exit 1 where not.

    .venv/bin/python scripts/validation_log.py runs/cpu_sa_vsrgan_x4 >> zoo/validation_log.txt
    .venv/bin/python scripts/validation_log.py --check zoo/validation_log.txt runs/cpu_*/

A run resumed from a checkpoint has one event file per start; a step logged twice (a restart
after the validation but before the next checkpoint) keeps its latest value (read_scalars).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from plot_curves import read_scalars  # scripts/ is on sys.path when a script runs

from savsr.errors import SavsrError

TAGS = ("val/psnr_y", "val/lpips_alex")


def history(run: Path) -> list[tuple[int, float, float]]:
    """(step, PSNR-Y, LPIPS-alex) of every validation of ``run``, by step."""
    scalars = read_scalars(run)
    if not all(tag in scalars for tag in TAGS):
        return []
    psnr, lpips = dict(zip(*scalars["val/psnr_y"])), dict(zip(*scalars["val/lpips_alex"]))
    return [(step, psnr[step], lpips[step]) for step in sorted(psnr) if step in lpips]


def header(run: Path) -> str:
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    return f"# {run.name} (scale:{cfg['data']['scale']}; init {cfg['run']['init']})"


def block(run: Path) -> list[str]:
    return [f"{step} {psnr:.4f} {lpips:.4f}" for step, psnr, lpips in history(run)]


def committed_block(text: str, name: str) -> list[str] | None:
    """The numeric lines under the header "# NAME (" of a validation log, None if it has none."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"# {name} ("):
            out = []
            for row in lines[i + 1 :]:
                if row.startswith("#"):
                    break
                out.append(row)
            return out
    return None


def _same(got: list[str], want: list[str]) -> bool:
    """Equal steps, and values within a unit of the 4th decimal (TensorBoard keeps float32)."""
    if len(got) != len(want):
        return False
    for a, b in zip(got, want):
        (sa, *va), (sb, *vb) = a.split(), b.split()
        if sa != sb or any(abs(float(x) - float(y)) > 1.5e-4 for x, y in zip(va, vb)):
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders (holding config.yaml and tensorboard/)")
    p.add_argument("--check", type=Path, metavar="FILE", help="verify FILE's blocks instead of printing")
    args = p.parse_args(argv)
    for run in args.runs:
        if not (run / "config.yaml").is_file():
            print(f"validation_log: error: {run}: not a run folder (no config.yaml)", file=sys.stderr)
            return 2
    try:
        blocks = {run: block(run) for run in args.runs}
    except SavsrError as exc:
        print(f"validation_log: error: {exc}", file=sys.stderr)
        return 2
    if args.check is None:
        for run, rows in blocks.items():
            if rows:
                print("\n".join([header(run), *rows]))
        return 0
    text = args.check.read_text()
    bad = 0
    for run, got in blocks.items():
        want = committed_block(text, run.name)
        if not got:
            continue  # no validation in the run (e.g. the GPU pretraining)
        if want is None:
            print(f"{run.name}: no block in {args.check}")
            bad += 1
        elif not _same(got, want):
            print(f"{run.name}: {args.check} differs from the run's TensorBoard log ({len(want)} vs {len(got)} rows)")
            bad += 1
        else:
            print(f"{run.name}: {len(got)} validations agree")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
