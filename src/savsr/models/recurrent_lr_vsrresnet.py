"""Recurrent LR-space VSRResNet: the LR-space window network with a memory (issue #52).

Each step takes what :class:`~savsr.models.lr_vsrresnet.LRVSRResNet` takes, the 2M+1 LR frames
around frame t, and beside it the features its body made for frame t-1 (the hidden state, as in
RRN: Isobe et al., "Revisiting Temporal Modeling for Video Super-resolution", BMVC 2020, without
motion estimation). The state enters through one 3×3 convolution added to the head's features;
the step returns the SR frame and the body's features for the next step. What the state adds
is bounded (a tanh), so the state of any frame is the body's answer to a bounded input and cannot
grow from frame to frame: unbounded, the issue's probe saw a state learned on 6-frame clips blow
the 40-frame validation clip's later frames down to 9 dB PSNR (docs/method.md).

That convolution starts at zero, so a network warm-started from a trained window model computes
exactly the window model's output, whatever the state: training begins at its quality and learns
only what memory adds. Issue #52's probe trained a recurrence from scratch and it collapsed to a
zero residual; starting at a working model is the remedy its "Build" section proposes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .lr_vsrresnet import LRVSRResNet
from .vsrresnet import check_window


class RecurrentLRVSRResNet(LRVSRResNet):
    """LR-space VSRResNet with a hidden state: (N, frames·C, h, w) LR window and (N, F, h, w)
    state (None: a cold start, as at a clip's first frame or after a scene cut) in; the
    (N, C, S·h, S·w) SR frame and the next state out.

    Its head, body, tail and bicubic skip are :class:`LRVSRResNet`'s (same names, so a window
    model's weights load into it); :attr:`memory` is the state's way in.
    """

    def __init__(self, scale: int = 4, frames: int = 5, channels: int = 1, blocks: int = 15,
                 features: int = 64) -> None:
        super().__init__(scale, frames, channels, blocks, features)
        self.memory = nn.Conv2d(features, features, 3, padding=1)
        nn.init.zeros_(self.memory.weight)  # at the start the state changes nothing: the window model's output
        nn.init.zeros_(self.memory.bias)

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        check_window(x, self.frames, self.channels, "LR frames")
        residual, state = self.step(x, state)
        return self.base(x) + residual.float(), state

    def step(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """What the convolutions add to :meth:`base` for this window, and the next state."""
        h = self.head(x)
        if state is not None:
            h = h + torch.tanh(self.memory(state))
        features = self.body(h)
        return F.pixel_shuffle(self.tail(features), self.scale), features

    def residual(self, x: Tensor) -> Tensor:
        """The residual of a cold start (no state): what the window model it started from adds."""
        return self.step(x)[0]
