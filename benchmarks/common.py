"""Shared pieces of the benchmark suite: interleaved timing, the convolution roofline, the report.

These machines are shared and noisy, so no speed is reported alone: each is a ratio to the
roofline measured in the same run, and every path is timed in rounds interleaved with its
roofline, so a burst of outside load slows both sides of a ratio rather than one.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from savsr.precision import AUTOCAST_DTYPES, cpu_flags, cpu_has_bf16



@dataclass
class Row:
    """One measured quantity. For a speed, ``roofline`` is its fraction of the fastest 64→64
    convolution any engine reached at its precision in the same run, and ``peak`` its fraction of
    the CPU's peak FLOP/s at its precision (None where not a speed or not measured)."""

    section: str
    name: str
    value: float
    unit: str
    roofline: float | None = None
    peak: float | None = None
    note: str = ""


@dataclass
class Report:
    machine: dict[str, str | int | bool]
    quick: bool
    rows: list[Row] = field(default_factory=list)

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)
        for row in rows:
            print(format_row(row), flush=True)

    def value(self, section: str, name: str) -> float:
        return next(r.value for r in self.rows if r.section == section and r.name == name)

    def to_json(self) -> str:
        return json.dumps({"machine": self.machine, "quick": self.quick, "rows": [asdict(r) for r in self.rows]}, indent=2)


def format_row(row: Row) -> str:
    frac = lambda f: "" if f is None else f"{f:6.2f}"  # noqa: E731
    return f"| {row.section:<9} | {row.name:<50} | {row.value:12.4g} {row.unit:<10} | {frac(row.roofline):>6} | {frac(row.peak):>6} | {row.note}"


HEADER = (
    f"| {'section':<9} | {'measure':<50} | {'value':>12} {'unit':<10} | {'/conv':>6} | {'/peak':>6} | note\n"
    f"|{'-' * 11}|{'-' * 52}|{'-' * 25}|{'-' * 8}|{'-' * 8}|------"
)


def _amd_core(family: int, model: int) -> str:
    """The Zen generation of an AMD CPU family/model ("AMD EPYC" alone hides it), or ""."""
    if family == 26:
        return "Zen 5"
    if family == 25:
        return "Zen 4" if 0x10 <= model <= 0x1F or 0x60 <= model <= 0xAF else "Zen 3"
    return "Zen 2" if family == 23 else ""


# Intel family-6 models of the server cores this project has met or may meet (a virtual machine's
# "Intel(R) Xeon(R) Processor" hides the generation, and with it whether AMX is there).
_INTEL_CORES = {0x55: "Skylake/Cascade/Cooper Lake", 0x6A: "Ice Lake", 0x8F: "Sapphire Rapids",
                0xCF: "Emerald Rapids", 0xAD: "Granite Rapids"}


