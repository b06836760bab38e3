"""Issue #52's first question: does memory learn, from a window model that works?

The recurrent LR-space network (models/recurrent_lr_vsrresnet.py) and the window network it
starts from, both loaded from a bundled LR-space model (default vsrresnet-lr-x4, the MSE stage),
are trained side by side with MSE on clips of T frames (the recurrent one back-propagating
through the whole clip, the window one on the same T windows as independent samples) for equal
CPU time, in alternating chunks so that a change of load hits both. After each chunk both are
scored on the first frames of a held-out video in order, PSNR-Y against BI (the recurrent one
carrying its state from frame 0), and the curves go to a JSON file and a figure.

    .venv/bin/python scripts/recurrent_probe.py --minutes 20 -o runs/recurrent_probe

Needs `make data` (the training folders). Prints one line per chunk.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from savsr.data.color import rgb_to_y
from savsr.data.dataset import VideoPatchDataset
from savsr.data.resize import bi_degrade
from savsr.data.window import window_indices
from savsr.media import FrameSource
from savsr.metrics import psnr
from savsr.models.checkpoint import load_generator
from savsr.models.recurrent_lr_vsrresnet import RecurrentLRVSRResNet
from savsr.models.zoo import model_path

REPO = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--start", default="vsrresnet-lr-x4", help="bundled LR-space model (or file) both arms start from")
    ap.add_argument("--data", nargs="+", default=["datasets/train_native", "datasets/train_half"])
    ap.add_argument("--val", default=str(REPO.parent / "shared" / "data" / "videos" / "sam2_bedroom.mp4"))
    ap.add_argument("--val-frames", type=int, default=40)
    ap.add_argument("--val-crop", type=int, default=256, help="HR side of the centre crop scored")
    ap.add_argument("--clip", type=int, default=6, help="frames per training clip (T)")
    ap.add_argument("--patch", type=int, default=96, help="HR side of a training patch")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--memory-lr", type=float, help="learning rate of the recurrent network's memory convolution "
                                                     "(default --lr): it starts at zero, the rest at a trained model")
    ap.add_argument("--minutes", type=float, default=20.0, help="training time of each arm")
    ap.add_argument("--chunk", type=float, default=60.0, help="seconds an arm trains before the other takes over")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", default="runs/recurrent_probe")
    return ap.parse_args()


def validation_clip(path: str, frames: int, crop: int, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``frames`` frames of a video, centre-cropped to ``crop``: (T, 1, h, w) LR Y in [0, 1]
    after BI, and (T, 1, H, W) HR Y uint8-valued floats."""
    source = FrameSource(path)
    rgb = np.stack([f for _, f in zip(range(frames), source)])
    h, w = rgb.shape[1:3]
    top, left = (h - crop) // 2, (w - crop) // 2
    hr = torch.from_numpy(rgb[:, top:top + crop, left:left + crop]).permute(0, 3, 1, 2).contiguous()
    hr, lr, _ = bi_degrade(hr, scale)
    return rgb_to_y(lr.float() / 255), rgb_to_y(hr.float() / 255)


