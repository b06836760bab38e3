"""Where the time of a training step goes: the product's bf16 pretraining and GAN steps under
PyTorch's profiler, grouped into convolutions (forward, backward) and everything else.

    .venv/bin/python scripts/profile_steps.py                 # batch 32 of 36×36, as configs/cpu
    .venv/bin/python scripts/profile_steps.py --batch 16 --steps 3
    .venv/bin/python scripts/profile_steps.py --compile      # also: eager against torch.compile

The steps are `Trainer._pretrain_step` and `Trainer._gan_step` built from configs/cpu/ (as
`make bench` builds them), fed random batches so that data loading is out of the picture.
docs/performance.md quotes its output.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.training import make_trainer, tiny_dataset  # noqa: E402

GROUPS = {  # self-time of these aten ops; every other op is "other"
    "aten::mkldnn_convolution": "convolution forward",
    "aten::convolution_backward": "convolution backward",
    "aten::clamp_min_": "ReLU / LeakyReLU (forward, backward)",
    "aten::clamp_min": "ReLU / LeakyReLU (forward, backward)",
    "aten::threshold_backward": "ReLU / LeakyReLU (forward, backward)",
    "aten::leaky_relu": "ReLU / LeakyReLU (forward, backward)",
    "aten::leaky_relu_": "ReLU / LeakyReLU (forward, backward)",
    "aten::leaky_relu_backward": "ReLU / LeakyReLU (forward, backward)",
    "aten::add": "residual adds, gradient sums",
    "aten::add_": "residual adds, gradient sums",
    "aten::_fused_adam_": "optimizer (fused Adam)",
    "aten::copy_": "dtype casts and copies",
    "aten::_to_copy": "dtype casts and copies",
}


def profile_step(step, lr: torch.Tensor, hr: torch.Tensor, steps: int) -> dict[str, float]:
    """Self CPU seconds per group over ``steps`` calls, after two warm-up calls."""
    for _ in range(2):
        step(lr, hr)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step(lr, hr)
    groups: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        groups[GROUPS.get(event.key, "other")] += event.self_cpu_time_total / 1e6
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--patch", type=int, default=36)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--compile", action="store_true",
                        help="also time the pretraining step with the generator under torch.compile, interleaved with eager")
    args = parser.parse_args()
    torch.manual_seed(0)
    cl = torch.channels_last
    lr = torch.rand(args.batch, 5, args.patch, args.patch).contiguous(memory_format=cl)
    hr = torch.rand(args.batch, 1, args.patch, args.patch).contiguous(memory_format=cl)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dataset = tiny_dataset(work)
        for stage in ("pretrain", "gan"):
            trainer = make_trainer(stage, dataset, work, "bf16", True, False, args.batch)
            step = trainer._pretrain_step if stage == "pretrain" else trainer._gan_step
            groups = profile_step(step, lr, hr, args.steps)
            total = sum(groups.values())
            print(f"\n{stage} step, bf16 autocast channels_last, batch {args.batch} of {args.patch}×{args.patch}: "
                  f"{total / args.steps * 1e3:.0f} ms of profiled time per step")
            print("| where | share |\n|---|---:|")
            for name, secs in sorted(groups.items(), key=lambda kv: -kv[1]):
                print(f"| {name} | {secs / total:.1%} |")
            if args.compile and stage == "pretrain":
                compare_compile(trainer, lr, hr, args.batch)
    return 0


def compare_compile(trainer, lr: torch.Tensor, hr: torch.Tensor, batch: int, rounds: int = 3) -> None:
    """Patches/s of the pretraining step, eager and with the generator compiled, in alternate rounds."""
    import time

    eager = trainer.g
    compiled = torch.compile(eager)
    start = time.perf_counter()
    trainer.g = compiled
    for _ in range(2):
        trainer._pretrain_step(lr, hr)
    print(f"\ntorch.compile: {time.perf_counter() - start:.0f} s to compile and warm up")
    for r in range(rounds):
        for name, g in (("eager", eager), ("compiled", compiled)):
            trainer.g = g
            trainer._pretrain_step(lr, hr)
            start = time.perf_counter()
            for _ in range(4):
                trainer._pretrain_step(lr, hr)
            print(f"round {r}: {name} {4 * batch / (time.perf_counter() - start):.1f} patches/s")
    trainer.g = eager


if __name__ == "__main__":
    sys.exit(main())