def machine_info() -> dict[str, str | int | bool]:
    """CPU model (with its generation: Zen on AMD, the Xeon's on Intel), cores, torch build, vector
    ISA and native bf16."""
    model = platform.processor() or "unknown"
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = ln.partition(":")
            fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name", model)
    if fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family", "").isdigit():
        core = _amd_core(int(fields["cpu family"]), int(fields.get("model", "0")))
        model += f" ({core})" if core else ""
    elif fields.get("vendor_id") == "GenuineIntel" and fields.get("cpu family") == "6" and fields.get("model", "").isdigit():
        model += f" ({_INTEL_CORES.get(int(fields['model']), 'model ' + fields['model'])})"
    flags = cpu_flags()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "other"
    info: dict[str, str | int | bool] = {
        "cpu": model,
        "isa": isa + (", AVX512-BF16" if "avx512_bf16" in flags else "") + (", AMX" if "amx_bf16" in flags else "")
        + (f", oneDNN capped at {os.environ['ONEDNN_MAX_CPU_ISA']}" if os.environ.get("ONEDNN_MAX_CPU_ISA") else ""),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16": cpu_has_bf16(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, device: torch.device, warmup: int = 1,
                reduce: Callable[[list[float]], float] = statistics.median) -> dict[str, float]:
    """Seconds per call of each function (the median over rounds, or ``reduce``'s), timed
    round-robin so that load changes hit all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync(device)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {k: reduce(v) for k, v in times.items()}


def conv_flops(batch: int, height: int, width: int, cin: int = 64, cout: int = 64, k: int = 3) -> int:
    """Multiply-adds ×2 of one k×k convolution (stride 1, same padding) over a batch of maps."""
    return 2 * k * k * cin * cout * batch * height * width


def generator_flops_per_pixel(model: nn.Module) -> int:
    """Analytic FLOPs per output pixel of a fully convolutional, stride-1 network: 2·Σ k²·c_in·c_out."""
    return sum(2 * m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    dtype = AUTOCAST_DTYPES[precision]
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        yield


def conv_candidates(batch: int, height: int, width: int, precision: str, device: torch.device,
                    backward: bool = False) -> dict[str, Callable[[], object]]:
    """Ways to run the dominant 64→64 3×3 convolution at one precision: PyTorch's layouts × dtype
    handling and, for inference on a CPU, OpenVINO and ONNX Runtime where installed.

    With ``backward``, each call is forward + backward (input and weight gradients), which is
    what a training step does per convolution (3× the forward FLOPs).
    """
    dtype = AUTOCAST_DTYPES[precision]
    out: dict[str, Callable[[], object]] = {}
    for layout, fmt in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        conv = nn.Conv2d(64, 64, 3, padding=1).to(device, memory_format=fmt)
        x = torch.randn(batch, 64, height, width, device=device).contiguous(memory_format=fmt)
        variants = {"autocast": (conv, x)}
        if dtype is not None:
            variants[f"{precision} tensors"] = (nn.Conv2d(64, 64, 3, padding=1).to(device, dtype, memory_format=fmt),
                                                x.to(dtype).contiguous(memory_format=fmt))
        for how, (c, xi) in variants.items():
            label = f"{layout}" if dtype is None else f"{layout}, {how}"
            if backward:
                xi = xi.detach().requires_grad_(True)

                def step(c=c, xi=xi) -> None:
                    with autocast(device, precision):
                        y = c(xi)
                    y.backward(torch.ones_like(y))
                out[label] = step
            else:
                def fwd(c=c, xi=xi) -> None:
                    with torch.no_grad(), autocast(device, precision):
                        c(xi)
                out[label] = fwd
    if not backward and device.type == "cpu":
        out.update(engine_convs(batch, height, width, precision))
    return out


ENGINE_CHAIN = 8  # convolutions per call in the other engines (see engine_convs)


def engine_convs(batch: int, height: int, width: int, precision: str) -> dict[str, Callable[[], object]]:
    """The 64→64 3×3 convolution in the other CPU engines installed: OpenVINO (fp32, bf16) and
    ONNX Runtime (fp32), each fed the same NCHW fp32 array, outputs left in the engine's buffers.

    Each call runs ENGINE_CHAIN convolutions in a row, as inside a network: a single one would
    also pay for converting its input and output to and from the engine's own layout and dtype,
    which a network pays once per call, not once per convolution.
    """
    chain = nn.Sequential(*(nn.Conv2d(64, 64, 3, padding=1) for _ in range(ENGINE_CHAIN))).eval()
    x = torch.randn(batch, 64, height, width).numpy()
    out: dict[str, Callable[[], object]] = {}
    from savsr.infer.engine import OpenVINOEngine, openvino_available

    if openvino_available() and batch == 1 and precision in ("fp32", "bf16"):
        request = OpenVINOEngine(chain, 64, precision).request
        out[f"OpenVINO ({ENGINE_CHAIN} chained)"] = lambda: request.infer({0: x}, share_outputs=True)
    ort = onnxruntime_session(chain, torch.from_numpy(x)) if precision == "fp32" else None
    if ort is not None:
        out[f"ONNX Runtime ({ENGINE_CHAIN} chained)"] = ort
    return out


def onnxruntime_session(model: nn.Module, x: torch.Tensor) -> Callable[[], object] | None:
    """``model`` exported to ONNX and run by ONNX Runtime's CPU provider on ``x`` (None if not installed)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    import logging
    import tempfile
    import warnings

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # its notes on torchvision's operators
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = f"{tmp}/model.onnx"
        torch.onnx.export(model, (x,), dynamo=True, verbose=False).save(path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}
    return lambda: session.run(None, feed)


