"""LR-space VSRResNet: the paper's head and residual body at the LR size, ending in a sub-pixel
layer (issue #31).

VSRResNet (Sec. 2.3) runs every convolution on bicubic-upsampled frames at the HR size. The same
body at the LR size costs about 1/S² as much, which is what modern VSR networks (EDVR, BasicVSR,
Real-ESRGAN's realesr-animevideov3) do; docs/method.md argues the choice. The losses of Eq. 1-13
take any generator, so nothing else changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.resize import cubic
from ..data.window import window_centre
from .vsrresnet import ResidualBlock, check_window

_TAPS = 2  # an upsampling bicubic output pixel reads the LR pixels within 2 of its position


def _pad_symmetric(x: Tensor, pad: int) -> Tensor:
    """Mirror ``pad`` pixels on each side of H and W, the edge repeated (MATLAB's "symmetric").

    Slices and a concatenation rather than an index table, so that a traced graph works at any size.
    """
    for dim in (-2, -1):
        def cut(start: int, stop: int | None, dim: int = dim) -> Tensor:
            return x[(Ellipsis, slice(start, stop)) + (slice(None),) * (-1 - dim)]

        before = [cut(i, i + 1) for i in range(pad - 1, -1, -1)]
        after = [cut(-1 - i, -i or None) for i in range(pad)]  # counted from the end: no size in the graph
        x = torch.cat([*before, x, *after], dim=dim)
    return x


class BicubicUpsample(nn.Module):
    """×S bicubic upsampling equal to MATLAB's ``imresize(x, S, 'bicubic')`` on floats.

    Each of the S² sub-pixel phases is a fixed 5×5 kernel on the symmetrically padded LR frame,
    and a PixelShuffle interleaves them: the same arithmetic as :func:`savsr.data.resize.imresize`
    (tests check it), as a convolution that OpenVINO converts at any frame size, where imresize's
    index tables depend on the size. It runs in fp32 under autocast too: it is the output's base.
    """

    def __init__(self, scale: int, channels: int) -> None:
        super().__init__()
        self.scale, self.channels = scale, channels
        offsets = (torch.arange(scale, dtype=torch.float64) + 0.5) / scale - 0.5  # where phase p samples
        taps = torch.arange(-_TAPS, _TAPS + 1, dtype=torch.float64)
        w = cubic(taps[None, :] - offsets[:, None])  # (S, 5)
        w = w / w.sum(1, keepdim=True)
        kernels = (w[:, None, :, None] * w[None, :, None, :]).reshape(scale * scale, 1, 5, 5)  # phase (py, px)
        self.register_buffer("weight", kernels.repeat(channels, 1, 1, 1).float(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(x.device.type, enabled=False):
            phases = F.conv2d(_pad_symmetric(x.to(self.weight.dtype), _TAPS), self.weight, groups=self.channels)
            return F.pixel_shuffle(phases, self.scale)


def _icnr_(conv: nn.Conv2d, scale: int) -> None:
    """Initialise a sub-pixel convolution so that its S² phases start equal (ICNR: Aitken et al.,
    "Checkerboard artifact free sub-pixel convolution", 2017), with zero bias.

    PyTorch's default draws each phase's kernel and bias independently, and PixelShuffle turns
    their differences into a pattern of period S at the start of training: the first LR-space
    run (issue #31, default initialisation) still had 23× the ground truth's energy at the
    2-pixel period on its validation crops after 3,000 steps, and 4.3× after its first learning
    rate decay, where VSRResNet has 1.4×.
    """
    out_channels = conv.out_channels // (scale * scale)
    base = torch.empty(out_channels, *conv.weight.shape[1:])
    nn.init.kaiming_uniform_(base, a=5**0.5)  # PyTorch's default for a convolution, drawn once per channel
    with torch.no_grad():
        conv.weight.copy_(base.repeat_interleave(scale * scale, dim=0))  # channel c·S² + phase, as PixelShuffle reads
        conv.bias.zero_()


@torch.no_grad()
def tie_phases_(conv: nn.Conv2d, scale: int) -> None:
    """Project a sub-pixel convolution so that its S² phases answer a locally constant input alike.

    For each output channel and input feature, every phase's kernel is shifted by a constant so
    that its taps sum to the mean of the phases' sums, and the phases share one bias: the closest
    tied weights in the least-squares sense. A phase may still answer a feature's local variation
    (sub-pixel detail); what it can no longer do is add its own offset wherever features are
    roughly constant, which PixelShuffle interleaves into a fixed pattern of period S. The first
    LR-space GAN stage (issue #31) learned exactly that: ±5 levels between the phases on Vid4's
    city, 80 % of its grid 2 px. Idempotent, and kept by averaging (EMA, DDP), since it is linear.
    """
    phases = scale * scale
    taps = conv.weight.shape[2] * conv.weight.shape[3]
    w = conv.weight.reshape(conv.out_channels // phases, phases, conv.in_channels, taps)  # a copy if channels_last
    sums = w.sum(-1, keepdim=True)
    conv.weight.copy_((w - (sums - sums.mean(1, keepdim=True)) / taps).reshape(conv.weight.shape))
    if conv.bias is not None:
        b = conv.bias.view(-1, phases)
        b.copy_(b.mean(1, keepdim=True).expand_as(b))


class LRVSRResNet(nn.Module):
    """Video SR generator in LR space: 2M+1 LR frames in, the centre HR frame out.

    Input is (N, frames·channels, h, w): the LR frames stacked along channels in time order, not
    upsampled. Output is (N, channels, S·h, S·w).

    Head: one 3×3 convolution over the stack, then ReLU. Body: ``blocks`` residual blocks of
    VSRResNet. Tail: a 3×3 convolution to S²·channels and PixelShuffle(S) (Shi et al., CVPR 2016),
    added to the bicubic-upsampled centre frame (the global skip of VSRResNet), so the network
    learns only the missing detail.
    """

    def __init__(self, scale: int = 4, frames: int = 5, channels: int = 1, blocks: int = 15, features: int = 64) -> None:
        super().__init__()
        if frames < 1 or frames % 2 == 0:
            raise ValueError(f"frames must be a positive odd number (2M+1), got {frames}")
        if scale < 1 or channels < 1 or blocks < 0 or features < 1:
            raise ValueError("scale, channels and features must be >= 1 and blocks >= 0")
        self.scale, self.frames, self.channels = scale, frames, channels
        self.head = nn.Sequential(nn.Conv2d(frames * channels, features, 3, padding=1), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*(ResidualBlock(features) for _ in range(blocks)))
        self.tail = nn.Conv2d(features, channels * scale * scale, 3, padding=1)
        _icnr_(self.tail, scale)
        self.upsample = BicubicUpsample(scale, channels)

    def tie_phases_(self) -> None:
        """Tie the tail's sub-pixel phases (:func:`tie_phases_`); training calls it after every step."""
        tie_phases_(self.tail, self.scale)

    @property
    def lr_radius(self) -> int:
        """LR pixels of context on each side that one output pixel depends on (one per 3×3 conv)."""
        return max(2 + 2 * len(self.body), _TAPS)

    @property
    def receptive_radius(self) -> int:
        """The same in HR pixels, for tiling: tiles overlap by it."""
        return self.scale * self.lr_radius

    def forward(self, x: Tensor) -> Tensor:
        check_window(x, self.frames, self.channels, "LR frames")
        return self.base(x) + self.residual(x).float()

    def base(self, x: Tensor) -> Tensor:
        """The global skip: the bicubic upsampling of the centre LR frame, in fp32."""
        return self.upsample(window_centre(x, self.frames))

    def residual(self, x: Tensor) -> Tensor:
        """What the convolutions add to :meth:`base`: the detail bicubic upsampling lacks."""
        return F.pixel_shuffle(self.tail(self.body(self.head(x))), self.scale)
