"""Rewrite the generated sections of docs/reproduction.md from `savsr evaluate` results.

    .venv/bin/python scripts/reproduction_tables.py eval_output/reproduction --doc docs/reproduction.md

Reads RESULTS/x{s}/{method}/results.json (as scripts/reproduce.sh writes them) and replaces
what lies between ``<!-- BEGIN generated:NAME -->`` and ``<!-- END generated:NAME -->`` for
NAME = table1, regions, selfensemble, periodic, temporal, lrfamily and degraded (``--sections`` picks some,
``--scales`` some of their ``### ×S`` blocks); the text around the markers is left as it is. The degraded
section reads RESULTS/x4/{method}@{tag}/results.json, ``savsr evaluate --degradation SPEC`` with tag the
SPEC with ':' written '-' and '+' written '_' (bd, h264-25: :func:`degraded_method`). With ``--cards`` it
also fills the ``vid4`` section of each bundled model's card (WEIGHTS/METHOD-xS.md) that has results.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

from savsr.errors import SavsrError
from savsr.fileio import atomic_output
from savsr.evaluation import VID4

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bundle_model import card_stages  # noqa: E402

SCALES = (2, 3, 4)
# Directory name under RESULTS/x{s}/ (= the bundled model's family) -> name in the paper.
METHODS = {"bicubic": "Bicubic", "vsrresnet": "VSRResNet", "vsrresfeatgan": "VSRResFeatGAN", "sa-vsrgan": "SA-VSRGAN"}
# The LR-space generator's families (models/lr_vsrresnet.py, issue #31), beside the paper's in their own table.
LR_METHODS = {"vsrresnet-lr": "VSRResNet-LR", "vsrresfeatgan-lr": "VSRResFeatGAN-LR", "sa-vsrgan-lr": "SA-VSRGAN-LR"}
SELF_ENSEMBLE = "+se"  # RESULTS/x{s}/{method}+se/: the method evaluated with --self-ensemble
# Table 1 of the paper: Vid4 means only (no per-sequence values, no bicubic or VSRResNet rows).
PAPER = {
    "vsrresfeatgan": {2: (30.90, 0.9241, 0.0283), 3: (26.53, 0.8148, 0.0668), 4: (24.50, 0.7023, 0.1043)},
    "sa-vsrgan": {2: (31.64, 0.9327, 0.0257), 3: (26.80, 0.8256, 0.0641), 4: (24.72, 0.7233, 0.1010)},
}
METRICS = (("psnr", "PSNR-Y (dB)", 2), ("ssim", "SSIM-Y", 4), ("lpips", "PercepDist (LPIPS-alex)", 4))


def load_results(root: Path, scale: int, method: str) -> dict | None:
    path = root / f"x{scale}" / method / "results.json"
    return json.loads(path.read_text()) if path.is_file() else None


def missing_label(method: str, scale: int, weights: Path) -> str:
    return "not evaluated" if (weights / f"{method}-x{scale}.safetensors").is_file() else "not trained"


def _fmt(value: float, digits: int, sign: bool = False) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _frames_note(results: list[dict]) -> str:
    """Which frames each method was scored on, so that a quick run is never taken for the full one."""
    notes = {f"{r['table']['mean']['frames']} frames ({r['config']['frames']}) of {r['config']['data']}" for r in results}
    lpips = {f"LPIPS-{r['config']['lpips']} on {r['config']['lpips_on'].upper()}" for r in results}
    # results written before --precision existed were fp32
    nets = {f"networks in {r['config'].get('precision', 'fp32')}" for r in results if r["config"]["model"] != "bicubic"}
    return "; ".join(sorted(notes)) + "; " + ", ".join(sorted(lpips | nets))


def table1(root: Path, weights: Path) -> str:
    """Per scale: rows (method, metric); columns the four sequences, the mean, the paper's mean and ours − paper."""
    out = []
    for s in SCALES:
        results = {m: r for m in METHODS if (r := load_results(root, s, m)) is not None}
        out += [f"### ×{s}", "", "| method | metric | " + " | ".join(VID4) + " | **mean** | paper | Δ (ours − paper) |",
                "|---|---|" + "---:|" * (len(VID4) + 3)]
        for method, label in METHODS.items():
            paper = PAPER.get(method, {}).get(s)
            for k, (key, name, digits) in enumerate(METRICS):
                ref = paper[k] if paper else math.nan
                if method in results:
                    table = results[method]["table"]
                    cells = [_fmt(table[q][key], digits) if q in table else "—" for q in VID4]
                    ours = table["mean"][key]
                    cells += [f"**{_fmt(ours, digits)}**", _fmt(ref, digits), _fmt(ours - ref, digits, sign=True)]
                else:
                    cells = [missing_label(method, s, weights)] + ["—"] * len(VID4) + [_fmt(ref, digits), "—"]
                out.append(f"| {label if k == 0 else ''} | {name} | " + " | ".join(cells) + " |")
        out += ["", f"Scored: {_frames_note(list(results.values()))}." if results else "No results at this scale yet.", ""]
        if "sa-vsrgan" in results and "vsrresfeatgan" in results:
            # A ratio does not depend on the LPIPS variant's scale, unlike the Δ column.
            ours = results["sa-vsrgan"]["table"]["mean"]["lpips"] / results["vsrresfeatgan"]["table"]["mean"]["lpips"]
            paper = PAPER["sa-vsrgan"][s][2] / PAPER["vsrresfeatgan"][s][2]
            out += [f"PercepDist of SA-VSRGAN relative to VSRResFeatGAN: ours {ours - 1:+.1%}, the paper's {paper - 1:+.1%}.", ""]
    return "\n".join(out).rstrip() + "\n"


