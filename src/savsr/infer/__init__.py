"""Inference: super-resolving tensors (the Upscaler), files (pipeline), and many files (batch, cluster)."""
