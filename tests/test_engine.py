"""The inference engines: OpenVINO computes what PyTorch computes, and `auto` falls back to PyTorch
where OpenVINO is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import cpuinfo_has_bf16
from savsr.errors import ParameterError, PrecisionFallback
from savsr.infer.engine import OpenVINOEngine, TorchEngine, openvino_available
from savsr.infer.upscaler import load_model

REPO = Path(__file__).resolve().parents[1]
needs_openvino = pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a.double() - b.double()) ** 2).mean()))


@needs_openvino
def test_openvino_computes_what_pytorch_computes(model_file: Path) -> None:
    ref = load_model(model_file, device="cpu", precision="fp32", backend="torch")
    x = torch.rand(1, 5, 37, 29)
    want = ref._predict(x)
    fp32 = load_model(model_file, device="cpu", precision="fp32", backend="openvino")
    assert isinstance(fp32.engine, OpenVINOEngine) and isinstance(ref.engine, TorchEngine)
    torch.testing.assert_close(fp32._predict(x), want, rtol=0, atol=1e-5)
    # A second shape (the transposed one, as self-ensemble makes) through the same compiled model.
    torch.testing.assert_close(fp32._predict(x.transpose(-1, -2)), ref._predict(x.transpose(-1, -2)), rtol=0, atol=1e-5)
    fp32.tile = 16  # tiles of several shapes: still the whole frame's result
    torch.testing.assert_close(fp32._predict(x), want, rtol=0, atol=1e-5)
    ens = load_model(model_file, device="cpu", precision="fp32", backend="openvino", self_ensemble=True)
    ens_ref = load_model(model_file, device="cpu", precision="fp32", backend="torch", self_ensemble=True)
    torch.testing.assert_close(ens._predict(x), ens_ref._predict(x), rtol=0, atol=1e-5)


@needs_openvino
@pytest.mark.skipif(not cpuinfo_has_bf16(), reason="this CPU has no native bf16 (neither AVX512-BF16 nor AMX-BF16)")
def test_openvino_bf16_is_applied_where_native(model_file: Path) -> None:
    """bf16 (the CPU default where it is native) is close to fp32 but not equal: the hint is really applied."""
    x = torch.rand(1, 5, 37, 29)
    want = load_model(model_file, device="cpu", precision="fp32", backend="torch")._predict(x)
    bf16 = load_model(model_file, device="cpu", precision="bf16", backend="openvino")
    assert 40 < _psnr(bf16._predict(x), want) < 120
    assert bf16.precision == "bf16"


@needs_openvino
@pytest.mark.parametrize("cpu", ["this", "without bf16"])
def test_openvino_is_given_a_bf16_hint_only_where_bf16_is_native(cpu: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """savsr's promise on every CPU type: OpenVINO gets a bf16 hint only where bf16 is native (given
    one elsewhere, it may emulate bf16: 3.2× slower than its fp32 on an Ice Lake Xeon), and the
    engine records the hint OpenVINO compiled with and what the compiled graph computes in. What
    OpenVINO does with a hint savsr never gives is not assumed."""
    import savsr.precision as precision_module
    from savsr.models import VSRResNet

    if cpu == "without bf16":  # an Ice Lake Xeon or a Zen 3 as savsr sees it
        monkeypatch.setattr(precision_module, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_vnni"})
    native = cpu == "this" and cpuinfo_has_bf16()
    torch.manual_seed(0)
    model = VSRResNet(blocks=1, features=8).eval()
    bf16, fp32 = OpenVINOEngine(model, 5, "bf16"), OpenVINOEngine(model, 5, "fp32")
    assert (bf16.hint, fp32.hint, fp32.precision) == ("bf16" if native else "f32", "f32", "fp32")
    assert bf16.precision == ("bf16" if native else "fp32")
    x = torch.rand(1, 5, 23, 17)
    # Independently of the graph's records: without native bf16 the request computes fp32's very bits.
    assert torch.equal(bf16(x), fp32(x)) != native


@needs_openvino
def test_openvino_kernels_follow_the_cpu_and_a_onednn_cap() -> None:
    """The benchmarks' AVX2 rows rest on this: OpenVINO's CPU plugin picks its convolution kernels
    by the CPU's flags, and obeys ONEDNN_MAX_CPU_ISA (read when it loads, hence a subprocess)."""
    code = ("from savsr.models import VSRResNet; from savsr.infer.engine import OpenVINOEngine; "
            "print(OpenVINOEngine(VSRResNet(blocks=1, features=8).eval(), 5, 'fp32').kernels)")
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if " avx2" not in flags:
        pytest.skip("the kernel names below are x86-64's")
    native = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert ("avx512" in native) == (" avx512f" in flags), native
    capped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}).stdout.strip()
    assert "avx2" in capped and "avx512" not in capped, capped


