"""The CPU's peak FLOP/s in fp32 and bf16, and OP/s in int8: cores × clock × per cycle, measured by peak.c.

The microkernel is compiled here with the host's C compiler (-march=native, OpenMP; without AVX-512
under a oneDNN cap below it, such as ONEDNN_MAX_CPU_ISA=AVX2, which OpenVINO's and PyTorch's CPU
kernels obey: the peak is that of the instructions the engines may use) and run on as many threads
as PyTorch uses. Its clock comes from a chain of dependent adds, its FLOP per cycle
from independent FMA (fp32) and dot-product (bf16) chains on the widest vector registers. The
FLOP per cycle of a core is a power of two (vector width × pipes × 2), so the measured value is
rounded to one: outside load on a shared machine can only lower a measurement, and the peak is
the cores' limit, not what they were left to do that second. On the Zen 5: 64 fp32
FLOP/cycle (two 512-bit FMA pipes) and 128 bf16 FLOP/cycle (two 512-bit vdpbf16ps pipes). Where
the CPU has AMX (Intel Sapphire Rapids and later) and oneDNN may use it, the bf16 and int8 peaks
are its tile units' (1,024 bf16 FLOP and 2,048 int8 OP per cycle per core on an Emerald Rapids
Xeon, 16× and 8× its vector units'), since oneDNN's convolutions run on them there. int8
counts a multiply and an add as 2 OP, as FLOPs do, so that a convolution's FLOP count divided by
its time compares with it directly; without VNNI its three-instruction sequence has no
power-of-two rate per cycle, and its measured rate is taken as the peak (on a Zen 4 built for
AVX2 only: 41-42 OP/cycle against 32 fp32 FLOP/cycle). That one is a floor, not the limit:
OpenVINO's AVX2 int8 kernel ran at 1.2 of it (docs/performance.md, int8).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from savsr.precision import cpu_has_bf16, onednn_cap

from .common import Report, Row

SOURCE = Path(__file__).with_name("peak.c")


@dataclass(frozen=True)
class Peak:
    """Peak GFLOP/s per precision and how they were derived."""

    threads: int
    clock_ghz: float
    gflops: dict[str, float]  # "fp32", "int8" (GOP/s), and "bf16" where the CPU has it: cores × clock × per cycle
    flop_per_cycle: dict[str, float]  # per core, a power of two
    microkernel: dict[str, float]  # GFLOP/s the microkernel itself reached
    int8_isa: str = ""  # the instructions of the int8 loop
    amx: bool = False  # the bf16 and int8 peaks are AMX's tile units'

    def describe(self, precision: str) -> str:
        loops = {"fp32": "FMA loop", "bf16": "tdpbf16ps loop" if self.amx else "vdpbf16ps loop",
                 "int8": "tdpbusd loop" if self.amx else f"{self.int8_isa} loop"}
        unit, loop = ("OP" if precision == "int8" else "FLOP"), loops[precision]
        return (f"{self.threads} cores × {self.clock_ghz:.2f} GHz × {self.flop_per_cycle[precision]:.0f} {unit}/cycle "
                f"(benchmarks/peak.c; its {loop} reached {self.microkernel[precision]:.0f})")


# oneDNN's names of the caps below AVX-512 that still have AVX2 (its ONEDNN_MAX_CPU_ISA values).
_AVX2_CAPS = {"AVX2", "AVX2_VNNI", "AVX2_VNNI_2"}


def march_flags() -> list[str]:
    """The microkernel's -march flags: the host's, less AVX-512 (and AMX) where oneDNN is capped at AVX2."""
    return ["-march=native"] + (["-mno-avx512f", "-mno-amx-tile"] if onednn_cap() in _AVX2_CAPS else [])


def _amx_allowed() -> bool:
    """True unless a oneDNN cap stops short of AMX (such as AVX512_CORE_BF16)."""
    cap = onednn_cap()
    return cap in ("", "ALL") or "AMX" in cap


def cpu_peak() -> Peak | None:
    """The CPU's measured peak, or None where no C compiler or no x86-64 vector unit is available."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        return None
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "peak"
        built = subprocess.run([cc, "-O2", *march_flags(), "-fopenmp", str(SOURCE), "-o", str(exe)],
                               capture_output=True, text=True)
        if built.returncode != 0:
            return None
        out = subprocess.run([str(exe)], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if out.returncode != 0:
        return None
    r = json.loads(out.stdout)
    amx = r.get("amx_bf16_gflops", 0) > 0 and _amx_allowed()
    bf16, int8 = (r["amx_bf16_gflops"], r["amx_int8_gops"]) if amx else (r["bf16_gflops"], r["int8_gops"])
    # bf16 only where savsr computes in it: not under a cap such as ONEDNN_MAX_CPU_ISA=AVX2.
    native = bf16 > 0 and cpu_has_bf16()
    gflops = {"fp32": r["fp32_gflops"]} | ({"bf16": bf16} if native else {}) | {"int8": int8}
    measured = {p: g / (r["threads"] * r["clock_ghz"]) for p, g in gflops.items()}
    # A three-instruction int8 sequence (no VNNI) has no power-of-two rate: its measured rate is the peak.
    exact = amx or "vpdpbusd" in r["int8_isa"]
    per_cycle = {p: m if p == "int8" and not exact else 2.0 ** round(math.log2(m)) for p, m in measured.items()}
    peak = {p: r["threads"] * r["clock_ghz"] * per_cycle[p] for p in gflops}
    return Peak(r["threads"], r["clock_ghz"], peak, per_cycle, gflops, r["int8_isa"], amx)


def add_peak_rows(report: Report, section: str, device: torch.device) -> dict[str, float] | None:
    """Measure the CPU's peak and report it; None on a GPU or without a C compiler."""
    peak = cpu_peak() if device.type == "cpu" else None
    if peak is not None:
        for p, g in peak.gflops.items():
            report.add(Row(section, f"CPU peak {p}", g, "GOP/s" if p == "int8" else "GFLOP/s", note=peak.describe(p)))
    return peak.gflops if peak is not None else None
