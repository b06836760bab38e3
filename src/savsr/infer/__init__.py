"""Inference: super-resolving sequences frame by frame through a sliding temporal window."""

from .sequence import assemble_rgb, sliding_windows

__all__ = ["assemble_rgb", "sliding_windows"]
