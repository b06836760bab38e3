"""The network's input: a window of 2M+1 frames centred on the frame to super-resolve.

One home for how a window is chosen (edges replicated at a clip's ends) and laid out for
VSRResNet (the frames' channels concatenated in time order, (2M+1)·C channels), used by
inference, evaluation, validation and the training dataset alike.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import torch
from torch import Tensor

T = TypeVar("T")


def window_indices(t: int, n: int, radius: int) -> list[int]:
    """The indices of the 2·radius + 1 window centred on item ``t`` of ``n``, the ends replicated
    as :func:`sliding_windows` replicates them: one window without the stream around it."""
    return [min(max(i, 0), n - 1) for i in range(t - radius, t + radius + 1)]


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


def stack_window(frames: Sequence[Tensor] | Tensor) -> Tensor:
    """The 2M+1 frames (C, H, W) of a window, in time order, as the network's (2M+1)·C × H × W input."""
    return torch.cat(list(frames))


def window_centre(x: Tensor, frames: int) -> Tensor:
    """The centre frame (N, C, H, W) of a batch of stacked windows (N, frames·C, H, W)."""
    c = x.shape[1] // frames
    return x[:, (frames // 2) * c : (frames // 2 + 1) * c]


def split_pair(lr: Tensor, hr: Tensor, frames: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The two samples of a batch of pairs (``VideoPatchDataset(pairs=True)``): the windows centred
    on t and on t+1, of ``frames`` frames each, from the (N, (frames+1)·C, H, W) stack ``lr``, and
    the frames t and t+1 from the (N, 2C, h, w) ``hr``."""
    c = hr.shape[1] // 2
    if lr.shape[1] != (frames + 1) * c:
        raise ValueError(f"lr has {lr.shape[1]} channels, not the {(frames + 1) * c} of a pair of {frames}-frame windows")
    return lr[:, : frames * c], lr[:, c:], hr[:, :c], hr[:, c:]