REGION_COLUMNS = (("psnr", "PSNR-Y all (dB)", 2), ("psnr_high", "PSNR high (dB)", 2), ("psnr_flat", "PSNR flat (dB)", 2),
                  ("noise_flat", "noise flat (levels)", 3))


def regions(root: Path, weights: Path) -> str:
    """Per scale: the Vid4 means of the region-aware scores of each method, and SA − baseline."""
    out = []
    for s in SCALES:
        results = {m: r for m in METHODS if (r := load_results(root, s, m)) is not None}
        out += [f"### ×{s}", "", "| method | " + " | ".join(name for _, name, _ in REGION_COLUMNS) + " |",
                "|---|" + "---:|" * len(REGION_COLUMNS)]
        for method, label in METHODS.items():
            if method not in results:
                out.append(f"| {label} | {missing_label(method, s, weights)} |" + " — |" * (len(REGION_COLUMNS) - 1))
                continue
            mean = results[method]["table"]["mean"]
            if "psnr_high" not in mean:
                raise SavsrError(f"{root}/x{s}/{method}/results.json has no region scores; evaluate with --regions")
            out.append(f"| {label} | " + " | ".join(_fmt(mean[k], d) for k, _, d in REGION_COLUMNS) + " |")
        if "sa-vsrgan" in results and "vsrresfeatgan" in results:
            sa, base = results["sa-vsrgan"]["table"]["mean"], results["vsrresfeatgan"]["table"]["mean"]
            out.append("| *SA-VSRGAN − VSRResFeatGAN* | "
                       + " | ".join(_fmt(sa[k] - base[k], d, sign=True) for k, _, d in REGION_COLUMNS) + " |")
        if results:
            any_result = next(iter(results.values()))
            mean, reg = any_result["table"]["mean"], any_result["config"]["regions"]
            out += ["", f"High activity: W > {reg['high']} ({100 * mean['frac_high']:.1f} % of the scored pixels); "
                        f"flat: W < {reg['flat']} ({100 * mean['frac_flat']:.1f} %); W of Eq. 3 on the GT Y, "
                        f"window {reg['window']}, δ = {reg['delta']}. Scored: {_frames_note(list(results.values()))}.", ""]
        else:
            out += ["", "No results at this scale yet.", ""]
    return "\n".join(out).rstrip() + "\n"


