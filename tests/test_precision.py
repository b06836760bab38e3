"""Precision follows the hardware and says so: bf16 only where the CPU computes it natively, fp32
with one line where bf16 is asked for on a CPU without it (an AVX2-only one), and the precision
that computed is the one recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import AVX2_ONLY, REPO, cpuinfo_has_bf16
from savsr.errors import ParameterError, PrecisionFallback, SavsrError
from savsr.infer.engine import openvino_available
from savsr.precision import default_precision, missing_bf16_isa, resolve_precision
from savsr.train import Trainer, load_config
from train_helpers import make_dataset, write_config

CPU = torch.device("cpu")


@pytest.fixture
def avx2(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in AVX2_ONLY.items():
        monkeypatch.setenv(key, value)


def test_auto_is_bf16_exactly_where_the_cpu_flags_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    native = cpuinfo_has_bf16()
    assert default_precision(CPU) == resolve_precision("auto", CPU) == ("bf16" if native else "fp32")
    assert (missing_bf16_isa() is None) == native
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")  # a cap that keeps bf16 changes nothing
    assert default_precision(CPU) == ("bf16" if native else "fp32")


def test_bf16_on_a_cpu_without_it_is_fp32_with_one_line(avx2: None) -> None:
    assert resolve_precision("auto", CPU) == "fp32"
    why = missing_bf16_isa()
    assert why == ("ONEDNN_MAX_CPU_ISA=AVX2 leaves out the CPU's native bf16" if cpuinfo_has_bf16()
                   else "this CPU has no native bf16 (neither AVX512-BF16 nor AMX-BF16)")
    with pytest.warns(PrecisionFallback) as caught:
        assert resolve_precision("bf16", CPU) == "fp32"
    assert [str(w.message) for w in caught] == [f"bf16 asked for, computing in fp32: {why}"]
    assert resolve_precision("fp32", CPU) == "fp32"
    with pytest.raises(ParameterError, match="fp16 needs a GPU"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ParameterError, match="'int4': expected auto, fp32, bf16, fp16"):
        resolve_precision("int4", CPU)


ENGINE_ON_AVX2 = r"""
import torch
from savsr.infer.engine import PackedVSRResNet, TorchEngine
from savsr.models import VSRResNet

assert not torch.ops.mkldnn._is_mkldnn_bf16_supported()  # oneDNN took the cap
torch.manual_seed(0)
model = VSRResNet(blocks=1, features=8).eval()
cpu = torch.device("cpu")
assert PackedVSRResNet.supports(model, cpu, torch.float32)
assert not PackedVSRResNet.supports(model, cpu, torch.bfloat16)
engine = TorchEngine(model, cpu, torch.bfloat16)  # a caller that insists on bf16: eager, not a crash
assert engine.packed is None
x = torch.rand(1, 5, 12, 10)
with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
    want = model(x).float()
assert torch.equal(engine(x), want)
print("ok")
"""


def test_the_packed_pytorch_path_checks_the_isa_not_just_the_op() -> None:
    """Where oneDNN has no bf16 kernels (AVX2 only) the prepacked path is not taken for bf16: before,
    its weight reorder raised a RuntimeError in the middle of `savsr upscale`."""
    env = os.environ | AVX2_ONLY
    done = subprocess.run([sys.executable, "-c", ENGINE_ON_AVX2], capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("backend", ["torch", "openvino"])
def test_upscale_bf16_on_an_avx2_cpu_runs_in_fp32_and_says_so(backend: str, model_file: Path, tmp_path: Path) -> None:
    if backend == "openvino" and not openvino_available():
        pytest.skip("openvino is not installed")
    frame = np.random.default_rng(1).integers(0, 256, (14, 18, 3), dtype=np.uint8)
    Image.fromarray(frame).save(tmp_path / "in.png")

    def upscale(precision: str) -> subprocess.CompletedProcess:
        out = tmp_path / f"{precision}.png"
        args = ["upscale", str(tmp_path / "in.png"), "-o", str(out), "--model", str(model_file), "--backend", backend,
                "--precision", precision]
        return subprocess.run([sys.executable, "-m", "savsr", *args], capture_output=True, text=True,
                              env=os.environ | AVX2_ONLY, cwd=REPO)

    asked = upscale("bf16")
    assert asked.returncode == 0, asked.stderr
    assert asked.stderr.splitlines() == [f"savsr: note: bf16 asked for, computing in fp32: {_avx2_reason()}"]
    plain = upscale("fp32")
    assert plain.returncode == 0 and plain.stderr == ""
    assert np.array_equal(np.array(Image.open(tmp_path / "bf16.png")), np.array(Image.open(tmp_path / "fp32.png")))


def _avx2_reason() -> str:
    return ("ONEDNN_MAX_CPU_ISA=AVX2 leaves out the CPU's native bf16" if cpuinfo_has_bf16()
            else "this CPU has no native bf16 (neither AVX512-BF16 nor AMX-BF16)")


@pytest.mark.parametrize("cpu", ["this", "avx2"])
def test_training_precision_follows_the_cpu(cpu: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run.amp auto trains in bf16 on a bf16 CPU and in fp32 elsewhere; an explicit bf16 where the CPU
    lacks it trains in fp32 with one warning (emulated bf16 was 10× slower than fp32 on an AVX2 CPU)."""
    if cpu == "avx2":
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", AVX2_ONLY["ONEDNN_MAX_CPU_ISA"])
    native = cpu == "this" and cpuinfo_has_bf16()
    dataset = make_dataset(tmp_path)
    auto = Trainer(load_config(write_config(tmp_path / "auto.yaml", dataset, amp="auto", device="cpu")), tmp_path / "a")
    assert auto.precision == ("bf16" if native else "fp32")
    assert auto.amp_dtype == (torch.bfloat16 if native else None)
    explicit = load_config(write_config(tmp_path / "bf16.yaml", dataset, amp="bf16", device="cpu"))
    if native:
        assert Trainer(explicit, tmp_path / "b").precision == "bf16"
    else:
        with pytest.warns(PrecisionFallback, match="bf16 asked for, computing in fp32"):
            assert Trainer(explicit, tmp_path / "b").precision == "fp32"
    none = load_config(write_config(tmp_path / "none.yaml", dataset, amp="none", device="cpu"))
    assert Trainer(none, tmp_path / "n").amp_dtype is None
    fp16 = load_config(write_config(tmp_path / "fp16.yaml", dataset, amp="fp16", device="cpu"))
    with pytest.raises(SavsrError, match=r"^run\.amp fp16 needs a GPU; on the CPU use auto, bf16 or none$"):
        Trainer(fp16, tmp_path / "h")


def test_the_cpu_configs_leave_precision_to_the_hardware() -> None:
    for path in sorted((REPO / "configs" / "cpu").glob("*.yaml")):
        assert load_config(path).run.amp == "auto", path.name
