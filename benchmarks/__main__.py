"""Run the benchmark suite: ``python -m benchmarks [--quick] [--only SECTION,...] [--json PATH]``.

Prints one table (every speed also as a fraction of the roofline measured in the same run) and
writes it as JSON. ``--quick`` shrinks every size so the suite runs in seconds: a smoke test,
not a measurement.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

import torch

from .common import HEADER, Report, machine_info

# memory first: a child's peak RSS includes the parent's at fork time, so the parent must still be small.
SECTIONS = ("memory", "inference", "int8", "training", "data", "evaluation")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the suite runs, measures nothing")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections ({', '.join(SECTIONS)})")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--memory-frames", type=int, nargs="+", metavar="N",
                        help="video lengths of the memory section (default 100 1000)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results.json"), help="where to write the results")
    args = parser.parse_args(argv)
    asked = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sorted(asked - set(SECTIONS))
    sections = [s for s in SECTIONS if s in asked]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    device = torch.device(args.device)
    report = Report(machine_info(), args.quick)
    print(f"machine: {report.machine}", flush=True)
    print(HEADER, flush=True)
    for name in sections:
        extra = {"frames": tuple(args.memory_frames)} if name == "memory" and args.memory_frames else {}
        importlib.import_module(f".{name}", __package__).run(report, device, args.quick, **extra)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json.with_name(f".{args.json.name}.part")
    tmp.write_text(report.to_json())
    os.replace(tmp, args.json)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
