"""A term beyond the paper against the GAN's grid: the error's energy at the 2- and 4-pixel periods."""

from __future__ import annotations

import torch
from torch import Tensor

from ..data.color import rgb_to_y
from ..data.spectrum import PERIODS, band_energy


def periodic_loss(sr: Tensor, hr: Tensor, periods: tuple[int, ...] = PERIODS, eps: float = 1e-8) -> Tensor:
    """The grid score of docs/evaluation.md (metrics/periodic.py) pooled over a batch, summed over
    the periods: Σ_p Σ_n E_p(Y(sr_n) − Y(hr_n)) / Σ_n E_p(Y(hr_n)), with E_p the energy of the
    Hann-windowed image in the spectrum's band of period p.

    Eq. 9's VGG16 features and Eq. 11's discriminator see the output through stride-2 layers, so a
    fine periodic pattern can lower them while Eq. 8 barely notices it among all frequencies (the
    grid that SA-VSRGAN draws on Vid4's city). This term is a squared error on those bands alone,
    scaled by the ground truth's energy there so that its weight reads as in the score: 1 is what a
    blurred output with nothing in the bands costs per period.

    Args:
        sr, hr: (N, C, H, W), Y (C = 1) or RGB (C = 3, reduced to BT.601 Y); H and W multiples of
            every period.
    """
    if sr.shape[1] == 3:
        sr, hr = rgb_to_y(sr), rgb_to_y(hr)
    e_err, e_gt = band_energy(torch.stack([sr[:, 0] - hr[:, 0], hr[:, 0]]), periods).sum(1)
    return (e_err / (e_gt + eps)).sum()
