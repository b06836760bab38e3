"""Seconds per frame of several models, end to end, timed in one run on this machine.

    .venv/bin/python scripts/time_per_frame.py --scale 4 --model sa-vsrgan=src/savsr/weights/sa-vsrgan-x4.safetensors \
        --model sa-vsrgan-lr=src/savsr/weights/sa-vsrgan-lr-x4.safetensors -o eval_output/reproduction/x4/speed.json

Each model runs through `savsr.load_model` (the engine and precision `savsr upscale` picks, or
``--precision``) on the same random LR frames, sized so that the output is PAL (720×576); the
models are timed round-robin (benchmarks.common.interleaved), so that a change of load hits all
alike, and each keeps its fastest round: outside load only ever slows a round down. On a shared
host (an Emerald Rapids Xeon, session 27) identical networks' medians differed by 2× within one
run; their fastest rounds still differed by up to 38 %, that host's noise floor.
scripts/reproduce.sh writes the JSON that the LR-space table of docs/reproduction.md reads.
The numbers mean something only on an otherwise idle machine: pause any training first.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from savsr import load_model
from savsr.errors import SavsrError
from savsr.fileio import atomic_output

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import interleaved, machine_info  # noqa: E402

OUTPUT = (576, 720)  # PAL: what a user of the CPU path upscales most (docs/performance.md)


def time_models(models: dict[str, str], scale: int, precision: str, frames: int, rounds: int) -> dict:
    """Seconds per frame of each model (``label -> weights``) through ``Upscaler.stream``, in one run."""
    height, width = OUTPUT
    generator = torch.Generator().manual_seed(0)
    lr = [torch.randint(0, 256, (3, height // scale, width // scale), dtype=torch.uint8, generator=generator)
          for _ in range(frames)]
    ups = {label: load_model(path, device="cpu", precision=precision) for label, path in models.items()}
    for label, up in ups.items():
        if up.spec.scale != scale:
            raise SavsrError(f"{label}: a ×{up.spec.scale} model, not ×{scale}")
    calls = {label: (lambda up=up: [f.rgb for f in up.stream(iter(lr))]) for label, up in ups.items()}
    seconds = interleaved(calls, rounds, torch.device("cpu"), reduce=min)
    info = machine_info()
    return {"cpu": info["cpu"], "threads": torch.get_num_threads(), "output": f"{width}×{height}", "frames": frames,
            "rounds": rounds, "statistic": "fastest round", "scale": scale,
            "models": {label: {"seconds_per_frame": seconds[label] / frames, "backend": ups[label].backend,
                               "precision": ups[label].precision, "weights": models[label]} for label in models}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, choices=(2, 3, 4), required=True)
    parser.add_argument("--model", action="append", required=True, metavar="LABEL=WEIGHTS",
                        help="a label and a bundled model name or generator file; repeat")
    parser.add_argument("--precision", default="auto", help="as savsr upscale's --precision (default auto)")
    parser.add_argument("--frames", type=int, default=8, help="frames per timed call (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="timed calls per model, round-robin (default 3)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="JSON to write")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        models = dict(m.split("=", 1) for m in args.model if "=" in m)
        if len(models) != len(args.model):
            raise SavsrError("--model takes LABEL=WEIGHTS")
        result = time_models(models, args.scale, args.precision, args.frames, args.rounds)
        with atomic_output(args.output, overwrite=args.overwrite) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
    except SavsrError as exc:
        print(f"time_per_frame: error: {exc}", file=sys.stderr)
        return 2
    for label, row in result["models"].items():
        print(f"{label}: {row['seconds_per_frame']:.3f} s/frame ({row['backend']} {row['precision']}, {result['cpu']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
