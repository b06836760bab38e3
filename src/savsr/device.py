"""Which device to run on: one choice for inference, evaluation and training."""

from __future__ import annotations

import torch

from .errors import SavsrError


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str, mps: bool = True) -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS (when ``mps``), then the CPU; a named device must exist.

    Training passes ``mps=False``: its bf16 autocast and fused optimizers are not tested on MPS.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps and _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":")[0]
    if kind not in ("cpu", "cuda") + (("mps",) if mps else ()):
        raise SavsrError(f"unknown device {name!r}; expected auto, cpu, cuda" + (" or mps" if mps else ""))
    if kind == "cuda" and not torch.cuda.is_available():
        raise SavsrError(f"device {name!r}: no CUDA device is available")
    if kind == "mps" and not _mps_available():
        raise SavsrError(f"device {name!r}: Apple's MPS is not available")
    return torch.device(name)
