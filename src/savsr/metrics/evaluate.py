"""The Vid4 evaluation protocol of the literature (docs/evaluation.md) and its result tables."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ..data.color import rgb_to_y
from ..data.io import FrameSource, to_uint8
from ..data.resize import bi_degrade
from ..errors import SavsrError
from ..fileio import atomic_output
from .lpips import LPIPS, MIN_SIDE
from .periodic import periodic_error
from .psnr_ssim import SSIM_WINDOW, psnr, ssim
from .regions import DELTA, REGION_METRICS, WINDOW, Regions, region_scores

if TYPE_CHECKING:
    from ..infer.upscaler import SRFrame, Upscaler

VID4 = ("calendar", "city", "foliage", "walk")


@dataclass
class SequenceResult:
    """Per-frame metrics of one sequence."""

    name: str
    frames: list[int] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    lpips: list[float] = field(default_factory=list)
    grid2: list[float] = field(default_factory=list)
    grid4: list[float] = field(default_factory=list)
    psnr_high: list[float] = field(default_factory=list)
    psnr_flat: list[float] = field(default_factory=list)
    noise_flat: list[float] = field(default_factory=list)
    frac_high: list[float] = field(default_factory=list)
    frac_flat: list[float] = field(default_factory=list)

    def mean(self, metric: str) -> float:
        """Mean over frames; frames where the metric is NaN (an empty region) are left out."""
        return _nanmean(getattr(self, metric))


def _nanmean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


@dataclass
class EvalConfig:
    data: Path
    scale: int
    model: str = "bicubic"
    frames: str = "all"  # "all" or "inner" (drops the M frames at each end)
    lpips: str = "alex"  # "alex", "vgg" or "none"
    lpips_on: str = "rgb"  # "rgb" (SR Y joined to bicubic Cb/Cr) or "y" (Y replicated)
    device: str = "cpu"
    # fp32 by default so reported numbers do not depend on whether the hardware has bf16;
    # bf16 is 2× faster on CPUs that have it and moves Vid4 PSNR by about 0.001 dB (docs/performance.md).
    precision: str = "fp32"
    regions: Regions | None = None  # region-aware scores (metrics/regions.py) when set
    self_ensemble: bool = False  # average the network over the 8 flips/transposes (8× slower)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The per-frame metrics this configuration scores, in table order."""
        return METRICS + (REGION_METRICS if self.regions is not None else ())


def _sequences(data: Path) -> list[Path]:
    if not data.is_dir():
        raise SavsrError(f"{data}: no such folder (expected one sub-folder of frames per sequence)")
    seqs = sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not seqs:
        raise SavsrError(f"{data}: holds no sequence folders")
    return seqs


def _check_frame_size(seq: Path, width: int, height: int, cfg: EvalConfig) -> None:
    """Refuse, before any work, a sequence whose frames are too small to score: SSIM's window
    must fit inside the GT cropped to a multiple of the scale less its border, and LPIPS's
    network must accept the whole frame."""
    s = cfg.scale
    side = min(width - width % s, height - height % s)
    need = SSIM_WINDOW + 2 * s
    if cfg.lpips != "none":
        need = max(need, MIN_SIDE[cfg.lpips])
    if side < need:
        raise SavsrError(f"{seq}: frames of {width}×{height} are too small to score at ×{s} "
                         f"(each side needs at least {need} pixels)")


def _to_tensor(frame: np.ndarray) -> Tensor:
    rgb = frame if frame.shape[2] == 3 else np.repeat(frame, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)


class _Scorer:
    """Scores one SR frame against its ground truth into a SequenceResult."""

    def __init__(self, cfg: EvalConfig) -> None:
        self.cfg = cfg
        self.lpips = LPIPS(cfg.lpips).to(cfg.device) if cfg.lpips != "none" else None

    def __call__(self, res: SequenceResult, index: int, sr: Tensor, sr_rgb: Tensor, hr_rgb: Tensor) -> None:
        """``sr``: what PSNR/SSIM score (Y, or RGB whose Y they take); ``sr_rgb``: what LPIPS sees."""
        hr = rgb_to_y(hr_rgb[None])[0] if sr.shape[0] == 1 else hr_rgb
        res.frames.append(index)
        res.psnr.append(psnr(sr, hr, self.cfg.scale))
        res.ssim.append(ssim(sr, hr, self.cfg.scale))
        grid = periodic_error(sr, hr, self.cfg.scale)
        res.grid2.append(grid[2])
        res.grid4.append(grid[4])
        if self.lpips is not None:
            a, b = sr_rgb[None].float(), hr_rgb[None].float()
            if self.cfg.lpips_on == "y":
                a, b = rgb_to_y(a), rgb_to_y(b)
            with torch.no_grad():
                res.lpips.append(float(self.lpips(a.to(self.cfg.device), b.to(self.cfg.device))[0]))
        if self.cfg.regions is not None:
            for name, value in region_scores(sr, hr, self.cfg.scale, self.cfg.regions).items():
                getattr(res, name).append(value)


