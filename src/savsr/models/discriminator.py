"""Patch discriminator of Lucas et al. [9, 12] (Sec. 2.3 and Fig. 3 of the paper)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BlurPool(nn.Module):
    """Binomial [1, 2, 1]² low-pass, then every second pixel (Zhang, "Making convolutional networks
    shift-invariant again", ICML 2019): a stride-2 subsampling that does not alias.

    The 3-tap binomial has a zero at the 2-pixel period, so a pattern there can no longer fold
    onto the coarser grid as if it were smooth content.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.channels = channels
        self.register_buffer("kernel", (torch.outer(k, k) / 16).expand(channels, 1, 3, 3).contiguous(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        # Replicate padding: a zero border would be an edge the discriminator could learn to look at.
        x = F.pad(x, (1, 1, 1, 1), mode="replicate")
        return F.conv2d(x, self.kernel.to(x.dtype), stride=2, groups=self.channels)


def _down(c_in: int, c_out: int, norm: bool, antialias: bool, act: nn.Module) -> list[nn.Module]:
    """One of the three downsampling layers: a stride-2 convolution (Lucas et al.), or with
    ``antialias`` the same convolution at stride 1 followed by its activation and a BlurPool."""
    conv = nn.Conv2d(c_in, c_out, 3, stride=1 if antialias else 2, padding=1, bias=not norm)
    layers = [conv] + ([nn.BatchNorm2d(c_out)] if norm else []) + [act]
    return layers + ([BlurPool(c_out)] if antialias else [])


class Discriminator(nn.Module):
    """Three stride-2 convolutions with LeakyReLU (batch norm on the last two), then a linear layer.

    With ``antialias`` each stride-2 convolution becomes a stride-1 one followed by a
    :class:`BlurPool`. The plain strided layers alias a 2- or 4-pixel pattern onto their coarser
    grid, and a discriminator trained that way scores a dithered frame as more real than the
    frame itself, which teaches the generator a grid (docs/method.md, "Periodic artefacts").

    ``forward`` returns the logit; D(x) = sigmoid(logit) is the probability that the patch is real
    (``probability``). The losses take logits, which folds the sigmoid into a stable BCE.

    The linear layer sees the feature map of a ``patch_size`` patch (36 → 18 → 9 → 5). Other
    input sizes are first average-pooled (or replicated) to that map size by adaptive pooling,
    so the same weights score patches of any size.
    """

    def __init__(
        self,
        channels: int = 1,
        features: Sequence[int] = (64, 128, 256),
        patch_size: int = 36,
        negative_slope: float = 0.2,
        antialias: bool = False,
    ) -> None:
        super().__init__()
        if len(features) != 3:
            raise ValueError("the discriminator has exactly three convolutional layers")
        f1, f2, f3 = features
        act = nn.LeakyReLU(negative_slope, inplace=True)
        self.features = nn.Sequential(
            *_down(channels, f1, False, antialias, act),
            *_down(f1, f2, True, antialias, act),
            *_down(f2, f3, True, antialias, act),
        )
        side = patch_size
        for _ in range(3):
            side = (side + 1) // 2
        self.pool = nn.AdaptiveAvgPool2d(side)
        self.classifier = nn.Linear(f3 * side * side, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits, shape (N, 1)."""
        return self.classifier(self.pool(self.features(x)).flatten(1))

    def probability(self, x: Tensor) -> Tensor:
        """D(x) of Eq. 10: the sigmoid of the logit."""
        return self.forward(x).sigmoid()
