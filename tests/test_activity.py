"""Eq. 1-5 against independent numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from savsr.losses import activity_weights, fuse_channels, local_variance


def brute_force_variance(img: np.ndarray, window: int) -> np.ndarray:
    """Eq. 1-2 literally: for each pixel, mean and variance over the window clipped to the image."""
    c, h, w = img.shape
    r = window // 2
    out = np.empty_like(img)
    for k in range(c):
        for i in range(h):
            for j in range(w):
                patch = img[k, max(i - r, 0) : i + r + 1, max(j - r, 0) : j + r + 1]
                m = patch.sum() / patch.size
                out[k, i, j] = ((patch - m) ** 2).sum() / patch.size
    return out


def nan_offset_variance(img: np.ndarray, window: int) -> np.ndarray:
    """A second reference, fast enough for whole frames: NaN padding, then nanvar over the offsets."""
    r = window // 2
    padded = np.pad(img, ((0, 0), (r, r), (r, r)), constant_values=np.nan)
    h, w = img.shape[1:]
    stack = np.stack(
        [padded[:, dy : dy + h, dx : dx + w] for dy in range(window) for dx in range(window)]
    )
    return np.nanvar(stack, axis=0)


def to_torch(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img))[None]


@pytest.mark.parametrize("window", [3, 5])
def test_variance_matches_brute_force_on_random(window: int) -> None:
    rng = np.random.default_rng(window)
    img = rng.random((2, 13, 17))
    got = local_variance(to_torch(img), window)[0].numpy()
    np.testing.assert_allclose(got, brute_force_variance(img, window), rtol=0, atol=1e-10)


@pytest.mark.parametrize("window", [3, 5])
def test_variance_matches_brute_force_on_real_corner(calendar_rgb: np.ndarray, window: int) -> None:
    # The crop's edges are image edges for the function, so the clipped windows are exercised.
    img = calendar_rgb[100:148, 200:264].transpose(2, 0, 1).copy()
    got = local_variance(to_torch(img), window)[0].numpy()
    want = brute_force_variance(img, window)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    assert want.max() > 1e-3  # the crop has real texture, not a flat area


@pytest.mark.parametrize("window", [3, 5])
def test_weights_match_reference_on_whole_real_frames(
    calendar_rgb: np.ndarray, davis_rgb: np.ndarray, window: int
) -> None:
    for frame in (calendar_rgb, davis_rgb):
        img = frame.transpose(2, 0, 1).copy()
        mu = nan_offset_variance(img, window)
        want = mu / (mu + 0.01)
        got = activity_weights(to_torch(img), 0.01, window)[0].numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
        # The borders and corners hold clipped windows; check them on their own as well.
        np.testing.assert_allclose(got[:, 0, :], want[:, 0, :], rtol=0, atol=1e-10)
        np.testing.assert_allclose(got[:, :, -1], want[:, :, -1], rtol=0, atol=1e-10)


def test_border_windows_count_only_existing_pixels() -> None:
    # A corner pixel of a 3×3 window sees 4 pixels: {0, 1, 1, 1}, variance 3/16.
    img = torch.ones(1, 1, 4, 4, dtype=torch.float64)
    img[0, 0, 0, 0] = 0.0
    var = local_variance(img, 3)
    assert var[0, 0, 0, 0].item() == pytest.approx(3 / 16, abs=1e-15)
    # Interior pixel (1, 1): 9 pixels, one of them 0 -> variance 8/81.
    assert var[0, 0, 1, 1].item() == pytest.approx(8 / 81, abs=1e-15)


def test_float32_close_to_float64(calendar_rgb: np.ndarray) -> None:
    img = to_torch(calendar_rgb.transpose(2, 0, 1))
    w64 = activity_weights(img)
    w32 = activity_weights(img.float())
    assert w32.dtype == torch.float32
    assert (w32.double() - w64).abs().max().item() < 1e-4


def test_flat_is_zero_and_edges_are_near_one() -> None:
    img = torch.full((1, 1, 20, 20), 0.4, dtype=torch.float64)
    img[..., 10:] = 0.9  # a strong vertical edge between columns 9 and 10
    w = activity_weights(img)
    assert w[..., :, :8].abs().max().item() < 1e-12
    assert w[..., :, 12:].abs().max().item() < 1e-12
    # Edge columns: 3 of 9 pixels differ by 0.5 -> variance 0.25·2/9, W ≈ 0.847.
    assert w[..., 2:-2, 9].min().item() == pytest.approx(0.0556 / 0.0656, abs=1e-3)
    strong = torch.zeros(1, 1, 9, 9, dtype=torch.float64)
    strong[..., 5:] = 1.0
    assert activity_weights(strong)[..., 4, 4].item() > 0.95


def test_range_channels_and_per_channel_delta() -> None:
    rng = np.random.default_rng(0)
    img = torch.from_numpy(rng.random((3, 2, 16, 16)))
    w = activity_weights(img, delta=[0.01, 0.1])
    assert float(w.min()) >= 0 and float(w.max()) < 1
    # Eq. 4: each channel is computed on its own with its own δ_k.
    w_single = activity_weights(img[:, 1:], delta=0.1)
    torch.testing.assert_close(w[:, 1:], w_single, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="2 channels"):
        activity_weights(img, delta=[0.01, 0.1, 0.2])
    with pytest.raises(ValueError, match="odd"):
        activity_weights(img, window=4)
    with pytest.raises(ValueError, match="> 0"):
        activity_weights(img, delta=0.0)


def test_gradients_are_finite_even_on_flat_areas() -> None:
    img = torch.rand(2, 1, 12, 12, dtype=torch.float64)
    img[0] = 0.5  # flat: the variance sits at its clamp
    img.requires_grad_(True)
    activity_weights(img).sum().backward()
    assert img.grad is not None and torch.isfinite(img.grad).all()
    assert img.grad[1].abs().sum() > 0


def test_fusion() -> None:
    w = torch.tensor([[[[0.1]], [[0.5]], [[0.3]]]])
    assert fuse_channels(w, "mean").item() == pytest.approx(0.3)
    assert fuse_channels(w, "max").item() == pytest.approx(0.5)
    with pytest.raises(ValueError):
        fuse_channels(w, "median")
