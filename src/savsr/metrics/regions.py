"""Region-aware scores: PSNR and error noise on high-activity and on flat pixels.

The regions come from the weight image W of Eq. 3 (Eq. 1-2 for the local variance) computed on
the ground-truth Y in [0, 1], with the δ and window of the loss (``LossConfig``): high activity
is W > ``high``, flat is W < ``flat``. They turn the paper's claim (sharper edges, less noise in
flat areas, Sec. 3.2) into numbers. docs/evaluation.md states the conventions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data.color import luma
from ..errors import SavsrError
from ..data.activity import DELTA, WINDOW, activity_weights

# Per-frame region metrics, in the order of the tables.
REGION_METRICS = ("psnr_high", "psnr_flat", "noise_flat", "frac_high", "frac_flat")


@dataclass(frozen=True)
class Regions:
    """Thresholds on W: high activity is W > ``high``, flat is W < ``flat``."""

    high: float = 0.5
    flat: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.flat <= self.high < 1:
            raise SavsrError(f"region thresholds must satisfy 0 < flat <= high < 1, got high {self.high}, flat {self.flat}")


def region_masks(hr: Tensor, crop_border: int, regions: Regions) -> tuple[Tensor, Tensor]:
    """Boolean (H', W') masks of the high-activity and flat pixels of a GT frame.

    W (Eq. 3) is computed on the whole GT Y, so pixels next to the crop see their real
    neighbours; the masks are then cropped by ``crop_border`` like the PSNR of the frame.
    """
    w = activity_weights(luma(hr)[None], DELTA, WINDOW)[0, 0]
    if crop_border:
        w = w[crop_border:-crop_border, crop_border:-crop_border]
    return w > regions.high, w < regions.flat


def _psnr(err: Tensor) -> float:
    """10 log10(255² / MSE) of 0-255 errors; NaN for an empty region."""
    if err.numel() == 0:
        return math.nan
    return float(10.0 * torch.log10(255.0**2 / err.pow(2).mean()))


def region_scores(sr: Tensor, hr: Tensor, crop_border: int, regions: Regions) -> dict[str, float]:
    """The REGION_METRICS of one frame.

    Args:
        sr, hr: (C, H, W) in [0, 1], Y (C = 1) or RGB (reduced to Y); ``hr`` is the ground truth.
        crop_border: pixels removed on each side, as for the frame's PSNR.
        regions: the W thresholds.

    Returns:
        ``psnr_high``/``psnr_flat``: PSNR (dB) over the pixels of the region; ``noise_flat``: the
        standard deviation (population) of SR − GT in 8-bit levels over the flat pixels;
        ``frac_high``/``frac_flat``: each region's share of the scored pixels. A metric of an
        empty region is NaN.
    """
    a, b = luma(sr), luma(hr)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    high, flat = region_masks(hr, crop_border, regions)
    err = (a - b.to(a.device))[0] * 255.0
    if crop_border:
        err = err[crop_border:-crop_border, crop_border:-crop_border]
    e_high, e_flat = err[high.to(err.device)], err[flat.to(err.device)]
    return {
        "psnr_high": _psnr(e_high),
        "psnr_flat": _psnr(e_flat),
        "noise_flat": float(e_flat.std(correction=0)) if e_flat.numel() else math.nan,
        "frac_high": float(high.double().mean()),
        "frac_flat": float(flat.double().mean()),
    }
