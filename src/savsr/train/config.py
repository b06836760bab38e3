"""Typed training configuration: YAML into dataclasses, validated, with dotted overrides.

An unknown key or a value of the wrong type is an error that names the dotted key, e.g.
``run.epochs: expected int, got 'ten'``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ..data.activity import DELTA, WINDOW
from ..data.degradation import Degradation, RealConfig, parse_degradation
from ..data.resize import SCALES
from ..data.spectrum import PERIODS
from ..errors import ParameterError, SavsrError


@dataclass
class DataConfig:
    """Training data (datasets made by ``savsr prepare``) and held-out validation frames."""

    roots: list[str] = field(default_factory=list)
    scale: int = 4
    patch_size: int = 36
    frames: int = 5
    color: Literal["y", "rgb"] = "y"
    samples_per_epoch: int = 64_000  # the "length of an epoch": our data is not Myanmar
    workers: int = 2
    # Degrade whole scenes into RAM and crop samples from them (VideoPatchDataset): once for bi/bd
    # (fast GPUs), each epoch for a codec or real, whose scenes are then one stream each, as footage is.
    cache_lr: bool = False
    # How LR inputs are made from the HR frames, for training and validation alike: a spec of
    # savsr.data.degradation: bi (the paper's), bd, h264:CRF, h265:CRF, bd+h264:CRF, h264:LO-HI
    # (a CRF drawn per clip) or real.
    degradation: str = "bi"
    # For degradation "real": fields of savsr.data.degradation.RealConfig to change from its
    # defaults (RealBasicVSR's ranges), e.g. {noise_sigma: [1, 10], codec_crf: [15, 35]}.
    real: dict[str, Any] = field(default_factory=dict)
    val: list[str] = field(default_factory=list)  # videos or frame folders never trained on
    val_frames: int = 4  # centre frames scored per validation source
    val_crop: int = 256  # validation scores a centred crop of this side (0 = whole frame)


@dataclass
class ModelConfig:
    """The generator: VSRResNet (Sec. 2.3: 15 blocks of 64 features) or its LR-space sibling."""

    blocks: int = 15
    features: int = 64
    kind: Literal["vsrresnet", "lr-vsrresnet"] = "vsrresnet"


@dataclass
class DiscriminatorConfig:
    features: list[int] = field(default_factory=lambda: [64, 128, 256])
    # Stride-1 convolutions + BlurPool instead of the paper's stride-2 convolutions (docs/method.md,
    # "Periodic artefacts"); false is the literal reading of Lucas et al.'s discriminator.
    antialias: bool = False


@dataclass
class LossConfig:
    """Eq. 13's weights and the knobs of Eq. 1-9; β2 = β3 = 0 is the VSRResFeatGAN baseline."""

    alpha1: float = 0.001
    alpha2: float = 0.001
    beta2: float = 0.1
    alpha3: float = 0.798
    beta3: float = 0.1
    eps: float = 0.001
    delta: float = DELTA
    weight_scale: float = 10.0
    window: int = WINDOW
    fusion: Literal["mean", "max"] = "mean"
    feature_layers: list[str] = field(default_factory=lambda: ["relu2_1", "relu2_2"])
    reduction: Literal["mean", "sum"] = "mean"
    # Beyond the paper: the weight of a temporal term added to Eq. 13 in the GAN stage
    # (losses/temporal.py: G's change from frame t to t+1 against the ground truth's). Above 0,
    # every sample is a pair of consecutive windows and the generator runs on both.
    temporal: float = 0.0
    # Beyond the paper: the weight of a term against the GAN's grid added to Eq. 13 in the GAN
    # stage (losses/periodic.py: the error's energy at the 2- and 4-pixel periods, as the grid score).
    periodic: float = 0.0


@dataclass
class OptimConfig:
    """Adam for G (and D in the GAN stage), lr divided by ``gamma`` at each milestone."""

    lr_g: float = 1e-3
    lr_d: float = 1e-4
    weight_decay_g: float = 0.0
    weight_decay_d: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])  # fractions of the run
    gamma: float = 0.1


