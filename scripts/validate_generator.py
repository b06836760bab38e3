"""Score generator files on a config's validation set, as the trainer's validation does.

    .venv/bin/python scripts/validate_generator.py configs/cpu/vsrresnet_x4.yaml zoo/gpu_vsrresnet_x4/generator.safetensors

For runs that trained without validation (the GPU runs, whose machine lacks the LPIPS weights):
prints PSNR-Y, LPIPS-alex and the periodic error ratios on data.val (4 centre crops of sam2_bedroom.mp4 in configs/cpu)
under the config's data.degradation (a BD config scores BD input).
"""

from __future__ import annotations

import sys

from savsr import load_model
from savsr.train import config_validator, load_config


def main() -> None:
    config, generators = sys.argv[1], sys.argv[2:]
    cfg = load_config(config)
    d, validator = cfg.data, config_validator(cfg)
    for path in generators:
        model = load_model(path, "cpu", precision="fp32", tile=0)
        if model.scale != d.scale:  # training may fine-tune across scales; scoring must not
            sys.exit(f"validate_generator: error: {path} is a ×{model.scale} generator, {config} validates at ×{d.scale}")
        scores = validator(model)
        print(f"{path}: PSNR-Y {scores['psnr_y']:.4f} dB, LPIPS-alex {scores['lpips_alex']:.4f}, "
              f"grid 2 px {scores['grid2']:.3f}, grid 4 px {scores['grid4']:.3f}")


if __name__ == "__main__":
    main()
