"""Data: colour conversion and image/video reading."""

from .color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from .io import read_frame, read_image, read_video_frame

__all__ = ["read_frame", "read_image", "read_video_frame", "rgb_to_y", "rgb_to_ycbcr", "ycbcr_to_rgb"]