def evaluate(cfg: EvalConfig, progress: bool = True) -> tuple[list[SequenceResult], list[SequenceResult]]:
    """Run the protocol: BI-degrade each GT frame, super-resolve, score on Y and with LPIPS.

    Returns per-sequence results of the model and of bicubic upsampling, the baseline of every
    table (the same list twice when the model is bicubic).
    """
    from tqdm.auto import tqdm

    if cfg.scale not in (2, 3, 4):
        raise SavsrError(f"--scale must be 2, 3 or 4, got {cfg.scale}")
    if cfg.self_ensemble and cfg.model == "bicubic":
        raise SavsrError("--self-ensemble averages a network's outputs; bicubic has no network")
    upscaler = None
    radius = 2
    if cfg.model != "bicubic":
        from ..infer.upscaler import load_model

        upscaler = load_model(cfg.model, cfg.device, precision=cfg.precision, self_ensemble=cfg.self_ensemble)
        if upscaler.scale != cfg.scale:
            raise SavsrError(f"{cfg.model} is a ×{upscaler.scale} model, but --scale is {cfg.scale}")
        radius = upscaler.radius
    score = _Scorer(cfg)
    sources = [(seq, FrameSource(seq)) for seq in _sequences(cfg.data)]
    for seq, source in sources:
        _check_frame_size(seq, source.info.width, source.info.height, cfg)
    total = sum(src.info.num_frames or 0 for _, src in sources)
    bar = tqdm(total=total, desc="evaluate", unit="frame", disable=not progress)
    results, baseline = [], []
    for seq, source in sources:
        res, base = SequenceResult(seq.name), SequenceResult(seq.name)
        n = source.info.num_frames or 0
        if cfg.frames == "inner" and n <= 2 * radius:
            raise SavsrError(f"{seq}: {n} frames, too few for --frames inner")

        pending: deque[tuple[Tensor, Tensor]] = deque()

        def lr_frames():
            for frame in source:
                hr, lr, up = bi_degrade(_to_tensor(to_uint8(frame)), cfg.scale)
                pending.append((hr, up))
                yield lr

        # The upscaler yields frame t once it has read t + M; `pending` holds the GT until then.
        outputs = upscaler.stream(lr_frames()) if upscaler is not None else (None for _ in lr_frames())
        for index, sr in enumerate(outputs):
            hr, up = pending.popleft()
            bar.update(1)
            if cfg.frames == "inner" and not radius <= index < n - radius:
                continue
            hr_rgb, up_rgb = hr.double() / 255.0, up.double() / 255.0
            score(base, index, up_rgb, up_rgb, hr_rgb)
            if sr is not None:
                # Score the 8-bit output a user would save, not the unrounded float.
                out = torch.round(sr.output.cpu().double() * 255.0) / 255.0
                score(res, index, out, torch.round(sr.rgb.cpu().double() * 255.0) / 255.0, hr_rgb)
        results.append(res)
        baseline.append(base)
    bar.close()
    return (results if upscaler is not None else baseline), baseline


def protocol_frame(
    source: FrameSource, index: int, scale: int, upscaler: Upscaler | None = None
) -> tuple[Tensor, Tensor, SRFrame | None]:
    """Frame ``index`` of one sequence under the protocol of :func:`evaluate`, without the rest.

    Returns the GT (cropped to a multiple of ``scale``) and its bicubic upsampling, both uint8
    (3, H, W), and the upscaler's :class:`~savsr.infer.upscaler.SRFrame` (None without one). The
    model sees the same 2M+1 BI-degraded frames, edges replicated at the sequence ends, as in a
    full evaluation, so figures show exactly the frames that the tables score.
    """
    n = source.info.num_frames or 0
    if not 0 <= index < n:
        raise SavsrError(f"{source.path}: frame {index} out of range (0 to {n - 1})")
    radius = upscaler.radius if upscaler is not None else 0
    start, stop = max(0, index - radius), min(n, index + radius + 1)
    clip = [bi_degrade(_to_tensor(to_uint8(f)), scale) for f in itertools.islice(source.frames(start), stop - start)]
    hr, _, up = clip[index - start]
    if upscaler is None:
        return hr, up, None
    # The stream replicates the clip's ends; they are the sequence's ends wherever the window is cut.
    return hr, up, next(itertools.islice(upscaler.stream(lr for _, lr, _ in clip), index - start, None))


METRICS = ("psnr", "ssim", "lpips", "grid2", "grid4")