@dataclass
class RunConfig:
    """How the run goes: length, precision, logging, checkpoints, guards."""

    epochs: int = 100
    batch_size: int = 64  # global, split over DDP ranks
    seed: int = 0
    init: str | None = None  # generator .safetensors to start from (the GAN stage's pretrain)
    init_discriminator: str | None = None  # discriminator .safetensors, to carry a GAN run across machines
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # auto: bf16 where the CPU or GPU computes it natively (fp16 on older GPUs), else none (fp32).
    amp: Literal["auto", "none", "bf16", "fp16"] = "auto"
    channels_last: bool = True
    log_every: int = 50  # steps
    image_every: int = 1000
    val_every: int = 1000
    checkpoint_every: int = 500
    keep_last: int = 3
    # Decay of an exponential moving average of the generator's weights (0 = off). With it on,
    # validation, `best` and each checkpoint's generator.safetensors are the average; the weights
    # being trained are kept beside it as generator_online.safetensors, for resuming.
    ema: float = 0.0
    best_metric: Literal["psnr_y", "lpips_alex"] = "psnr_y"  # what `checkpoints/best` maximises (LPIPS: minimises)
    # A checkpoint whose validation grid 2 px (metrics/periodic.py) is above this cannot be `best`
    # (None: no limit). A GAN stage's grid grows with its length and LPIPS leans towards it
    # (docs/method.md, Periodic artefacts), so the LPIPS-best checkpoint can be the most gridded.
    best_max_grid2: float | None = None
    nan_tolerance: int = 5  # non-finite losses in a row before restoring the last checkpoint
    nan_restores: int = 2  # restores (each with lr / 10) before giving up


