"""Paths: outputs stay inside the path given, whatever the inputs are called; inputs with spaces,
non-ASCII letters or a leading dash work (the dash after `--`, or as ./-name)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robust_helpers import tiny_generator, write_clip
from savsr.cli import main


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_generator(tmp_path_factory.mktemp("m") / "tiny_x2.safetensors")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_odd_input_names_work(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("clip with spaces.mp4", "vidéo_ñ_動画.mkv", "-clip.mp4"):
        write_clip(tmp_path / name, 4)
    m = ["--model", str(model), "--device", "cpu"]
    assert main(["upscale", "clip with spaces.mp4", "-o", "out 1.mp4", *m]) == 0
    assert main(["upscale", "vidéo_ñ_動画.mkv", "-o", "sortie_é.mkv", *m]) == 0
    # A leading dash: after `--` (options first), or as ./-clip.mp4; `-o` takes it attached.
    assert main(["upscale", "-o", "out 2.mp4", *m, "--", "-clip.mp4"]) == 0
    assert main(["upscale", "./-clip.mp4", "-o", "out 3.mp4", *m]) == 0
    assert main(["upscale", "./-clip.mp4", "-o-out.mp4", *m]) == 0
    assert main(["upscale", "./-clip.mp4", "--output=-out2.mp4", *m]) == 0
    for out in ("out 1.mp4", "sortie_é.mkv", "out 2.mp4", "out 3.mp4", "-out.mp4", "-out2.mp4"):
        assert (tmp_path / out).stat().st_size > 0, out


def test_a_bare_leading_dash_is_a_usage_error(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    write_clip(tmp_path / "-clip.mp4", 2)
    with pytest.raises(SystemExit) as exit_info:
        main(["upscale", "-clip.mp4", "-o", "out.mp4", "--model", str(model)])
    assert exit_info.value.code == 2
    assert "required: INPUT" in capsys.readouterr().err  # argparse's usage line and message, no traceback
    assert not (tmp_path / "out.mp4").exists()


def test_upscaled_frames_stay_in_the_output_folder(model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(("x..png", "-1.png", "a b.png", "ü.png")):
        Image.fromarray(np.full((8, 10, 3), 40 * i, np.uint8)).save(src / name)
    before = _files(tmp_path)
    out = tmp_path / "out"
    assert main(["upscale", str(src), "-o", str(out), "--model", str(model), "--device", "cpu"]) == 0
    assert _files(tmp_path) - before == {out, *(out / f"{i:08d}.png" for i in range(4))}


def test_dataset_scene_names_cannot_leave_the_dataset(tmp_path: Path) -> None:
    """Scene files are named after their sources: '..', dots, slashes in a parent's name, a
    leading dash and non-ASCII letters all stay inside DATASET/scenes."""
    work = tmp_path / "work"
    sources = [work / "x" / "..", work / "-dash", work / "é ü", work / ".hidden"]
    for s in sources:
        s.mkdir(parents=True, exist_ok=True)
        for t in range(2):
            Image.fromarray(np.full((8, 8, 3), 50 * t, np.uint8)).save(s / f"{t}.png")
    out = tmp_path / "ds"
    before = _files(tmp_path)
    assert main(["prepare", *map(str, sources), "-o", str(out), "--scene-threshold", "0"]) == 0
    new = _files(tmp_path) - before
    assert all(p == out or p.parent in (out, out / "scenes") for p in new), sorted(map(str, new))
    scenes = json.loads((out / "manifest.json").read_text())["scenes"]
    assert [s["name"] for s in scenes] == [".._000", "-dash_000", "scene_000", ".hidden_000"]