def self_ensemble(root: Path, weights: Path) -> str:
    """Per scale with self-ensemble results: each such model's single pass beside its ×8 self-ensemble."""
    columns = METRICS + REGION_COLUMNS[1:]
    out = []
    for s in SCALES:
        pairs = {m: (load_results(root, s, m), r) for m in METHODS
                 if (r := load_results(root, s, m + SELF_ENSEMBLE)) is not None}
        if not pairs:
            continue
        out += [f"### ×{s}", "", "| method | inference | " + " | ".join(name for _, name, _ in columns)
                + " | PSNR gain over bicubic (dB) |", "|---|---|" + "---:|" * (len(columns) + 1)]
        for method, (single, ensemble) in pairs.items():
            for label, result in (("single pass", single), ("×8 self-ensemble", ensemble)):
                if result is None:
                    out.append(f"| {METHODS[method]} | {label} | {missing_label(method, s, weights)} |"
                               + " — |" * len(columns))
                    continue
                mean = result["table"]["mean"]
                gain = mean["psnr"] - result["table"]["bicubic (mean)"]["psnr"]
                out.append(f"| {METHODS[method]} | {label} | "
                           + " | ".join(_fmt(mean.get(k, math.nan), d) for k, _, d in columns)
                           + f" | {_fmt(gain, 2, sign=True)} |")
        scored = [r for pair in pairs.values() for r in pair if r is not None]
        out += ["", f"Scored: {_frames_note(scored)}. High and flat: the regions of "
                    "[Region-aware analysis](#region-aware-analysis).", ""]
    return "\n".join(out).rstrip() + "\n" if out else "No self-ensemble results yet (ENSEMBLE in scripts/reproduce.sh).\n"


def periodic(root: Path, weights: Path) -> str:
    """Per scale: each method's Vid4 means of the periodic error ratios (grid 2 px, grid 4 px)
    beside its PSNR-Y and LPIPS, and grid 2 px on each sequence."""
    out = []
    for s in SCALES:
        results = {m: r for m in METHODS if (r := load_results(root, s, m)) is not None}
        out += [f"### ×{s}", "", "| method | grid 2 px | grid 4 px | PSNR-Y (dB) | LPIPS-alex | "
                + " | ".join(f"grid 2 px {q}" for q in VID4) + " |", "|---|" + "---:|" * (4 + len(VID4))]
        scored = []
        for method, label in METHODS.items():
            result = results.get(method)
            if result is None or "grid2" not in result["table"]["mean"]:
                why = "not scored (results older than the measure)" if result else missing_label(method, s, weights)
                out.append(f"| {label} | {why} |" + " — |" * (3 + len(VID4)))
                continue
            table = result["table"]
            mean = table["mean"]
            cells = [_fmt(mean["grid2"], 3), _fmt(mean["grid4"], 3), _fmt(mean["psnr"], 2), _fmt(mean["lpips"], 4)]
            cells += [_fmt(table[q]["grid2"], 3) if q in table else "—" for q in VID4]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
            scored.append(result)
        out += ["", f"Scored: {_frames_note(scored)}." if scored else "No results with the measure at this scale yet.", ""]
    return "\n".join(out).rstrip() + "\n"


TEMPORAL_COLUMNS = (("tof", "tOF", 3), ("tlp", "tLP", 3), ("tof_high", "tOF high", 3), ("tof_flat", "tOF flat", 3),
                    ("tnoise_flat", "temporal noise flat", 3))


