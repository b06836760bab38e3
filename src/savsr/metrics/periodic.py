"""Periodic artefacts: the error's energy at the 2- and 4-pixel periods, relative to the GT's.

A GAN generator trained through strided networks (VGG16's max-pool before relu2_x, the
discriminator's stride-2 convolutions) can learn a fine regular dither. It adds energy at a few
spatial frequencies that PSNR averages away. This metric isolates them: the energy of SR − GT on
Y in the rows and columns of the spectrum at period p (frequency 1/p cycles per pixel, in x or
in y), divided by the energy of the GT in the same bins. docs/evaluation.md states the definition.

Reading it: 0 is a perfect reconstruction at those frequencies. 1 is what an output with nothing
there scores (a smooth VSRResNet or bicubic output is close to 1), since then SR − GT = −GT in
the band. Above 1, the output's energy there is misplaced: a pattern that the GT does not have.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..data.color import luma

PERIODS = (2, 4)  # the strides of VGG16 up to relu2_2 (2) and of the discriminator's first two layers (2, 4)
_NOTHING = 1e-6
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


def _crop(y: Tensor, crop_border: int, multiple: int) -> Tensor:
    """``crop_border`` pixels off each side, then a centred crop to multiples of ``multiple``."""
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    h, w = y.shape
    hh, ww = h - h % multiple, w - w % multiple
    if hh == 0 or ww == 0:
        raise ValueError(f"{h}×{w} pixels after the border crop: too small for a period-{multiple} spectrum")
    top, left = (h - hh) // 2, (w - ww) // 2
    return y[top : top + hh, left : left + ww]


def band_energies(y: Tensor, periods: tuple[int, ...] = PERIODS) -> dict[int, float]:
    """Energy of the Hann-windowed (H, W) image ``y`` in the band of each period.

    The window keeps the frame's edges (where the DFT wraps an image onto itself) from leaking
    energy along the axes into every band.
    """
    h, w = y.shape
    spectrum = torch.fft.fft2(y * hann2d(h, w).to(y)).abs().pow(2)
    return {p: float(spectrum[band_mask(h, w, p).to(spectrum.device)].sum()) for p in periods}


def periodic_error(
    sr: Tensor, hr: Tensor, crop_border: int = 0, periods: tuple[int, ...] = PERIODS
) -> dict[int, float]:
    """The periodic error ratio of one frame for each period p: the energy of SR − GT (Y) in the
    band of p divided by the energy of the GT in that band.

    Args:
        sr, hr: (C, H, W) in [0, 1], Y (C = 1) or RGB (reduced to BT.601 Y); ``hr`` is the GT.
        crop_border: pixels removed on each side, as for the frame's PSNR; the rest is then
            centre-cropped to a multiple of every period.
        periods: the periods in pixels.

    Returns:
        {p: ratio}; NaN where the GT has no energy in the band (a constant frame).
    """
    a, b = luma(sr)[0] * 255.0, luma(hr)[0].to(sr.device) * 255.0
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    multiple = math.lcm(*periods)
    gt = _crop(b, crop_border, multiple)
    err = _crop(a, crop_border, multiple) - gt
    e_err, e_gt = band_energies(err, periods), band_energies(gt, periods)
    # A GT with nothing in the band (a flat frame) leaves only FFT round-off there, far below the
    # energy of a single 8-bit level (about N²/4).
    return {p: e_err[p] / e_gt[p] if e_gt[p] > _NOTHING else float("nan") for p in periods}


__all__ = ["PERIODS", "band_energies", "band_mask", "hann2d", "periodic_error"]
