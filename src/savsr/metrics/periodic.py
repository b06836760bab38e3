"""Periodic artefacts: the error's energy at the 2- and 4-pixel periods, relative to the GT's.

A GAN generator can learn a fine regular dither (data/spectrum.py says why). It adds energy at a
few spatial frequencies that PSNR averages away. This metric isolates them: the energy of SR − GT on
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
from ..data.spectrum import PERIODS, band_energy
from .psnr_ssim import ImageLike, to_batch

_NOTHING = 1e-6


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


def periodic_error(
    sr: ImageLike, hr: ImageLike, crop_border: int = 0, periods: tuple[int, ...] = PERIODS
) -> dict[int, float]:
    """The periodic error ratio of one frame for each period p: the energy of SR − GT (Y) in the
    band of p divided by the energy of the GT in that band.

    Args:
        sr, hr: (C, H, W) tensors in [0, 1] or (H, W[, C]) uint8 arrays, as psnr takes them; Y
            (C = 1) or RGB (reduced to BT.601 Y); ``hr`` is the GT.
        crop_border: pixels removed on each side, as for the frame's PSNR; the rest is then
            centre-cropped to a multiple of every period.
        periods: the periods in pixels.

    Returns:
        {p: ratio}; NaN where the GT has no energy in the band (a constant frame).
    """
    sr, hr = (to_batch(x)[0][0] if not isinstance(x, Tensor) else x for x in (sr, hr))
    a, b = luma(sr)[0] * 255.0, luma(hr)[0].to(sr.device) * 255.0
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    multiple = math.lcm(*periods)
    gt = _crop(b, crop_border, multiple)
    err = _crop(a, crop_border, multiple) - gt
    e_err, e_gt = band_energy(torch.stack([err, gt]), periods).tolist()
    # A GT with nothing in the band (a flat frame) leaves only FFT round-off there, far below the
    # energy of a single 8-bit level (about N²/4).
    return {p: e / g if g > _NOTHING else float("nan") for p, e, g in zip(periods, e_err, e_gt)}


__all__ = ["periodic_error"]
