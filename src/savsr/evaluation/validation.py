"""The trainer's validation: a few frames of held-out videos, scored exactly as `savsr evaluate` scores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ..media.reader import FrameSource
from ..data.degradation import Degradation, parse_degradation
from ..data.resize import crop_to_multiple
from ..data.window import window_indices
from .protocol import gt_tensor, score_output
from .scoring import Scorer, SequenceResult

if TYPE_CHECKING:
    from ..infer.upscaler import Upscaler


def _centres(n: int, radius: int, count: int) -> list[int]:
    """``count`` frames spread evenly over those with a full window (the middle one if none has)."""
    if n <= 2 * radius:
        return [n // 2]
    return sorted({int(x) for x in np.linspace(radius, n - 1 - radius, count).round()})


class Validator:
    """Scores a generator on ``per_source`` frames of each source (videos or frame folders).

    Each frame is the centre of a window of ``frames`` GT frames (edges replicated at a clip's
    ends), centre-cropped to ``crop`` pixels (0 = whole frames) before the ``degradation`` (BI by
    default; a spec or :class:`~savsr.data.degradation.Degradation`, so a model trained on BD or
    ``real`` is validated on its own), then super-resolved and scored as
    :func:`savsr.evaluation.evaluate` scores it: the 8-bit output on Y, LPIPS-alex on the RGB, and
    the periodic error ratios. The window is degraded as one clip, as the training dataset degrades
    it (a codec encodes its frames as one stream); a random degradation is seeded by (``seed``,
    the window's index), so every validation sees the same LR.
    """

    def __init__(self, sources: Sequence[str | Path], scale: int, frames: int, per_source: int, crop: int,
                 device: str | torch.device = "cpu", degradation: str | Degradation = "bi", seed: int = 0) -> None:
        self.degradation = parse_degradation(degradation)
        self.scorer = Scorer(scale, "alex", "rgb", device)
        self.windows: list[tuple[list[Tensor], Tensor]] = []  # (LR frames of the window, GT centre)
        radius = frames // 2
        for src in sources:
            gt = [gt_tensor(f) for f in FrameSource(src)]
            n = len(gt)
            for t in _centres(n, radius, per_source):
                stack = torch.stack([gt[i] for i in window_indices(t, n, radius)])
                if crop:
                    h, w = stack.shape[-2:]
                    top, left = max((h - crop) // 2, 0), max((w - crop) // 2, 0)
                    stack = stack[..., top : top + crop, left : left + crop]
                hr = crop_to_multiple(stack, scale)
                lr, _ = self.degradation.apply(hr, scale, seed=(seed, len(self.windows)))
                self.windows.append((list(lr), hr[radius]))

    def __call__(self, upscaler: Upscaler) -> dict[str, float]:
        """Mean PSNR-Y (``psnr_y``), LPIPS-alex (``lpips_alex``) and grid ratios (``grid2``, ``grid4``)."""
        res = SequenceResult("validation")
        for index, (lr, hr) in enumerate(self.windows):
            score_output(self.scorer, res, index, upscaler.window(lr), hr.double() / 255.0)
        return {"psnr_y": res.mean("psnr"), "lpips_alex": res.mean("lpips"),
                "grid2": res.mean("grid2"), "grid4": res.mean("grid4")}
