"""PSNR, SSIM and LPIPS, each checked against an independent reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity

from conftest import SHARED, require
from lpips_reference import lpips_vgg
from savsr.metrics import LPIPS, psnr, ssim
from savsr.models import AlexNetFeatures

# ----------------------------------------------------------------------------- helpers


def luma_255(rgb: np.ndarray) -> np.ndarray:
    """BT.601 studio-swing Y on a 0-255 scale from (H, W, 3) RGB in [0, 1], written out by hand."""
    return 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]


def box_blur(rgb: np.ndarray) -> np.ndarray:
    """3×3 box blur with edge replication: a realistic, deterministic degradation."""
    h, w = rgb.shape[:2]
    pad = np.pad(rgb, ((1, 1), (1, 1), (0, 0)), mode="edge")
    return sum(pad[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, C) array to a (C, H, W) float64 tensor."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)


def pattern_uint8(h: int = 48, w: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A fixed pair of (H, W, 3) uint8 images built from arithmetic only (no RNG, no files)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack(
        [128 + 90 * np.sin(x / 3.0) * np.cos(y / 5.0), 60 + 2.5 * x + y, 200 - 3.0 * y + 20 * np.sin(x * y / 40.0)],
        axis=-1,
    )
    other = 0.8 * base + 20 + 15 * np.cos((x + 2 * y) / 2.0)[..., None]
    return np.clip(np.rint(base), 0, 255).astype(np.uint8), np.clip(np.rint(other), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def degraded(calendar_rgb: np.ndarray) -> np.ndarray:
    """Calendar frame 0 blurred and with a fixed sinusoidal ripple added."""
    h, w = calendar_rgb.shape[:2]
    ripple = 0.02 * np.sin(np.arange(h)[:, None, None] * 0.7 + np.arange(w)[None, :, None] * 1.3)
    return box_blur(calendar_rgb) + ripple


# ----------------------------------------------------------------------------- PSNR


def test_psnr_matches_hand_computation_on_y(calendar_rgb: np.ndarray, degraded: np.ndarray) -> None:
    ya, yb = luma_255(degraded)[4:-4, 4:-4], luma_255(calendar_rgb)[4:-4, 4:-4]
    want = 10 * np.log10(255.0**2 / np.mean((ya - yb) ** 2))
    got = psnr(to_tensor(degraded), to_tensor(calendar_rgb), crop_border=4)
    assert isinstance(got, float)
    assert got == pytest.approx(want, abs=1e-10)
    assert 20 < got < 40  # a blur is a plausible, not a degenerate, degradation


def test_psnr_rgb_and_batch(calendar_rgb: np.ndarray, degraded: np.ndarray) -> None:
    a, b = degraded[4:-4, 4:-4] * 255, calendar_rgb[4:-4, 4:-4] * 255
    want = 10 * np.log10(255.0**2 / np.mean((a - b) ** 2))
    batch_sr = torch.stack([to_tensor(degraded), to_tensor(calendar_rgb)])
    batch_hr = torch.stack([to_tensor(calendar_rgb), to_tensor(calendar_rgb)])
    got = psnr(batch_sr, batch_hr, crop_border=4, y_only=False)
    assert got.shape == (2,)
    assert got[0].item() == pytest.approx(want, abs=1e-10)
    assert math.isinf(got[1].item()) and got[1].item() > 0
    # Y-only and RGB differ: the flag is not ignored.
    assert abs(psnr(to_tensor(degraded), to_tensor(calendar_rgb), crop_border=4) - want) > 0.01


def test_psnr_identical_is_inf_and_uint8_equals_tensor() -> None:
    a, b = pattern_uint8()
    assert psnr(a, a) == math.inf
    from_uint8 = psnr(a, b, crop_border=2)
    from_tensor = psnr(torch.from_numpy(a).permute(2, 0, 1) / 255.0, torch.from_numpy(b).permute(2, 0, 1) / 255.0, 2)
    assert from_uint8 == pytest.approx(from_tensor, abs=1e-5)  # the tensor path went through float32 /255
    with pytest.raises(TypeError, match="uint8"):
        psnr(a.astype(np.float64), b.astype(np.float64))


# ----------------------------------------------------------------------------- SSIM


def skimage_ssim(a: np.ndarray, b: np.ndarray, **kwargs: object) -> float:
    """Wang et al.'s SSIM as skimage computes it.

    skimage filters with a reflect-padded Gaussian (truncate 3.5 → 11 taps) and then averages the
    map after cropping (win_size - 1) // 2 = 5 pixels from every side, i.e. exactly over the
    windows that never touch the padding: the 'valid' map our implementation averages.
    """
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, **kwargs
    )


def test_ssim_matches_skimage_on_y(calendar_rgb: np.ndarray, degraded: np.ndarray) -> None:
    want = skimage_ssim(luma_255(degraded), luma_255(calendar_rgb))
    got = ssim(to_tensor(degraded), to_tensor(calendar_rgb))
    assert got == pytest.approx(want, abs=1e-6)
    assert 0.5 < got < 0.99
    cropped = skimage_ssim(luma_255(degraded)[4:-4, 4:-4], luma_255(calendar_rgb)[4:-4, 4:-4])
    assert ssim(to_tensor(degraded), to_tensor(calendar_rgb), crop_border=4) == pytest.approx(cropped, abs=1e-6)


def test_ssim_matches_skimage_per_channel_rgb(calendar_rgb: np.ndarray, degraded: np.ndarray) -> None:
    # A 200×240 window of the frame keeps skimage's three reflect-padded filters fast.
    sr, hr = degraded[100:300, 200:440], calendar_rgb[100:300, 200:440]
    want = skimage_ssim(sr * 255, hr * 255, channel_axis=2)
    got = ssim(torch.stack([to_tensor(sr)]), torch.stack([to_tensor(hr)]), y_only=False)
    assert got.shape == (1,)
    assert got.item() == pytest.approx(want, abs=1e-6)


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    # Constant images have zero variance, so SSIM = (2ab + C1) / (a² + b² + C1) exactly.
    a, b = np.full((16, 16), 100, np.uint8), np.full((16, 16), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1), abs=1e-12)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)


# Computed once (numpy 2.4.6, scikit-image 0.26.0) with skimage_ssim() on the arithmetic pair
# a, b = pattern_uint8(): Y is skimage_ssim(luma_255(a / 255), luma_255(b / 255)), RGB is
# skimage_ssim(a.astype(float), b.astype(float), channel_axis=2). Ours agreed to 3e-15 then.
SSIM_Y_FIXED = 0.580973219349933
SSIM_RGB_FIXED = 0.6619729959373254


def test_ssim_fixed_values() -> None:
    a, b = pattern_uint8()
    assert ssim(a, b) == pytest.approx(SSIM_Y_FIXED, abs=1e-9)
    assert ssim(a, b, y_only=False) == pytest.approx(SSIM_RGB_FIXED, abs=1e-9)


# ----------------------------------------------------------------------------- LPIPS


def load_ref(name: str) -> np.ndarray:
    """One of the official LPIPS example images as (64, 64, 3) uint8."""
    path = require(SHARED / "reference" / "lpips" / f"{name}.png")
    return np.asarray(Image.open(path).convert("RGB")).copy()


def unit(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 to a (1, 3, H, W) float32 tensor in [0, 1]."""
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0


