"""The spatially adaptive loss of Eq. 13: adversarial (Eq. 11) + pixel (Eq. 8) + feature (Eq. 9)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..models.vgg import VGG16Features
from ..data.activity import DELTA, WINDOW, activity_weights, fuse_channels
from .adversarial import discriminator_loss, generator_adversarial_loss
from .charbonnier import charbonnier


@dataclass(frozen=True)
class LossTerms:
    """Total of Eq. 13 and each of its terms, unscaled by α1, for logging.

    ``pixel`` and ``feature`` already include their α/β weights (Eq. 8 and 9 are weighted
    Charbonnier distances); ``adversarial`` is Eq. 11 before multiplication by α1.
    """

    total: Tensor
    adversarial: Tensor
    pixel: Tensor
    feature: Tensor

    def as_dict(self) -> dict[str, float]:
        """Detached Python floats, keyed by term name."""
        return {name: float(getattr(self, name).detach()) for name in ("total", "adversarial", "pixel", "feature")}


class SpatiallyAdaptiveLoss(nn.Module):
    """Generator loss of Eq. 13 for any generator: it takes tensors, not a model.

    L = α1·Eq.11 + γ_w(x, G(Y), α2 + β2·s·W(x)) + Σ_layers γ_w(VGG(x), VGG(G(Y)), α3 + β3·s·VGG(ψ(W(x))))

    where W is Eq. 4 on the HR frame x, s is ``weight_scale`` (the ×10 of Sec. 3.1), ψ is the
    channel fusion of Eq. 5 and VGG(·) are the activations at ``feature_layers``.
    With β2 = β3 = 0 this is the VSRResFeatGAN baseline loss.

    The Σ over training pairs of Eq. 8, 9 and 13 becomes a mean over the batch; each Charbonnier
    term uses ``reduction`` ("mean" by default, so values do not depend on patch size; "sum" is
    the literal sum of Eq. 6-7).

    Args:
        alpha1, alpha2, beta2, alpha3, beta3: the weights of Eq. 13 (paper's values by default).
        eps: ε of the Charbonnier loss (Eq. 6).
        delta: δ of Eq. 3-4.
        weight_scale: factor applied to W and to VGG(W) (Sec. 3.1 uses 10).
        window: side of the local-variance window (Eq. 1-2).
        fusion: ψ of Eq. 5, "mean" or "max".
        feature_layers: VGG16 taps of the feature loss; see ``docs/method.md`` for the default.
        reduction: "mean" or "sum" for every Charbonnier term.
        vgg: an existing ``VGG16Features`` to share; built from ``feature_layers`` when None.
    """

    def __init__(
        self,
        alpha1: float = 0.001,
        alpha2: float = 0.001,
        beta2: float = 0.1,
        alpha3: float = 0.798,
        beta3: float = 0.1,
        eps: float = 1e-3,
        delta: float = DELTA,
        weight_scale: float = 10.0,
        window: int = WINDOW,
        fusion: str = "mean",
        feature_layers: Sequence[str] = ("relu2_1", "relu2_2"),
        reduction: str = "mean",
        vgg: VGG16Features | None = None,
    ) -> None:
        super().__init__()
        for name, value in dict(alpha1=alpha1, alpha2=alpha2, beta2=beta2, alpha3=alpha3, beta3=beta3).items():
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if fusion not in ("mean", "max"):
            raise ValueError(f"unknown fusion {fusion!r}; expected 'mean' or 'max'")
        if reduction not in ("mean", "sum"):
            raise ValueError(f"unknown reduction {reduction!r}; expected 'mean' or 'sum'")
        self.alpha1, self.alpha2, self.beta2 = alpha1, alpha2, beta2
        self.alpha3, self.beta3 = alpha3, beta3
        self.eps, self.delta, self.weight_scale = eps, delta, weight_scale
        self.window, self.fusion, self.reduction = window, fusion, reduction
        if vgg is None and alpha3 + beta3 > 0:
            vgg = VGG16Features(layers=feature_layers)
        elif vgg is not None and tuple(vgg.layers) != tuple(feature_layers):
            raise ValueError(f"vgg taps {vgg.layers} differ from feature_layers {tuple(feature_layers)}")
        self.vgg = vgg

    def activity(self, hr: Tensor) -> Tensor:
        """W(x) of Eq. 4 for the HR batch, before the ×``weight_scale``."""
        return activity_weights(hr, self.delta, self.window)

    def pixel_loss(self, sr: Tensor, hr: Tensor, w: Tensor) -> Tensor:
        """Eq. 8: γ_w(x, G(Y), α2 + β2·s·W(x))."""
        weight = self.alpha2 + self.beta2 * self.weight_scale * w
        return charbonnier(hr, sr, weight, self.eps, self.reduction)

    def feature_loss(self, sr: Tensor, hr: Tensor, w: Tensor) -> Tensor:
        """Eq. 9 summed over the VGG taps: γ_w(VGG(x), VGG(G(Y)), α3 + β3·s·VGG(ψ(W(x))))."""
        if self.vgg is None:
            return sr.new_zeros(())
        n = hr.shape[0]
        with torch.no_grad():
            # x and ψ(W) need no gradient, so they share one pass through the trunk.
            fused = fuse_channels(w, self.fusion).expand(-1, hr.shape[1], -1, -1)
            fixed = [f.to(hr.dtype) for f in self.vgg(torch.cat([hr, fused], dim=0))]
        # Under autocast the trunk runs in bf16/fp16; the Charbonnier distances stay in the inputs' precision.
        sr_feats = [f.to(sr.dtype) for f in self.vgg(sr)]
        total = sr.new_zeros(())
        for f_sr, f_fixed in zip(sr_feats, fixed):
            f_hr, f_w = f_fixed[:n], f_fixed[n:]
            weight = self.alpha3 + self.beta3 * self.weight_scale * f_w
            total = total + charbonnier(f_hr, f_sr, weight, self.eps, self.reduction)
        return total

    def forward(self, sr: Tensor, hr: Tensor, fake_logits: Tensor | None = None) -> LossTerms:
        """Eq. 13 for generator output ``sr`` and ground truth ``hr``, both (N, C, H, W) in [0, 1].

        ``fake_logits`` are the discriminator's logits for ``sr``; without them (or with
        α1 = 0) the adversarial term is zero, which is the loss of a non-GAN run.
        """
        if sr.shape != hr.shape:
            raise ValueError(f"sr {tuple(sr.shape)} and hr {tuple(hr.shape)} differ in shape")
        if fake_logits is not None and (fake_logits.dim() == 0 or fake_logits.shape[0] != sr.shape[0]):
            # Logits of another batch (e.g. of hr) would train G against the wrong samples silently.
            raise ValueError(f"fake_logits {tuple(fake_logits.shape)} are not one per sample of sr {tuple(sr.shape)}")
        w = self.activity(hr.detach())
        pixel = self.pixel_loss(sr, hr, w)
        feature = self.feature_loss(sr, hr, w)
        if fake_logits is None or self.alpha1 == 0:
            adversarial = sr.new_zeros(())
        else:
            adversarial = generator_adversarial_loss(fake_logits)
        total = self.alpha1 * adversarial + pixel + feature
        return LossTerms(total=total, adversarial=adversarial, pixel=pixel, feature=feature)

    @staticmethod
    def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """Eq. 12, the loss the discriminator minimises."""
        return discriminator_loss(real_logits, fake_logits)