@torch.no_grad()
def score(model: torch.nn.Module, lr: torch.Tensor, hr: torch.Tensor, frames: int, recurrent: bool) -> list[float]:
    """PSNR-Y (dB, 4 border pixels cropped) of every frame of the clip in order."""
    model.eval()
    state, out = None, []
    for t in range(lr.shape[0]):
        x = torch.cat([lr[i] for i in window_indices(t, lr.shape[0], frames // 2)])[None]
        if recurrent:
            sr, state = model(x, state)
        else:
            sr = model(x)
        sr = (sr.clamp(0, 1)[0] * 255).round() / 255  # an 8-bit output, as a written frame
        out.append(float(psnr(sr, hr[t], crop_border=4, y_only=False)))
    model.train()
    return out


def clip_loss(model: torch.nn.Module, lr: torch.Tensor, hr: torch.Tensor, frames: int, recurrent: bool) -> torch.Tensor:
    """MSE over the T frames of a batch of clips: (N, frames+T-1, h, w) LR and (N, T, H, W) HR, Y."""
    clip = hr.shape[1]
    if not recurrent:  # the T windows as T independent samples, one batch
        x = torch.cat([lr[:, i:i + frames] for i in range(clip)])
        return F.mse_loss(model(x).float(), torch.cat([hr[:, i:i + 1] for i in range(clip)]))
    state, loss = None, 0.0
    for i in range(clip):
        sr, state = model(lr[:, i:i + frames], state)
        loss = loss + F.mse_loss(sr.float(), hr[:, i:i + 1])
    return loss / clip


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    window, spec = load_generator(model_path(args.start))
    if not spec.lr_input:
        raise SystemExit(f"{args.start}: not an LR-space model ({spec})")
    recurrent = RecurrentLRVSRResNet(spec.scale, spec.frames, spec.channels, spec.blocks, spec.features)
    recurrent.load_state_dict(window.state_dict(), strict=False)
    data = VideoPatchDataset(args.data, spec.scale, args.patch, spec.frames, "y", samples_per_epoch=10**7,
                             seed=args.seed, cache_lr=True, lr_space=True, pairs=args.clip - 1)
    val_lr, val_hr = validation_clip(args.val, args.val_frames, args.val_crop, spec.scale)
    arms = {"window": (window, False), "recurrent": (recurrent, True)}
    memory = list(recurrent.memory.parameters())
    rest = [q for q in recurrent.parameters() if all(q is not m for m in memory)]
    opts = {"window": torch.optim.Adam(window.parameters(), args.lr),
            "recurrent": torch.optim.Adam([{"params": rest}, {"params": memory, "lr": args.memory_lr or args.lr}],
                                          args.lr)}
    log = {name: {"seconds": [0.0], "steps": [0], "psnr": [score(m, val_lr, val_hr, spec.frames, r)]}
           for name, (m, r) in arms.items()}
    bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    index = {name: 0 for name in arms}
    budget = args.minutes * 60
    while min(log[n]["seconds"][-1] for n in arms) < budget:
        for name, (model, rec) in arms.items():
            model.train()
            spent, steps, t0 = 0.0, 0, time.perf_counter()
            while spent < args.chunk:
                samples = [data[index[name] + j] for j in range(args.batch)]  # both arms see the same clips
                index[name] += args.batch
                lr = torch.stack([s[0] for s in samples])
                hr = torch.stack([s[1] for s in samples])
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = clip_loss(model, lr, hr, spec.frames, rec)
                opts[name].zero_grad(set_to_none=True)
                loss.backward()
                opts[name].step()
                model.tie_phases_()
                steps += 1
                spent = time.perf_counter() - t0
            entry = log[name]
            entry["seconds"].append(entry["seconds"][-1] + spent)
            entry["steps"].append(entry["steps"][-1] + steps)
            entry["psnr"].append(score(model, val_lr, val_hr, spec.frames, rec))
            print(f"{name:9s} {entry['seconds'][-1] / 60:6.1f} min {entry['steps'][-1]:6d} steps  "
                  f"val PSNR-Y {np.mean(entry['psnr'][-1]):.3f} dB (frames 0-4 {np.mean(entry['psnr'][-1][:5]):.3f}, "
                  f"{5}-{args.val_frames - 1} {np.mean(entry['psnr'][-1][5:]):.3f})  memory |w| "
                  f"{float(recurrent.memory.weight.detach().abs().mean()):.2e}", flush=True)
        (out / "curves.json").write_text(json.dumps({"args": vars(args), "cpu_bf16": bf16, **log}, indent=1))
    torch.save(recurrent.state_dict(), out / "recurrent.pt")
    plot(log, out / "curves.png")


def plot(log: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, entry in log.items():
        ax.plot(np.array(entry["seconds"]) / 60, [np.mean(p) for p in entry["psnr"]], marker="o", label=name)
    ax.set_xlabel("CPU minutes of training (each arm)")
    ax.set_ylabel("held-out PSNR-Y (dB)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
