"""VSRResNet generator (Lucas et al. [9, 12]; Sec. 2.3 and Fig. 2 of the paper)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..data.window import window_centre


def check_window(x: Tensor, frames: int, channels: int, what: str) -> None:
    """Refuse an input that is not (N, frames·channels, H, W); skipped while traced for OpenVINO."""
    expected = frames * channels
    if not torch.jit.is_tracing() and (x.dim() != 4 or x.shape[1] != expected):
        raise ValueError(f"expected (N, {expected}, H, W) = {frames} {what} × {channels} channels, got {tuple(x.shape)}")


class ResidualBlock(nn.Module):
    """conv3×3 → ReLU → conv3×3 → ReLU, plus the identity (Sec. 2.3)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(features, features, 3, padding=1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class VSRResNet(nn.Module):
    """Video SR generator: 2M+1 bicubic-upsampled LR frames in, the centre HR frame out.

    Input is (N, frames·channels, H, W): the frames stacked along channels in time order,
    each already bicubic-upsampled to the HR size (Sec. 3.1). Output is (N, channels, H, W).

    Head: one 3×3 convolution over the whole stack, then ReLU. Body: ``blocks`` residual blocks.
    Tail: a 3×3 convolution to ``channels``, added to the bicubic centre frame (global skip),
    so the network learns only the missing detail. Both choices are argued in docs/method.md.
    """

    def __init__(self, frames: int = 5, channels: int = 1, blocks: int = 15, features: int = 64) -> None:
        super().__init__()
        if frames < 1 or frames % 2 == 0:
            raise ValueError(f"frames must be a positive odd number (2M+1), got {frames}")
        if channels < 1 or blocks < 0 or features < 1:
            raise ValueError("channels and features must be >= 1 and blocks >= 0")
        self.frames, self.channels = frames, channels
        self.head = nn.Sequential(nn.Conv2d(frames * channels, features, 3, padding=1), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*(ResidualBlock(features) for _ in range(blocks)))
        self.tail = nn.Conv2d(features, channels, 3, padding=1)

    @property
    def receptive_radius(self) -> int:
        """Pixels of context on each side that one output pixel depends on (one per 3×3 conv)."""
        return 2 + 2 * len(self.body)

    def forward(self, x: Tensor) -> Tensor:
        check_window(x, self.frames, self.channels, "frames")
        return self.base(x) + self.residual(x)

    def base(self, x: Tensor) -> Tensor:
        """The global skip: the bicubic centre frame, which the network's output is added to."""
        return window_centre(x, self.frames)

    def residual(self, x: Tensor) -> Tensor:
        """What the convolutions add to :meth:`base`: the detail bicubic upsampling lacks."""
        return self.tail(self.body(self.head(x)))
