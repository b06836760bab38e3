"""The engines that run the generator on a (1, T·C, H, W) window: PyTorch on any device, or
OpenVINO on the CPU.

On a CPU OpenVINO runs VSRResNet about twice as fast as PyTorch's bf16 autocast: its oneDNN
kernels take weights laid out once at compile time and fold the ReLUs and residual adds into the
convolutions, where eager PyTorch re-lays every weight and runs each add as its own pass
(docs/performance.md measures both with `make bench`).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ParameterError, SavsrError

BACKENDS = ("auto", "torch", "openvino")


def openvino_available() -> bool:
    """True when the ``openvino`` package can be imported."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str, device: torch.device) -> str:
    """"torch" or "openvino" for ``backend`` on ``device``: "auto" takes OpenVINO on a CPU where it is
    installed, and PyTorch elsewhere (CUDA, MPS, or a CPU without it)."""
    if backend not in BACKENDS:
        raise ParameterError("backend", f"{{param}} {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "openvino" if device.type == "cpu" and openvino_available() else "torch"
    if backend == "openvino":
        if device.type != "cpu":
            raise ParameterError("backend", f"{{param}} openvino runs on the CPU, not {device.type}; use torch there")
        if not openvino_available():
            raise ParameterError("backend", "{param} openvino: the openvino package is not installed (pip install openvino)")
    return backend


class TorchEngine:
    """The generator in PyTorch: channels_last, under autocast to ``dtype`` (None: fp32)."""

    def __init__(self, model: nn.Module, device: torch.device, dtype: torch.dtype | None) -> None:
        self.model, self.device, self.dtype = model, device, dtype

    def __call__(self, x: Tensor) -> Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            return self.model(x).float()


class OpenVINOEngine:
    """The generator compiled by OpenVINO for the CPU, from the PyTorch module in memory.

    The model is converted once with a dynamic height and width (a few seconds for the bundled
    size) and compiled with ``precision`` as its inference precision hint ("bf16" or "fp32");
    OpenVINO's CPU plugin then prepares its kernels for each new frame or tile shape once and
    keeps them, so a video pays that only for its first window and its edge tiles.
    """

    def __init__(self, model: nn.Module, in_channels: int, precision: str, threads: int | None = None) -> None:
        import openvino as ov
        from openvino.frontend import FrontEndManager
        from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder

        if precision not in ("fp32", "bf16"):
            raise ParameterError("precision", f"{{param}} {precision}: OpenVINO on the CPU computes in fp32 or bf16")
        example = torch.rand(1, in_channels, 32, 32)
        # The frontend directly, not ov.convert_model: that wrapper also starts OpenVINO's
        # telemetry, which sends usage events unless the user opted out.
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on the module's shape checks
            decoder = TorchScriptPythonDecoder(model.float().eval(), example_input=(example,))
        frontend = FrontEndManager().load_by_framework("pytorch")
        ov_model = frontend.convert(frontend.load(decoder))
        ov_model.reshape({0: ov.PartialShape([1, in_channels, -1, -1])})
        config = {"INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision], "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            self.request = ov.Core().compile_model(ov_model, "CPU", config).create_infer_request()
        except RuntimeError as exc:
            raise SavsrError(f"OpenVINO could not compile the model: {str(exc).splitlines()[0]}") from None

    def __call__(self, x: Tensor) -> Tensor:
        out = self.request.infer({0: np.ascontiguousarray(x.detach().float().cpu().numpy())})
        return torch.from_numpy(out[0])
