"""Export what continuing a run needs, small enough for git: fp16 generator and discriminator.

    .venv/bin/python scripts/export_run.py runs/cpu_sa_vsrgan_x4 step_00000768 zoo/cpu_sa_vsrgan_x4

Optimizer state is left out on purpose. Continue on another machine with
`savsr train CONFIG --set run.init=zoo/.../generator.safetensors
 --set run.init_discriminator=zoo/.../discriminator.safetensors` (a run with run.ema also exports
generator_online.safetensors, the weights it was training; run.init from it continues those, and
the average restarts from them).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from savsr.models.checkpoint import load_generator, read_spec, save_generator


def main() -> None:
    run, step, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    folder = run / "checkpoints" / step
    out.mkdir(parents=True, exist_ok=True)
    _, meta = read_spec(folder / "generator.safetensors")
    extra = {k: v for k, v in meta.items() if k in ("stage", "step")}
    # generator_online: a run.ema checkpoint's weights being trained, beside their average.
    for name in ("generator", "generator_online"):
        if (folder / f"{name}.safetensors").is_file():
            model, spec = load_generator(folder / f"{name}.safetensors")
            save_generator(model, spec, out / f"{name}.safetensors", overwrite=True, half=True, extra=extra)
    disc = folder / "discriminator.safetensors"
    if disc.is_file():
        save_file({k: (v.half() if v.is_floating_point() else v) for k, v in load_file(str(disc)).items()},
                  str(out / "discriminator.safetensors"))
    shutil.copy(run / "config.yaml", out / "config.yaml")
    (out / "source.json").write_text(json.dumps({"run": str(run), "checkpoint": step, "step": meta.get("step")}, indent=2))
    print(f"exported {folder} to {out}")


if __name__ == "__main__":
    main()
