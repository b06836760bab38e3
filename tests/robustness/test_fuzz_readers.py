"""Truncated, garbled and mislabelled images and videos: every reader decodes them or refuses
them with a one-line SavsrError naming the file; none hangs, crashes or prints.

The quick run here takes 200 cases; scripts/fuzz_readers.py runs the long campaign of
docs/reliability.md with the same case generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.fuzzing import ReaderWorker, cases, check, make_seeds, write_case

QUICK_CASES = 200


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def seeds(folder: Path) -> dict[str, bytes]:
    return make_seeds(folder / "seeds")


@pytest.fixture(scope="module")
def worker() -> Iterator[ReaderWorker]:
    with ReaderWorker() as w:
        yield w


def test_seeds_decode_whole(seeds: dict[str, bytes], folder: Path, worker: ReaderWorker) -> None:
    """The unmutated seeds read back, so the mutated cases start from files that work."""
    assert sorted(seeds) == ["clip.mkv", "clip.mp4", "deep.png", "grey.png", "rgb.jpg", "rgb.png", "rgb.tif"]
    for name, data in seeds.items():
        path = folder / f"whole_{name}"
        path.write_bytes(data)
        result = worker.read(path)
        assert (result.outcome, result.stderr) == ("ok", ""), (name, result)


def test_a_garbled_file_is_refused_in_one_line(folder: Path, worker: ReaderWorker) -> None:
    path = folder / "garbage.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\xa5" * 500)
    result = worker.read(path)
    assert result.outcome == "error" and check(path, result) is None, result


@settings(max_examples=QUICK_CASES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_mutated_files_decode_or_fail_cleanly(data, seeds: dict[str, bytes], folder: Path, worker: ReaderWorker) -> None:
    case = data.draw(cases(seeds))
    path = write_case(case, folder, 0)
    result = worker.read(path)
    assert check(path, result) is None, case.describe()
