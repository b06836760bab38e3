"""A test-side LPIPS v0.1 (Zhang et al., 2018), written from the official recipe.

Used only to prove that the VGG16 trunk holds the ImageNet weights: with them and the LPIPS
linear layers, it must reproduce the official values in ../shared/reference/lpips.
"""

from __future__ import annotations

import numpy as np
import torch

from savsr.models.imagenet_weights import load_checkpoint
from savsr.models.vgg import VGG16Features

SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)


def lpips_vgg(img0: np.ndarray, img1: np.ndarray) -> float:
    """LPIPS-vgg v0.1 between two (H, W, 3) uint8 images."""
    trunk = VGG16Features(("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"), normalize=False)
    arrays = load_checkpoint("vgg16")
    lins = [torch.from_numpy(arrays[f"NetLinLayer_{i}/Conv_0/kernel"].reshape(1, -1, 1, 1)) for i in range(5)]

    def prep(img: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1)[None] / 127.5 - 1.0
        return (x - SHIFT) / SCALE

    total = 0.0
    with torch.no_grad():
        for f0, f1, lin in zip(trunk(prep(img0)), trunk(prep(img1)), lins):
            f0 = f0 / (f0.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            f1 = f1 / (f1.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total += ((f0 - f1) ** 2 * lin).sum(1).mean().item()
    return total