def temporal(root: Path, weights: Path) -> str:
    """Per scale: each method's Vid4 means of TecoGAN's tOF and tLP and of the temporal region
    scores, SA − baseline, and tLP on each sequence."""
    out = []
    for s in SCALES:
        results = {m: r for m in METHODS if (r := load_results(root, s, m)) is not None}
        out += [f"### ×{s}", "", "| method | " + " | ".join(name for _, name, _ in TEMPORAL_COLUMNS) + " | "
                + " | ".join(f"tLP {q}" for q in VID4) + " |", "|---|" + "---:|" * (len(TEMPORAL_COLUMNS) + len(VID4))]
        scored = {}
        for method, label in METHODS.items():
            result = results.get(method)
            if result is None or "tof" not in result["table"]["mean"]:
                why = "not scored (results without --temporal)" if result else missing_label(method, s, weights)
                out.append(f"| {label} | {why} |" + " — |" * (len(TEMPORAL_COLUMNS) + len(VID4) - 1))
                continue
            table = result["table"]
            cells = [_fmt(table["mean"].get(k, math.nan), d) for k, _, d in TEMPORAL_COLUMNS]
            cells += [_fmt(table[q]["tlp"], 3) if q in table else "—" for q in VID4]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
            scored[method] = result
        if "sa-vsrgan" in scored and "vsrresfeatgan" in scored:
            sa, base = scored["sa-vsrgan"]["table"], scored["vsrresfeatgan"]["table"]
            cells = [_fmt(sa["mean"].get(k, math.nan) - base["mean"].get(k, math.nan), d, sign=True)
                     for k, _, d in TEMPORAL_COLUMNS]
            cells += [_fmt(sa[q]["tlp"] - base[q]["tlp"], 3, sign=True) if q in sa and q in base else "—" for q in VID4]
            out.append("| *SA-VSRGAN − VSRResFeatGAN* | " + " | ".join(cells) + " |")
        if scored:
            pairs = next(iter(scored.values()))["table"]["mean"]["pairs"]
            out += ["", f"{pairs} pairs; scored: {_frames_note(list(scored.values()))}.", ""]
        else:
            out += ["", "No temporal results at this scale yet.", ""]
    return "\n".join(out).rstrip() + "\n"


LR_COLUMNS = (("psnr", "PSNR-Y (dB)", 2), ("ssim", "SSIM-Y", 4), ("lpips", "LPIPS-alex", 4), ("tof", "tOF", 3),
              ("tlp", "tLP", 3), ("grid2", "grid 2 px", 3), ("grid4", "grid 4 px", 3))


def training_hours(name: str, weights: Path) -> str:
    """Hours a bundled model trained, from its card's stage lines ("… on CPU … Trained N min.")."""
    card = weights / f"{name}.md"
    stages = card_stages(card) if card.is_file() else []
    if not stages:
        return "—"
    cpu = sum(m for _, m, where in stages if where == "cpu") / 60
    gpu = round(sum(m for _, m, where in stages if where == "cuda"))
    return f"{cpu:.1f} CPU" + (f" + {gpu} min GPU" if gpu else "")


def lr_family(root: Path, weights: Path) -> str:
    """Per scale: the LR-space family beside the paper's generator: quality, temporal and grid
    scores, seconds per PAL frame timed in one run (RESULTS/x{s}/speed.json) and training hours."""
    out = []
    for s in SCALES:
        speed_path = root / f"x{s}" / "speed.json"
        speed = json.loads(speed_path.read_text()) if speed_path.is_file() else None
        times = speed["models"] if speed else {}
        reference = times.get("sa-vsrgan", {}).get("seconds_per_frame")
        out += [f"### ×{s}", "", "| method | generator | " + " | ".join(n for _, n, _ in LR_COLUMNS)
                + " | s / frame | speed vs SA-VSRGAN | training (h) |", "|---|---|" + "---:|" * (len(LR_COLUMNS) + 3)]
        scored = []
        for method, label in {**{m: l for m, l in METHODS.items() if m != "bicubic"}, **LR_METHODS}.items():
            generator = "LR-space" if method in LR_METHODS else "paper (HR-space)"
            result = load_results(root, s, method)
            if result is None:
                out.append(f"| {label} | {generator} | {missing_label(method, s, weights)} |" + " — |" * (len(LR_COLUMNS) + 2))
                continue
            mean = result["table"]["mean"]
            secs = times.get(method, {}).get("seconds_per_frame")
            cells = [_fmt(mean.get(k, math.nan), d) for k, _, d in LR_COLUMNS]
            cells += [_fmt(secs, 3) if secs else "—", f"{reference / secs:.1f}×" if secs and reference else "—",
                      training_hours(f"{method}-x{s}", weights)]
            out.append(f"| {label} | {generator} | " + " | ".join(cells) + " |")
            scored.append(result)
        notes = [f"Scored: {_frames_note(scored)}." if scored else "No results at this scale yet."]
        if speed:
            m = next(iter(times.values()))
            notes.append(f"Time: `savsr upscale`'s path (Upscaler.stream: bicubic, colour, network) to a {speed['output']} "
                         f"frame, {m['backend']} {m['precision']} on {speed['threads']} threads ({speed['cpu']}), "
                         f"all models timed round-robin in one run"
                         + (f", each its fastest of {speed['rounds']} rounds" if speed.get("statistic") == "fastest round" else "")
                         + " (scripts/time_per_frame.py).")
        out += ["", " ".join(notes), ""]
    return "\n".join(out).rstrip() + "\n"


