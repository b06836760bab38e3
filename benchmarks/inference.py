"""Inference speed: VSRResNet ×4 on Y at 720×576 output, every engine side by side.

Paths on the same window: PyTorch (the naive fp32 NCHW network, channels_last, bf16 autocast,
prepacked weights with fused ReLUs as ``TorchEngine`` runs it on a CPU, torch.compile with freezing), ONNX Runtime (fp32) and OpenVINO (fp32, bf16), and the product
path (``Upscaler`` with its defaults). Each is reported against the fastest 64→64 convolution
any engine reaches at its precision in the same run (/conv), and against the CPU's peak FLOP/s
(/peak, benchmarks/peak.py). Also: the product's speed over PyTorch bf16 autocast (the default
before OpenVINO), its agreement with fp32 on 20 Vid4 frames, the end-to-end frame rate of
``Upscaler.stream`` and the cost of tiling.
"""

from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path

import torch

from savsr.infer.engine import OpenVINOEngine, TorchEngine, openvino_available
from savsr.infer.upscaler import Upscaler
from savsr.models.checkpoint import GeneratorSpec
from savsr.precision import AUTOCAST_DTYPES, cpu_has_bf16

from .common import (
    Report,
    Row,
    against,
    autocast,
    generator_flops_per_pixel,
    interleaved,
    onnxruntime_session,
    precisions_for,
    roofline,
)
from .end_to_end import end_to_end_share
from .peak import add_peak_rows

SCALE = 4
VID4 = Path(__file__).resolve().parents[2] / "shared" / "data" / "vid4" / "GT"
# The PyTorch path the product is compared with: the CPU default before the OpenVINO engine where
# bf16 is native, and PyTorch's fastest fp32 path (what `--backend torch` runs) on an AVX2 CPU.
BASELINES = {"bf16": "PyTorch bf16 autocast channels_last", "fp32": "PyTorch fp32 packed weights, fused ReLU"}


def _network_path(model: torch.nn.Module, x: torch.Tensor, precision: str, device: torch.device):
    def run() -> None:
        with torch.no_grad(), autocast(device, precision):
            model(x)
    return run


def add_bf16_hint_row(report: Report, model: torch.nn.Module, x: torch.Tensor, rounds: int) -> None:
    """OpenVINO handed a bf16 hint against its fp32, on this CPU, whatever savsr would hand it: on
    a CPU with native bf16 the gain savsr takes; on one without, what emulated bf16 would cost
    (savsr never asks for it there, infer/engine.openvino_hint). Both compile the same graph."""
    import numpy as np
    import openvino as ov

    from savsr.infer.engine import compiled_kernels, compiled_precision, to_openvino

    graph, window = to_openvino(model.float().eval(), 5), np.ascontiguousarray(x.float().numpy())
    compiled = {hint: ov.Core().compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": hint,
                                                             "PERFORMANCE_HINT": "LATENCY"})
                for hint in ("bf16", "f32")}
    requests = {hint: c.create_infer_request() for hint, c in compiled.items()}
    secs = interleaved({hint: lambda r=r: r.infer({0: window}) for hint, r in requests.items()}, rounds, x.device)
    bf16 = compiled["bf16"]
    native = "native" if cpu_has_bf16() else "not native: emulated"
    report.add(Row("inference", "OpenVINO given a bf16 hint, speed / its fp32", secs["f32"] / secs["bf16"], "×",
                   note=f"bf16 {native} here; compiled {compiled_precision(bf16)} ({compiled_kernels(bf16)})"))


