"""The CUDA paths, run for real where a GPU exists (issue #24); elsewhere skipped, with the reason.

On a lent GPU machine, from the repo root (savsr reads PNG frames through PyAV, which that machine
lacks: carry its wheel, docs/training.md says how, and install it first):
    python3 -m pip install --no-index --no-deps --target /tmp/site .whl/av-*.whl
    PYTHONPATH=/tmp/site:src:tests python3 -m pytest -q -s tests/test_cuda.py
The references are the CPU's fp32 outputs and a brute-force numpy PSNR on Y. Session 21 (one
H200, torch 2.11.0+cu130, PyAV 18.1.0): 6 passed in 23 s (fp32 77.9-83.1 dB, bf16 60.2-64.3,
fp16 77.8-82.6 against the CPU's fp32; tiles tried [0, 540]). The DDP test was added after that
lease and has not run on a GPU yet.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import savsr.infer.upscaler as upscaler_module
from savsr import load_model
from savsr.data.resize import imresize
from train_helpers import make_dataset, same_weights, weights, write_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (issue #24: run it on a lent one)")

MODEL = "sa-vsrgan-x4"  # the paper's generator: its HR-size features are what the memory cap below bites on
AGREEMENT_DB = 55.0  # PSNR-Y between an output and the CPU fp32 one: an RMS difference under half a grey level
SCALE = 4


def psnr_y(sr: np.ndarray, hr: np.ndarray, border: int = SCALE) -> float:
    """PSNR of BT.601 Y (16-235) between two (H, W, 3) images in [0, 1], float64, ``border`` cropped."""
    weights = np.array([65.481, 128.553, 24.966])
    y_sr, y_hr = (16 + img[border:-border, border:-border] @ weights for img in (sr, hr))
    return float(10 * np.log10(255.0**2 / np.mean((y_sr - y_hr) ** 2)))


@pytest.fixture(scope="module")
def clips() -> list[tuple[torch.Tensor, np.ndarray]]:
    """Four bundled calibration clips (from the training sources): their BI ×4 LR frames
    (5, 3, 30, 30) uint8, and the centre HR frame (120, 120, 3) in [0, 1]."""
    with np.load(str(files("savsr") / "assets" / "calibration.npz")) as data:
        hr = data["clips"][:4]  # (4, 5, 120, 120, 3) uint8
    out = []
    for clip in hr:
        t = torch.from_numpy(clip).permute(0, 3, 1, 2)
        out.append((torch.stack([imresize(f, 1 / SCALE) for f in t]), clip[2].astype(np.float64) / 255))
    return out


def centre_sr(up, lr: torch.Tensor) -> np.ndarray:
    return up(lr)[2].permute(1, 2, 0).double().cpu().numpy()


@pytest.fixture(scope="module")
def cpu_model():
    """The reference: the same model on the CPU in fp32."""
    return load_model(MODEL, "cpu", precision="fp32", tile=0, backend="torch")


@pytest.fixture(scope="module")
def cpu_outputs(clips, cpu_model) -> list[np.ndarray]:
    return [centre_sr(cpu_model, lr) for lr, _ in clips]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_agrees_with_the_cpu_fp32(precision: str, clips, cpu_outputs) -> None:
    up = load_model(MODEL, "cuda", precision=precision, tile=0)
    assert up.precision == precision and up.device.type == "cuda"
    outputs = [centre_sr(up, lr) for lr, _ in clips]
    agreement = [psnr_y(out, ref) for out, ref in zip(outputs, cpu_outputs)]
    against_gt = np.array([psnr_y(out, hr) - psnr_y(ref, hr) for out, ref, (_, hr) in zip(outputs, cpu_outputs, clips)])
    print(f"{precision}: PSNR-Y against the CPU's fp32 {np.round(agreement, 2)} dB; "
          f"against the HR frame, minus the CPU's {np.round(against_gt, 4)} dB")
    # The CPU's own bf16 agrees with its fp32 at 60-64 dB on these clips (2 Zen 4 cores).
    assert min(agreement) >= AGREEMENT_DB, agreement


def test_out_of_memory_halves_the_tile_until_it_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    up = load_model(MODEL, "cuda", precision="bf16", tile=256)
    lr = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 270, 480), dtype=np.uint8))
    reference = up(lr)  # tiles that fit without a cap
    tiles: list[int] = []
    tiled_apply = upscaler_module.tiled_apply

    def recording(engine, x, tile, *args):
        tiles.append(tile)
        return tiled_apply(engine, x, tile, *args)

    monkeypatch.setattr(upscaler_module, "tiled_apply", recording)
    up.tile = 0
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    try:
        # A whole 1080p frame's features (64 × 1080 × 1920 in bf16, 265 MB each, several alive) cannot
        # fit in 768 MiB beside the frames; 256-pixel tiles (13 MB each) can.
        cap = torch.cuda.memory_allocated() + (768 << 20)
        torch.cuda.set_per_process_memory_fraction(cap / torch.cuda.get_device_properties(0).total_memory)
        out = up(lr)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    print(f"tiles tried (network input pixels; 0 = whole frame): {tiles}")
    assert tiles[0] == 0 and len(tiles) > 1 and all(a > b for a, b in zip(tiles[1:], tiles[2:])), tiles
    assert (out - reference).abs().max().item() <= 2 / 255


def test_upscale_command_on_cuda_writes_what_the_cpu_computes(clips, cpu_model, tmp_path: Path) -> None:
    lr, _ = clips[0]
    frames = tmp_path / "lr"
    frames.mkdir()
    for i, f in enumerate(lr):
        Image.fromarray(f.permute(1, 2, 0).numpy()).save(frames / f"{i:03d}.png")
    out = tmp_path / "sr"
    res = subprocess.run([sys.executable, "-m", "savsr", "upscale", str(frames), "-o", str(out), "--model", MODEL,
                          "--device", "cuda", "--precision", "bf16"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    written = sorted(out.glob("*.png"))
    assert len(written) == len(lr)
    cpu = cpu_model(lr)
    for path, ref in zip(written, cpu):
        got = np.asarray(Image.open(path), dtype=np.float64) / 255
        want = np.round(ref.permute(1, 2, 0).double().numpy() * 255) / 255
        assert got.shape == want.shape
        assert psnr_y(got, want) >= 45.0  # bf16 against fp32: far below a visible difference


def test_training_on_cuda_in_bf16_learns(tmp_path: Path) -> None:
    from savsr.train import Trainer, load_config

    cfg_path = write_config(tmp_path / "c.yaml", make_dataset(tmp_path), epochs=4, device="cuda", amp="bf16",
                            channels_last=True, val_every=1000, image_every=1000)
    # No validation: its LPIPS weights are not on a bare GPU machine.
    trainer = Trainer(load_config(cfg_path, ["data.val=[]"]), tmp_path / "run", progress=False)
    before = [p.detach().clone() for p in trainer.g.parameters()]
    final = trainer.fit()
    after = list(trainer.g.parameters())
    assert final is not None and (final / "generator.safetensors").exists()
    assert after[0].device.type == "cuda" and all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after))


def test_ddp_two_ranks_on_cuda_hold_identical_weights(tmp_path: Path) -> None:
    """torchrun with 2 ranks on CUDA: NCCL with a GPU per rank, gloo where they share one (no
    validation: its LPIPS weights are not on a bare GPU machine)."""
    cfg = write_config(tmp_path / "c.yaml", make_dataset(tmp_path), epochs=1, device="cuda", amp="bf16",
                       channels_last=True, val_every=1000, image_every=1000)
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29519",
                          str(Path(__file__).parent / "ddp_worker.py"), str(cfg), str(tmp_path / "run"), "data.val=[]"],
                         capture_output=True, text=True, timeout=300, cwd=Path(__file__).parent)
    assert res.returncode == 0, res.stderr[-3000:]
    a, b = weights(tmp_path / "run" / "rank0.safetensors"), weights(tmp_path / "run" / "rank1.safetensors")
    assert same_weights(a, b)
