"""The engines that run the generator on a (1, T·C, H, W) window: PyTorch on any device, or
OpenVINO on the CPU.

On a CPU OpenVINO runs VSRResNet 1.4× (Zen 4), 1.9× (Zen 5) and 2.1× (Emerald Rapids Xeon,
AMX) as fast as PyTorch's bf16 autocast, and 1.3-1.4× in fp32, the precision of CPUs without native bf16: its oneDNN kernels
take weights laid out once at compile time and fold the ReLUs and residual adds into the
convolutions, where eager PyTorch re-lays every weight and runs each add as its own pass
(docs/performance.md measures both per CPU type with `make bench`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from ..data.window import window_centre
from ..errors import ParameterError, SavsrError
from ..precision import missing_bf16_isa
from .quantize import quantized_model

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


_SIGNAL_STACK_BYTES = 1 << 18
_signal_stacks: list = []  # kept alive for the life of the process: the kernel holds their address


def _enlarge_signal_stack() -> None:
    """Give this thread a 256 KiB signal stack if OpenVINO left it a small one.

    Compiling a model makes OpenVINO's CPU plugin install an alternate signal stack of about 11 KiB
    on the calling thread. Python runs its own signal handlers (Ctrl-C, the SIGCHLD of a
    DataLoader worker) on that stack, and glibc's lazy symbol binding there saves the full
    AVX-512 register state: it overflows, and the process dies of a segmentation fault
    (seen here, about one run in two of `make bench`).
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return

    class StackT(ctypes.Structure):
        _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]

    libc = ctypes.CDLL(None, use_errno=True)
    current = StackT()
    if libc.sigaltstack(None, ctypes.byref(current)) != 0:
        return
    ss_disable, ss_onstack = 2, 1
    if current.ss_flags & (ss_disable | ss_onstack) or current.ss_size >= _SIGNAL_STACK_BYTES:
        return
    memory = ctypes.create_string_buffer(_SIGNAL_STACK_BYTES)
    if libc.sigaltstack(ctypes.byref(StackT(ctypes.addressof(memory), 0, _SIGNAL_STACK_BYTES)), None) == 0:
        _signal_stacks.append(memory)


class TorchEngine:
    """The generator in PyTorch: channels_last, under autocast to ``dtype`` (None: fp32).

    On a CPU with oneDNN, a VSRResNet runs as :class:`PackedVSRResNet` instead: the same
    arithmetic, about 1.2× faster (docs/performance.md). Other generators (the LR-space one) run
    eagerly: on a CPU the default engine for them, as for VSRResNet, is OpenVINO.
    """

    def __init__(self, model: nn.Module, device: torch.device, dtype: torch.dtype | None) -> None:
        self.model, self.device, self.dtype = model, device, dtype
        compute = dtype or torch.float32
        self.packed = PackedVSRResNet(model, compute) if PackedVSRResNet.supports(model, device, compute) else None

    def __call__(self, x: Tensor) -> Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        if self.packed is not None:
            return self.packed(x)
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            return self.model(x).float()


_ONES = [1, 1]  # padding, stride and dilation of every VSRResNet convolution (3×3, "same")


class PackedVSRResNet:
    """A VSRResNet's forward pass on the CPU with its weights cast and laid out for oneDNN once,
    and each ReLU fused into the convolution before it.

    Eager PyTorch casts every weight to the compute dtype and reorders it into oneDNN's blocked
    layout on every call, then runs each ReLU as a pass of its own (docs/performance.md measures
    what that costs). The arithmetic is autocast's (convolutions in ``dtype``, the global skip in fp32),
    so the output equals the eager one. The weights are a snapshot taken here: a model trained
    further needs a new engine (the trainer builds one per validation).
    """

    @staticmethod
    def supports(model: nn.Module, device: torch.device, dtype: torch.dtype) -> bool:
        """True for a VSRResNet on a CPU whose oneDNN has the fused ops and computes ``dtype``: its bf16
        kernels need AVX-512 (BW, VL, DQ) or AVX-NE-CONVERT, and an AVX2 CPU has neither."""
        from ..models.vsrresnet import VSRResNet

        return (device.type == "cpu" and isinstance(model, VSRResNet) and torch.backends.mkldnn.is_available()
                and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
                and (dtype != torch.bfloat16 or torch.ops.mkldnn._is_mkldnn_bf16_supported()))

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        self.frames, self.dtype = model.frames, dtype
        self.head = self._pack(model.head[0])
        self.blocks = [(self._pack(b.body[0]), self._pack(b.body[2])) for b in model.body]
        self.tail = self._pack(model.tail)

    def _pack(self, conv: nn.Conv2d) -> tuple[Tensor, Tensor]:
        w = conv.weight.detach().to(self.dtype)
        packed = torch.ops.mkldnn._reorder_convolution_weight(w, _ONES, _ONES, _ONES, 1)
        return packed, conv.bias.detach().to(self.dtype)

    @staticmethod
    def _conv(x: Tensor, weights: tuple[Tensor, Tensor], activation: str) -> Tensor:
        w, b = weights
        return torch.ops.mkldnn._convolution_pointwise(x, w, b, _ONES, _ONES, _ONES, 1, activation, [], "")

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        y = self._conv(x.to(self.dtype), self.head, "relu")
        for first, second in self.blocks:
            y = y + self._conv(self._conv(y, first, "relu"), second, "relu")
        return window_centre(x, self.frames).float() + self._conv(y, self.tail, "none").float()


