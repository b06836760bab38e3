"""int8 inference (infer/quantize.py: OpenVINO quantized by NNCF) against fp32 and bf16.

The bundled sa-vsrgan-x4 at 720×576 output: its network alone on one window, as a fraction of the
CPU's int8 peak (benchmarks/peak.c: VNNI dot products where the CPU has them, else AVX2's
sequence) and as a ratio to OpenVINO fp32 and bf16 on the same window; then end to end
(``Upscaler.stream``: LR frames in, RGB frames out), int8 against fp32, in the same run; and the
×4 default, sa-vsrgan-lr-x4, end to end in int8 against the precision ``auto`` would take without
it (bf16 where the CPU has it natively, else fp32). The quantized models go to a throwaway cache,
not the user's.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from unittest import mock

import torch

from savsr.errors import SavsrWarning
from savsr.infer.engine import openvino_available
from savsr.infer.quantize import recipe
from savsr.infer.upscaler import Upscaler, load_model
from savsr.precision import cpu_has_bf16, nncf_available

from .common import Report, Row, generator_flops_per_pixel, interleaved
from .peak import add_peak_rows

MODEL, SCALE = "sa-vsrgan-x4", 4
DEFAULT = "sa-vsrgan-lr-x4"  # the ×4 default, an LR-space network


def run(report: Report, device: torch.device, quick: bool) -> None:
    if device.type != "cpu" or not (openvino_available() and nncf_available()):
        report.add(Row("int8", "int8", float("nan"), "", note="skipped: needs the CPU, openvino and nncf"))
        return
    height, width = (96, 120) if quick else (576, 720)
    rounds, frames = (1, 2) if quick else (3, 4)
    peaks = add_peak_rows(report, "int8", device)
    precisions = ["fp32", "int8"] + (["bf16"] if cpu_has_bf16() else [])
    with tempfile.TemporaryDirectory() as cache, mock.patch.dict(os.environ, SAVSR_CACHE=cache), warnings.catch_warnings():
        warnings.simplefilter("ignore", SavsrWarning)  # "quantizing …", into the throwaway cache
        ups = {p: load_model(MODEL, "cpu", p, tile=0, backend="openvino") for p in precisions}
        x = torch.rand(1, ups["fp32"].spec.frames, height, width)
        for up in ups.values():
            up._forward(x)  # converted, quantized and compiled before timing
        flops = generator_flops_per_pixel(ups["fp32"].model) * height * width
        secs = interleaved({p: (lambda up=up: up._forward(x)) for p, up in ups.items()}, rounds, device)
        for p, up in ups.items():
            report.add(Row("int8", f"{MODEL} network, OpenVINO {p}", 1 / secs[p], "frame/s",
                           peak=flops / secs[p] / 1e9 / peaks[p] if peaks and p in peaks else None,
                           note=f"{width}×{height} out; computes {up.precision}"
                                + (f"; {recipe(up.model)}" if p == "int8" else "")
                                + f"; kernels {up.engine.kernels}"))
        for p in ups:
            if p != "int8":
                report.add(Row("int8", f"int8 / {p}, network", secs[p] / secs["int8"], "×", note="same window, same run"))
        def end_to_end(upscalers: dict[str, Upscaler], clip: list[torch.Tensor]) -> dict[str, float]:
            return interleaved({p: (lambda up=up: [f.rgb for f in up.stream(iter(clip))]) for p, up in upscalers.items()},
                               rounds, device)

        lr = [torch.randint(0, 256, (3, height // SCALE, width // SCALE), dtype=torch.uint8) for _ in range(frames)]
        e2e = {p: ups[p] for p in ("fp32", "int8")}
        t = end_to_end(e2e, lr)
        report.add(Row("int8", "end to end, int8 / fp32", t["fp32"] / t["int8"], "×",
                       note=f"Upscaler.stream, {width}×{height} out, {frames} frames; issue target ≥ 1.6 on AVX2 "
                            f"without VNNI; int8 {frames / t['int8']:.3f} frame/s"))
        other = "bf16" if cpu_has_bf16() else "fp32"
        default = {p: load_model(DEFAULT, "cpu", p, tile=0, backend="openvino") for p in ("int8", other)}
        many = lr * 4  # a fast network: more frames for the same timing resolution
        t = end_to_end(default, many)
        report.add(Row("int8", f"{DEFAULT} end to end, int8 / {other}", t[other] / t["int8"], "×",
                       note=f"Upscaler.stream, {width}×{height} out, {len(many)} frames; int8 {len(many) / t['int8']:.3f}, "
                            f"{other} {len(many) / t[other]:.3f} frame/s; {recipe(default['int8'].model)}"))
