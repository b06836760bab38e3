"""Fuzz savsr's frame readers with mutated images and videos; print a table of outcomes.

Every case must either decode or be refused with a one-line SavsrError naming the file; a
crash, a hang (over 20 s), any other exception or decoder output on stderr counts as a failure.
The figures in docs/reliability.md come from:

    nice -n 19 .venv/bin/python scripts/fuzz_readers.py --cases 10000 --seed 0

Exit status 1 if any case failed; the failures are listed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import Phase, given, seed, settings
from hypothesis import strategies as st

from fuzzing import ReaderWorker, cases, check, make_seeds, write_case


def campaign(n: int, rng_seed: int, folder: Path, keep: Path | None = None) -> tuple[Counter, list[str]]:
    """Run ``n`` cases; return the count per (seed file, outcome) and the failures (whose files
    are copied into ``keep`` when given)."""
    seeds = make_seeds(folder / "seeds")
    tally: Counter = Counter()
    failures: list[str] = []
    with ReaderWorker() as worker:

        @seed(rng_seed)
        @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate])
        @given(data=st.data())
        def one(data) -> None:
            case = data.draw(cases(seeds))
            index = sum(tally.values())
            path = write_case(case, folder, index)
            result = worker.read(path)
            problem = check(path, result)
            tally[case.seed, "failed" if problem else result.outcome] += 1
            if problem:
                failures.append(f"case {index}: {case.describe()}: {problem}")
                if keep is not None:
                    keep.mkdir(parents=True, exist_ok=True)
                    (keep / path.name).write_bytes(case.data)
            path.unlink()

        one()
    return tally, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="number of cases (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the case generator (default 0)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="copy the files of failed cases here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tally, failures = campaign(args.cases, args.seed, Path(tmp), args.keep)
    outcomes = ("ok", "error", "failed")
    print("| seed file | cases | decoded | refused (one-line SavsrError) | failed |")
    print("|---|---:|---:|---:|---:|")
    for name in sorted({s for s, _ in tally}):
        row = [tally[name, o] for o in outcomes]
        print(f"| {name} | {sum(row)} | " + " | ".join(map(str, row)) + " |")
    totals = [sum(v for (s, o), v in tally.items() if o == outcome) for outcome in outcomes]
    print(f"| **all** | **{sum(totals)}** | " + " | ".join(f"**{v}**" for v in totals) + " |")
    for line in failures:
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
