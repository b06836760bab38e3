"""Running the stages of a pipeline side by side: an iterator advanced by a background thread.

Decoding, bicubic upsampling and colour conversion (before the network) and encoding (after it)
then run while the network computes, instead of between its calls. Decoders, encoders, PyTorch
and OpenVINO all release the GIL while they work, so Python threads are enough.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()
_POLL_S = 0.1  # how often a blocked producer checks that its consumer is still there


def background(items: Iterable[T], depth: int = 2, name: str = "savsr-stage") -> Iterator[T]:
    """Yield the items of ``items``, computed by a background thread up to ``depth`` items ahead.

    An exception in the thread is raised here, at the item where it happened. When the consumer
    stops early (an error, a break, or the generator closed), the thread is told to stop, ``items``
    is closed in the thread that ran it, and the thread is joined, so nothing it holds (a decoder,
    a file) is used after this generator returns.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put((None, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, exc = slots.get()
            if exc is not None:
                raise exc
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()
