"""Score generator files on a config's validation set, as the trainer's validation does.

    .venv/bin/python scripts/validate_generator.py configs/cpu/vsrresnet_x4.yaml zoo/gpu_vsrresnet_x4/generator.safetensors

For runs that trained without validation (the GPU runs, whose machine lacks the LPIPS weights):
prints PSNR-Y, LPIPS-alex and the periodic error ratios on data.val (4 centre crops of sam2_bedroom.mp4 in configs/cpu).
"""

from __future__ import annotations

import sys
import tempfile

from savsr.models.checkpoint import read_spec
from savsr.train import Trainer, load_config


def main() -> None:
    config, generators = sys.argv[1], sys.argv[2:]
    for path in generators:
        cfg = load_config(config, [f"run.init={path}", "run.device=cpu", "data.workers=0"])
        scale = read_spec(path)[0].scale
        if scale != cfg.data.scale:  # training may fine-tune across scales; scoring must not
            sys.exit(f"validate_generator: error: {path} is a ×{scale} generator, {config} validates at ×{cfg.data.scale}")
        with tempfile.TemporaryDirectory() as out:
            scores = Trainer(cfg, out, progress=False).validate()
        print(f"{path}: PSNR-Y {scores['val/psnr_y']:.4f} dB, LPIPS-alex {scores['val/lpips_alex']:.4f}, "
              f"grid 2 px {scores['val/grid2']:.3f}, grid 4 px {scores['val/grid4']:.3f}")


if __name__ == "__main__":
    main()
