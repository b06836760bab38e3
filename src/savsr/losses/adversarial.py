"""GAN losses of Eq. 10-12, computed from discriminator logits.

D(x) = sigmoid(logit), so −log D = softplus(−logit) and −log(1 − D) = softplus(logit);
``binary_cross_entropy_with_logits`` evaluates exactly these without overflow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def generator_adversarial_loss(fake_logits: Tensor) -> Tensor:
    """Eq. 11: E_Y[−log D(G(Y))], the non-saturating generator loss."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Eq. 12: E_x[−log D(x)] + E_Y[−log(1 − D(G(Y)))]."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake
