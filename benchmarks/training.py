"""Training speed: the Trainer's own pretraining and GAN steps, in patches per second.

The steps are the product's (``Trainer._pretrain_step`` and ``Trainer._gan_step``, built from
the budget configs in configs/cpu/) fed with random batches, so the data loader is out of the
picture (the ``data`` section measures it). A training step costs about three forward passes
per convolution (forward, input gradient, weight gradient), so its roofline is the dominant
convolution's forward + backward at the same batch and patch size.
"""

from __future__ import annotations

import tempfile
import warnings
from importlib.resources import files
from pathlib import Path

import torch

from savsr.data.prepare import prepare_dataset
from savsr.models.checkpoint import save_generator
from savsr.precision import AUTOCAST_DTYPES
from savsr.train.config import load_config
from savsr.train.trainer import Trainer

from .common import (
    Report,
    Row,
    against,
    interleaved,
    generator_flops_per_pixel,
    precisions_for,
    roofline,
)
from .peak import add_peak_rows

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "cpu"
PATHS = {  # name → (precision, channels_last)
    "fp32 NCHW": ("fp32", False),
    "fp32 channels_last": ("fp32", True),
    "bf16 autocast channels_last": ("bf16", True),
    "fp16 autocast channels_last": ("fp16", True),
}


def bundled_clip() -> Path:
    """The demo clip shipped in the package (32 frames, 384×216)."""
    return Path(str(files("savsr") / "assets" / "bedroom_clip.mkv"))


def tiny_dataset(root: Path) -> Path:
    """A training set made by ``savsr prepare`` from the bundled demo clip."""
    prepare_dataset([bundled_clip()], root / "ds", progress=False)
    return root / "ds"


def make_trainer(stage: str, dataset: Path, work: Path, precision: str, channels_last: bool, quick: bool,
                 batch: int) -> Trainer:
    overrides = [f"data.roots=[{dataset}]", "data.workers=0", "data.val=[]", f"run.batch_size={batch}",
                 f"data.samples_per_epoch={batch}", "run.device=cpu" if not torch.cuda.is_available() else "run.device=auto",
                 f"run.amp={'none' if precision == 'fp32' else precision}", f"run.channels_last={channels_last}"]
    if quick:
        overrides += ["model.blocks=2"]
    if stage == "gan":
        cfg0 = load_config(CONFIGS / "vsrresnet_x4.yaml", overrides)
        init = work / "init.safetensors"
        if not init.exists():
            from savsr.models.checkpoint import GeneratorSpec

            spec = GeneratorSpec(4, "y", 5, cfg0.model.blocks, cfg0.model.features)
            save_generator(spec.build(), spec, init)
        overrides.append(f"run.init={init}")
    cfg = load_config(CONFIGS / ("vsrresnet_x4.yaml" if stage == "pretrain" else "sa_vsrgan_x4.yaml"), overrides)
    return Trainer(cfg, work / f"{stage}-{precision}-{channels_last}", progress=False)


def run(report: Report, device: torch.device, quick: bool) -> None:
    batch, patch = (8, 36) if quick else (64, 36)
    rounds = 1 if quick else 3
    precs = precisions_for(device)
    peaks = add_peak_rows(report, "training", device)
    roofs = {p: roofline(batch, patch, patch, p, device, backward=True) for p in precs}
    for p, r in roofs.items():
        report.add(Row("training", f"fastest conv {p} (64→64 3×3 fwd+bwd, {batch}×{patch}²)", r.gflops, "GFLOP/s",
                       peak=r.gflops / peaks[p] if peaks and p in peaks else None, note=r.how))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dataset = tiny_dataset(work)
        torch.manual_seed(0)
        lr = torch.rand(batch, 5, patch, patch, device=device)
        hr = torch.rand(batch, 1, patch, patch, device=device)
        paths = {}
        flops = None
        for stage in ("pretrain", "gan"):
            for name, (prec, cl) in PATHS.items():
                if prec not in precs or (stage == "gan" and name != _default_name(precs)):
                    continue
                trainer = make_trainer(stage, dataset, work, prec, cl, quick, batch)
                if flops is None:
                    flops = 3 * generator_flops_per_pixel(trainer.g) * batch * patch * patch
                fmt = torch.channels_last if cl else torch.contiguous_format
                x, y = lr.contiguous(memory_format=fmt), hr.contiguous(memory_format=fmt)
                step = trainer._pretrain_step if stage == "pretrain" else trainer._gan_step
                paths[f"{stage} step, {name}"] = (prec, flops, lambda step=step, x=x, y=y: step(x, y))
        assert flops is not None
        results = against(roofs, paths, rounds, device, peaks)
    for name, (secs, own, peak) in results.items():
        # A GAN step does more than the generator's work, so its fraction is of the generator's share.
        report.add(Row("training", name, batch / secs, "patch/s", own, peak,
                       note="generator FLOPs only" if name.startswith("gan") else ""))
    best = _default_name(precs)
    ratio = results[f"gan step, {best}"][0] / results[f"pretrain step, {best}"][0]
    report.add(Row("training", f"GAN step / pretrain step time ({best})", ratio, "×",
                   note="G + D + three VGG16 passes, vs G alone; target ≤ 2"))
    if device.type == "cpu" and "bf16" not in precs:
        add_emulated_bf16_row(report, quick)


def add_emulated_bf16_row(report: Report, quick: bool, batch: int = 8, patch: int = 36) -> None:
    """Why run.amp auto trains in fp32 on a CPU without native bf16: the time of one pretraining
    step under bf16 autocast (which PyTorch then emulates) over the same step in fp32."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dataset = tiny_dataset(work)
        lr, hr = torch.rand(batch, 5, patch, patch), torch.rand(batch, 1, patch, patch)
        steps = {}
        for prec in ("fp32", "bf16"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the trainer would fall back to fp32: force bf16 below
                trainer = make_trainer("pretrain", dataset, work, prec, True, quick, batch)
            trainer.amp_dtype = AUTOCAST_DTYPES[prec]  # what run.amp bf16 did before it fell back
            x, y = lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last)
            steps[prec] = lambda step=trainer._pretrain_step, x=x, y=y: step(x, y)
        secs = interleaved(steps, 1, torch.device("cpu"))
    report.add(Row("training", f"pretrain step, bf16 autocast emulated / fp32 ({batch}×{patch}²)",
                   secs["bf16"] / secs["fp32"], "× time", note="no native bf16 here: run.amp auto trains in fp32"))


def _default_name(precs: list[str]) -> str:
    """The path the budget configs use: bf16 autocast + channels_last where bf16 exists, else fp32."""
    return "bf16 autocast channels_last" if "bf16" in precs else "fp32 channels_last"
