"""Patch discriminator of Lucas et al. [9, 12] (Sec. 2.3 and Fig. 3 of the paper)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class Discriminator(nn.Module):
    """Three stride-2 convolutions with LeakyReLU (batch norm on the last two), then a linear layer.

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
    ) -> None:
        super().__init__()
        if len(features) != 3:
            raise ValueError("the discriminator has exactly three convolutional layers")
        f1, f2, f3 = features
        act = nn.LeakyReLU(negative_slope, inplace=True)
        self.features = nn.Sequential(
            nn.Conv2d(channels, f1, 3, stride=2, padding=1),
            act,
            nn.Conv2d(f1, f2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(f2),
            act,
            nn.Conv2d(f2, f3, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(f3),
            act,
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
