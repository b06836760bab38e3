"""Networks: the VSRResNet generator and its LR-space sibling, the patch discriminator and the VGG16 feature trunk."""

from .alexnet import AlexNetFeatures
from .discriminator import Discriminator
from .vgg import LAYER_NAMES as VGG16_LAYERS
from .vgg import VGG16Features
from .lr_vsrresnet import LRVSRResNet
from .vsrresnet import VSRResNet

__all__ = ["AlexNetFeatures", "Discriminator", "LRVSRResNet", "VGG16Features", "VGG16_LAYERS", "VSRResNet"]
