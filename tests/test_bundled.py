"""The bundled models: listed, documented, loadable, and better than bicubic on held-out video."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from safetensors import safe_open

import savsr
from savsr.cli import main
from savsr.errors import ParameterError
from savsr.demo import run_demo
from savsr.infer.upscaler import load_model
from savsr.models.zoo import default_model


def test_listed_with_a_card(capsys: pytest.CaptureFixture) -> None:
    models = {m.name: m for m in savsr.available_models()}
    assert "sa-vsrgan-x4" in models
    m = models["sa-vsrgan-x4"]
    assert m.spec.scale == 4 and m.spec.color == "y" and (m.spec.blocks, m.spec.features) == (15, 64)
    card = m.card.read_text()
    for needle in ("Training data", "steps", "budget", "Metrics", "bicubic"):
        assert needle in card, needle
    with safe_open(str(m.path), framework="pt") as fh:
        assert fh.get_tensor("tail.weight").dtype.itemsize == 2  # fp16 on disk
    assert main(["models"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("sa-vsrgan-x4 "))
    # Its kind, and its FLOPs per output pixel (2·Σk²·c_in·c_out = 2,218,752 for VSRResNet) in GFLOP per megapixel.
    assert re.search(r"×4 Y +vsrresnet +15 blocks × 64 +2,219 GFLOP per output megapixel", line), line


BUNDLED = sorted(m.name for m in savsr.available_models())


def test_each_scale_has_a_bundled_default(capsys: pytest.CaptureFixture) -> None:
    from savsr.models.zoo import DEFAULTS

    models = {m.name: m for m in savsr.available_models()}
    assert sorted(DEFAULTS) == [2, 3, 4]
    for scale, name in DEFAULTS.items():
        assert default_model(scale) == name and models[name].spec.scale == scale
    with pytest.raises(ParameterError, match="must be 2, 3 or 4, got 5"):
        default_model(5)
    assert main(["models"]) == 0
    marked = [ln.split()[0] for ln in capsys.readouterr().out.splitlines() if "(the default at ×" in ln]
    assert sorted(marked) == sorted(DEFAULTS.values())


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_model_is_named_by_its_network_and_scale(name: str) -> None:
    m = {m.name: m for m in savsr.available_models()}[name]
    # FAMILY-xS, the rule of models/zoo.py; any family may be added, the scale must be the network's.
    family, scale = name.rsplit("-x", 1)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", family) and m.spec.scale == int(scale)
    card = m.card.read_text()
    assert card.startswith(f"# {name}\n") and f"×{scale} video super-resolution" in card
    assert "<!-- BEGIN generated:vid4 -->" in card  # make reproduce fills it


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in BUNDLED if n != default_model(4)])
def test_every_bundled_model_beats_bicubic_on_the_demo_clip(name: str, tmp_path: Path) -> None:
    # The first 8 frames: the whole clip is what the default model's test below and the card run.
    run_demo(tmp_path, name, device="cpu", precision="fp32", frames=8)
    assert "(8 frames," in (tmp_path / "metrics.md").read_text()
    rows = json.loads((tmp_path / "metrics.json").read_text())
    assert rows[name]["psnr_y"] > rows["bicubic"]["psnr_y"] + 0.1
    assert rows[name]["lpips_alex"] < rows["bicubic"]["lpips_alex"]


@pytest.mark.slow
def test_beats_bicubic_on_the_held_out_demo_clip(tmp_path: Path) -> None:
    paths = run_demo(tmp_path, device="cpu")
    assert all(p.exists() for p in paths.values())
    rows = json.loads((tmp_path / "metrics.json").read_text())
    assert rows[default_model(4)]["psnr_y"] > rows["bicubic"]["psnr_y"] + 0.1
    assert rows[default_model(4)]["lpips_alex"] < rows["bicubic"]["lpips_alex"]
    chosen = load_model(default_model(4), device="cpu").precision  # what `auto` takes here, as the card says
    assert f"network in {chosen};" in (tmp_path / "metrics.md").read_text()
