"""Media: reading frames (images, frame folders, videos) with one probe, encoding them, and
joining encoded segments with a source's other streams."""

from .reader import (
    DECODERS,
    IMAGE_SUFFIXES,
    VIDEO_INPUT_SUFFIXES,
    FrameSource,
    MediaInfo,
    list_frames,
    read_frame,
    read_image,
    to_float,
    to_uint8,
)

__all__ = [
    "DECODERS",
    "IMAGE_SUFFIXES",
    "VIDEO_INPUT_SUFFIXES",
    "FrameSource",
    "MediaInfo",
    "list_frames",
    "read_frame",
    "read_image",
    "to_float",
    "to_uint8",
]
