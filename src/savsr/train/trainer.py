"""One training stage: MSE pretraining (Sec. 3.1) or the GAN of Eq. 13, resumable, DDP-ready."""

from __future__ import annotations

import itertools
import logging
import math
import random
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from ..data.dataset import VideoPatchDataset
from ..data.window import split_pair
from ..device import resolve_device
from ..errors import SavsrError
from ..evaluation import Validator
from ..fileio import atomic_output
from ..infer.upscaler import Upscaler
from ..losses import (
    SpatiallyAdaptiveLoss, activity_weights, discriminator_loss, periodic_loss, temporal_difference_loss,
)
from ..models import Discriminator
from ..models.checkpoint import GeneratorSpec, load_generator, load_weights, read_spec
from ..precision import AUTOCAST_DTYPES, resolve_precision
from .checkpoint import CheckpointManager, load_checkpoint
from .config import Config, data_degradation, dump_config
from .distributed import all_reduce_mean, all_true, barrier, cleanup, init_distributed

log = logging.getLogger("savsr.train")


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was written before stopping."""

    def __init__(self, signum: int, checkpoint: Path | None) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}; checkpoint: {checkpoint}")
        self.signum, self.checkpoint = signum, checkpoint


class _Skip(Sampler[int]):
    """Yields a sampler's indices from position ``start`` on (resuming mid-epoch)."""

    def __init__(self, sampler: Sampler[int], start: int) -> None:
        self.sampler, self.start = sampler, start

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.start, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.start, 0)  # type: ignore[arg-type]


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _ignore_signals(_worker_id: int) -> None:
    """DataLoader workers leave SIGINT/SIGTERM to the main process, which checkpoints and stops
    them; otherwise Ctrl-C or a `kill` of the process group kills a worker mid-batch first.
    The workers are forked with these signals blocked (:func:`_batches`); one that arrived since
    is discarded by SIG_IGN before they are unblocked."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # POSIX; Windows has no fork and no signal masks
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _batches(loader: DataLoader) -> Iterator:
    """Start ``loader``'s workers with SIGINT/SIGTERM blocked: between its fork and
    :func:`_ignore_signals`, torch's worker SIGTERM handler would let a signal sent to the
    process group kill the worker. The main process gets any such signal once unblocked."""
    if not hasattr(signal, "pthread_sigmask"):
        return iter(loader)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        return iter(loader)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(tuple(tuple(x) if isinstance(x, list) else x for x in state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def config_validator(cfg: Config, device: str | torch.device = "cpu") -> Validator:
    """The validation a config asks for (``data.val`` windows under ``data.degradation``), as the
    trainer runs it; also for scoring exported generators afterwards."""
    d = cfg.data
    return Validator(d.val, d.scale, d.frames, d.val_frames, d.val_crop, device,
                     degradation=data_degradation(d), seed=cfg.run.seed)


def eq13_loss(cfg: Config) -> SpatiallyAdaptiveLoss:
    """The generator loss of Eq. 13 with the config's weights (Eqs. 4, 8, 9 and 11). The terms beyond
    the paper (loss.temporal, loss.periodic) are not in it: the GAN step adds them, since the temporal
    term needs a second window."""
    weights = asdict(cfg.loss)
    del weights["temporal"], weights["periodic"]
    return SpatiallyAdaptiveLoss(**weights)


def build_discriminator(cfg: Config, weights: str | None = None) -> Discriminator:
    """The config's discriminator (Eq. 12), fresh or loaded from a safetensors file of its weights."""
    disc = Discriminator(1 if cfg.data.color == "y" else 3, cfg.discriminator.features, cfg.data.patch_size,
                         antialias=cfg.discriminator.antialias)
    if weights:
        try:
            state = load_file(weights)
        except (OSError, SafetensorError) as exc:
            raise SavsrError(f"discriminator {weights}: {str(exc).splitlines()[0]}") from None
        load_weights(disc, {k: v.float() for k, v in state.items()}, f"discriminator {weights}")
    return disc


