"""Inference speed: VSRResNet ×4 on Y at 720×576 output, against the convolution roofline.

Paths: the naive fp32 NCHW network, channels_last, bf16 autocast (where the hardware has it),
torch.compile, and the product path (``Upscaler`` with its defaults). Also the end-to-end frame
rate of ``Upscaler.stream`` (bicubic upsampling and colour conversion included) and the cost of
tiling.
"""

from __future__ import annotations


import torch

from savsr.infer.upscaler import Upscaler
from savsr.models.checkpoint import GeneratorSpec

from .common import (
    Report,
    Row,
    against,
    autocast,
    generator_flops_per_pixel,
    interleaved,
    precisions_for,
    roofline,
)

SCALE = 4


def _network_path(model: torch.nn.Module, x: torch.Tensor, precision: str, device: torch.device):
    def run() -> None:
        with torch.no_grad(), autocast(device, precision):
            model(x)
    return run


def run(report: Report, device: torch.device, quick: bool) -> None:
    height, width = (96, 120) if quick else (576, 720)
    rounds = 1 if quick else 3
    spec = GeneratorSpec(scale=SCALE, color="y", frames=5, blocks=2 if quick else 15, features=64)
    model = spec.build().to(device).eval()
    pixels = height * width
    flops = generator_flops_per_pixel(model) * pixels
    report.add(Row("inference", "generator FLOPs per output pixel", flops / pixels, "FLOP",
                   note=f"{spec.blocks} blocks, analytic 2·Σk²·c_in·c_out"))
    roofs = {p: roofline(1, height, width, p, device) for p in precisions_for(device)}
    for p, r in roofs.items():
        report.add(Row("inference", f"roofline {p} (64→64 3×3, {width}×{height})", r.gflops, "GFLOP/s", note=r.how))

    x = torch.rand(1, 5, height, width, device=device)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    model_cl = spec.build().to(device, memory_format=torch.channels_last).eval()
    model_cl.load_state_dict(model.state_dict())
    paths = {"fp32 NCHW eager (naive)": ("fp32", flops, _network_path(model, x, "fp32", device)),
             "fp32 channels_last eager": ("fp32", flops, _network_path(model_cl, x_cl, "fp32", device))}
    for p in roofs:
        if p != "fp32":
            paths[f"{p} autocast channels_last eager"] = (p, flops, _network_path(model_cl, x_cl, p, device))
    if not quick:
        # freezing lets Inductor pre-pack the weights and fuse conv + ReLU through oneDNN.
        compiled = torch.compile(model_cl, options={"freezing": True})
        best = "bf16" if "bf16" in roofs else "fp32"
        paths[f"{best} channels_last torch.compile"] = (best, flops, _network_path(compiled, x_cl, best, device))
        ort = _onnxruntime_path(model, x, device)
        if ort is not None:
            paths["fp32 ONNX Runtime (CPU provider)"] = ("fp32", flops, ort)
    up = Upscaler(model_cl, spec, device, tile=0)  # as load_model builds it: channels_last
    paths[f"product: Upscaler default ({up.precision})"] = (up.precision, flops, lambda: up._forward(x))
    for name, (secs, own, fp32) in against(roofs, paths, rounds, device).items():
        report.add(Row("inference", name, 1 / secs, "frame/s", own, fp32))

    # End to end: LR frames in, RGB SR frames out, through the product's stream (bicubic, colour).
    frames = 4 if quick else 8
    lr = [torch.randint(0, 256, (3, height // SCALE, width // SCALE), dtype=torch.uint8) for _ in range(frames)]
    e2e = interleaved({"stream": lambda: [f.rgb for f in up.stream(iter(lr))]}, rounds, device)["stream"]
    report.add(Row("inference", f"end to end, Upscaler.stream ({up.precision})", frames / e2e, "frame/s",
                   note="LR uint8 RGB in, SR RGB out: bicubic, colour and network"))

    # Tiling: one frame in tiles of 256 (overlap = receptive radius) against the whole frame.
    tile = 64 if quick else 256
    tiled = Upscaler(model_cl, spec, device, up.precision, tile=tile)
    secs = interleaved({"whole": lambda: up._forward(x), "tiled": lambda: tiled._forward(x)}, rounds, device)
    rf = model.receptive_radius
    report.add(Row("inference", f"tiling overhead, tile {tile} + overlap {rf}", secs["tiled"] / secs["whole"], "× time",
                   note=f"analytic extra area {_tiled_area(height, width, tile, rf) / pixels:.2f}×"))


def _onnxruntime_path(model: torch.nn.Module, x: torch.Tensor, device: torch.device):
    """The network exported to ONNX and run by ONNX Runtime's CPU provider (None if not installed)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    if device.type != "cpu":
        return None
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/vsrresnet.onnx"
        torch.onnx.export(model, (x,), dynamo=True, verbose=False).save(path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}
    return lambda: session.run(None, feed)


def _tiled_area(height: int, width: int, tile: int, overlap: int) -> int:
    """Pixels the network computes when a frame is cut into overlapping tiles (as tiled_apply does)."""
    total = 0
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            h = min(top + tile + overlap, height) - max(top - overlap, 0)
            w = min(left + tile + overlap, width) - max(left - overlap, 0)
            total += h * w
    return total
