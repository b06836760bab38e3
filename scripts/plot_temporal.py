"""Per-frame tLP of every evaluated method on one sequence, one panel per scale (TecoGAN's plot).

    .venv/bin/python scripts/plot_temporal.py eval_output/reproduction --sequence calendar \
        -o docs/figures/tlp_calendar.png

Reads RESULTS/x{s}/{method}/results.json written by `savsr evaluate --temporal` (as
scripts/reproduce.sh lays them out): tLP of each pair (t − 1, t) against t. Lower is steadier;
a GAN whose invented texture changes from frame to frame shows as a raised, jagged line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reproduction_tables import METHODS, SCALES, load_results

from savsr.errors import SavsrError
from savsr.fileio import atomic_output
from savsr.figures import check_figure_path, plt


def read_tlp(root: Path, sequence: str) -> dict[int, dict[str, tuple[list[int], list[float]]]]:
    """scale -> method label -> (pairs t, tLP) for the results that have temporal scores."""
    found: dict[int, dict[str, tuple[list[int], list[float]]]] = {}
    for s in SCALES:
        for method, label in METHODS.items():
            result = load_results(root, s, method)
            frames = (result or {}).get("per_frame", {}).get(sequence, {})
            if "tlp" in frames:
                found.setdefault(s, {})[label] = (frames["pairs"], frames["tlp"])
    if not found:
        raise SavsrError(f"{root}: no results with per-frame tLP of {sequence!r} (evaluate with --temporal)")
    return found


def plot_temporal(root: Path, sequence: str, out: Path, overwrite: bool = False) -> Path:
    check_figure_path(out, overwrite)
    data = read_tlp(root, sequence)
    fig, axes = plt.subplots(1, len(data), figsize=(5 * len(data), 3.4), squeeze=False)
    for ax, (s, methods) in zip(axes.flat, sorted(data.items())):
        for k, label in enumerate(METHODS.values()):
            if label in methods:  # one colour per method in every panel
                ax.plot(*methods[label], label=label, color=f"C{k}", linewidth=1.2)
        ax.set_title(f"{sequence}, ×{s}")
        ax.set_xlabel("frame t (pair t − 1, t)")
        ax.set_ylabel("tLP")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_output(out, overwrite) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, metavar="RESULTS", help="folder holding x{2,3,4}/METHOD/results.json")
    parser.add_argument("--sequence", default="calendar")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.png")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT.png if it exists")
    args = parser.parse_args(argv)
    try:
        print(f"wrote {plot_temporal(args.results, args.sequence, args.output, args.overwrite)}")
    except SavsrError as exc:
        print(f"plot_temporal: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
