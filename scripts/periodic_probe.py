"""Where the GANs' fine grid comes from (docs/method.md, "Periodic artefacts").

    .venv/bin/python scripts/periodic_probe.py frame --models vsrresnet-x4 vsrresfeatgan-x4 sa-vsrgan-x4
    .venv/bin/python scripts/periodic_probe.py losses --discriminator zoo/cpu_vsrresfeatgan_x4/discriminator.safetensors
    .venv/bin/python scripts/periodic_probe.py direction --start vsrresnet-x2 --trained vsrresfeatgan-x2

``frame`` scores one Vid4 frame under the protocol of ``savsr evaluate`` (default calendar 20, ×4)
with the periodic error ratios, and says how much of the error is one 4×4 tile repeated over the
whole frame (a grid locked to the LR pixels, which are 4 HR pixels apart at ×4).

``direction`` takes what a training run added to a generator's output (``--trained`` minus
``--start``), keeps its part in the band of each period, and evaluates the feature and pixel terms
of Eq. 13 (baseline and SA weights) with ε times that part added to the start's output: a term
that falls with ε rewards the pattern, one that rises objects to it.

``losses`` takes LR-grid-aligned 128×128 patches of the training sets (never Vid4), runs the ×4
pretraining (``zoo/gpu_vsrresnet_x4``) on them, and asks each term of Eq. 13 two questions:
- how much of its gradient with respect to the output lies in the 2- and 4-pixel bands, against
  the share a white-noise gradient would have there;
- how strongly it reacts to a pattern of 4 levels RMS added to the real patches: a checkerboard,
  2-pixel stripes, a random 4×4 tile, white noise and smooth noise. The feature term reports its
  value (Eq. 9, baseline weights), the discriminator its mean logit (higher = "more real").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from savsr.data.color import luma, rgb_to_y
from savsr.media import FrameSource
from savsr.data.prepare import load_manifest
from savsr.data.resize import bi_degrade
from savsr.errors import SavsrError
from savsr.infer.upscaler import load_model
from savsr.models.zoo import model_path
from savsr.losses import SpatiallyAdaptiveLoss
from savsr.evaluation import protocol_frame
from savsr.data.spectrum import PERIODS, band_mask, hann2d
from savsr.metrics.periodic import periodic_error
from savsr.models import Discriminator
from savsr.models.checkpoint import load_generator

TILE = 4


def locked_share(err: torch.Tensor) -> float:
    """Share of the variance of an (H, W) error that is one TILE×TILE tile repeated from the origin."""
    h, w = err.shape[0] - err.shape[0] % TILE, err.shape[1] - err.shape[1] % TILE
    e = err[:h, :w]
    tile = e.reshape(h // TILE, TILE, w // TILE, TILE).mean(dim=(0, 2))
    return float((tile - tile.mean()).pow(2).mean() / (e - e.mean()).pow(2).mean())


def probe_frame(args: argparse.Namespace) -> None:
    source = FrameSource(args.data / args.sequence)
    s = args.scale
    print(f"{args.sequence} frame {args.index}, ×{s}: periodic error ratios (docs/evaluation.md) and the share of "
          f"the Y error that is one {TILE}×{TILE} tile locked to the frame's origin")
    print(f"| model | grid 2 px | grid 4 px | locked {TILE}×{TILE} share |\n|---|---:|---:|---:|")
    hr, up, _ = protocol_frame(source, args.index, s)
    gt = hr.double() / 255
    for name in ["bicubic", *args.models]:
        if name == "bicubic":
            out = up.double() / 255
        else:
            sr = protocol_frame(source, args.index, s, load_model(name, "cpu", precision=args.precision))[2]
            out = torch.round(sr.output.double() * 255) / 255  # the 8-bit frame that evaluate scores
        ratios = periodic_error(out, gt, s)
        err = (luma(out)[0] - luma(gt)[0])[s:-s, s:-s] * 255
        print(f"| {name} | {ratios[2]:.3f} | {ratios[4]:.3f} | {locked_share(err):.4f} |")


def _patches(roots: list[str], size: int, scale: int, frames: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, frames, size, size) bicubic inputs and (N, 1, size, size) HR Y patches whose corners lie
    on the LR grid, one from every other scene of ``roots``."""
    rng, m = np.random.default_rng(0), frames // 2
    ups, hrs = [], []
    for root in roots:
        for entry in [e for e in load_manifest(root) if e.frames > 2 * m][::2]:
            arr = np.load(Path(root) / entry.file, mmap_mode="r")
            t = int(rng.integers(m, entry.frames - m))
            hr, _, up = bi_degrade(torch.from_numpy(np.array(arr[t - m : t + m + 1])).permute(0, 3, 1, 2), scale)
            h, w = hr.shape[-2:]
            if min(h, w) < size:
                continue
            top, left = (int(rng.integers(0, (n - size) // scale + 1)) * scale for n in (h, w))

            def crop(x: torch.Tensor) -> torch.Tensor:
                return rgb_to_y(x[..., top : top + size, left : left + size].float() / 255)

            ups.append(crop(up)[:, 0])
            hrs.append(crop(hr[m : m + 1])[0])
    if not ups:
        raise SavsrError(f"no scene of {', '.join(roots)} is {size} pixels wide; run `make data`")
    return torch.stack(ups), torch.stack(hrs)


def probe_losses(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    g, spec = load_generator(args.generator)
    g.eval()
    d = Discriminator(1, antialias=args.antialias)
    d.load_state_dict({k: v.float() for k, v in load_file(args.discriminator).items()})
    d.eval()
    loss = SpatiallyAdaptiveLoss(beta2=0, beta3=0)  # the baseline's weights: α1 = α2 = 0.001, α3 = 0.798
    x, hr = _patches(args.roots, args.size, spec.scale)
    with torch.no_grad():
        sr0 = g(x).clamp(0, 1)
    n = args.size
    masks = {p: band_mask(n, n, p) for p in PERIODS}
    print(f"{x.shape[0]} patches {n}×{n} (×{spec.scale}, corners on the LR grid); generator {args.generator}; "
          f"discriminator {args.discriminator}\n")
    print("| term of Eq. 13 | gradient RMS | grid-2 band share | grid-4 band share | locked 4×4 share |")
    print("|---|---:|---:|---:|---:|")
    white = {p: float(m.double().mean()) for p, m in masks.items()}
    for name in ("pixel", "feature", "adversarial"):
        sr = sr0.clone().requires_grad_(True)
        terms = loss(sr, hr, d(sr))
        value = {"pixel": terms.pixel, "feature": terms.feature, "adversarial": loss.alpha1 * terms.adversarial}[name]
        (grad,) = torch.autograd.grad(value, sr)
        grad = grad[:, 0].double()
        spectrum = torch.fft.fft2(grad * hann2d(n, n)).abs().pow(2).sum(0)
        shares = {p: float(spectrum[m].sum() / spectrum.sum()) for p, m in masks.items()}
        locked = float(np.mean([locked_share(gr) for gr in grad]))
        print(f"| {name} | {float(grad.pow(2).mean().sqrt()):.2e} | {shares[2]:.3f} | {shares[4]:.3f} | {locked:.4f} |")
    noise = torch.randn(x.shape[0], n, n, dtype=torch.float64)
    print(f"| (white noise) | | {white[2]:.3f} | {white[4]:.3f} | {np.mean([locked_share(z) for z in noise]):.4f} |\n")

    yy, xx = np.mgrid[:n, :n]
    patterns = {
        "none": np.zeros((n, n)),
        "checkerboard (2 px)": (-1.0) ** (yy + xx),
        "checkerboard shifted by 1 px": -((-1.0) ** (yy + xx)),
        "stripes (2 px)": (-1.0) ** xx,
        "random 4×4 tile": np.tile(np.random.default_rng(1).standard_normal((TILE, TILE)), (n // TILE, n // TILE)),
        "the same tile shifted by (1, 2) px": np.roll(
            np.tile(np.random.default_rng(1).standard_normal((TILE, TILE)), (n // TILE, n // TILE)), (1, 2), (0, 1)),
        "white noise": np.random.default_rng(2).standard_normal((n, n)),
        "smooth noise (5×5 box)": F.avg_pool2d(torch.randn(1, 1, n + 4, n + 4), 5, 1)[0, 0].numpy(),
    }
    print(f"Patterns of {args.rms:g} levels RMS added to the real patches\n")
    print("| pattern | feature term (Eq. 9) | discriminator logit |\n|---|---:|---:|")
    with torch.no_grad():
        for name, pat in patterns.items():
            pat = torch.from_numpy(pat).float()
            if pat.abs().max() > 0:
                pat = (pat - pat.mean()) / (pat - pat.mean()).pow(2).mean().sqrt() * args.rms / 255
            noisy = (hr + pat).clamp(0, 1)
            print(f"| {name} | {float(loss(noisy, hr, None).feature):.4f} | {float(d(noisy).mean()):+.2f} |")
        print(f"| (the generator's output) | {float(loss(sr0, hr, None).feature):.4f} | {float(d(sr0).mean()):+.2f} |")


def probe_direction(args: argparse.Namespace) -> None:
    """Does each term of Eq. 13 reward what training added at the 2- and 4-pixel periods?"""
    g0, spec = load_generator(model_path(args.start))
    g1, spec1 = load_generator(model_path(args.trained))
    if spec1.scale != spec.scale:
        raise SavsrError(f"{args.trained} is ×{spec1.scale}, {args.start} ×{spec.scale}")
    x, hr = _patches(args.roots, args.size, spec.scale)
    losses = {"baseline (β2 = β3 = 0)": SpatiallyAdaptiveLoss(beta2=0, beta3=0), "SA (β2 = β3 = 0.1)": SpatiallyAdaptiveLoss()}
    n = args.size
    print(f"{x.shape[0]} patches {n}×{n} (×{spec.scale}); start {args.start}, trained {args.trained}. "
          "The terms of Eq. 13 at start + ε·(the band's part of trained − start):\n")
    print("| band | ε | RMS added (levels) | " + " | ".join(f"{k}: {t}" for k in losses for t in ("feature", "pixel")) + " |")
    print("|---|---:|---:|" + "---:|" * (2 * len(losses)))
    with torch.no_grad():
        s0, s1 = g0(x).clamp(0, 1), g1(x).clamp(0, 1)
        for p in PERIODS:
            change = torch.fft.ifft2(torch.fft.fft2((s1 - s0).double()) * band_mask(n, n, p)).real.float()
            rms = float(change.pow(2).mean().sqrt()) * 255
            for eps in (0.0, 0.5, 1.0, 2.0):
                cells = []
                for loss in losses.values():
                    terms = loss(s0 + eps * change, hr, None)
                    cells += [f"{float(terms.feature):.5f}", f"{float(terms.pixel):.3e}"]
                print(f"| {p} px | {eps:g} | {eps * rms:.2f} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    patches = argparse.ArgumentParser(add_help=False)  # the training patches of `losses` and `direction`
    patches.add_argument("--roots", nargs="+", default=["datasets/train_native", "datasets/train_half"])
    patches.add_argument("--size", type=int, default=128)
    fr = sub.add_parser("frame", help="periodic error ratios of models on one Vid4 frame")
    fr.add_argument("--data", type=Path, default=Path("../shared/data/vid4/GT"))
    fr.add_argument("--sequence", default="calendar")
    fr.add_argument("--index", type=int, default=20)
    fr.add_argument("--scale", type=int, default=4)
    fr.add_argument("--models", nargs="*", default=["vsrresnet-x4", "vsrresfeatgan-x4", "sa-vsrgan-x4"])
    fr.add_argument("--precision", default="bf16")
    lo = sub.add_parser("losses", parents=[patches], help="each loss term's response to periodic patterns")
    lo.add_argument("--generator", default="zoo/gpu_vsrresnet_x4/generator.safetensors")
    lo.add_argument("--discriminator", default="zoo/cpu_vsrresfeatgan_x4/discriminator.safetensors")
    lo.add_argument("--antialias", action="store_true", help="the discriminator file is an antialiased one")
    lo.add_argument("--rms", type=float, default=4.0)
    di = sub.add_parser("direction", parents=[patches], help="does each term reward what training added at those periods?")
    di.add_argument("--start", default="vsrresnet-x2", help="a bundled model name or a generator file")
    di.add_argument("--trained", default="vsrresfeatgan-x2")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        {"frame": probe_frame, "losses": probe_losses, "direction": probe_direction}[args.command](args)
    except SavsrError as exc:
        print(f"periodic_probe: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
