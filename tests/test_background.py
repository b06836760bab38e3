"""The background stage: same items in the same order, bounded look-ahead, errors and early
stops handed back, and nothing left running."""

from __future__ import annotations

import threading
import time

import pytest

from savsr.infer.background import background


def test_same_items_in_order_and_bounded_ahead() -> None:
    produced: list[int] = []

    def items():
        for i in range(50):
            produced.append(i)
            yield i

    got = []
    for item in background(items(), depth=3):
        time.sleep(0.002)  # a slow consumer: the producer must wait for it, not run away
        assert len(produced) - len(got) <= 3 + 2  # the queue, plus one item in hand on each side
        got.append(item)
    assert got == list(range(50))


def test_an_error_in_the_thread_is_raised_at_its_item() -> None:
    def items():
        yield 1
        yield 2
        raise ValueError("bad frame 3")

    got = []
    with pytest.raises(ValueError, match="bad frame 3"):
        for item in background(items()):
            got.append(item)
    assert got == [1, 2]


def test_an_early_stop_closes_the_source_and_ends_the_thread() -> None:
    closed = threading.Event()
    where: list[str] = []

    def items():
        try:
            for i in range(10**6):
                yield i
        finally:
            where.append(threading.current_thread().name)
            closed.set()

    before = threading.active_count()
    stream = background(items(), depth=2, name="stage-under-test")
    assert next(stream) == 0
    stream.close()  # the consumer stops: a break, or an error downstream
    assert closed.is_set() and where == ["stage-under-test"]  # closed by the thread that ran it
    assert threading.active_count() == before


def test_consumer_error_joins_the_thread() -> None:
    def items():
        for i in range(1000):
            yield i

    before = threading.active_count()
    with pytest.raises(RuntimeError):
        for item in background(items(), depth=1):
            if item == 5:
                raise RuntimeError("encoder failed")
    assert threading.active_count() == before
