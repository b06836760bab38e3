"""The suite itself: real data is skipped with its path named, or required (SAVSR_REQUIRE_DATA=1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import require


def test_missing_data_skips_naming_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAVSR_REQUIRE_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nothing-here"):
        require(tmp_path / "nothing-here")
    assert require(tmp_path) == tmp_path


def test_missing_data_fails_when_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAVSR_REQUIRE_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match="nothing-here.*SAVSR_REQUIRE_DATA=1"):
        require(tmp_path / "nothing-here")


def test_ci_requires_the_data() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "export SAVSR_REQUIRE_DATA=1" in ci and ci.rstrip().endswith("make test")
