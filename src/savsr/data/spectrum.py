"""The bands of the 2-D spectrum at the 2- and 4-pixel periods, shared by the grid score
(metrics/periodic.py) and the loss term that penalises the same energy (losses/periodic.py).

A GAN generator trained through strided networks (VGG16's max-pool before relu2_x, the
discriminator's stride-2 convolutions) can learn a fine regular dither: energy at a few spatial
frequencies, in the rows and columns of the spectrum at period p (1/p cycles per pixel, in x or y).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

PERIODS = (2, 4)  # the strides of VGG16 up to relu2_2 (2) and of the discriminator's first two layers (2, 4)
BAND_HALFWIDTH = 1  # bins each side of the exact frequency: a Hann-windowed tone spreads to exactly ±1


def band_mask(height: int, width: int, period: int, halfwidth: int = BAND_HALFWIDTH) -> Tensor:
    """Boolean (height, width) mask of the full 2-D DFT's bins within ``halfwidth`` bins of the
    frequency 1/``period`` (positive or negative) in x or in y.

    ``height`` and ``width`` must be multiples of ``period``, so that the frequency falls on a bin.
    """
    if height % period or width % period:
        raise ValueError(f"{height}×{width} is not a multiple of the period {period}")

    def near(n: int) -> Tensor:
        k = torch.arange(n)
        signed = torch.where(k <= n // 2, k, k - n)  # bin k is the frequency signed/n
        return (signed.abs() - n // period).abs() <= halfwidth

    return near(height)[:, None] | near(width)[None, :]


def hann2d(height: int, width: int) -> Tensor:
    """Separable periodic Hann window, float64 (height, width): each 1-D factor's DFT is
    (−¼, ½, −¼) on bins −1, 0, +1."""
    def hann(n: int) -> Tensor:
        return 0.5 - 0.5 * torch.cos(2 * torch.pi * torch.arange(n, dtype=torch.float64) / n)

    return hann(height)[:, None] * hann(width)[None, :]


def band_energy(y: Tensor, periods: tuple[int, ...] = PERIODS) -> Tensor:
    """Energy of the Hann-windowed images ``y`` (..., H, W) in the band of each period, shape
    (..., len(periods)), differentiable and in ``y``'s dtype.

    The window keeps the frame's edges (where the DFT wraps an image onto itself) from leaking
    energy along the axes into every band.
    """
    window, masks = _window_and_masks(*y.shape[-2:], periods)
    power = torch.fft.fft2(y * window.to(y)).abs().pow(2)
    return torch.einsum("...hw,phw->...p", power, masks.to(device=y.device, dtype=power.dtype))


@lru_cache(maxsize=8)
def _window_and_masks(height: int, width: int, periods: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """The Hann window and the stacked band masks of one frame size, built once: the trainer and
    the evaluation call :func:`band_energy` on the same few sizes thousands of times."""
    return hann2d(height, width), torch.stack([band_mask(height, width, p) for p in periods])


__all__ = ["BAND_HALFWIDTH", "PERIODS", "band_energy", "band_mask", "hann2d"]
