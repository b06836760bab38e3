"""PSNR and SSIM in the BasicSR convention (the one super-resolution papers report).

Both take either torch tensors, (N, C, H, W) or (C, H, W), float in [0, 1], or numpy uint8
arrays, (H, W, C) or (H, W). Everything is computed in float64 on a 0-255 scale. With
``y_only`` and three channels the images are first reduced to BT.601 studio-swing luma
(:func:`savsr.data.color.rgb_to_y`), unrounded. ``crop_border`` pixels are removed on each side.
A batched (4-D) tensor gives a tensor of shape (N,); a single image gives a float.
The metrics are not differentiable: inputs are detached.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..data.color import rgb_to_y

ImageLike = Tensor | np.ndarray

_K1, _K2, _L = 0.01, 0.03, 255.0
SSIM_WINDOW, _WIN_SIGMA = 11, 1.5


def to_batch(img: ImageLike) -> tuple[Tensor, bool]:
    """Image to a detached float64 (N, C, H, W) tensor in [0, 1], and whether it was batched."""
    if isinstance(img, np.ndarray):
        # Float numpy images are ambiguous ([0, 1] here, 0-255 in BasicSR), so only uint8 is taken.
        if img.dtype != np.uint8:
            raise TypeError(f"numpy images must be uint8 (H, W[, C]), got {img.dtype}; pass floats as tensors")
        if img.ndim == 2:
            img = img[:, :, None]
        if img.ndim != 3:
            raise ValueError(f"expected an (H, W) or (H, W, C) array, got shape {img.shape}")
        return torch.from_numpy(img.astype(np.float64) / 255.0).permute(2, 0, 1)[None], False
    if not isinstance(img, Tensor):
        raise TypeError(f"expected a torch tensor or a numpy uint8 array, got {type(img).__name__}")
    if img.dim() == 3:
        return img.detach()[None].to(torch.float64), False
    if img.dim() == 4:
        return img.detach().to(torch.float64), True
    raise ValueError(f"expected a (C, H, W) or (N, C, H, W) tensor, got shape {tuple(img.shape)}")


def _prepare(sr: ImageLike, hr: ImageLike, crop_border: int, y_only: bool) -> tuple[Tensor, Tensor, bool]:
    """Both images as cropped float64 (N, C, H, W) tensors on a 0-255 scale (luma if asked)."""
    a, batched_a = to_batch(sr)
    b, batched_b = to_batch(hr)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    b = b.to(a.device)
    if y_only and a.shape[1] == 3:
        a, b = rgb_to_y(a), rgb_to_y(b)
    if crop_border:
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    if a.shape[-1] == 0 or a.shape[-2] == 0:
        raise ValueError(f"crop_border={crop_border} leaves no pixels")
    return a * 255.0, b * 255.0, batched_a or batched_b


def _output(values: Tensor, batched: bool) -> Tensor | float:
    return values if batched else float(values[0])


def psnr(sr: ImageLike, hr: ImageLike, crop_border: int = 0, y_only: bool = True) -> Tensor | float:
    """Peak signal-to-noise ratio, 10 log10(255² / MSE), per image; inf where the images are equal."""
    a, b, batched = _prepare(sr, hr, crop_border, y_only)
    mse = (a - b).pow(2).mean(dim=(1, 2, 3))
    # BasicSR's tensor version adds 1e-8 to the MSE; the numpy version (the published numbers) doesn't.
    values = 10.0 * torch.log10(_L**2 / mse)
    return _output(values, batched)


def gaussian_1d(size: int = SSIM_WINDOW, sigma: float = _WIN_SIGMA) -> Tensor:
    """Normalised 1-D Gaussian, float64, as cv2.getGaussianKernel."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = _WIN_SIGMA) -> Tensor:
    """Normalised 2-D Gaussian window, float64 (size, size): the outer product of two 1-D ones."""
    g = gaussian_1d(size, sigma)
    return torch.outer(g, g)


def _correlate_valid(x: Tensor, taps: list[float], dim: int) -> Tensor:
    """The 'valid' 1-D correlation of ``x`` with ``taps`` along ``dim``, as a sum of shifted
    slices: float64 convolution on the CPU takes PyTorch's im2col path, about 10× slower."""
    n = x.shape[dim] - len(taps) + 1
    out = taps[0] * x.narrow(dim, 0, n)
    for k, tap in enumerate(taps[1:], 1):
        out.add_(x.narrow(dim, k, n), alpha=tap)
    return out


def _ssim_map(a: Tensor, b: Tensor) -> Tensor:
    """Wang et al.'s SSIM map over the valid region of (M, 1, H, W) float64 images (0-255)."""
    taps = gaussian_1d().tolist()
    m, _, h, w = a.shape
    # The five local moments in one batch. The window is separable, so two 1-D passes do the
    # 11×11 filtering at 2/11 of the cost; 'valid' (no padding): no invented border pixels.
    stack = torch.cat([a, b, a * a, b * b, a * b])
    filt = _correlate_valid(_correlate_valid(stack, taps, 3), taps, 2)
    mu_a, mu_b, e_aa, e_bb, e_ab = filt.reshape(5, m, 1, h - SSIM_WINDOW + 1, w - SSIM_WINDOW + 1)
    var_a = e_aa - mu_a**2
    var_b = e_bb - mu_b**2
    cov = e_ab - mu_a * mu_b
    c1, c2 = (_K1 * _L) ** 2, (_K2 * _L) ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def ssim(sr: ImageLike, hr: ImageLike, crop_border: int = 0, y_only: bool = True) -> Tensor | float:
    """Structural similarity (11×11 Gaussian, σ=1.5), mean of the valid map, averaged over channels."""
    a, b, batched = _prepare(sr, hr, crop_border, y_only)
    n, c, h, w = a.shape
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels after cropping, got {h}×{w}")
    smap = _ssim_map(a.reshape(n * c, 1, h, w), b.reshape(n * c, 1, h, w))
    values = smap.mean(dim=(1, 2, 3)).reshape(n, c).mean(dim=1)
    return _output(values, batched)


__all__ = ["gaussian_1d", "gaussian_window", "psnr", "ssim"]

