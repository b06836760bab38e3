"""Shared fixtures: paths to the real data in ../shared and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"


def require(path: Path) -> Path:
    """Skip (not pass) a test whose real data is absent, naming the missing path.

    With SAVSR_REQUIRE_DATA=1 (set by .ci/run) a missing path fails the test instead, so that a
    run in the wrong folder cannot go green without the references.
    """
    if not path.exists():
        message = f"real data not available: {path}"
        if os.environ.get("SAVSR_REQUIRE_DATA") == "1":
            pytest.fail(message + " (SAVSR_REQUIRE_DATA=1: the clone must sit beside shared/)")
        pytest.skip(message)
    return path


def cpuinfo_has_bf16() -> bool:
    """The reference for native bf16: Linux's CPU flags, read here independently of savsr.precision."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


# `savsr` as a user runs it (a command, then its arguments), with each network call counted in a
# file and slowed a little so that a kill lands mid-run: python -c COUNTED COUNTFILE DELAY savsr-arguments...
# An empty COUNTFILE runs it unchanged.
COUNTED = r"""
import sys, time
count, delay = sys.argv[1], float(sys.argv[2])
if count:
    from savsr.infer.upscaler import Upscaler
    forward = Upscaler._forward  # one call per window, whichever engine runs it
    def counted(self, x):
        with open(count, "a") as fh:
            fh.write("1\n")
        time.sleep(delay)
        return forward(self, x)
    Upscaler._forward = counted
from savsr.cli import main
sys.exit(main(sys.argv[3:]))
"""


# What makes this CPU look like an AVX2-only one to savsr and to PyTorch's oneDNN (which reads it
# when it starts): oneDNN's own cap on its instruction set.
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2"}


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ×2 VSRResNet generator file (2 blocks × 8 features, seed 0), for the inference tests."""
    import torch

    from savsr.models.checkpoint import GeneratorSpec, save_generator

    torch.manual_seed(0)
    spec = GeneratorSpec(scale=2, blocks=2, features=8)
    return save_generator(spec.build(), spec, tmp_path_factory.mktemp("m") / "tiny_x2.safetensors")


@pytest.fixture(scope="session")
def calendar_rgb() -> np.ndarray:
    """Frame 0 of Vid4 calendar as (H, W, 3) float64 in [0, 1]."""
    path = require(DATA / "vid4" / "GT" / "calendar" / "00000000.png")
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


@pytest.fixture(scope="session")
def davis_rgb() -> np.ndarray:
    """A JPEG training frame (DAVIS 2016) as (H, W, 3) float64 in [0, 1]."""
    folder = require(DATA / "train" / "davis2016_blackswan_854x480")
    first = sorted(folder.iterdir())[0]
    return np.asarray(Image.open(first).convert("RGB"), dtype=np.float64) / 255.0


@pytest.fixture(scope="session", autouse=True)
def _int8_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Quantized models (int8) go to a cache of the test session, never the user's ~/.cache; set
    in the environment, so that the savsr processes a test starts use it too."""
    os.environ["SAVSR_CACHE"] = str(tmp_path_factory.mktemp("savsr_cache"))
