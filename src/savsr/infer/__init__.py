"""Inference: super-resolving sequences frame by frame through a sliding temporal window."""

from .sequence import sliding_windows, window_indices

__all__ = ["sliding_windows", "window_indices"]