@dataclass
class Roofline:
    """The best GFLOP/s of the 64→64 3×3 convolution at one shape and precision, and how."""

    precision: str
    gflops: float
    how: str
    fn: Callable[[], object]
    flops: int


def roofline(batch: int, height: int, width: int, precision: str, device: torch.device,
             backward: bool = False, rounds: int = 3) -> Roofline:
    """Pick the fastest layout/dtype handling of the dominant convolution for ``precision``."""
    cands = conv_candidates(batch, height, width, precision, device, backward)
    flops = conv_flops(batch, height, width) * (3 if backward else 1)
    per_call = {k: flops * (ENGINE_CHAIN if "chained" in k else 1) for k in cands}
    secs = interleaved(cands, rounds, device)
    best = max(secs, key=lambda k: per_call[k] / secs[k])
    return Roofline(precision, per_call[best] / secs[best] / 1e9, best, cands[best], per_call[best])


def against(rooflines: dict[str, Roofline], paths: dict[str, tuple[str, int, Callable[[], object]]],
            rounds: int, device: torch.device, peaks: dict[str, float] | None = None
            ) -> dict[str, tuple[float, float, float | None]]:
    """Time ``paths`` (name → (precision, flops, fn)) interleaved with their rooflines.

    Returns name → (seconds per call, fraction of its precision's roofline, fraction of its
    precision's peak GFLOP/s in ``peaks``, None without).
    Each roofline call repeats the convolution until it does as many FLOPs as the paths, so both
    sides of a ratio span the same stretch of time and meet the same outside load; each fraction
    is the median over rounds of the ratio within a round.
    """
    reps = {p: max(1, round(max((f for q, f, _ in paths.values() if q == p or p == "fp32"), default=0) / r.flops))
            for p, r in rooflines.items()}

    def repeated(fn: Callable[[], object], n: int) -> Callable[[], None]:
        def run() -> None:
            for _ in range(n):
                fn()
        return run

    fns: dict[str, Callable[[], object]] = {f"roof:{p}": repeated(r.fn, reps[p]) for p, r in rooflines.items()}
    fns.update({name: fn for name, (_, _, fn) in paths.items()})
    for fn in fns.values():
        fn()
    per_round: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, v in interleaved(fns, 1, device, warmup=0).items():
            per_round[k].append(v)

    def fractions(rate: list[float], prec: str) -> list[float]:
        roof = [reps[prec] * rooflines[prec].flops / t for t in per_round[f"roof:{prec}"]]
        return [a / b for a, b in zip(rate, roof)]

    result = {}
    for name, (prec, flops, _) in paths.items():
        secs = per_round[name]
        rates = [flops / s for s in secs]
        peak = statistics.median(rates) / 1e9 / peaks[prec] if peaks and prec in peaks else None
        result[name] = (statistics.median(secs), statistics.median(fractions(rates, prec)), peak)
    return result


def precisions_for(device: torch.device) -> list[str]:
    """fp32 always; bf16 on a CPU with native bf16 or on a GPU; fp16 on a GPU."""
    if device.type == "cuda":
        return ["fp32", "bf16", "fp16"]
    return ["fp32", "bf16"] if cpu_has_bf16() else ["fp32"]