@pytest.fixture(scope="module")
def lpips_nets() -> dict[str, LPIPS]:
    return {"alex": LPIPS("alex"), "vgg": LPIPS("vgg")}


@pytest.mark.parametrize(("net", "d_p0", "d_p1"), [("alex", 0.7219, 0.1376), ("vgg", 0.5686, 0.4217)])
def test_lpips_reproduces_reference_values(lpips_nets: dict[str, LPIPS], net: str, d_p0: float, d_p1: float) -> None:
    ref, p0, p1 = (unit(load_ref(n)) for n in ("ex_ref", "ex_p0", "ex_p1"))
    with torch.no_grad():
        assert lpips_nets[net](ref, p0).item() == pytest.approx(d_p0, abs=5e-4)
        assert lpips_nets[net](ref, p1).item() == pytest.approx(d_p1, abs=5e-4)


def test_lpips_vgg_matches_test_side_reimplementation(lpips_nets: dict[str, LPIPS]) -> None:
    ref, p1 = load_ref("ex_ref"), load_ref("ex_p1")
    with torch.no_grad():
        got = lpips_nets["vgg"](unit(ref), unit(p1)).item()
    assert got == pytest.approx(lpips_vgg(ref, p1), abs=1e-5)


def test_lpips_properties(lpips_nets: dict[str, LPIPS]) -> None:
    ref, p0, p1 = (unit(load_ref(n)) for n in ("ex_ref", "ex_p0", "ex_p1"))
    for metric in lpips_nets.values():
        with torch.no_grad():
            assert metric(ref, ref).abs().max().item() < 1e-6
            assert metric(p0, ref).item() == pytest.approx(metric(ref, p0).item(), abs=1e-6)
            pair = metric(torch.cat([ref, ref]), torch.cat([p0, p1]))
            assert pair.shape == (2,)
            singles = torch.cat([metric(ref, p0), metric(ref, p1)])
            torch.testing.assert_close(pair, singles, atol=1e-5, rtol=0)
            # [0, 1] with normalize=True and [-1, 1] with normalize=False are the same input.
            torch.testing.assert_close(
                metric(ref * 2 - 1, p0 * 2 - 1, normalize=False), metric(ref, p0), atol=1e-6, rtol=0
            )
            # Feeding [0, 1] as if it were [-1, 1] (the classic LPIPS bug) changes the value, though
            # only by 2e-3 (alex) and 2e-2 (vgg) on this pair, and by < 1e-3 for vgg on ex_p0.
            assert abs(metric(ref, p1, normalize=False).item() - metric(ref, p1).item()) > 1e-3
            # Grey input is replicated to three channels.
            grey0, grey1 = ref.mean(1, keepdim=True), p0.mean(1, keepdim=True)
            torch.testing.assert_close(
                metric(grey0, grey1), metric(grey0.expand(-1, 3, -1, -1), grey1.expand(-1, 3, -1, -1))
            )


def test_lpips_is_frozen_but_passes_gradients(lpips_nets: dict[str, LPIPS]) -> None:
    metric = lpips_nets["alex"]
    metric.train()
    assert not metric.training and not metric.trunk.training
    assert not any(p.requires_grad for p in metric.parameters())
    x = unit(load_ref("ex_p0")).requires_grad_(True)
    metric(x, unit(load_ref("ex_ref"))).sum().backward()
    assert x.grad is not None and x.grad.abs().sum().item() > 0
    with pytest.raises(ValueError):
        LPIPS("squeeze")
    with pytest.raises(ValueError):
        LPIPS("alex", version="0.0")


def test_alexnet_trunk_shapes_and_frozen() -> None:
    trunk = AlexNetFeatures(pretrained=False)
    trunk.train()
    assert not trunk.training
    assert not any(p.requires_grad for p in trunk.parameters())
    taps = trunk(torch.zeros(2, 3, 64, 64))
    assert [tuple(t.shape) for t in taps] == [(2, 64, 15, 15), (2, 192, 7, 7), (2, 384, 3, 3), (2, 256, 3, 3), (2, 256, 3, 3)]
