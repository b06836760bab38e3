"""Temporal consistency: TecoGAN's tOF and tLP, and flicker split over the regions of W.

tOF and tLP follow the published evaluation of TecoGAN (Chu et al., "Learning temporal coherence
via self-supervision for GAN-based video generation", ACM TOG 2020), so the numbers can stand
beside theirs; docs/evaluation.md gives the definitions and what can be compared. The region
scores go beyond it: the same flow error over the flat (W < flat) and high-activity (W > high)
pixels of Eq. 3's W, and a flow-free temporal noise on the flat pixels.

Frames here are uint8 RGB arrays (H, W, 3), as a user's saved video holds them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from .lpips import LPIPS

# Frames skipped at each end of a sequence before pairs are scored (TecoGAN's evaluation).
SKIP = 2
# OpenCV's Farneback with TecoGAN's parameters: pyramid scale, levels, window, iterations, poly_n, poly_sigma, flags.
FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, 0)

TEMPORAL_METRICS = ("tof", "tlp", "tlp_signed")
TEMPORAL_REGION_METRICS = ("tof_high", "tof_flat", "tnoise_flat")


def scored_pairs(num_frames: int) -> range:
    """The frames t whose pair (t − 1, t) is scored: both inside [SKIP, num_frames − 1 − SKIP]."""
    return range(SKIP + 1, num_frames - SKIP)


def teco_crop(height: int, width: int) -> tuple[slice, slice]:
    """TecoGAN's ``crop_8x8``: the centred box whose sides are multiples of 32 and leave at least
    8 pixels of margin a side (empty when a side is under 48 pixels)."""

    def side(n: int) -> slice:
        m = (n // 32) * 32
        while m > n - 16:
            m -= 32
        m = max(m, 0)
        start = (n - m) // 2
        return slice(start, start + m)

    return side(height), side(width)


def optical_flow(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Farneback flow (H, W, 2) from RGB uint8 frame ``prev`` to ``cur``, on OpenCV's grey."""
    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in (prev, cur)]
    return cv2.calcOpticalFlowFarneback(grey[0], grey[1], None, *FARNEBACK)


def flow_error(gt_flow: np.ndarray, sr_flow: np.ndarray) -> np.ndarray:
    """The per-pixel Euclidean norm of the difference of two flows, on the TecoGAN crop (H', W')."""
    box = teco_crop(*gt_flow.shape[:2])
    diff = gt_flow[box].astype(np.float64) - sr_flow[box].astype(np.float64)
    return np.sqrt((diff * diff).sum(-1))


def crop_features(lpips: LPIPS, frame: np.ndarray) -> list[torch.Tensor]:
    """LPIPS features (:meth:`LPIPS.features`) of an RGB uint8 frame's TecoGAN crop: one side of
    a tLP term, kept by a caller because each frame is in two pairs."""
    box = teco_crop(*frame.shape[:2])
    x = torch.from_numpy(np.ascontiguousarray(frame[box])).permute(2, 0, 1)[None].float() / 255.0
    with torch.no_grad():
        return lpips.features(x.to(next(lpips.parameters()).device))


def lpips_pair(lpips: LPIPS, prev: np.ndarray, cur: np.ndarray) -> float:
    """LPIPS between two RGB uint8 frames, on the TecoGAN crop (the term of tLP)."""
    with torch.no_grad():
        return float(lpips.distance(crop_features(lpips, prev), crop_features(lpips, cur))[0])


def tof(gt_flow: np.ndarray, sr_flow: np.ndarray) -> float:
    """tOF of one pair: the mean flow error, from the GT's and the SR's flows of the same frames."""
    return float(flow_error(gt_flow, sr_flow).mean())


def tlp_signed(gt_lpips: float, sr_lpips: float) -> float:
    """tLP of one pair with its sign: 100 · (LPIPS(SR(t−1), SR(t)) − LPIPS(GT(t−1), GT(t))).

    Above 0 the output changes more from frame to frame than the GT (flicker: detail that appears
    or moves on its own); below 0, less (detail frozen or smoothed over time). tLP's absolute value
    tells neither apart, and averaged over pairs the signs show which one a method's tLP is.
    """
    return 100.0 * (sr_lpips - gt_lpips)


def tlp(gt_lpips: float, sr_lpips: float) -> float:
    """tLP of one pair: 100 · |LPIPS(GT(t−1), GT(t)) − LPIPS(SR(t−1), SR(t))|."""
    return abs(tlp_signed(gt_lpips, sr_lpips))


def region_flicker(
    gt_flow: np.ndarray, sr_flow: np.ndarray, high: np.ndarray, flat: np.ndarray,
    err_prev: np.ndarray, err: np.ndarray, flat_both: np.ndarray,
) -> dict[str, float]:
    """The TEMPORAL_REGION_METRICS of one pair.

    Args:
        gt_flow, sr_flow: the pair's flows, full frame (H, W, 2).
        high, flat: boolean (H, W) region masks of frame t's GT.
        err_prev, err: SR − GT on Y in 8-bit levels, frames t − 1 and t, cropped by the border.
        flat_both: boolean mask, the same crop, of pixels flat in both frames' GT.

    Returns:
        ``tof_high``/``tof_flat``: the mean flow error over the region's pixels inside the TecoGAN
        crop; ``tnoise_flat``: the standard deviation (population) of err − err_prev over
        ``flat_both``, which needs no flow. An empty region gives NaN.
    """
    fe = flow_error(gt_flow, sr_flow)
    box = teco_crop(*high.shape)
    h, f = high[box], flat[box]
    change = (err - err_prev)[flat_both]
    return {
        "tof_high": float(fe[h].mean()) if h.any() else math.nan,
        "tof_flat": float(fe[f].mean()) if f.any() else math.nan,
        "tnoise_flat": float(change.std()) if change.size else math.nan,
    }