@needs_openvino
def test_an_engine_that_falls_back_is_recorded(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where OpenVINO compiles a bf16 request in fp32, the Upscaler says so once and records fp32."""
    import savsr.infer.engine as engine_module
    import savsr.precision as precision_module

    monkeypatch.setattr(precision_module, "missing_bf16_isa", lambda: None)  # savsr takes the CPU for a bf16 one
    monkeypatch.setattr(engine_module, "compiled_precision", lambda compiled: "fp32")  # OpenVINO does not
    model = load_model(model_file, device="cpu", precision="bf16", backend="openvino")
    assert model.precision == "bf16"
    with pytest.warns(PrecisionFallback, match="^bf16 asked for, computing in fp32: OpenVINO compiled the model in fp32"):
        model.engine
    assert model.precision == "fp32" and model._dtype is None


def test_auto_takes_openvino_on_the_cpu_only_where_installed(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "openvino" if openvino_available() else "torch"
    assert load_model(model_file, device="cpu").backend == expected
    monkeypatch.setitem(sys.modules, "openvino", None)  # hidden: `import openvino` fails
    assert not openvino_available()
    assert load_model(model_file, device="cpu").backend == "torch"
    with pytest.raises(ParameterError, match="openvino package is not installed"):
        load_model(model_file, device="cpu", backend="openvino")
    with pytest.raises(ParameterError, match="expected one of auto, torch, openvino"):
        load_model(model_file, device="cpu", backend="onnx")


HIDDEN = r"""
import sys
sys.modules["openvino"] = None
from savsr.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_command_line_works_without_openvino(model_file: Path, tmp_path: Path) -> None:
    frame = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(frame).save(tmp_path / "in.png")

    def upscale(out: str, *extra: str) -> subprocess.CompletedProcess:
        args = ["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / out), "--model", str(model_file),
                "--precision", "fp32", *extra]
        return subprocess.run([sys.executable, "-c", HIDDEN, *args], capture_output=True, text=True, cwd=REPO)

    done = upscale("hidden.png")
    assert done.returncode == 0, done.stderr
    refused = upscale("refused.png", "--backend", "openvino")
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "savsr: error: --backend openvino: the openvino package is not installed (pip install openvino)"]
    assert not (tmp_path / "refused.png").exists()
    # The PyTorch result, and the same image as the default engine makes here.
    ref = load_model(model_file, device="cpu", precision="fp32", backend="torch")
    want = torch.round(ref(torch.from_numpy(frame).permute(2, 0, 1)) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(np.array(Image.open(tmp_path / "hidden.png")), want)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_packed_weights_compute_what_autocast_computes(precision: str) -> None:
    """The CPU's PyTorch path with prepacked weights and fused ReLUs equals eager autocast."""
    from savsr.infer.engine import PackedVSRResNet
    from savsr.models import VSRResNet

    if precision == "bf16" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("oneDNN's bf16 convolutions need AVX-512 (BW, VL, DQ) or AVX-NE-CONVERT; this CPU has neither")

    torch.manual_seed(0)
    model = VSRResNet(blocks=3, features=16).eval().to(memory_format=torch.channels_last)
    dtype = {"fp32": None, "bf16": torch.bfloat16}[precision]
    engine = TorchEngine(model, torch.device("cpu"), dtype)
    assert isinstance(engine.packed, PackedVSRResNet)
    for h, w in ((23, 31), (40, 17)):
        x = torch.rand(1, 5, h, w)
        with torch.no_grad(), torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            want = model(x).float()
        torch.testing.assert_close(engine(x), want, rtol=0, atol=1e-6)


@needs_openvino
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack through glibc")
def test_signal_handlers_keep_a_large_enough_stack() -> None:
    """OpenVINO's compile leaves an 11 KiB alternate signal stack, on which Python's handlers
    (Ctrl-C, a DataLoader's SIGCHLD) overflowed and crashed about one `make bench` in two."""
    import ctypes

    class StackT(ctypes.Structure):
        _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]

    from savsr.models import VSRResNet

    OpenVINOEngine(VSRResNet(blocks=1, features=8).eval(), 5, "bf16")
    current = StackT()
    assert ctypes.CDLL(None).sigaltstack(None, ctypes.byref(current)) == 0
    assert current.ss_flags & 2 or current.ss_size >= 256 * 1024  # disabled, or large
