"""Data: colour conversion, resizing and degradation, image/video reading, datasets."""

from .color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from .io import FrameSource, StreamInfo, list_frames, read_frame, read_image, to_float, to_uint8

__all__ = [
    "FrameSource",
    "StreamInfo",
    "list_frames",
    "read_frame",
    "read_image",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "to_float",
    "to_uint8",
    "ycbcr_to_rgb",
]
