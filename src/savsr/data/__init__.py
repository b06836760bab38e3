"""Data: colour conversion, resizing and degradation, the activity map, datasets."""

from .color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb

__all__ = ["rgb_to_y", "rgb_to_ycbcr", "ycbcr_to_rgb"]
