"""ITU-R BT.601 studio-swing YCbCr, as the super-resolution literature uses it.

Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 on a 0-255 scale (R, G, B in [0, 1]).
Here every value is divided by 255 again, so Y lies in [16/255, 235/255] for inputs in [0, 1].
"""

from __future__ import annotations

import torch
from torch import Tensor

_RGB_TO_YCBCR = (
    (65.481, 128.553, 24.966),
    (-37.797, -74.203, 112.0),
    (112.0, -93.786, -18.214),
)
_OFFSET = (16.0, 128.0, 128.0)


def _matrix(x: Tensor) -> tuple[Tensor, Tensor]:
    m = torch.tensor(_RGB_TO_YCBCR, dtype=x.dtype, device=x.device) / 255.0
    off = torch.tensor(_OFFSET, dtype=x.dtype, device=x.device).view(1, 3, 1, 1) / 255.0
    return m, off


def _check(x: Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected an (N, 3, H, W) tensor, got {tuple(x.shape)}")


def rgb_to_ycbcr(x: Tensor) -> Tensor:
    """(N, 3, H, W) RGB in [0, 1] to YCbCr (BT.601 studio swing), all channels divided by 255."""
    _check(x)
    m, off = _matrix(x)
    return torch.einsum("ij,njhw->nihw", m, x) + off


def rgb_to_y(x: Tensor) -> Tensor:
    """The Y channel of :func:`rgb_to_ycbcr`, shape (N, 1, H, W)."""
    return rgb_to_ycbcr(x)[:, :1]


def luma(x: Tensor) -> Tensor:
    """One (C, H, W) image in [0, 1], Y (C = 1) or RGB, as its detached (1, H, W) float64 Y."""
    x = x.detach().to(torch.float64)
    return rgb_to_y(x[None])[0] if x.shape[0] == 3 else x


def ycbcr_to_rgb(x: Tensor) -> Tensor:
    """Exact inverse of :func:`rgb_to_ycbcr` (no clipping), so a super-resolved Y can be joined to Cb/Cr."""
    _check(x)
    m, off = _matrix(x)
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(m), x - off)


def assemble_rgb(sr: Tensor, bicubic: Tensor) -> Tensor:
    """RGB in [0, 1] from an SR output: a Y output is joined to the bicubic frame's Cb and Cr.

    Args:
        sr: (1, H, W) Y or (3, H, W) RGB, in [0, 1].
        bicubic: (3, H, W) RGB bicubic upsampling of the same frame (uint8 or [0, 1]).
    """
    if sr.shape[0] == 3:
        return sr
    if bicubic.dtype == torch.uint8:
        bicubic = bicubic.float() / 255.0
    ycbcr = rgb_to_ycbcr(bicubic.to(sr)[None])
    ycbcr[:, :1] = sr[None]
    return ycbcr_to_rgb(ycbcr)[0].clamp_(0.0, 1.0)
