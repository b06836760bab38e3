"""Export what continuing a run needs, small enough for git: fp16 generator and discriminator.

    .venv/bin/python scripts/export_run.py runs/cpu_sa_vsrgan_x4 step_00000768 zoo/cpu_sa_vsrgan_x4

Optimizer state is left out on purpose. Continue on another machine with
`savsr train CONFIG --set run.init=zoo/.../generator.safetensors
 --set run.init_discriminator=zoo/.../discriminator.safetensors` (a run with run.ema also exports
generator_online.safetensors, the weights it was training; run.init from it continues those, and
the average restarts from them).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from savsr.fileio import staged_output
from savsr.models.checkpoint import load_generator, read_spec, save_generator


def _die(message: str) -> None:
    print(f"export_run: error: {message}", file=sys.stderr)
    sys.exit(2)  # bad input, as for savsr and train_cpu_zoo.sh


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path, help="the run folder (savsr train --out)")
    p.add_argument("checkpoint", help="a folder name under RUN/checkpoints: best, step_00000768, ...")
    p.add_argument("out", type=Path, help="the folder to create, e.g. zoo/cpu_sa_vsrgan_x4")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    args = p.parse_args()
    run, step, out = args.run, args.checkpoint, args.out
    folder = run / "checkpoints" / step
    if not (folder / "generator.safetensors").is_file():
        _die(f"{folder}: no checkpoint there")
    if out.exists() and not args.overwrite:
        _die(f"{out} exists; pass --overwrite to replace it")
    _, meta = read_spec(folder / "generator.safetensors")
    extra = {k: v for k, v in meta.items() if k in ("stage", "step", "degradation")}
    # Staged, then renamed: train_cpu_zoo.sh takes an existing OUT as a finished stage.
    with staged_output(out, "folder") as tmp:
        # generator_online: a run.ema checkpoint's weights being trained, beside their average.
        for name in ("generator", "generator_online"):
            if (folder / f"{name}.safetensors").is_file():
                model, spec = load_generator(folder / f"{name}.safetensors")
                save_generator(model, spec, tmp / f"{name}.safetensors", overwrite=True, half=True, extra=extra)
        disc = folder / "discriminator.safetensors"
        if disc.is_file():
            save_file({k: (v.half() if v.is_floating_point() else v) for k, v in load_file(str(disc)).items()},
                      str(tmp / "discriminator.safetensors"))
        shutil.copy(run / "config.yaml", tmp / "config.yaml")
        (tmp / "source.json").write_text(json.dumps({"run": str(run), "checkpoint": step, "step": meta.get("step")}, indent=2))
    print(f"exported {folder} to {out}")


if __name__ == "__main__":
    main()
