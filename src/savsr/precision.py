"""Which precision the hardware computes natively, and the one that a request for a precision gets.

One rule for inference, evaluation and training: ``auto`` takes bf16 only where the device computes
it natively. Asked for explicitly where it is not native, bf16 is not emulated (PyTorch's emulated
bf16 convolutions on an AVX2 CPU run about 10× slower than fp32, docs/performance.md): the work
runs in fp32 and a :class:`~savsr.errors.PrecisionFallback` warning says so in one line.
"""

from __future__ import annotations

import importlib.util
import os
import warnings

import torch

from .errors import ParameterError, PrecisionFallback

PRECISIONS = ("fp32", "bf16", "fp16", "int8")

# The dtype each precision computes in under PyTorch's autocast; None: fp32, autocast off (int8
# runs in OpenVINO; what PyTorch computes beside it, the global skip, is fp32).
AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16,
                                                   "int8": None}

# The CPU flags (Linux /proc/cpuinfo) of native bf16 arithmetic: AVX512-BF16's dot products
# (AMD Zen 4 and 5, Intel Cooper Lake and later Xeons) or AMX's tiles (Sapphire Rapids and later).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")

# oneDNN's ISA names from the first that computes bf16 natively on (ONEDNN_MAX_CPU_ISA caps them).
_ONEDNN_BF16_ISAS = {"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512", "AVX512_CORE_AMX",
                     "AVX10_1_512_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX_FP16", "ALL", ""}


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them; empty where there is no /proc/cpuinfo (macOS, Windows)."""
    try:
        with open("/proc/cpuinfo") as fh:
            return set(next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), []))
    except OSError:
        return set()


def onednn_cap() -> str:
    """oneDNN's cap on its instruction set (``ONEDNN_MAX_CPU_ISA``, or its old name
    ``DNNL_MAX_CPU_ISA``), upper case; empty where there is none."""
    return os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "")).strip().upper()


def missing_bf16_isa() -> str | None:
    """Why this CPU has no native bf16 (a sentence naming the missing ISA), or None where it has it.

    A cap on oneDNN's instruction set (``ONEDNN_MAX_CPU_ISA=AVX2``, oneDNN's own setting, which
    PyTorch's convolutions obey) counts as the hardware: under it bf16 would be emulated.
    """
    flags = cpu_flags()
    if not any(f in flags for f in BF16_FLAGS):
        return "this CPU has no native bf16 (neither AVX512-BF16 nor AMX-BF16)"
    cap = onednn_cap()
    if cap not in _ONEDNN_BF16_ISAS:
        return f"ONEDNN_MAX_CPU_ISA={cap} leaves out the CPU's native bf16"
    return None


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX) and oneDNN may use it."""
    return missing_bf16_isa() is None


def nncf_available() -> bool:
    """True when the ``nncf`` package (which quantizes for int8) is installed; found, not imported,
    as importing it takes seconds."""
    return importlib.util.find_spec("nncf") is not None


def _unsupported(precision: str, device: torch.device) -> str | None:
    """Why ``device`` does not compute ``precision`` natively, or None where it does."""
    if precision == "fp32":
        return None
    if device.type == "cpu":
        return missing_bf16_isa() if precision == "bf16" else None  # fp16 on a CPU is refused outright
    if device.type == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
        return f"GPU {torch.cuda.get_device_name(device)} has no bf16"
    return None


def default_precision(device: torch.device) -> str:
    """fp32, bf16 or fp16: the fastest that keeps quality on ``device`` (docs/performance.md)."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and cpu_has_bf16():
        return "bf16"
    return "fp32"


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision that ``precision`` ("auto", "fp32", "bf16", "fp16" or "int8") computes in on ``device``.

    ``auto`` is :func:`default_precision` (the Upscaler may take int8 for a model measured to
    keep its quality, infer/quantize.py); bf16 where the device lacks it natively is fp32, with a
    one-line :class:`PrecisionFallback` warning; fp16 on a CPU and int8 off one are refused (a
    ParameterError), as is int8 without the ``nncf`` package that quantizes.
    """
    if precision == "auto":
        return default_precision(device)
    if precision not in PRECISIONS:
        raise ParameterError("precision", f"{{param}} {precision!r}: expected auto, {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type == "cpu":
        raise ParameterError("precision", "{param} fp16 needs a GPU; on the CPU use fp32, bf16 or int8")
    if precision == "int8":
        if device.type != "cpu":
            raise ParameterError("precision", f"{{param}} int8 runs on the CPU (through OpenVINO), not {device.type}")
        if not nncf_available():
            raise ParameterError("precision", "{param} int8 needs the nncf package, which quantizes the model: "
                                              "pip install 'savsr[int8]'")
        return precision
    if (why := _unsupported(precision, device)) is not None:
        warnings.warn(PrecisionFallback(f"{precision} asked for, computing in fp32: {why}"), stacklevel=2)
        return "fp32"
    return precision
