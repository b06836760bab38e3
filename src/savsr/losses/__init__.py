"""Losses of the paper, Eq. 1 to 13, and two terms beyond it (temporal, periodic). Each function names the equation it implements."""

from ..data.activity import activity_weights, fuse_channels, local_mean, local_variance
from .adversarial import discriminator_loss, generator_adversarial_loss
from .charbonnier import charbonnier
from .periodic import periodic_loss
from .spatially_adaptive import LossTerms, SpatiallyAdaptiveLoss
from .temporal import temporal_difference_loss

__all__ = [
    "LossTerms",
    "SpatiallyAdaptiveLoss",
    "activity_weights",
    "charbonnier",
    "discriminator_loss",
    "fuse_channels",
    "generator_adversarial_loss",
    "local_mean",
    "local_variance",
    "periodic_loss",
    "temporal_difference_loss",
]
