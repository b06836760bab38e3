"""Scoring super-resolved frames against their ground truth: the one place every score is taken.

`savsr evaluate`, the trainer's validation and the demo all score through :class:`Scorer`, so a
number means the same wherever it is printed. The metrics themselves are pure functions of
images in :mod:`savsr.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from ..data.color import luma, rgb_to_y
from ..metrics.lpips import LPIPS
from ..metrics.periodic import periodic_error
from ..metrics.psnr_ssim import psnr, ssim
from ..metrics.regions import REGION_METRICS, Regions, region_masks, region_scores
from ..metrics.temporal import (
    TEMPORAL_METRICS,
    TEMPORAL_REGION_METRICS,
    crop_features,
    optical_flow,
    region_flicker,
    scored_pairs,
    tlp,
    tlp_signed,
    tof,
)

# Per-frame metrics, in table order.
METRICS = ("psnr", "ssim", "lpips", "grid2", "grid4")
K = TypeVar("K")
V = TypeVar("V")


@dataclass
class SequenceResult:
    """Per-frame metrics of one sequence (and per-pair temporal metrics, indexed by ``pairs``)."""

    name: str
    num_frames: int = 0  # the sequence's length, which decides the temporal pairs
    frames: list[int] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    lpips: list[float] = field(default_factory=list)
    grid2: list[float] = field(default_factory=list)
    grid4: list[float] = field(default_factory=list)
    psnr_high: list[float] = field(default_factory=list)
    psnr_flat: list[float] = field(default_factory=list)
    noise_flat: list[float] = field(default_factory=list)
    frac_high: list[float] = field(default_factory=list)
    frac_flat: list[float] = field(default_factory=list)
    pairs: list[int] = field(default_factory=list)  # t of each scored pair (t − 1, t)
    tof: list[float] = field(default_factory=list)
    tlp: list[float] = field(default_factory=list)
    tlp_signed: list[float] = field(default_factory=list)
    tof_high: list[float] = field(default_factory=list)
    tof_flat: list[float] = field(default_factory=list)
    tnoise_flat: list[float] = field(default_factory=list)
    _previous: Any = field(default=None, repr=False, compare=False)  # frame t − 1, for the pair

    def mean(self, metric: str) -> float:
        """Mean over frames (pairs for a temporal metric); NaN values (an empty region) are left out."""
        return nanmean(getattr(self, metric))


def nanmean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


def metrics_for(regions: bool, temporal: bool) -> tuple[str, ...]:
    """The metrics a configuration scores, in table order."""
    return (METRICS + (REGION_METRICS if regions else ()) + (TEMPORAL_METRICS if temporal else ())
            + (TEMPORAL_REGION_METRICS if regions and temporal else ()))


def to_uint8_hwc(rgb: Tensor) -> np.ndarray:
    """(3, H, W) in [0, 1] (already on 8-bit levels) to the uint8 (H, W, 3) a saved frame holds."""
    return torch.round(rgb.detach().cpu().double() * 255.0).to(torch.uint8).permute(1, 2, 0).numpy()


@dataclass
class _Frame:
    """What a temporal pair needs of a frame."""

    index: int
    sr: np.ndarray  # uint8 RGB
    gt: np.ndarray  # uint8 RGB
    sr_features: list[Tensor]  # LPIPS-alex features of the SR's TecoGAN crop: each frame is in two pairs
    err: np.ndarray | None  # SR − GT on Y (8-bit levels), border cropped; with regions only
    high: np.ndarray | None  # the GT's region masks, full size; with regions only
    flat: np.ndarray | None


def _newest(cache: dict[K, V], key: K, make: Callable[[], V]) -> V:
    """``cache[key]``, made by ``make`` on first use; the cache keeps the two newest keys, as a
    frame serves its own pair and the next one."""
    if key not in cache:
        while len(cache) >= 2:
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key]


class Scorer:
    """Scores SR frames against their GT into :class:`SequenceResult`s.

    Args:
        scale: the SR factor; PSNR, SSIM, the grid and the regions crop that many border pixels.
        lpips: "alex", "vgg" or "none".
        lpips_on: "rgb" (the RGB the user sees) or "y" (Y replicated to three channels).
        device: where LPIPS runs.
        regions: W thresholds of the region scores, or None for none.
        temporal: also score TecoGAN's tOF and tLP (always LPIPS-alex on RGB, as they define it)
            on consecutive frames, and with ``regions`` the temporal region scores.
    """

    def __init__(self, scale: int, lpips: str = "alex", lpips_on: str = "rgb", device: str | torch.device = "cpu",
                 regions: Regions | None = None, temporal: bool = False) -> None:
        self.scale, self.lpips_on, self.device = scale, lpips_on, torch.device(device)
        self.regions, self.temporal = regions, temporal
        self.lpips = LPIPS(lpips).to(self.device).eval() if lpips != "none" else None
        self.tlp_net = None
        if temporal:
            self.tlp_net = self.lpips if lpips == "alex" else LPIPS("alex").to(self.device).eval()
        self._gt: dict[tuple[str, int], tuple[np.ndarray, float]] = {}
        self._gt_crops: dict[tuple[str, int], list[Tensor]] = {}
        self._gt_features: tuple[Tensor, list[Tensor]] | None = None

    def __call__(self, res: SequenceResult, index: int, sr: Tensor, sr_rgb: Tensor, hr_rgb: Tensor) -> None:
        """Score frame ``index`` of ``res``'s sequence.

        Args:
            sr: what PSNR, SSIM, the grid and the regions score: (1, H, W) Y or (3, H, W) RGB (its Y
                is taken), in [0, 1] on 8-bit levels.
            sr_rgb: (3, H, W) the RGB frame the user sees (a Y output joined to bicubic chroma), which
                LPIPS and the temporal scores see.
            hr_rgb: (3, H, W) the ground truth in [0, 1].
        """
        s = self.scale
        hr = rgb_to_y(hr_rgb[None])[0] if sr.shape[0] == 1 else hr_rgb
        res.frames.append(index)
        res.psnr.append(psnr(sr, hr, s))
        res.ssim.append(ssim(sr, hr, s))
        grid = periodic_error(sr, hr, s)
        res.grid2.append(grid[2])
        res.grid4.append(grid[4])
        if self.lpips is not None:
            with torch.no_grad():
                res.lpips.append(float(self.lpips.distance(self._lpips_features(sr_rgb), self._gt_lpips_features(hr_rgb))[0]))
        if self.regions is not None:
            for name, value in region_scores(sr, hr, s, self.regions).items():
                getattr(res, name).append(value)
        if self.temporal:
            self._temporal(res, index, sr, sr_rgb, hr_rgb)

    def _lpips_features(self, rgb: Tensor) -> list[Tensor]:
        x = rgb[None].float()
        return self.lpips.features((rgb_to_y(x) if self.lpips_on == "y" else x).to(self.device))

    def _gt_lpips_features(self, hr_rgb: Tensor) -> list[Tensor]:
        """The GT's LPIPS features, computed once for the model's frame and the baseline's, which
        are scored against the very same tensor."""
        if self._gt_features is None or self._gt_features[0] is not hr_rgb:
            self._gt_features = (hr_rgb, self._lpips_features(hr_rgb))
        return self._gt_features[1]

    def _temporal(self, res: SequenceResult, index: int, sr: Tensor, sr_rgb: Tensor, hr_rgb: Tensor) -> None:
        pairs = scored_pairs(res.num_frames)
        if index not in pairs and index + 1 not in pairs:
            res._previous = None
            return
        b = self.scale
        err = high = flat = None
        if self.regions is not None:
            err = ((luma(sr) - luma(hr_rgb))[0] * 255.0)[b:-b, b:-b].cpu().numpy()
            high, flat = (m.cpu().numpy() for m in region_masks(hr_rgb, 0, self.regions))
        sr_u8 = to_uint8_hwc(sr_rgb)
        frame = _Frame(index, sr_u8, to_uint8_hwc(hr_rgb), crop_features(self.tlp_net, sr_u8), err, high, flat)
        prev, res._previous = res._previous, frame
        if index not in pairs or prev is None or prev.index != index - 1:
            return
        gt_flow, gt_lpips = self._gt_pair(res.name, prev, frame)
        sr_flow = optical_flow(prev.sr, frame.sr)
        res.pairs.append(index)
        res.tof.append(tof(gt_flow, sr_flow))
        with torch.no_grad():
            sr_lpips = float(self.tlp_net.distance(prev.sr_features, frame.sr_features)[0])
        res.tlp.append(tlp(gt_lpips, sr_lpips))
        res.tlp_signed.append(tlp_signed(gt_lpips, sr_lpips))
        if self.regions is not None:
            flat_both = (prev.flat & frame.flat)[b:-b, b:-b]
            scores = region_flicker(gt_flow, sr_flow, frame.high, frame.flat, prev.err, frame.err, flat_both)
            for name, value in scores.items():
                getattr(res, name).append(value)

    def _gt_pair(self, sequence: str, prev: _Frame, frame: _Frame) -> tuple[np.ndarray, float]:
        """The GT's half of a pair, its flow and its LPIPS: computed once per pair, although the
        model and the bicubic baseline both ask for it."""

        def pair() -> tuple[np.ndarray, float]:
            with torch.no_grad():
                gt_lpips = float(self.tlp_net.distance(self._gt_crop(sequence, prev), self._gt_crop(sequence, frame))[0])
            return optical_flow(prev.gt, frame.gt), gt_lpips

        return _newest(self._gt, (sequence, frame.index), pair)

    def _gt_crop(self, sequence: str, frame: _Frame) -> list[Tensor]:
        """The LPIPS features of the GT's TecoGAN crop, kept for the next pair, in which it is t − 1."""
        return _newest(self._gt_crops, (sequence, frame.index), lambda: crop_features(self.tlp_net, frame.gt))