def summary(
    results: list[SequenceResult], baseline: list[SequenceResult] | None = None, metrics: tuple[str, ...] = METRICS
) -> dict[str, dict[str, float]]:
    """Per-sequence means, their mean (the headline), the mean over all frames and, for a model,
    the bicubic baseline's mean, of each of ``metrics``."""

    def overall(rows: list[SequenceResult]) -> dict[str, float]:
        return {m: float(np.mean([r.mean(m) for r in rows])) for m in metrics} | {
            "frames": sum(len(r.frames) for r in rows)
        }

    table = {r.name: {m: r.mean(m) for m in metrics} | {"frames": len(r.frames)} for r in results}
    table["mean"] = overall(results)
    table["mean over frames"] = {m: _nanmean([v for r in results for v in getattr(r, m)]) for m in metrics} | {
        "frames": table["mean"]["frames"]
    }
    if baseline is not None and baseline is not results:
        table["bicubic (mean)"] = overall(baseline)
    return table


def render_markdown(table: dict[str, dict[str, float]], cfg: EvalConfig) -> str:
    lpips_label = "—" if cfg.lpips == "none" else f"LPIPS-{cfg.lpips} ({cfg.lpips_on.upper()})"
    lines = [
        f"Model: `{cfg.model}`, ×{cfg.scale}, frames: {cfg.frames}. PSNR/SSIM on Y (BT.601), "
        f"{cfg.scale} border pixels cropped; LPIPS: {lpips_label}"
        + ("." if cfg.model == "bicubic" else f"; network in {cfg.precision}"
           + (", ×8 self-ensemble." if cfg.self_ensemble else ".")),
        "Grid: energy of SR − GT on Y at the 2- and 4-pixel periods over the GT's (1 = nothing there, "
        "above 1 = a pattern the GT lacks; docs/evaluation.md).",
        "",
        "| sequence | frames | PSNR (dB) | SSIM | LPIPS | grid 2 px | grid 4 px |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in table.items():
        label = f"**{name}**" if name == "mean" else f"*{name}*" if name == "bicubic (mean)" else name
        lp = "—" if math.isnan(row["lpips"]) else f"{row['lpips']:.4f}"
        lines.append(f"| {label} | {row['frames']} | {row['psnr']:.2f} | {row['ssim']:.4f} | {lp} "
                     f"| {row['grid2']:.3f} | {row['grid4']:.3f} |")
    if cfg.regions is not None:
        lines += [
            "",
            f"Regions of W (Eq. 3, window {WINDOW}, δ = {DELTA}) on the GT Y: high activity W > {cfg.regions.high}, "
            f"flat W < {cfg.regions.flat}. Noise: std of SR − GT (Y, 8-bit levels) on flat pixels.",
            "",
            "| sequence | PSNR high (dB) | PSNR flat (dB) | noise flat | high (%) | flat (%) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, row in table.items():
            lines.append(
                f"| {name} | {row['psnr_high']:.2f} | {row['psnr_flat']:.2f} | {row['noise_flat']:.3f} "
                f"| {100 * row['frac_high']:.1f} | {100 * row['frac_flat']:.1f} |"
            )
    return "\n".join(lines) + "\n"


REPORTS = ("results.md", "results.json", "results.csv")


def check_reports(outdir: Path, overwrite: bool) -> None:
    """Refuse to replace existing result files without ``overwrite``."""
    for name in REPORTS:
        if (outdir / name).exists() and not overwrite:
            raise SavsrError(f"{outdir / name} exists; pass --overwrite to replace it")


def write_reports(
    results: list[SequenceResult], baseline: list[SequenceResult], cfg: EvalConfig, outdir: Path, overwrite: bool
) -> dict:
    """Write results.md, results.json (with per-frame values) and results.csv into ``outdir``."""
    metrics = cfg.metrics
    table = summary(results, baseline, metrics)
    config = {k: str(v) for k, v in cfg.__dict__.items()}
    if cfg.regions is not None:
        config["regions"] = {"high": cfg.regions.high, "flat": cfg.regions.flat, "delta": DELTA, "window": WINDOW}
    payload = {
        "config": config,
        "table": table,
        "per_frame": {r.name: {"frames": r.frames} | {m: getattr(r, m) for m in metrics} for r in results},
    }
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["sequence", "frames", *metrics])
    for name, row in table.items():
        writer.writerow([name, row["frames"], *(f"{row[m]:.6f}" for m in metrics)])
    outputs = {
        "results.md": render_markdown(table, cfg),
        "results.json": json.dumps(payload, indent=2, default=float),
        "results.csv": buf.getvalue(),
    }
    check_reports(outdir, overwrite)  # all of them before writing any
    for name, text in outputs.items():
        with atomic_output(outdir / name, overwrite=True) as tmp:
            tmp.write_text(text)
    return table
