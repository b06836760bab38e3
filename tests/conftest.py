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
