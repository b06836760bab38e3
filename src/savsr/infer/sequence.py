"""Sequence helpers: sliding temporal windows, and joining an SR Y to bicubic chroma."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import TypeVar

import torch
from torch import Tensor

from ..data.color import rgb_to_ycbcr, ycbcr_to_rgb

T = TypeVar("T")


def sliding_windows(items: Iterable[T], radius: int) -> Iterator[list[T]]:
    """Yield, for each item, the window of 2·radius + 1 items centred on it.

    The ends are padded by replicating the first and last items, so a sequence of n items gives
    n windows. At most 2·radius + 1 items are held at a time, whatever the length.
    """
    window: deque[T] = deque(maxlen=2 * radius + 1)
    seen = done = 0
    for item in items:
        window.extend([item] * (radius + 1) if not window else [item])
        seen += 1
        if len(window) == window.maxlen:
            done += 1
            yield list(window)
    while done < seen:  # the last items still wait for right-hand neighbours: replicate the last
        window.append(window[-1])
        if len(window) == window.maxlen:
            done += 1
            yield list(window)


def assemble_rgb(sr: Tensor, bicubic: Tensor) -> Tensor:
    """RGB in [0, 1] from an SR output: a Y output is joined to the bicubic frame's Cb and Cr.

    Args:
        sr: (1, H, W) Y or (3, H, W) RGB, in [0, 1].
        bicubic: (3, H, W) RGB bicubic upsampling of the same frame (uint8 or [0, 1]).
    """
    if sr.shape[0] == 3:
        return sr
    if bicubic.dtype == torch.uint8:
        bicubic = bicubic.float() / 255.0
    ycbcr = rgb_to_ycbcr(bicubic.to(sr)[None])
    ycbcr[:, :1] = sr[None]
    return ycbcr_to_rgb(ycbcr)[0].clamp_(0.0, 1.0)