def keep_scales(old: str, new: str, scales: tuple[int, ...]) -> str:
    """``new`` (a section body of ``### ×S`` blocks) with the blocks of scales not in ``scales``
    taken from ``old``, so that evaluating one scale does not blank the others."""
    def blocks(body: str) -> dict[int, str]:
        parts = re.split(r"(?m)^(?=### ×[234]\n)", body)
        return {int(p[5]): p for p in parts if p.startswith("### ×")}

    old_blocks, new_blocks = blocks(old), blocks(new)
    chosen = {s: (new_blocks if s in scales else old_blocks).get(s) for s in SCALES}
    body = "".join(b if b.endswith("\n\n") else b + "\n" for b in chosen.values() if b)
    return body.rstrip() + "\n" if body else new


# Degraded input (issue #33), at ×4 only. The BD family is the LR-space generator trained on BD
# (configs/cpu/lr_bd_*.yaml); the H.264 table puts the BI models beside the one trained for
# compressed input (SA-VSRGAN-real: configs/cpu/lr_codec_sa_vsrgan_x4.yaml, whole scenes through x264
# at CRF 15-35). Family -> (label, what it was trained on).
BD_METHODS = {"bicubic": ("Bicubic", "—"), "vsrresnet-bd-lr": ("VSRResNet-BD-LR", "BD"),
              "vsrresfeatgan-bd-lr": ("VSRResFeatGAN-BD-LR", "BD"), "sa-vsrgan-bd-lr": ("SA-VSRGAN-BD-LR", "BD")}
CRF_METHODS = {"bicubic": ("Bicubic", "—"), "sa-vsrgan": ("SA-VSRGAN", "BI"), "sa-vsrgan-lr": ("SA-VSRGAN-LR", "BI"),
               "sa-vsrgan-real": ("SA-VSRGAN-real", "H.264 15-35")}
CRFS = (15, 25, 35)  # COMISR's (Li et al., ICCV 2021) H.264 rates for Vid4 ×4
# The H.264 table's rows: the clean BI input first (what the real model gives up where there is no
# codec), then the CRFs. Row label -> --degradation spec.
CRF_ROWS = {"none (BI)": "bi"} | {str(crf): f"h264:{crf}" for crf in CRFS}
DEGRADED_SCALE = 4
# TecoGAN (Chu et al., ACM TOG 2020), Vid4 ×4 under BD, as /work/shared/reference/published_vid4.md
# gives it (marked approximate there): LPIPS-alex, tOF and tLP by thunil/TecoGAN's metrics.py, the
# same definitions as ours; its PSNR is on RGB, ours on Y, so the two PSNRs are not comparable.
TECOGAN_BD = {"psnr_rgb": 25.57, "lpips": 0.162, "tof": 0.190, "tlp": 0.668}
DEGRADED_COLUMNS = (("psnr", "PSNR-Y (dB)", 2), ("ssim", "SSIM-Y", 4), ("lpips", "LPIPS-alex", 4), ("tof", "tOF", 3),
                    ("tlp", "tLP", 3))


def degraded_method(method: str, spec: str) -> str:
    """The results folder name of ``method`` evaluated with ``--degradation spec`` (scripts/reproduce.sh's
    layout): the spec as `savsr evaluate` writes it in its own folder names, ':' as '-' and '+' as '_';
    BI's results are the plain ``method`` folder of the BI tables."""
    if spec == "bi":
        return method
    return f"{method}@{spec.replace(':', '-').replace('+', '_')}"


