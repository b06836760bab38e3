"""The ``savsr`` command line. Each subcommand parses its arguments and calls the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

from . import __version__
from .errors import SavsrError

DEMO_FRAME = "bedroom_0000.png"


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _odd_window(text: str) -> int:
    value = int(text)
    if value < 1 or value % 2 == 0:
        raise argparse.ArgumentTypeError(f"must be a positive odd integer, got {text}")
    return value


def _cmd_maps(args: argparse.Namespace) -> int:
    from .data.io import read_frame
    from .figures import save_activity_figure

    image = read_frame(args.image, args.frame)
    out = save_activity_figure(image, args.output, args.delta, args.window, args.overwrite)
    print(f"wrote {out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .data.io import read_frame
    from .figures import save_activity_figure

    sample = files("savsr") / "assets" / DEMO_FRAME
    out = Path(args.output_dir) / "fig1_activity_maps.png"
    save_activity_figure(read_frame(Path(str(sample))), out, overwrite=True)
    print(f"wrote {out} (Fig. 1: the bundled frame, W and 1 − W)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="savsr",
        description="Video super-resolution with spatially adaptive GAN losses (Wang et al., ICASSP 2019).",
    )
    parser.add_argument("--version", action="version", version=f"savsr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    maps = sub.add_parser("maps", help="draw the spatial-activity maps of Fig. 1 for an image or video frame")
    maps.add_argument("image", metavar="IMAGE", help="an image file, or a video (see --frame)")
    maps.add_argument("-o", "--output", required=True, metavar="OUT.png", help="figure to write")
    maps.add_argument("--delta", type=_positive_float, default=0.01, help="δ of Eq. 3 (default 0.01)")
    maps.add_argument("--window", type=_odd_window, default=3, help="local-variance window side (default 3)")
    maps.add_argument("--frame", type=int, default=0, help="frame index when IMAGE is a video (default 0)")
    maps.add_argument("--overwrite", action="store_true", help="replace OUT.png if it exists")
    maps.set_defaults(func=_cmd_maps)

    demo = sub.add_parser("demo", help="run the demo on the bundled sample (what `make demo` runs)")
    demo.add_argument("-o", "--output-dir", default="demo_output", help="folder for the results")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``savsr`` command; returns the exit status (2 for a usage or input error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except SavsrError as exc:
        print(f"savsr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("savsr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
