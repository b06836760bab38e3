"""Run in each Ray worker of the cluster test (``worker_process_setup_hook``): each network call
slowed a little, so that a worker can be killed while it is in the middle of a video."""

from __future__ import annotations

import time


def slow_network() -> None:
    from savsr.infer.upscaler import Upscaler

    forward = Upscaler._forward

    def slowed(self, x):
        time.sleep(0.03)
        return forward(self, x)

    Upscaler._forward = slowed