def load_degraded(root: Path, method: str, spec: str) -> dict | None:
    """The ×4 results of ``method`` under ``spec``, checked to be what their folder says."""
    result = load_results(root, DEGRADED_SCALE, degraded_method(method, spec))
    if result is not None and (got := result["config"].get("degradation") or "bi") != spec:
        raise SavsrError(f"{root}/x{DEGRADED_SCALE}/{degraded_method(method, spec)}/results.json was evaluated "
                         f"with --degradation {got}, not {spec}")
    return result


def _degraded_cells(result: dict | None, method: str, weights: Path) -> list[str]:
    """The DEGRADED_COLUMNS and the PSNR gain over bicubic of the same LR, or why there are none."""
    if result is None:
        why = "not evaluated" if method == "bicubic" else missing_label(method, DEGRADED_SCALE, weights)
        return [why] + ["—"] * len(DEGRADED_COLUMNS)
    table = result["table"]
    cells = [_fmt(table["mean"].get(k, math.nan), d) for k, _, d in DEGRADED_COLUMNS]
    bicubic = table.get("bicubic (mean)", {}).get("psnr", math.nan) if method != "bicubic" else math.nan
    return cells + [_fmt(table["mean"]["psnr"] - bicubic, 2, sign=True)]


def _codec_note(results: list[dict]) -> str:
    """The codec settings the H.264 results record (savsr.data.degradation.VideoCodec.record)."""
    codecs = [r["degradation"]["codec"] for r in results if "codec" in r.get("degradation", {})]
    if not codecs:
        return ""
    c = codecs[0]
    return (f" The LR: BI, then {c['encoder']} at the CRF shown, preset {c['preset']}, GOP {c['gop']}, {c['pix_fmt']} "
            f"{c['matrix']} {c['range']} range, over each whole LR sequence (one stream), and back; "
            f"FFmpeg libavcodec {c['ffmpeg']}.")


def degraded(root: Path, weights: Path) -> str:
    """×4 under degraded input (issue #33): BD (the BD-trained models beside TecoGAN's published
    row) and H.264 at COMISR's CRFs (bicubic, the BI models and the real-trained one)."""
    s = DEGRADED_SCALE
    header = " | ".join(name for _, name, _ in DEGRADED_COLUMNS) + " | PSNR gain over bicubic (dB) |"
    out = [f"### ×{s}", "", "#### BD", "", "| method | " + header, "|---|" + "---:|" * (len(DEGRADED_COLUMNS) + 1)]
    bd = {m: load_degraded(root, m, "bd") for m in BD_METHODS}
    for method, (label, _) in BD_METHODS.items():
        out.append(f"| {label} | " + " | ".join(_degraded_cells(bd[method], method, weights)) + " |")
    t = TECOGAN_BD
    out.append(f"| *TecoGAN (published, approximate)* | *{t['psnr_rgb']:.2f} on RGB* | — | {t['lpips']:.3f} | "
               f"{t['tof']:.3f} | {t['tlp']:.3f} | — |")
    scored = [r for r in bd.values() if r is not None]
    note = f"Scored: {_frames_note(scored)}." if scored else "No BD results yet."
    if scored and (down := scored[0].get("degradation", {}).get("downsampling")):
        note += f" The LR: {down}."
    out += ["", note + " TecoGAN's row (Chu et al., ACM TOG 2020, as published; approximate) is on the full "
            "sequences with their own code: its LPIPS, tOF and tLP are defined as ours, but its PSNR is on RGB and "
            "ours on Y, so the two PSNR columns are not comparable.", ""]

    out += ["#### H.264", "", "| CRF | method | trained on | " + header,
            "|---:|---|---|" + "---:|" * (len(DEGRADED_COLUMNS) + 1)]
    scored, h264 = [], {}
    for row, spec in CRF_ROWS.items():
        for k, (method, (label, trained)) in enumerate(CRF_METHODS.items()):
            h264[method, spec] = result = load_degraded(root, method, spec)
            scored += [result] if result is not None and spec != "bi" else []
            out.append(f"| {row if k == 0 else ''} | {label} | {trained} | "
                       + " | ".join(_degraded_cells(result, method, weights)) + " |")
    out += ["", (f"Scored: {_frames_note(scored)}." + _codec_note(scored)) if scored else "No H.264 results yet.", ""]
    out += _real_against_bi(h264)
    return "\n".join(out).rstrip() + "\n"


