"""Inference: super-resolving sequences frame by frame through a sliding temporal window."""

from .sequence import sliding_windows

__all__ = ["sliding_windows"]
