"""BT.601 studio-swing YCbCr against scikit-image."""

from __future__ import annotations

import numpy as np
import torch
from skimage.color import rgb2ycbcr

from savsr.data.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb


def test_matches_scikit_image_on_a_real_frame(calendar_rgb: np.ndarray) -> None:
    x = torch.from_numpy(calendar_rgb.transpose(2, 0, 1).copy())[None]
    want = rgb2ycbcr(calendar_rgb)  # 0-255 scale, float input in [0, 1]
    got = rgb_to_ycbcr(x)[0].numpy().transpose(1, 2, 0) * 255
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    np.testing.assert_allclose(rgb_to_y(x)[0, 0].numpy() * 255, want[..., 0], rtol=0, atol=1e-10)


def test_literal_y_formula() -> None:
    rgb = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64).view(1, 3, 1, 1)
    y = 16 + (65.481 * 0.2 + 128.553 * 0.5 + 24.966 * 0.9)
    assert abs(rgb_to_y(rgb).item() * 255 - y) < 1e-12
    white = torch.ones(1, 3, 1, 1, dtype=torch.float64)
    assert abs(rgb_to_y(white).item() * 255 - 235) < 1e-9


def test_round_trip() -> None:
    x = torch.rand(2, 3, 7, 5, dtype=torch.float64)
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, rtol=0, atol=1e-12)
