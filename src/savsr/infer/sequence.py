"""Sliding temporal windows over a stream of frames."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import TypeVar

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