@dataclass
class Config:
    stage: Literal["pretrain", "gan"] = "pretrain"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints and numeric strings (1e-4) are accepted as floats."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise SavsrError(f"{key}: expected one of {list(typing.get_args(tp))}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, key)
    if origin is list:
        if not isinstance(value, list):
            raise SavsrError(f"{key}: expected a list, got {value!r}")
        (inner,) = typing.get_args(tp)
        return [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        # PyYAML follows YAML 1.1, which reads 1e-4 (no dot) as a string; users mean a number.
        try:
            return float(value)
        except ValueError:
            pass
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise SavsrError(f"{key}: expected {tp.__name__}, got {value!r}")
    return value


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise SavsrError(f"{prefix or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            raise SavsrError(f"{where}: unknown key (known: {', '.join(sorted(names))})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        key = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        kwargs[f.name] = _build(tp, data[f.name], key) if dataclasses.is_dataclass(tp) else _coerce(data[f.name], tp, key)
    return cls(**kwargs)


def data_degradation(data: DataConfig) -> Degradation:
    """The degradation ``data`` asks for: ``data.degradation``, with ``data.real``'s ranges for ``real``.
    A SavsrError naming the key for a bad spec or field."""
    try:
        degradation = parse_degradation(data.degradation)
    except ParameterError as exc:
        raise SavsrError(exc.render("data.degradation")) from None
    if not isinstance(data.real, dict):
        raise SavsrError(f"data.real: expected a mapping of RealConfig fields, got {data.real!r}")
    if not data.real:
        return degradation
    if degradation.base != "real":
        raise SavsrError(f"data.real: only for data.degradation real, not {data.degradation!r}")
    names = [f.name for f in dataclasses.fields(RealConfig)]
    if unknown := sorted(set(data.real) - set(names)):
        raise SavsrError(f"data.real: unknown field {unknown[0]!r}; expected one of {', '.join(names)}")
    defaults = RealConfig()
    changes = {k: _real_field(k, v, getattr(defaults, k)) for k, v in data.real.items()}
    return dataclasses.replace(degradation, real=dataclasses.replace(defaults, **changes))


def _real_field(name: str, value: Any, default: Any) -> Any:
    """``value`` for RealConfig field ``name``, checked against its ``default``: a number for a number,
    and for a tuple (YAML gives a list) as many items of the same kind, a (low, high) pair in order."""
    key = f"data.real.{name}"
    if not isinstance(default, tuple):
        return _coerce(value, type(default), key)
    if not isinstance(value, list) or not value:
        raise SavsrError(f"{key}: expected a list like {list(default)}, got {value!r}")
    kind = type(default[0])
    items = tuple(_coerce(v, kind, f"{key}[{i}]") for i, v in enumerate(value))
    if name.endswith("probs"):
        if len(items) != len(default):
            raise SavsrError(f"{key}: expected {len(default)} probabilities, got {value!r}")
    elif kind is not str and len(default) == 2 and (len(items) != 2 or items[0] > items[1]):
        raise SavsrError(f"{key}: expected a range [low, high] with low <= high, got {value!r}")
    return items


def _validate(cfg: Config) -> None:
    data_degradation(cfg.data)  # a bad spec or data.real is refused here, naming its key
    checks = [
        (cfg.data.scale in SCALES, "data.scale", "must be 2, 3 or 4"),
        (cfg.data.frames >= 1 and cfg.data.frames % 2 == 1, "data.frames", "must be odd (2M+1)"),
        (cfg.data.patch_size >= 8, "data.patch_size", "must be >= 8"),
        (cfg.model.kind != "lr-vsrresnet" or cfg.data.patch_size % cfg.data.scale == 0, "data.patch_size",
         "must be a multiple of data.scale for an lr-vsrresnet (its LR patch is patch_size / scale)"),
        (cfg.data.samples_per_epoch >= cfg.run.batch_size, "data.samples_per_epoch", "must be >= run.batch_size"),
        (cfg.data.workers >= 0, "data.workers", "must be >= 0"),
        (bool(cfg.data.roots), "data.roots", "needs at least one dataset made by `savsr prepare`"),
        (cfg.model.blocks >= 0 and cfg.model.features >= 1, "model", "blocks >= 0 and features >= 1"),
        (len(cfg.discriminator.features) == 3, "discriminator.features", "needs exactly three widths"),
        (all(getattr(cfg.loss, k) >= 0 for k in ("alpha1", "alpha2", "beta2", "alpha3", "beta3")), "loss", "weights must be >= 0"),
        (cfg.loss.delta > 0 and cfg.loss.eps > 0, "loss", "delta and eps must be > 0"),
        (cfg.loss.temporal >= 0, "loss.temporal", "must be >= 0"),
        (cfg.loss.temporal == 0 or cfg.stage == "gan", "loss.temporal", "is a term of the gan stage's loss (0 for pretrain)"),
        (cfg.loss.periodic >= 0, "loss.periodic", "must be >= 0"),
        (cfg.loss.periodic == 0 or cfg.stage == "gan", "loss.periodic", "is a term of the gan stage's loss (0 for pretrain)"),
        (cfg.loss.periodic == 0 or cfg.data.patch_size % math.lcm(*PERIODS) == 0, "loss.periodic",
         f"needs a data.patch_size that is a multiple of {math.lcm(*PERIODS)} (the periods {PERIODS} tile it)"),
        (cfg.loss.window % 2 == 1, "loss.window", "must be odd"),
        (cfg.optim.lr_g > 0 and cfg.optim.lr_d > 0, "optim", "learning rates must be > 0"),
        (len(cfg.optim.betas) == 2, "optim.betas", "needs two values"),
        (all(0 < m < 1 for m in cfg.optim.milestones), "optim.milestones", "are fractions of the run, in (0, 1)"),
        (cfg.run.epochs >= 1 and cfg.run.batch_size >= 1, "run", "epochs and batch_size must be >= 1"),
        (cfg.run.keep_last >= 1, "run.keep_last", "must be >= 1"),
        (cfg.run.best_max_grid2 is None or cfg.run.best_max_grid2 > 0, "run.best_max_grid2", "must be > 0 or null"),
        (0 <= cfg.run.ema < 1, "run.ema", "is a decay in [0, 1) (0 = off)"),
        (min(cfg.run.log_every, cfg.run.image_every, cfg.run.val_every, cfg.run.checkpoint_every) >= 1,
         "run", "*_every must be >= 1"),
        (cfg.stage == "pretrain" or cfg.run.init is not None, "run.init", "the gan stage starts from a pretrained generator"),
    ]
    from ..models.vgg import LAYER_NAMES

    bad = [name for name in cfg.loss.feature_layers if name not in LAYER_NAMES]
    checks.append((not bad, "loss.feature_layers", f"unknown VGG16 layer(s) {bad}"))
    for ok, key, message in checks:
        if not ok:
            raise SavsrError(f"{key}: {message}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` into (["a", "b", "c"], value), the value read as YAML (so 1e-4, [1, 2], null work)."""
    if "=" not in text:
        raise ParameterError("set", f"{{param}} {text!r}: expected KEY=VALUE, e.g. run.epochs=2")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, apply ``key=value`` overrides, build and validate the dataclasses."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SavsrError(f"{path}: no such config file")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise SavsrError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise SavsrError(f"{path}: expected a mapping at the top level")
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ParameterError("set", f"{{param}} {text}: {k} is not a section")
        node[keys[-1]] = value
    cfg = _build(Config, data, "")
    _validate(cfg)
    return cfg


def dump_config(cfg: Config) -> str:
    """The resolved configuration as YAML (saved next to the checkpoints)."""
    return yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)
