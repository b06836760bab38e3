"""Patches per second of one pretraining step of the config's generator on this machine's GPU
(synthetic batch): VSRResNet or the LR-space lr-vsrresnet (model.kind).

    python3 scripts/gpu/step_rate.py CONFIG [KEY=VALUE ...]

Same network, batch, bf16 autocast, channels_last and fused Adam as the config's run, and the same
shapes (VSRResNet: bicubic-upsampled frames at the HR patch size; lr-vsrresnet: the LR frames,
patch_size / scale, and the sub-pixel tail's phase tie after each step, as the trainer does); the data
loader is left out (with data.cache_lr it is not the bottleneck). train_pretrain.sh sizes
run.epochs with it, so that the learning-rate milestones fall inside the time budget.
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F

from savsr.models.checkpoint import GeneratorSpec
from savsr.train import load_config


def main() -> None:
    cfg = load_config(sys.argv[1], [a for a in sys.argv[2:] if a != "--set"])  # as `savsr train --set` takes them
    d, run = cfg.data, cfg.run
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # cpu: a smoke test of the script
    torch.backends.cudnn.benchmark = True
    spec = GeneratorSpec(d.scale, d.color, d.frames, cfg.model.blocks, cfg.model.features, cfg.model.kind)
    g = spec.build().to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(g.parameters(), 1e-4, fused=True)
    c = 1 if d.color == "y" else 3
    side = d.patch_size // d.scale if spec.lr_input else d.patch_size  # the network's input size
    x = torch.rand(run.batch_size, c * d.frames, side, side, device=dev).to(memory_format=torch.channels_last)
    y = torch.rand(run.batch_size, c, d.patch_size, d.patch_size, device=dev)

    def step() -> None:
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            out = g(x)
        loss = F.mse_loss(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if spec.lr_input:
            g.tie_phases_()  # projected gradient descent, after every step (train/trainer.py)

    n = 200 if dev.type == "cuda" else 2
    for _ in range(n // 10):
        step()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(n):
        step()
    sync()
    print(f"{n * run.batch_size / (time.perf_counter() - start):.0f}")


if __name__ == "__main__":
    main()
