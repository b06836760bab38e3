"""Peak memory of `savsr upscale` against the length of the video: streaming keeps it flat.

Each clip is 32×24 H.264, super-resolved ×2 by a tiny random-weight generator (the frames are
what is measured, not the network) into an MP4, in a child process whose peak RSS is read from
its rusage. The figure in docs/reliability.md comes from:

    nice -n 19 .venv/bin/python scripts/stream_memory.py --frames 300 3000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "robustness"))
from robust_helpers import upscale_peak_rss  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[300, 3000], help="clip lengths (default 300 3000)")
    args = parser.parse_args()
    print("| frames | frames written | peak RSS (MB) |")
    print("|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.frames:
            peak, written = upscale_peak_rss(Path(tmp), n)
            print(f"| {n} | {written} | {peak:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
