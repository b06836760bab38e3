"""Reading images of each bit depth and channel layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from savsr.data.io import read_frame
from savsr.errors import SavsrError


def test_grey_rgb_rgba_and_16_bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = (rng.random((6, 7, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full((6, 7), 128, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    grey16 = (rng.random((6, 7)) * 65535).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "grey16.png")

    np.testing.assert_allclose(read_frame(tmp_path / "rgb.png"), rgb / 255.0, atol=1e-7)
    np.testing.assert_allclose(read_frame(tmp_path / "rgba.png"), rgb / 255.0, atol=1e-7)
    grey = read_frame(tmp_path / "grey.png")
    assert grey.shape == (6, 7, 1)
    np.testing.assert_allclose(grey[..., 0], rgb[..., 0] / 255.0, atol=1e-7)
    np.testing.assert_allclose(read_frame(tmp_path / "grey16.png")[..., 0], grey16 / 65535.0, atol=1e-7)


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SavsrError, match="missing.png"):
        read_frame(tmp_path / "missing.png")
    with pytest.raises(SavsrError, match="folder"):
        read_frame(tmp_path)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "still.png")
    with pytest.raises(SavsrError, match="no frame 2"):
        read_frame(tmp_path / "still.png", 2)
