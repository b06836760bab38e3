"""MATLAB-compatible bicubic ``imresize`` and the BI degradation of Sec. 3.1.

Written here because the PyPI ports miss the reference (docs/evaluation.md): bicubic-pytorch
computes float64 input in float32 (errors up to 1.7e-6) and resize-right has no symmetric
border padding in torch (errors up to 0.5).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import ParameterError


def cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with a = −0.5, as MATLAB's ``imresize`` uses."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


def _contributions(in_len: int, out_len: int, scale: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """Indices (out, P) into the input and their weights (out, P) in float64, MATLAB's way.

    When shrinking, the kernel is stretched by 1/scale (antialiasing). Output pixel x (1-based)
    maps to u = x/scale + 0.5·(1 − 1/scale). Borders are symmetric (mirror, edge repeated), and
    each row of weights is normalised to sum to 1.
    """
    width = 4.0 / scale if scale < 1 else 4.0
    x = torch.arange(1, out_len + 1, dtype=torch.float64, device=device)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64, device=device)[None]
    dist = u[:, None] - idx
    weights = scale * cubic(scale * dist) if scale < 1 else cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # Symmetric padding: fold 1-based positions outside [1, in_len] back inside.
    period = torch.cat([torch.arange(in_len, device=device), torch.arange(in_len - 1, -1, -1, device=device)])
    idx = period[(idx.long() - 1) % (2 * in_len)]
    return idx, weights


def resize_along(x: Tensor, dim: int, scale: float) -> Tensor:
    """MATLAB's bicubic ``imresize`` along one dimension of ``x`` (float), unrounded: one of the two
    passes of :func:`imresize`, public for studies of MATLAB's rounding between the passes."""
    in_len = x.shape[dim]
    out_len = math.ceil(in_len * scale)
    idx, weights = _contributions(in_len, out_len, scale, x.device)
    weights = weights.to(x.dtype)
    w_shape = [1] * x.dim()
    w_shape[dim] = out_len
    # One tap at a time, accumulated in place: memory stays at twice the output, where
    # gathering all taps at once would hold (taps × output) values (1 GB for a 4K frame).
    out = x.index_select(dim, idx[:, 0]) * weights[:, 0].view(w_shape)
    if x.requires_grad and torch.is_grad_enabled():  # autograd cannot see through out=
        for p in range(1, idx.shape[1]):
            out = out + x.index_select(dim, idx[:, p]) * weights[:, p].view(w_shape)
        return out
    buf = torch.empty_like(out)
    for p in range(1, idx.shape[1]):
        torch.index_select(x, dim, idx[:, p], out=buf)
        out.addcmul_(buf, weights[:, p].view(w_shape))
    return out


def imresize(x: Tensor, scale: float) -> Tensor:
    """Bicubic resize of (…, H, W) by ``scale``, equal to MATLAB's ``imresize(x, scale, 'bicubic')``.

    - Output size is ceil(H·scale) × ceil(W·scale), as MATLAB computes it.
    - Shrinking is antialiased (the kernel is widened by 1/scale); borders are symmetric.
    - Float input is computed in its own dtype and returned unclipped, as MATLAB does.
    - uint8 and uint16 input is computed in float32, then rounded half away from zero and
      saturated once at the end. This is Octave's arithmetic, and reproduces Octave's uint8
      results exactly; MATLAB instead rounds after each of the two passes, and
      docs/evaluation.md gives the size of that difference.

    Rows are resized before columns, MATLAB's order for equal scales.
    """
    if scale <= 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be a positive number, got {scale}")
    if x.dim() < 2:
        raise ValueError(f"expected a tensor of shape (..., H, W), got {tuple(x.shape)}")
    integer = not x.is_floating_point()
    if integer and x.dtype not in (torch.uint8, torch.int16, torch.int32, torch.int64):
        raise TypeError(f"unsupported dtype {x.dtype}")
    work = x.to(torch.float32) if integer else x
    rows = resize_along(work, work.dim() - 2, scale)
    # Columns are resized as rows of the transpose: selecting whole rows is a contiguous copy,
    # selecting single elements along the last dimension is a slow gather.
    out = resize_along(rows.transpose(-1, -2).contiguous(), work.dim() - 2, scale).transpose(-1, -2).contiguous()
    if integer:
        peak = 255 if x.dtype == torch.uint8 else 65535
        out = torch.floor(out + 0.5).clamp_(0, peak).to(x.dtype)
    return out


def crop_to_multiple(x: Tensor, scale: int) -> Tensor:
    """Crop (…, H, W) at the bottom and right so that H and W are multiples of ``scale``."""
    h, w = x.shape[-2:]
    return x[..., : h - h % scale, : w - w % scale]


# The factors of the BI degradation (Sec. 3.1), and so of every model, dataset and evaluation.
SCALES = (2, 3, 4)


def check_scale(scale: int) -> int:
    """``scale`` if it is one of SCALES; a ParameterError naming the parameter otherwise."""
    if scale not in SCALES:
        raise ParameterError("scale", f"{{param}} must be 2, 3 or 4, got {scale}")
    return scale


def bi_degrade(hr: Tensor, scale: int) -> tuple[Tensor, Tensor, Tensor]:
    """BI degradation of Sec. 3.1: crop HR to a multiple of s, LR = imresize(HR, 1/s), up = imresize(LR, s).

    Returns (cropped HR, LR, LR bicubic-upsampled to the HR size), each in the dtype of ``hr``
    (uint8 stays uint8 at every step, as in the MATLAB pipelines the literature uses).
    """
    check_scale(scale)
    hr = crop_to_multiple(hr, scale)
    lr = imresize(hr, 1 / scale)
    return hr, lr, imresize(lr, scale)