def _real_against_bi(h264: dict[tuple[str, str], dict | None]) -> list[str]:
    """Issue #33's measures: the real model against the bundled BI model (sa-vsrgan-x4) at CRF 25
    (PSNR-Y gain, relative LPIPS change) and on the clean BI input."""
    out = []
    for lead, spec in (("At CRF 25, SA-VSRGAN-real against SA-VSRGAN", "h264:25"), ("On the clean BI input", "bi")):
        real, bi = h264.get(("sa-vsrgan-real", spec)), h264.get(("sa-vsrgan", spec))
        if real is not None and bi is not None:
            real, bi = real["table"]["mean"], bi["table"]["mean"]
            out.append(f"{lead}: {real['psnr'] - bi['psnr']:+.2f} dB PSNR-Y, "
                       f"{100 * (real['lpips'] / bi['lpips'] - 1):+.1f} % LPIPS.")
    return [" ".join(out), ""] if out else []


SECTIONS = {"table1": table1, "regions": regions, "selfensemble": self_ensemble, "periodic": periodic,
            "temporal": temporal, "lrfamily": lr_family, "degraded": degraded}


def card_vid4(result: dict, method: str, scale: int, ensemble: dict | None = None) -> str:
    """A bundled model's Vid4 table: each sequence, the mean, bicubic's mean and the paper's, and
    the mean with --self-ensemble where ``ensemble`` holds those results."""
    table = result["table"]
    rows = ["| sequence | PSNR-Y (dB) | SSIM-Y | LPIPS-alex |", "|---|---:|---:|---:|"]

    def line(label: str, values: tuple[float, ...], bold: bool = False) -> str:
        cells = [_fmt(v, digits) for v, (_, _, digits) in zip(values, METRICS)]
        return f"| {label} | " + " | ".join(f"**{c}**" if bold else c for c in cells) + " |"

    def pick(row: dict[str, float]) -> tuple[float, ...]:
        return tuple(row[key] for key, _, _ in METRICS)

    rows += [line(q, pick(table[q])) for q in VID4 if q in table]
    rows.append(line("**mean**", pick(table["mean"]), bold=True))
    if ensemble is not None:
        rows.append(line("mean with `--self-ensemble`", pick(ensemble["table"]["mean"])))
    if "bicubic (mean)" in table:
        rows.append(line("bicubic (mean)", pick(table["bicubic (mean)"])))
    if (paper := PAPER.get(method, {}).get(scale)) is not None:
        rows.append(line(f"paper's {METHODS[method]} (Table 1)", paper))
    bicubic = table["bicubic (mean)"]["psnr"] if "bicubic (mean)" in table else math.nan
    gain = f"{_fmt(table['mean']['psnr'] - bicubic, 2, sign=True)} dB"
    if ensemble is not None:
        gain += f" ({_fmt(ensemble['table']['mean']['psnr'] - bicubic, 2, sign=True)} dB with `--self-ensemble`, 8× the compute)"
    return ("\n".join(rows) + f"\n\nScored: {_frames_note([result])}. PSNR gain over bicubic: {gain}. "
            "The paper's PercepDist is on another scale than our LPIPS (docs/reproduction.md).\n")


def card_h264(root: Path, method: str) -> str:
    """A CRF family's card lines under H.264 (issue #33): its Vid4 means and bicubic's at each CRF
    evaluated, from the degraded section's results."""
    rows = []
    for crf in CRFS:
        if (result := load_degraded(root, method, f"h264:{crf}")) is None:
            continue
        mean, bicubic = result["table"]["mean"], result["table"].get("bicubic (mean)", {})
        rows.append(f"| {crf} | {mean['psnr']:.2f} | {mean['ssim']:.4f} | {mean['lpips']:.4f} | "
                    f"{_fmt(bicubic.get('psnr', math.nan), 2)} | {_fmt(bicubic.get('lpips', math.nan), 4)} |")
    if not rows:
        return ""
    return ("\nWith the LR through H.264 (x264, over each whole LR sequence; docs/reproduction.md, Degraded input):\n\n"
            "| CRF | PSNR-Y (dB) | SSIM-Y | LPIPS-alex | bicubic PSNR-Y | bicubic LPIPS |\n|---:|---:|---:|---:|---:|---:|\n"
            + "\n".join(rows) + "\n")