def openvino_hint(precision: str) -> str:
    """OpenVINO's inference precision hint for ``precision`` ("fp32", "bf16" or "int8"): "bf16"
    only where the CPU computes bf16 natively (:func:`~savsr.precision.missing_bf16_isa`), else "f32".

    Given a bf16 hint on a CPU without it, OpenVINO may emulate bf16 rather than fall back: on an
    Ice Lake Xeon it compiled jit_avx512_bf16 kernels, 3.2× slower than its fp32 (issue #51).
    """
    return "bf16" if precision == "bf16" and missing_bf16_isa() is None else "f32"


def _convolutions(compiled, key: str) -> set[str]:
    """The values of runtime-graph attribute ``key`` over an OpenVINO compiled model's convolutions."""
    return {op.get_rt_info()[key].astype(str) for op in compiled.get_runtime_model().get_ops()
            if op.get_rt_info()["layerType"].astype(str) == "Convolution"}


def compiled_precision(compiled) -> str:
    """"int8", "bf16" or "fp32": what the convolutions of an OpenVINO compiled model compute in.

    Read from the compiled (runtime) graph, not assumed from the hint: what OpenVINO's CPU
    plugin makes of a hint depends on its version and the CPU.
    """
    kinds = _convolutions(compiled, "runtimePrecision")
    return "int8" if kinds & {"u8", "i8"} else "bf16" if "bf16" in kinds else "fp32"


def compiled_kernels(compiled) -> str:
    """The oneDNN kernels OpenVINO chose for the convolutions ("brgconv_avx512_I8, …"): the
    instructions really run, which follow the CPU's flags and a ``ONEDNN_MAX_CPU_ISA`` cap."""
    return ", ".join(sorted(_convolutions(compiled, "primitiveType")))


def to_openvino(model: nn.Module, in_channels: int):
    """The OpenVINO graph of a generator's :meth:`residual` (of the whole module for any other
    module), for (1, ``in_channels``, H, W) inputs of any height and width; ``model`` in fp32, eval mode."""
    import openvino as ov
    from openvino.frontend import FrontEndManager
    from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder

    example = torch.rand(1, in_channels, 32, 32)
    # The frontend directly, not ov.convert_model: that wrapper also starts OpenVINO's
    # telemetry, which sends usage events unless the user opted out.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on the module's shape checks
        # A generator's skip stays out of the graph (see _Residual); any other module goes in whole.
        split = hasattr(model, "residual") and hasattr(model, "base")
        decoder = TorchScriptPythonDecoder(_Residual(model) if split else model, example_input=(example,))
        frontend = FrontEndManager().load_by_framework("pytorch")
        ov_model = frontend.convert(frontend.load(decoder))
    ov_model.reshape({0: ov.PartialShape([1, in_channels, -1, -1])})
    return ov_model


class OpenVINOEngine:
    """The generator compiled by OpenVINO for the CPU, from the PyTorch module in memory.

    The model's convolutions (:meth:`residual`) are converted once with a dynamic height and width
    (a few seconds for the bundled size) and compiled with ``precision`` as its inference precision
    hint (:func:`openvino_hint`: bf16 only where it is native, else fp32), or, for "int8",
    quantized first (infer/quantize.py: calibrated on ``calibration()``'s windows, and cached on
    disk) with what stays unquantized in fp32; its global skip (:meth:`base`) is added in PyTorch,
    in fp32;
    :attr:`hint` is the hint OpenVINO compiled with, :attr:`precision` what the compiled
    convolutions really compute in, and :attr:`kernels` the oneDNN kernels they run;
    OpenVINO's CPU plugin then prepares its kernels for each new frame or tile shape once and
    keeps them, so a video pays that only for its first window and its edge tiles.
    """

    def __init__(self, model: nn.Module, in_channels: int, precision: str, threads: int | None = None,
                 calibration: Callable[[], list[Tensor]] | None = None) -> None:
        import openvino as ov

        if precision not in ("fp32", "bf16", "int8"):
            raise ParameterError("precision", f"{{param}} {precision}: OpenVINO on the CPU computes in fp32, bf16 or int8")
        if precision == "int8" and calibration is None:
            raise ValueError("int8 needs calibration windows")
        model = model.float().eval()
        split = hasattr(model, "residual") and hasattr(model, "base")  # a generator: its skip is added here
        ov_model = to_openvino(model, in_channels)
        if precision == "int8":
            ov_model = quantized_model(ov_model, model, in_channels, calibration)
        config = {"INFERENCE_PRECISION_HINT": openvino_hint(precision), "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            compiled = ov.Core().compile_model(ov_model, "CPU", config)
        except RuntimeError as exc:
            raise SavsrError(f"OpenVINO could not compile the model: {str(exc).splitlines()[0]}") from None
        self.request = compiled.create_infer_request()
        self.hint = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()  # "bf16" or "f32", as compiled
        self.precision = compiled_precision(compiled)
        self.kernels = compiled_kernels(compiled)
        self.base = model.base if split else None
        _enlarge_signal_stack()

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        x = x.detach().float().cpu()
        out = torch.from_numpy(self.request.infer({0: np.ascontiguousarray(x.numpy())})[0])
        return out if self.base is None else self.base(x) + out


class _Residual(nn.Module):
    """The part of a generator that OpenVINO runs: its convolutions, without the global skip.

    The skip (:meth:`base`) is added in PyTorch in fp32: OpenVINO's bf16 hint would otherwise
    also run the LR-space model's bicubic convolution in bf16, an error of over 1/255.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.residual(x)
