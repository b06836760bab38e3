"""Spatial tiling: run a fully convolutional network on overlapping tiles of a large frame.

Each tile is cut with ``overlap`` extra pixels of context on every side that has a neighbour.
When ``overlap`` is at least the network's receptive radius, every kept output pixel sees
exactly the input it would see untiled, so the result equals untiled inference up to float
rounding (tests/test_infer.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def tiled_apply(fn: Callable[[Tensor], Tensor], x: Tensor, tile: int, overlap: int, out_channels: int,
                scale: int = 1) -> Tensor:
    """``fn`` over (N, C, H, W) ``x`` in tiles of ``tile``×``tile`` input pixels with ``overlap``
    input pixels of context; ``fn`` maps H×W to ``scale``·H × ``scale``·W (1: it keeps the size)."""
    n, _, h, w = x.shape
    if tile <= 0 or (tile >= h and tile >= w):
        return fn(x)
    s = scale
    out: Tensor | None = None
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
            y1, x1 = min(bottom + overlap, h), min(right + overlap, w)
            piece = fn(x[..., y0:y1, x0:x1])
            if out is None:
                out = piece.new_empty(n, out_channels, s * h, s * w)
            out[..., s * top : s * bottom, s * left : s * right] = piece[
                ..., s * (top - y0) : s * (bottom - y0), s * (left - x0) : s * (right - x0)]
    assert out is not None
    return out


MIN_TILE = 64  # the smallest tile side: below it the overlap's context costs more than the tile


def auto_tile(pixels_budget: int, height: int, width: int, minimum: int = MIN_TILE) -> int:
    """Largest square tile side (0 = whole frame) whose padded area fits ``pixels_budget``."""
    if height * width <= pixels_budget:
        return 0
    side = int(pixels_budget**0.5)
    return max(side, minimum)


def memory_budget_pixels(device: torch.device, features: int, bytes_per_value: int) -> int:
    """How many HR pixels one forward pass may cover, from the memory free on ``device``.

    A VSRResNet forward pass without gradients holds about four feature maps of ``features``
    channels at once; we plan for six, and use half of the free memory.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
    else:
        free = _available_ram()
    per_pixel = 6 * features * bytes_per_value
    return max(int(free * 0.5 / per_pixel), 64 * 64)


def _available_ram() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30  # no /proc (macOS, Windows): assume 4 GiB free
