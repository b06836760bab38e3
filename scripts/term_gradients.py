"""How strongly each term of a GAN config pulls on the generator's output: the norm of the
gradient of λ·term with respect to the output, on the config's own training batches.

    .venv/bin/python scripts/term_gradients.py configs/cpu/lr_bd_periodic_sa_vsrgan_x4.yaml \\
        --model zoo/cpu_lr_bd_periodic_sa_vsrgan_x4/generator.safetensors

This is how the weights of the terms beyond the paper were chosen (loss.periodic, loss.temporal):
as a share of Eq. 9's pull, so that the new term steers without drowning the perceptual term.
The generator is ``--model`` (default the config's run.init); the batches are drawn as the trainer
draws them (the config's degradation, pairs where loss.temporal is on), ``--batches`` of them from
a fixed seed. Eq. 11 needs the discriminator that trained with the generator (``--discriminator``);
without one it is left out. Prints one row per term: its mean value, the mean gradient norm and
that norm as a share of Eq. 9's.
"""

from __future__ import annotations

import argparse
import sys

import torch

from savsr.data.dataset import VideoPatchDataset
from savsr.data.window import split_pair
from savsr.errors import SavsrError
from savsr.losses import SpatiallyAdaptiveLoss, periodic_loss, temporal_difference_loss
from savsr.losses.adversarial import generator_adversarial_loss
from savsr.models import Discriminator
from savsr.models.checkpoint import load_generator
from savsr.train.config import Config, data_degradation, load_config
from savsr.train.trainer import build_discriminator, eq13_loss


def term_values(cfg: Config, loss: SpatiallyAdaptiveLoss, sr: torch.Tensor, hr: torch.Tensor,
                pair: tuple[torch.Tensor, torch.Tensor] | None, disc: Discriminator | None) -> dict[str, torch.Tensor]:
    """Each term of the config's generator loss, weighted by its λ as the trainer sums them."""
    w = loss.activity(hr)
    terms = {"Eq. 8 (pixel)": loss.pixel_loss(sr, hr, w), "Eq. 9 (feature)": loss.feature_loss(sr, hr, w)}
    if disc is not None and cfg.loss.alpha1:
        terms["Eq. 11 (adversarial)"] = cfg.loss.alpha1 * generator_adversarial_loss(disc(sr))
    if pair is not None:
        sr_next, hr_next = pair
        terms["temporal"] = cfg.loss.temporal * temporal_difference_loss(sr, sr_next, hr, hr_next, cfg.loss.eps)
    if cfg.loss.periodic:
        terms["periodic"] = cfg.loss.periodic * periodic_loss(sr, hr)
    return terms


def measure(cfg: Config, model: str, discriminator: str | None, batches: int, seed: int) -> dict[str, tuple[float, float]]:
    """{term: (mean λ·value, mean ‖∂(λ·term)/∂output‖)} over ``batches`` training batches."""
    if cfg.stage != "gan":
        raise SavsrError(f"{cfg.stage} config: only a GAN config has terms to balance")
    generator, spec = load_generator(model)
    generator.eval()
    d = cfg.data
    dataset = VideoPatchDataset(d.roots, d.scale, d.patch_size, d.frames, d.color, augment=True,
                                samples_per_epoch=batches * cfg.run.batch_size, seed=seed,
                                lr_space=spec.lr_input, degradation=data_degradation(d), pairs=cfg.loss.temporal > 0)
    loss = eq13_loss(cfg)
    disc = build_discriminator(cfg, discriminator).requires_grad_(False).eval() if discriminator else None
    sums: dict[str, list[float]] = {}
    for b in range(batches):
        samples = [dataset[b * cfg.run.batch_size + i] for i in range(cfg.run.batch_size)]
        lr, hr = (torch.stack(x) for x in zip(*samples))
        pair = None
        with torch.no_grad():
            if dataset.pairs:
                lr, lr_next, hr, hr_next = split_pair(lr, hr, d.frames)
                pair = (generator(lr_next), hr_next)
            sr = generator(lr)
        for name, value in term_values(cfg, loss, sr.requires_grad_(True), hr, pair, disc).items():
            (grad,) = torch.autograd.grad(value, sr)
            total = sums.setdefault(name, [0.0, 0.0])
            total[0] += float(value.detach()) / batches
            total[1] += float(grad.norm()) / batches
        sr.requires_grad_(False)
    return {k: (v[0], v[1]) for k, v in sums.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="dotted overrides, as for savsr train")
    parser.add_argument("--model", help="the generator file (default: the config's run.init)")
    parser.add_argument("--discriminator", help="its discriminator file, for Eq. 11")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.set)
        model = args.model or cfg.run.init
        if not model:
            raise SavsrError("no --model and the config has no run.init")
        torch.manual_seed(args.seed)
        rows = measure(cfg, model, args.discriminator, args.batches, args.seed)
    except SavsrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ref = rows["Eq. 9 (feature)"][1]
    print(f"{args.config}, generator {model}, {args.batches} batches of {cfg.run.batch_size}")
    print(f"{'term':<22}{'λ·value':>12}{'‖grad‖':>12}{'/ Eq. 9':>10}")
    for name, (value, norm) in rows.items():
        print(f"{name:<22}{value:>12.4g}{norm:>12.4g}{norm / ref if ref else float('nan'):>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