class Trainer:
    """Runs ``cfg.stage`` and writes logs and checkpoints under ``out``.

    One optimisation step consumes ``run.batch_size`` patches over all ranks. An epoch is
    ``data.samples_per_epoch`` patches. The learning rate is divided by ``optim.gamma`` at each
    of ``optim.milestones`` (fractions of all steps), which for the paper's pretraining is 50 %
    and 75 % of 100 epochs.
    """

    def __init__(self, cfg: Config, out: str | Path, progress: bool | None = None) -> None:
        self.cfg, self.out = cfg, Path(out)
        run = cfg.run
        self.device = resolve_device(run.device, mps=False)
        # Refused before any set-up, and here: resolve_precision's refusal names inference's flag.
        if run.amp == "fp16" and self.device.type == "cpu":
            raise SavsrError("run.amp fp16 needs a GPU; on the CPU use auto, bf16 or none")
        self.dist = init_distributed(self.device.type)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", torch.cuda.current_device())  # set by init_distributed (ranks may share one)
            torch.backends.cudnn.benchmark = True  # every step has the same shapes
        if run.batch_size % self.dist.world:
            raise SavsrError(f"run.batch_size={run.batch_size} is not divisible by {self.dist.world} ranks")
        self.batch = run.batch_size // self.dist.world
        self.progress = sys.stderr.isatty() if progress is None else progress
        torch.manual_seed(run.seed)
        random.seed(run.seed)
        np.random.seed(run.seed)

        d = cfg.data
        self.dataset = VideoPatchDataset(
            d.roots, d.scale, d.patch_size, d.frames, d.color, augment=True,
            samples_per_epoch=d.samples_per_epoch, seed=run.seed, cache_lr=d.cache_lr,
            lr_space=cfg.model.kind == "lr-vsrresnet", degradation=data_degradation(d), pairs=int(cfg.loss.temporal > 0),
        )
        self.spec = GeneratorSpec(d.scale, d.color, d.frames, cfg.model.blocks, cfg.model.features, cfg.model.kind)
        self.steps_per_epoch = d.samples_per_epoch // run.batch_size
        self.total_steps = run.epochs * self.steps_per_epoch

        generator = self.spec.build()
        if run.init:
            init, init_spec = load_generator(run.init)
            if (init_spec.color, init_spec.frames, init_spec.blocks, init_spec.features, init_spec.kind) != (
                d.color, d.frames, cfg.model.blocks, cfg.model.features, cfg.model.kind
            ):
                raise SavsrError(f"run.init {run.init} is a different network ({init_spec}) from this config's")
            state = init.state_dict()
            if self.spec.lr_input and init_spec.scale != d.scale:
                # An LR-space body of another scale: its head and body fit, its sub-pixel tail
                # (S²·C outputs) does not and starts afresh.
                state = {k: v for k, v in state.items() if not k.startswith("tail.")}
                log.info("run.init: head and body from a ×%d generator; the ×%d tail starts afresh", init_spec.scale, d.scale)
            generator.load_state_dict(state, strict=not self.spec.lr_input or init_spec.scale == d.scale)
        if self.spec.lr_input:
            generator.tie_phases_()  # a start trained before the tie (vsrresnet-lr-x4) moves to the nearest tied weights
        self.memory_format = torch.channels_last if run.channels_last else torch.contiguous_format
        self.g = self._wrap(generator)
        # Every rank averages its own copy: DDP keeps the online weights identical across ranks.
        self.g_ema = (AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(run.ema), use_buffers=True)
                      if run.ema else None)
        o = cfg.optim
        # fused: one kernel for all parameters instead of a dozen small ops per tensor (docs/performance.md).
        self.opt_g = torch.optim.Adam(generator.parameters(), o.lr_g, tuple(o.betas), weight_decay=o.weight_decay_g,
                                      fused=True)
        self.lr_scale = 1.0
        self.optimizers = {"g": self.opt_g}
        if cfg.stage == "gan":
            disc = build_discriminator(cfg, run.init_discriminator)
            self.d = self._wrap(disc)
            self.opt_d = torch.optim.Adam(disc.parameters(), o.lr_d, tuple(o.betas), weight_decay=o.weight_decay_d,
                                          fused=True)
            self.optimizers["d"] = self.opt_d
            self.loss = eq13_loss(cfg).to(self.device, memory_format=self.memory_format)
        self.schedulers = {
            k: torch.optim.lr_scheduler.LambdaLR(opt, self._lr_factor) for k, opt in self.optimizers.items()
        }
        # The precision that computes, which auto or a bf16 the hardware lacks may make fp32.
        self.precision = resolve_precision("fp32" if run.amp == "none" else run.amp, self.device)
        self.amp_dtype = AUTOCAST_DTYPES[self.precision]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.ckpt = CheckpointManager(self.out, run.keep_last)
        self.step = 0
        self._stop_signal: int | None = None
        self._saved_step = -1
        self._writer = None
        self._validator: Validator | None = None

    # ---------------------------------------------------------------- set-up helpers
    def _wrap(self, module: nn.Module) -> nn.Module:
        module = module.to(self.device, memory_format=torch.channels_last) if self.cfg.run.channels_last else module.to(self.device)
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            module = DistributedDataParallel(module, device_ids=ids)
        return module

    def _lr_factor(self, step: int) -> float:
        passed = sum(step >= m * self.total_steps for m in self.cfg.optim.milestones)
        return self.lr_scale * self.cfg.optim.gamma**passed

    def _apply_lr(self) -> None:
        """Set every learning rate for the current step now (after a change of ``lr_scale``)."""
        for opt, sched in zip(self.optimizers.values(), self.schedulers.values()):
            for group, base in zip(opt.param_groups, sched.base_lrs):
                group["lr"] = base * self._lr_factor(self.step)

    def _loader(self, epoch: int, start_batch: int) -> DataLoader:
        self.dataset.set_epoch(epoch)
        sampler = DistributedSampler(
            self.dataset, num_replicas=self.dist.world, rank=self.dist.rank, shuffle=False, drop_last=True
        )
        return DataLoader(
            self.dataset, batch_size=self.batch, sampler=_Skip(sampler, start_batch * self.batch),
            num_workers=self.cfg.data.workers, drop_last=True, pin_memory=self.device.type == "cuda",
            persistent_workers=False, worker_init_fn=_ignore_signals,
        )

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def model(self) -> nn.Module:
        """The generator that is validated and saved as generator.safetensors: the EMA when run.ema > 0."""
        return self.g_ema.module if self.g_ema is not None else _unwrap(self.g)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "sampler": {"epoch": self.step // self.steps_per_epoch, "batch": self.step % self.steps_per_epoch},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "rng": _rng_state(),
            "lr_scale": self.lr_scale,
            "config": dump_config(self.cfg),
        }

    def save(self, metric: tuple[str, float] | None = None) -> Path | None:
        """Checkpoint on rank 0 (all ranks wait for it)."""
        path = None
        if self.dist.is_main:
            modules = {"generator": self.model()}
            if self.g_ema is not None:
                modules["generator_online"] = _unwrap(self.g)
            if self.cfg.stage == "gan":
                modules["discriminator"] = _unwrap(self.d)
            meta = {"format": "savsr-generator", **{k: str(v) for k, v in asdict(self.spec).items()},
                    "stage": self.cfg.stage, "step": str(self.step), "degradation": self.cfg.data.degradation}
            path = self.ckpt.save(self.step, modules, self.state_dict(), meta, best=metric)
            log.info("checkpoint %s", path)
        self._saved_step = self.step
        barrier(self.dist)
        return path

    def restore(self, folder: str | Path) -> None:
        modules, state = load_checkpoint(folder)
        spec, _ = read_spec(Path(folder) / "generator.safetensors")
        if spec != self.spec:
            raise SavsrError(f"{folder}: a checkpoint of a {spec}, but this config trains a {self.spec}")
        # A checkpoint written without EMA has no generator_online: its generator is the online one.
        online = "generator_online" if "generator_online" in modules else "generator"
        load_weights(_unwrap(self.g), modules[online], f"{folder}/{online}.safetensors")
        if self.g_ema is not None:
            load_weights(self.g_ema.module, modules["generator"], f"{folder}/generator.safetensors")
            self.g_ema.n_averaged.fill_(1)  # averaging goes on from the loaded weights, not a fresh copy
        if self.cfg.stage == "gan":
            if "discriminator" not in modules:
                raise SavsrError(f"{folder}: has no discriminator; is it a pretrain checkpoint? (use run.init)")
            load_weights(_unwrap(self.d), modules["discriminator"], f"{folder}/discriminator.safetensors")
        for k, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][k])
        self.lr_scale = state["lr_scale"]
        for k, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][k])
        self.scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        self.step = state["step"]
        log.info("resumed from %s at step %d", folder, self.step)

    def resume(self, how: str | None) -> None:
        """``auto``: the newest valid checkpoint under ``out`` (fresh start if none); else a path."""
        if how is None:
            return
        if how == "auto":
            latest = self.ckpt.latest()
            if latest is None:
                log.info("no checkpoint in %s: starting fresh", self.ckpt.dir)
                return
            self.restore(latest)
        else:
            self.restore(how)

    # ---------------------------------------------------------------- steps
    def _pretrain_step(self, lr: Tensor, hr: Tensor) -> dict[str, Tensor] | None:
        with self._autocast():
            sr = self.g(lr)
        loss = F.mse_loss(sr.float(), hr)
        if not all_true(bool(torch.isfinite(loss)), self.dist, self.device):
            return None
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        return {"loss/mse": loss.detach()}

    def _gan_step(self, lr: Tensor, hr: Tensor) -> dict[str, Tensor] | None:
        n = hr.shape[0]
        if self.dataset.pairs:
            # Pairs: Eq. 11-13 score frame t as without the term; G runs on t+1 too, for its change.
            lr, lr_next, hr, hr_next = split_pair(lr, hr, self.cfg.data.frames)
            with self._autocast():
                sr, sr_next = self.g(torch.cat([lr, lr_next])).split(n)
        else:
            with self._autocast():
                sr = self.g(lr)
        # Discriminator (Eq. 12): real and generated patches in one forward pass.
        self.d.requires_grad_(True)
        with self._autocast():
            logits = self.d(torch.cat([hr, sr.detach()])).float()
        real, fake = logits[:n], logits[n:]
        d_loss = discriminator_loss(real, fake)
        if not all_true(bool(torch.isfinite(d_loss)), self.dist, self.device):
            return None
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(d_loss).backward()
        self.scaler.step(self.opt_d)
        # Generator (Eq. 13) against the updated discriminator, whose weights stay fixed here.
        d_raw = _unwrap(self.d)
        d_raw.requires_grad_(False)
        with self._autocast():
            fake_logits = d_raw(sr).float()
        with self._autocast():  # the VGG16 passes of Eq. 9 in reduced precision; the loss itself in fp32
            terms = self.loss(sr.float(), hr, fake_logits)
        total, extra = terms.total, {}
        if self.dataset.pairs:
            extra["loss/temporal"] = temporal_difference_loss(sr.float(), sr_next.float(), hr, hr_next, self.cfg.loss.eps)
            total = total + self.cfg.loss.temporal * extra["loss/temporal"]
        if self.cfg.loss.periodic:
            extra["loss/periodic"] = periodic_loss(sr.float(), hr)
            total = total + self.cfg.loss.periodic * extra["loss/periodic"]
        if not all_true(bool(torch.isfinite(total)), self.dist, self.device):
            self.scaler.update()
            return None
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        return {
            **{k: v.detach() for k, v in extra.items()}, "loss/total": total.detach(), "loss/pixel_eq8": terms.pixel.detach(),
            "loss/feature_eq9": terms.feature.detach(), "loss/adversarial_eq11": terms.adversarial.detach(),
            "loss/discriminator_eq12": d_loss.detach(),
            "d/real_prob": torch.sigmoid(real).mean().detach(), "d/fake_prob": torch.sigmoid(fake).mean().detach(),
        }

    # ---------------------------------------------------------------- validation and logging
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """PSNR-Y, LPIPS-alex and the periodic error ratios (grid2, grid4) of the generator on the
        held-out frames of ``data.val``, scored as `savsr evaluate` scores them
        (:class:`savsr.evaluation.Validator`), with the network in fp32."""
        if not self.cfg.data.val:
            return {}
        if self._validator is None:
            self._validator = config_validator(self.cfg, self.device)
        g = self.model()
        scores = self._validator(Upscaler(g, self.spec, self.device, "fp32", tile=0, backend="torch"))
        g.train()
        return {f"val/{k}": v for k, v in scores.items()}

    @property
    def writer(self):
        if self._writer is None and self.dist.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.out / "tensorboard"))
        return self._writer

    def _log_images(self, lr: Tensor, hr: Tensor) -> None:
        if self.dataset.pairs:
            lr, _, hr, _ = split_pair(lr, hr, self.cfg.data.frames)
        g = self.model()
        with torch.no_grad():
            sr = g(lr[:4]).clamp(0, 1).float()
        centre = g.base(lr[:4]).float()  # the bicubic centre frame at the HR size
        w = activity_weights(hr[:4].float(), self.cfg.loss.delta, self.cfg.loss.window).mean(1, keepdim=True)
        for name, img in (("lr_bicubic", centre), ("sr", sr), ("hr", hr[:4].float()), ("w_map", w)):
            self.writer.add_images(f"images/{name}", img.cpu(), self.step)

    # ---------------------------------------------------------------- the loop
    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._stop_signal = signum

    def fit(self) -> Path | None:
        """Train to ``run.epochs``; returns the final checkpoint. Stops cleanly on SIGINT/SIGTERM."""
        from tqdm.auto import tqdm

        run = self.cfg.run
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            with atomic_output(self.out / "config.yaml", overwrite=True) as tmp:
                tmp.write_text(dump_config(self.cfg))
            # Where the run's precision was computed, not asked for: a resume on another CPU may differ.
            log.info("computing in %s (run.amp %s)", self.precision, run.amp)
            self.writer.add_text("run/precision", self.precision, self.step)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        step_fn = self._pretrain_step if self.cfg.stage == "pretrain" else self._gan_step
        bar = tqdm(total=self.total_steps, initial=self.step, desc=self.cfg.stage, unit="step",
                   disable=not (self.progress and self.dist.is_main))
        bad, restores, last_ckpt = 0, 0, None
        sums: dict[str, float] = {}
        count, t0, seen = 0, time.perf_counter(), 0
        try:
            while self.step < self.total_steps:
                epoch, start = divmod(self.step, self.steps_per_epoch)
                for lr, hr in _batches(self._loader(epoch, start)):
                    lr = lr.to(self.device, non_blocking=True, memory_format=self.memory_format)
                    hr = hr.to(self.device, non_blocking=True, memory_format=self.memory_format)
                    values = step_fn(lr, hr)
                    if values is None:
                        bad += 1
                        log.warning("step %d: non-finite loss, step skipped (%d in a row)", self.step, bad)
                        if bad >= run.nan_tolerance:
                            restores += 1
                            latest = self.ckpt.latest()  # every rank reads it: the run folder is shared
                            if restores > run.nan_restores or latest is None:
                                raise SavsrError(
                                    f"training diverged: {bad} non-finite losses in a row at step {self.step}"
                                    + ("" if latest else " and no checkpoint to restore")
                                    + "; lower optim.lr_g/lr_d or use run.amp=none"
                                )
                            self.restore(latest)
                            self.lr_scale *= 0.1
                            self._apply_lr()
                            log.warning("restored %s with learning rates × %g", latest, self.lr_scale)
                            bad = 0
                            break
                        continue
                    bad = 0
                    self.step += 1
                    if self.spec.lr_input:
                        _unwrap(self.g).tie_phases_()  # projected gradient descent (models/lr_vsrresnet.py)
                    if self.g_ema is not None:
                        self.g_ema.update_parameters(_unwrap(self.g))
                    for sched in self.schedulers.values():
                        sched.step()
                    seen += lr.shape[0] * self.dist.world
                    reduced = all_reduce_mean(torch.stack(list(values.values())).float(), self.dist)
                    for k, v in zip(values, reduced.tolist()):
                        sums[k] = sums.get(k, 0.0) + v
                    count += 1
                    bar.update(1)
                    if self.step % run.log_every == 0 or self.step == self.total_steps:
                        self._log_scalars(sums, count, seen, t0)
                        sums, count, seen, t0 = {}, 0, 0, time.perf_counter()
                    if self.dist.is_main and self.step % run.image_every == 0:
                        self._log_images(lr, hr)
                    # Decided on every rank alike: save() holds a barrier, and only rank 0 validates.
                    validating = self.step % run.val_every == 0 and bool(self.cfg.data.val)
                    metric = self._validate_and_log() if validating else None
                    if self.step % run.checkpoint_every == 0 or validating:
                        last_ckpt = self.save(metric)
                    if not all_true(self._stop_signal is None, self.dist, self.device):
                        raise TrainingInterrupted(self._stop_signal or signal.SIGTERM, self.save())
                    if self.step >= self.total_steps:
                        break
            if self._saved_step != self.step:
                metric = self._validate_and_log() if self.cfg.data.val else None
                last_ckpt = self.save(metric)
            return last_ckpt
        finally:
            bar.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
            if self._writer is not None:
                self._writer.close()
            cleanup(self.dist)

    def _validate_and_log(self) -> tuple[str, float] | None:
        """Validate (rank 0), log, and return (best_metric, its value) for the checkpoint's best/ record."""
        metrics = self.validate() if self.dist.is_main else {}
        if self.dist.is_main and metrics:
            for k, v in metrics.items():
                self.writer.add_scalar(k, v, self.step)
            log.info("step %d: %s", self.step, ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        if not metrics:
            return None
        limit = self.cfg.run.best_max_grid2
        if limit is not None and metrics["val/grid2"] > limit:
            log.info("step %d: val/grid2 %.4f above run.best_max_grid2 %g: not a candidate for best",
                     self.step, metrics["val/grid2"], limit)
            return None
        name = self.cfg.run.best_metric
        return name, metrics[f"val/{name}"]

    def _log_scalars(self, sums: dict[str, float], count: int, seen: int, t0: float) -> None:
        if not self.dist.is_main or count == 0:
            return
        elapsed = time.perf_counter() - t0
        scalars = {k: v / count for k, v in sums.items()}
        scalars["lr/g"] = self.opt_g.param_groups[0]["lr"]
        if self.cfg.stage == "gan":
            scalars["lr/d"] = self.opt_d.param_groups[0]["lr"]
        scalars["throughput/patches_per_s"] = seen / elapsed if elapsed > 0 else math.nan
        for k, v in scalars.items():
            self.writer.add_scalar(k, v, self.step)
        if not self.progress:
            log.info("step %d/%d %s", self.step, self.total_steps,
                     " ".join(f"{k.split('/')[-1]}={v:.4g}" for k, v in scalars.items()))
