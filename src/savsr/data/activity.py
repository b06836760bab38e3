"""Spatial activity of an image: local variance (Eq. 1-2) and the weight image W (Eq. 3-4).

An image statistic, so it lives with the data: the loss (Eq. 6-9) weights by it and the
region-aware scores split frames by it, with the same defaults.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

# The paper's δ of Eq. 3 (Sec. 3.1) and the side of the window Γ_ij of Eq. 1-2: the defaults of
# the loss, the region scores, the maps command and the figures.
DELTA = 0.01
WINDOW = 3


def _check_image(x: Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected an (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"expected a floating-point tensor, got {x.dtype}")


def _check_window(window: int) -> None:
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd integer, got {window}")


def local_mean(x: Tensor, window: int = WINDOW) -> Tensor:
    """Local mean m_ij(x) of Eq. 2 over a window Γ_ij clipped to the image, channel by channel.

    At the borders only the pixels that exist are averaged and |Γ_ij| counts them:
    ``avg_pool2d`` with ``count_include_pad=False`` divides each sum by exactly that count.
    """
    _check_image(x)
    _check_window(window)
    return F.avg_pool2d(x, window, stride=1, padding=window // 2, count_include_pad=False)


def local_variance(x: Tensor, window: int = WINDOW) -> Tensor:
    """Local variance μ_ij(x) of Eq. 1, per channel, over a window clipped to the image.

    Computed as m(x²) − m(x)², which is Eq. 1 expanded; the result is clamped at zero because
    rounding can make that difference slightly negative on flat areas.

    Args:
        x: (N, C, H, W) image, float32 or float64, values in [0, 1], on any device.
        window: side of the square analysis window Γ_ij (odd).

    Returns:
        (N, C, H, W) tensor of local variances, same dtype and device as ``x``.
    """
    mean = local_mean(x, window)
    mean_sq = local_mean(x * x, window)
    return (mean_sq - mean * mean).clamp_min(0.0)


def activity_weights(
    x: Tensor, delta: float | Sequence[float] | Tensor = DELTA, window: int = WINDOW
) -> Tensor:
    """Weight image W(x) of Eq. 3, channel by channel as in Eq. 4: w = μ / (μ + δ_k).

    W is about 0 on flat areas and tends to 1 on edges and texture; 1 − W is the noise
    visibility function. The ×10 scaling of Sec. 3.1 belongs to the loss, not to W.

    Args:
        x: (N, C, H, W) image in [0, 1].
        delta: δ > 0, one value for all channels or one per channel (δ_k of Eq. 4).
        window: side of the analysis window (odd).

    Returns:
        (N, C, H, W) tensor with values in [0, 1).
    """
    mu = local_variance(x, window)
    d = torch.as_tensor(delta, dtype=x.dtype, device=x.device)
    if d.dim() == 1:
        if d.numel() != x.shape[1]:
            raise ValueError(f"delta has {d.numel()} values for {x.shape[1]} channels")
        d = d.view(1, -1, 1, 1)
    elif d.dim() != 0:
        raise ValueError("delta must be a number or a 1-D sequence with one value per channel")
    if bool((d <= 0).any()):
        raise ValueError(f"delta must be > 0, got {delta}")
    return mu / (mu + d)


def fuse_channels(w: Tensor, mode: str = "mean") -> Tensor:
    """ψ of Eq. 5: fuse the channels of W into a single map, (N, C, H, W) -> (N, 1, H, W)."""
    if mode == "mean":
        return w.mean(dim=1, keepdim=True)
    if mode == "max":
        return w.amax(dim=1, keepdim=True)
    raise ValueError(f"unknown fusion {mode!r}; expected 'mean' or 'max'")
