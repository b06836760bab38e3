"""The result tables of an evaluation: results.md, results.json (with per-frame values) and results.csv."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ..data.activity import DELTA, WINDOW
from ..errors import ParameterError
from ..fileio import atomic_output
from ..metrics.temporal import SKIP, TEMPORAL_METRICS
from .protocol import EvalConfig
from .scoring import METRICS, SequenceResult, nanmean


def summary(
    results: list[SequenceResult], baseline: list[SequenceResult] | None = None, metrics: tuple[str, ...] = METRICS
) -> dict[str, dict[str, float]]:
    """Per-sequence means, their mean (the headline), the mean over all frames and, for a model,
    the bicubic baseline's mean, of each of ``metrics``. Rows count their ``frames`` and, with
    temporal metrics, their ``pairs``."""
    temporal = any(m in TEMPORAL_METRICS for m in metrics)

    def counts(rows: list[SequenceResult]) -> dict[str, int]:
        return {"frames": sum(len(r.frames) for r in rows)} | (
            {"pairs": sum(len(r.pairs) for r in rows)} if temporal else {})

    def overall(rows: list[SequenceResult]) -> dict[str, float]:
        return {m: float(np.mean([r.mean(m) for r in rows])) for m in metrics} | counts(rows)

    table = {r.name: {m: r.mean(m) for m in metrics} | counts([r]) for r in results}
    table["mean"] = overall(results)
    table["mean over frames"] = {m: nanmean([v for r in results for v in getattr(r, m)]) for m in metrics} | counts(
        results)
    if baseline is not None and baseline is not results:
        table["bicubic (mean)"] = overall(baseline)
    return table


def _label(name: str) -> str:
    """A table row's name: the headline mean in bold, the bicubic baseline in italics."""
    return f"**{name}**" if name == "mean" else f"*{name}*" if name == "bicubic (mean)" else name


def render_markdown(table: dict[str, dict[str, float]], cfg: EvalConfig) -> str:
    lpips_label = "—" if cfg.lpips == "none" else f"LPIPS-{cfg.lpips} ({cfg.lpips_on.upper()})"
    lines = [
        f"Model: `{cfg.model}`, ×{cfg.scale}, frames: {cfg.frames}. PSNR/SSIM on Y (BT.601), "
        f"{cfg.scale} border pixels cropped; LPIPS: {lpips_label}"
        + ("." if cfg.model == "bicubic" else f"; network in {cfg.precision}"
           + (", ×8 self-ensemble." if cfg.self_ensemble else ".")),
        f"LR: {_lr_line(cfg)}.",
        "Grid: energy of SR − GT on Y at the 2- and 4-pixel periods over the GT's (1 = nothing there, "
        "above 1 = a pattern the GT lacks; docs/evaluation.md).",
        "",
        "| sequence | frames | PSNR (dB) | SSIM | LPIPS | grid 2 px | grid 4 px |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in table.items():
        lp = "—" if math.isnan(row["lpips"]) else f"{row['lpips']:.4f}"
        lines.append(f"| {_label(name)} | {row['frames']} | {row['psnr']:.2f} | {row['ssim']:.4f} | {lp} "
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
    if cfg.temporal:
        lines += _temporal_lines(table, cfg)
    return "\n".join(lines) + "\n"


def _lr_line(cfg: EvalConfig) -> str:
    """How the LR frames were made, in one line: the degradation and its codec settings, or the supplied folder."""
    if cfg.lr is not None:
        return f"supplied frames from `{cfg.lr}` (bicubic row: their bicubic upsampling)"
    record = cfg.degradation_record or {}
    text = f"`{cfg.degradation}`, " + record.get("downsampling", cfg.degradation)
    codec = record.get("codec")
    if codec:
        text += (f"; then {codec['encoder']} CRF {codec['crf']}, preset {codec['preset']}, GOP {codec['gop']}, "
                 f"{codec['pix_fmt']} {codec['matrix']} {codec['range']} range, over each whole LR sequence")
    if "seed" in record:
        text += f"; seed {record['seed']} (drawn parameters per sequence in results.json)"
    return text


def _temporal_lines(table: dict[str, dict[str, float]], cfg: EvalConfig) -> list[str]:
    regions = cfg.regions is not None
    lines = [
        "",
        f"Temporal (TecoGAN's definitions, docs/evaluation.md): pairs of consecutive frames, the first and last "
        f"{SKIP} frames of each sequence skipped. tOF: mean |flow(GT) − flow(SR)| (Farneback, pixels); "
        "tLP: 100 × |LPIPS-alex(GT pair) − LPIPS-alex(SR pair)|; lower is steadier. tLP signed: the same "
        "without the absolute value, SR pair minus GT pair (above 0 the SR changes more than the GT: flicker; "
        "below 0, less)."
        + (" By region of W in frame t: the same flow error over its high-activity and flat pixels, and the "
           "temporal noise, the std of (SR − GT)(t) − (SR − GT)(t − 1) (Y, 8-bit levels) on pixels flat in both."
           if regions else ""),
        "",
        "| sequence | pairs | tOF | tLP | tLP signed |" + (" tOF high | tOF flat | temporal noise flat |" if regions else ""),
        "|---|---:|---:|---:|---:|" + ("---:|---:|---:|" if regions else ""),
    ]
    for name, row in table.items():
        line = f"| {_label(name)} | {row['pairs']} | {row['tof']:.4f} | {row['tlp']:.3f} | {row['tlp_signed']:+.3f} |"
        if regions:
            line += f" {row['tof_high']:.4f} | {row['tof_flat']:.4f} | {row['tnoise_flat']:.3f} |"
        lines.append(line)
    return lines


REPORTS = ("results.md", "results.json", "results.csv")


def check_reports(outdir: Path, overwrite: bool) -> None:
    """Refuse to replace existing result files without ``overwrite``."""
    for name in REPORTS:
        if (outdir / name).exists() and not overwrite:
            raise ParameterError("overwrite", f"{outdir / name} exists; pass {{param}} to replace it")


def write_reports(
    results: list[SequenceResult], baseline: list[SequenceResult], cfg: EvalConfig, outdir: Path, overwrite: bool
) -> dict:
    """Write results.md, results.json (with per-frame values) and results.csv into ``outdir``."""
    metrics = cfg.metrics
    table = summary(results, baseline, metrics)
    config = {k: str(v) for k, v in cfg.__dict__.items() if k != "degradation_record"}
    if cfg.regions is not None:
        config["regions"] = {"high": cfg.regions.high, "flat": cfg.regions.flat, "delta": DELTA, "window": WINDOW}
    payload = {
        "config": config,
        "degradation": cfg.degradation_record,  # every choice made to get the LR (docs/evaluation.md)
        "table": table,
        "per_frame": {r.name: {"frames": r.frames} | ({"pairs": r.pairs} if cfg.temporal else {})
                      | {m: getattr(r, m) for m in metrics} for r in results},
    }
    buf = io.StringIO()
    writer = csv.writer(buf)
    counts = ["frames"] + (["pairs"] if cfg.temporal else [])
    writer.writerow(["sequence", *counts, *metrics])
    for name, row in table.items():
        writer.writerow([name, *(row[c] for c in counts), *(f"{row[m]:.6f}" for m in metrics)])
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