def replace_sections(path: Path, bodies: dict[str, str], scales: tuple[int, ...] = SCALES) -> None:
    """Replace the body of each named generated section of ``path`` (only its ``### ×S`` blocks of
    ``scales``); fail if a marker pair is missing."""
    text = path.read_text()
    for name, body in bodies.items():
        pattern = re.compile(rf"(<!-- BEGIN generated:{name} -->\n)(.*?)(<!-- END generated:{name} -->)", re.S)
        if len(pattern.findall(text)) != 1:
            raise SavsrError(f"{path}: needs exactly one '<!-- BEGIN generated:{name} -->' ... '<!-- END generated:{name} -->' pair")
        if tuple(scales) != SCALES:
            body = keep_scales(pattern.search(text).group(2), body, scales)
        text = pattern.sub(lambda m: m.group(1) + body + m.group(3), text)
    with atomic_output(path, overwrite=True) as tmp:  # updated in place, by design
        tmp.write_text(text)


def rewrite(doc: Path, root: Path, weights: Path, sections: tuple[str, ...] = tuple(SECTIONS),
            scales: tuple[int, ...] = SCALES) -> None:
    """Rewrite the named generated sections of ``doc`` (their blocks of ``scales``) from the results under ``root``."""
    replace_sections(doc, {name: SECTIONS[name](root, weights) for name in sections}, scales)


def rewrite_cards(weights: Path, root: Path) -> list[Path]:
    """Fill the ``vid4`` section of every bundled model card that has results; return the cards written."""
    written = []
    for card in sorted(weights.glob("*.md")):
        if (match := re.fullmatch(r"(.+)-x([234])", card.stem)) is None:
            continue
        method, scale = match[1], int(match[2])
        if method in BD_METHODS and scale == DEGRADED_SCALE:  # scored on the BD input it was trained on
            if (result := load_degraded(root, method, "bd")) is None:
                continue
            body = card_vid4(result, method, scale) + "The LR: BD (savsr evaluate --degradation bd), as the model was trained.\n"
        elif method in METHODS | LR_METHODS | CRF_METHODS and (result := load_results(root, scale, method)) is not None:
            body = card_vid4(result, method, scale, load_results(root, scale, method + SELF_ENSEMBLE))
            if method in CRF_METHODS and scale == DEGRADED_SCALE:
                body += card_h264(root, method)
        else:
            continue
        replace_sections(card, {"vid4": body})
        written.append(card)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, metavar="RESULTS", help="folder holding x{2,3,4}/METHOD/results.json")
    parser.add_argument("--doc", type=Path, default=Path("docs/reproduction.md"))
    parser.add_argument("--weights", type=Path, default=Path(__file__).resolve().parents[1] / "src" / "savsr" / "weights",
                        help="bundled weights folder, to tell 'not trained' from 'not evaluated'")
    parser.add_argument("--cards", action="store_true", help="also fill the Vid4 section of the bundled model cards")
    parser.add_argument("--sections", nargs="+", choices=tuple(SECTIONS), default=tuple(SECTIONS),
                        help="rewrite only these sections (default all), e.g. after evaluating a subset")
    parser.add_argument("--scales", nargs="+", type=int, choices=SCALES, default=SCALES,
                        help="rewrite only these scales' blocks of each section (default all); the others keep their text")
    args = parser.parse_args(argv)
    try:
        if not args.results.is_dir():
            raise SavsrError(f"{args.results}: no such results folder")
        rewrite(args.doc, args.results, args.weights, tuple(args.sections), tuple(args.scales))
        cards = rewrite_cards(args.weights, args.results) if args.cards else []
    except SavsrError as exc:
        print(f"reproduction_tables: error: {exc}", file=sys.stderr)
        return 2
    print(f"rewrote the generated sections of {args.doc}" + "".join(f", {c}" for c in cards))
    return 0


if __name__ == "__main__":
    sys.exit(main())