def run(report: Report, device: torch.device, quick: bool) -> None:
    height, width = (96, 120) if quick else (576, 720)
    rounds = 1 if quick else 3
    spec = GeneratorSpec(scale=SCALE, color="y", frames=5, blocks=2 if quick else 15, features=64)
    model = spec.build().to(device).eval()
    pixels = height * width
    flops = generator_flops_per_pixel(model) * pixels
    report.add(Row("inference", "generator FLOPs per output pixel", flops / pixels, "FLOP",
                   note=f"{spec.blocks} blocks, analytic 2·Σk²·c_in·c_out"))
    peaks = add_peak_rows(report, "inference", device)
    roofs = {p: roofline(1, height, width, p, device) for p in precisions_for(device)}
    for p, r in roofs.items():
        report.add(Row("inference", f"fastest conv {p} (64→64 3×3, {width}×{height})", r.gflops, "GFLOP/s",
                       peak=r.gflops / peaks[p] if peaks and p in peaks else None, note=r.how))

    x = torch.rand(1, 5, height, width, device=device)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    model_cl = spec.build().to(device, memory_format=torch.channels_last).eval()
    model_cl.load_state_dict(model.state_dict())
    paths = {"PyTorch fp32 NCHW eager (naive)": ("fp32", flops, _network_path(model, x, "fp32", device)),
             "PyTorch fp32 channels_last": ("fp32", flops, _network_path(model_cl, x_cl, "fp32", device))}
    for p in roofs:
        if p != "fp32":
            paths[f"PyTorch {p} autocast channels_last"] = (p, flops, _network_path(model_cl, x_cl, p, device))
    for p in roofs:
        engine = TorchEngine(model_cl, device, AUTOCAST_DTYPES[p])
        if engine.packed is not None:
            paths[f"PyTorch {p} packed weights, fused ReLU"] = (p, flops, lambda engine=engine: engine(x_cl))
    if not quick:
        # freezing lets Inductor pre-pack the weights and fuse conv + ReLU through oneDNN.
        compiled = torch.compile(model_cl, options={"freezing": True})
        best = "bf16" if "bf16" in roofs else "fp32"
        paths[f"PyTorch {best} channels_last torch.compile"] = (best, flops, _network_path(compiled, x_cl, best, device))
        if device.type == "cpu":
            ort = onnxruntime_session(model, x)
            if ort is not None:
                paths["ONNX Runtime fp32 (CPU provider)"] = ("fp32", flops, ort)
    if device.type == "cpu" and openvino_available():
        for p in roofs:
            engine = OpenVINOEngine(model, 5, p)
            paths[f"OpenVINO {p}"] = (p, flops, lambda engine=engine: engine(x))
        add_bf16_hint_row(report, model, x, rounds)
    up = Upscaler(model_cl, spec, device, tile=0)  # as load_model builds it: channels_last, backend auto
    product = f"product: Upscaler default ({up.backend} {up.precision})"
    paths[product] = (up.precision, flops, lambda: up._forward(x))
    results = against(roofs, paths, rounds, device, peaks)
    for name, (secs, conv, peak) in results.items():
        report.add(Row("inference", name, 1 / secs, "frame/s", conv, peak))
    baseline = BASELINES.get(up.precision)
    if baseline in paths:
        # Back to back in pairs, the median of the pairs' ratios: a stretch of outside load
        # (or another engine's threads still spinning) then slows both sides of a ratio.
        ratios = []
        for _ in range(rounds + 2 if not quick else 1):
            pair = interleaved({"base": paths[baseline][2], "product": paths[product][2]}, 1, device, warmup=0)
            ratios.append(pair["base"] / pair["product"])
        report.add(Row("inference", f"product / {baseline}", statistics.median(ratios), "×",
                       note=f"speed-up over PyTorch, median of {len(ratios)} back-to-back pairs "
                            f"(range {min(ratios):.2f}-{max(ratios):.2f})"))
    if not quick:
        add_agreement_rows(report, "sa-vsrgan-x4", device)

    # End to end: LR frames in, RGB SR frames out, through the product's stream (bicubic, colour),
    # for the paper's generator and for its LR-space sibling of the same body (models/lr_vsrresnet.py).
    frames = 4 if quick else 8
    lr = [torch.randint(0, 256, (3, height // SCALE, width // SCALE), dtype=torch.uint8) for _ in range(frames)]
    lr_spec = GeneratorSpec(SCALE, "y", 5, spec.blocks, spec.features, kind="lr-vsrresnet")
    lr_up = Upscaler(lr_spec.build().to(device, memory_format=torch.channels_last).eval(), lr_spec, device, tile=0)
    e2e = interleaved({"paper": lambda: [f.rgb for f in up.stream(iter(lr))],
                       "lr": lambda: [f.rgb for f in lr_up.stream(iter(lr))]}, rounds, device)
    report.add(Row("inference", f"end to end, Upscaler.stream ({up.backend} {up.precision})", frames / e2e["paper"],
                   "frame/s", note="LR uint8 RGB in, SR RGB out: bicubic, colour and network"))
    report.add(Row("inference", f"end to end, LR-space generator ({lr_up.backend} {lr_up.precision})",
                   frames / e2e["lr"], "frame/s", note=f"{spec.blocks} blocks × {spec.features}, kind lr-vsrresnet"))
    report.add(Row("inference", "end to end speed, LR-space generator / paper generator", e2e["paper"] / e2e["lr"], "×",
                   note=f"same run, same body; FLOPs {spec.flops_per_pixel() / lr_spec.flops_per_pixel():.1f}× fewer; target ≥ 8"))
    if device.type == "cuda" and not quick:
        def with_cudnn_benchmark(flag: bool):
            def run() -> None:
                torch.backends.cudnn.benchmark = flag
                up._forward(x)
            return run
        secs = interleaved({"off": with_cudnn_benchmark(False), "on": with_cudnn_benchmark(True)}, rounds + 2, device)
        torch.backends.cudnn.benchmark = False  # as the product runs: on the H200 it gained nothing (performance.md)
        report.add(Row("inference", "product speed, cuDNN benchmark on / off", secs["off"] / secs["on"], "×",
                       note="the timed choice of convolution algorithm; TorchEngine leaves it off"))
        # Issue #24's GPU goal: ×4 to 1280×720 at 100 frame/s or more.
        small = [torch.randint(0, 256, (3, 180, 320), dtype=torch.uint8) for _ in range(32)]
        for label, u in (("paper generator", up), ("LR-space generator", lr_up)):
            secs = interleaved({label: lambda u=u: [f.rgb for f in u.stream(iter(small))]}, rounds, device)[label]
            report.add(Row("inference", f"end to end 320×180 → 1280×720, {label} ({u.backend} {u.precision})",
                           len(small) / secs, "frame/s", note="Upscaler.stream, 32 frames: bicubic, colour and network"))
    if not quick:
        if importlib.util.find_spec("av") is None:  # a bare GPU machine
            report.add(Row("inference", "savsr upscale 180×144 → 720×576 mp4: time in the network", float("nan"), "of wall",
                           note="skipped: no PyAV"))
        else:
            share, fps = end_to_end_share(24, device=str(device))
            report.add(Row("inference", "savsr upscale 180×144 → 720×576 mp4: time in the network", share, "of wall",
                           note=f"{fps:.3f} frame/s; decode, bicubic, colour, encode overlapped; target ≥ 0.85"))

    # Tiling: one frame in tiles of 256 (overlap = receptive radius) against the whole frame.
    tile = 64 if quick else 256
    tiled = Upscaler(model_cl, spec, device, up.precision, tile=tile)
    secs = interleaved({"whole": lambda: up._forward(x), "tiled": lambda: tiled._forward(x)}, rounds, device)
    rf = model.receptive_radius
    report.add(Row("inference", f"tiling overhead, tile {tile} + overlap {rf}", secs["tiled"] / secs["whole"], "× time",
                   note=f"analytic extra area {_tiled_area(height, width, tile, rf) / pixels:.2f}×"))


def add_agreement_rows(report: Report, name: str, device: torch.device, per_sequence: int = 5) -> None:
    """PSNR-Y against the GT of the bundled model's default path and of PyTorch fp32, on
    ``per_sequence`` frames of each Vid4 sequence (20 frames), scored as `savsr evaluate` scores."""
    from savsr.evaluation.protocol import protocol_frame, score_output
    from savsr.evaluation.scoring import Scorer, SequenceResult
    from savsr.infer.upscaler import load_model
    from savsr.media.reader import FrameSource

    if not VID4.is_dir():
        report.add(Row("inference", "agreement with fp32 on Vid4", float("nan"), "dB", note=f"skipped: no {VID4}"))
        return
    default = load_model(name, str(device))
    fp32 = load_model(name, str(device), precision="fp32", backend="torch")
    scorer = Scorer(SCALE, "none", "rgb", device)
    results = {"default": SequenceResult("default"), "fp32": SequenceResult("fp32")}
    index = 0
    for seq in sorted(p for p in VID4.iterdir() if p.is_dir()):
        source = FrameSource(seq)
        n = source.info.num_frames or 0
        for t in [round(i * (n - 1) / (per_sequence - 1)) for i in range(per_sequence)]:
            hr = None
            for key, up in (("default", default), ("fp32", fp32)):
                hr, _, sr = protocol_frame(source, t, SCALE, up)
                score_output(scorer, results[key], index, sr, hr.double() / 255.0)
            index += 1
    a, b = results["default"].psnr, results["fp32"].psnr
    diffs = [abs(x - y) for x, y in zip(a, b)]
    report.add(Row("inference", f"|ΔPSNR-Y| default ({default.backend} {default.precision}) vs fp32, mean of {index}",
                   statistics.mean(diffs), "dB", note=f"max {max(diffs):.4f} dB; Vid4 ×4, {name}; target ≤ 0.02"))


def _tiled_area(height: int, width: int, tile: int, overlap: int) -> int:
    """Pixels the network computes when a frame is cut into overlapping tiles (as tiled_apply does)."""
    total = 0
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            h = min(top + tile + overlap, height) - max(top - overlap, 0)
            w = min(left + tile + overlap, width) - max(left - overlap, 0)
            total += h * w
    return total
