"""The LR-space generator (models/lr_vsrresnet.py): its bicubic skip against imresize, its
receptive field, and every path that takes it: files, tiles, self-ensemble, OpenVINO, the
dataset, training and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import cpuinfo_has_bf16
from savsr.cli import main
from savsr.data.resize import imresize
from savsr.errors import SavsrError
from savsr.infer.engine import openvino_available
from savsr.infer.upscaler import load_model
from savsr.models import LRVSRResNet
from savsr.models.checkpoint import GeneratorSpec, load_generator, read_spec, save_generator
from savsr.models.lr_vsrresnet import BicubicUpsample, tie_phases_
from train_helpers import make_dataset, write_config

needs_openvino = pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("size", [(7, 9), (3, 16), (20, 5)])
def test_bicubic_skip_is_imresize(scale: int, size: tuple[int, int]) -> None:
    """The fixed polyphase convolution equals MATLAB's imresize (symmetric borders), which
    tests/test_resize.py checks against Octave; under bf16 autocast it stays fp32."""
    x = torch.rand(2, 3, *size, dtype=torch.float64)
    want = imresize(x, scale)
    up = BicubicUpsample(scale, 3)
    torch.testing.assert_close(up(x.float()).double(), want, rtol=0, atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = up(x.float())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, rtol=0, atol=1e-6)


def _model(scale: int = 3, blocks: int = 2, features: int = 8, channels: int = 1, gain: float = 3.0) -> LRVSRResNet:
    torch.manual_seed(0)
    model = LRVSRResNet(scale, 5, channels, blocks, features).eval()
    for p in model.parameters():
        p.data.mul_(gain)  # a residual large enough to see
    return model


def test_shapes_parameters_and_global_skip() -> None:
    model = _model(scale=4, channels=3)
    x = torch.rand(2, 15, 11, 13)
    assert model(x).shape == (2, 3, 44, 52)
    conv = lambda cin, cout: cin * cout * 9 + cout  # noqa: E731
    assert sum(p.numel() for p in model.parameters()) == conv(15, 8) + 2 * 2 * conv(8, 8) + conv(8, 3 * 16)
    assert not any("upsample" in k for k in model.state_dict())  # the fixed kernel is not a weight
    torch.nn.init.zeros_(model.tail.weight)
    torch.nn.init.zeros_(model.tail.bias)
    torch.testing.assert_close(model(x), imresize(x[:, 6:9], 4), rtol=0, atol=1e-6)  # the centre frame, upsampled


def test_receptive_radius_bounds_the_influence_of_an_lr_pixel() -> None:
    model = _model(scale=2, blocks=2).double()
    r = model.lr_radius
    assert r == 6 and model.receptive_radius == 12
    x = torch.rand(1, 5, 31, 31, dtype=torch.float64)
    y = x.clone()
    y[0, 0, 15, 15] += 1.0  # a neighbour frame: only the convolutions see it
    rows, cols = np.nonzero(((model(x) - model(y)).abs()[0, 0] > 0).numpy())
    assert rows.min() == 2 * (15 - r) and rows.max() == 2 * (15 + r) + 1
    assert cols.min() == 2 * (15 - r) and cols.max() == 2 * (15 + r) + 1


def test_the_kind_is_in_the_file(tmp_path: Path) -> None:
    spec = GeneratorSpec(scale=3, blocks=2, features=8, kind="lr-vsrresnet")
    path = save_generator(_model(), spec, tmp_path / "lr.safetensors")
    assert read_spec(path)[0] == spec and read_spec(path)[1]["kind"] == "lr-vsrresnet"
    model, _ = load_generator(path)
    assert isinstance(model, LRVSRResNet) and model.scale == 3
    old = GeneratorSpec(scale=3, blocks=2, features=8)  # files before the LR-space kind have no "kind"
    from safetensors.torch import load_file, save_file

    bare = tmp_path / "old.safetensors"
    vsr = old.build()
    save_file(vsr.state_dict(), str(bare), metadata={"format": "savsr-generator", "scale": "3", "color": "y",
                                                      "frames": "5", "blocks": "2", "features": "8"})
    assert read_spec(bare)[0].kind == "vsrresnet"
    odd = tmp_path / "odd.safetensors"
    save_file(load_file(str(path)), str(odd), metadata={**read_spec(path)[1], "kind": "transformer"})
    with pytest.raises(SavsrError, match="kind=transformer"):
        read_spec(odd)


def test_flops_per_output_pixel() -> None:
    """FLOPs as savsr models shows them, against the analytic count 2·Σk²·c_in·c_out."""
    t, c, b, f = 5, 1, 15, 64
    hr = GeneratorSpec(scale=4, kind="vsrresnet").flops_per_pixel()
    assert hr == 2 * 9 * (t * c * f + 2 * b * f * f + f * c) == 2_218_752
    lr = GeneratorSpec(scale=4, kind="lr-vsrresnet").flops_per_pixel()
    assert lr == 2 * 9 * (t * c * f + 2 * b * f * f + f * c * 16) / 16 + 2 * 25 * c  # + the bicubic skip
    assert hr / lr > 15


@pytest.fixture(scope="module")
def lr_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = GeneratorSpec(scale=3, blocks=2, features=8, kind="lr-vsrresnet")
    return save_generator(_model(), spec, tmp_path_factory.mktemp("lr") / "lr_x3.safetensors")


def test_upscaler_on_lr_frames(lr_file: Path) -> None:
    """The Upscaler feeds the LR frames themselves (Y of the LR), and tiles on the LR grid give
    the whole frame's result."""
    from savsr.data.color import rgb_to_y

    clip = torch.randint(0, 256, (3, 3, 26, 34), dtype=torch.uint8)
    whole = load_model(lr_file, "cpu", "fp32", tile=0, backend="torch")
    out = whole(clip)
    assert out.shape == (3, 3, 78, 102)
    y = rgb_to_y(clip.float() / 255)
    window = torch.cat([y[0], y[0], y[0], y[1], y[2]])[None]  # frame 0: its missing neighbours replicated
    with torch.no_grad():
        want_y = whole.model(window)[0].clamp(0, 1)
    torch.testing.assert_close(whole.stream(iter(clip)).__next__().output, want_y, rtol=0, atol=1e-6)
    tiled = load_model(lr_file, "cpu", "fp32", tile=64, backend="torch")
    assert tiled.overlap == 3 * 6
    torch.testing.assert_close(tiled(clip), out, rtol=0, atol=1e-5)


@needs_openvino
def test_openvino_computes_what_pytorch_computes(lr_file: Path) -> None:
    clip = torch.randint(0, 256, (3, 3, 26, 34), dtype=torch.uint8)
    ref = load_model(lr_file, "cpu", "fp32", tile=0, backend="torch")
    ov = load_model(lr_file, "cpu", "fp32", tile=64, backend="openvino")
    torch.testing.assert_close(ov(clip), ref(clip), rtol=0, atol=1e-5)
    ens = load_model(lr_file, "cpu", "fp32", backend="openvino", self_ensemble=True)
    ens_ref = load_model(lr_file, "cpu", "fp32", backend="torch", self_ensemble=True)
    torch.testing.assert_close(ens(clip), ens_ref(clip), rtol=0, atol=1e-5)


@needs_openvino
@pytest.mark.skipif(not cpuinfo_has_bf16(), reason="this CPU has no native bf16 (neither AVX512-BF16 nor AMX-BF16)")
def test_openvino_bf16_keeps_the_skip_in_fp32(lr_file: Path) -> None:
    """OpenVINO's bf16 hint runs the convolutions in bf16 and the bicubic skip in fp32, as autocast does:
    its error against fp32 is the one PyTorch's bf16 autocast makes, not more."""
    x = torch.rand(1, 5, 26, 34)
    fp32 = load_model(lr_file, "cpu", "fp32", tile=0, backend="torch")
    want = fp32._predict(x)
    autocast = (load_model(lr_file, "cpu", "bf16", tile=0, backend="torch")._predict(x) - want).abs().max()
    ov = load_model(lr_file, "cpu", "bf16", tile=0, backend="openvino")
    assert ov.precision == "bf16"
    assert (ov._predict(x) - want).abs().max() < 2 * autocast


@pytest.mark.parametrize("cache_lr", [False, True])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lr_space_samples_are_crops_of_the_degraded_frames(tmp_path: Path, scale: int, cache_lr: bool) -> None:
    from savsr.data.dataset import VideoPatchDataset
    from savsr.data.resize import bi_degrade

    root = make_dataset(tmp_path)
    ds = VideoPatchDataset(root, scale=scale, patch_size=12, color="rgb", augment=False, samples_per_epoch=20,
                           cache_lr=cache_lr, lr_space=True)
    p, q = 12, 12 // scale
    for i in range(20):
        k, t, top, left, _ = ds.locate(i)
        assert top % scale == 0 and left % scale == 0
        r, entry = ds.scenes[k]
        frames = torch.from_numpy(np.load(r / entry.file)[t - 2 : t + 3]).permute(0, 3, 1, 2)
        hr, lr, _ = bi_degrade(frames, scale)
        lr_patch, hr_patch = ds[i]
        want = lr[:, :, top // scale : top // scale + q, left // scale : left // scale + q]
        assert torch.equal(lr_patch, want.float().reshape(-1, q, q) / 255)
        assert torch.equal(hr_patch, hr[2, :, top : top + p, left : left + p].float() / 255)
    with pytest.raises(ValueError, match="multiple of the scale"):
        VideoPatchDataset(root, scale=scale, patch_size=12 + 1, lr_space=True)


def test_trains_both_stages_and_evaluates(tmp_path: Path) -> None:
    """Pretraining and the GAN stage of Eq. 13 run on the LR-space generator, and `savsr evaluate`
    scores its file: with a zero tail it is bicubic upsampling, so its PSNR is bicubic's."""
    dataset = make_dataset(tmp_path)
    cfg = write_config(tmp_path / "pre.yaml", dataset)
    data = yaml.safe_load(cfg.read_text())
    data["model"]["kind"] = "lr-vsrresnet"
    cfg.write_text(yaml.safe_dump(data))
    assert main(["train", str(cfg), "--out", str(tmp_path / "pre")]) == 0
    pre = tmp_path / "pre" / "checkpoints" / "best" / "generator.safetensors"
    assert read_spec(pre)[0].kind == "lr-vsrresnet"
    gan = write_config(tmp_path / "gan.yaml", dataset, stage="gan", init=str(pre), epochs=1)
    data = yaml.safe_load(gan.read_text())
    data["model"]["kind"] = "lr-vsrresnet"
    gan.write_text(yaml.safe_dump(data))
    assert main(["train", str(gan), "--out", str(tmp_path / "gan")]) == 0
    for run in ("pre", "gan"):  # every step is projected back to tied phases (tie_phases_)
        tail = load_generator(tmp_path / run / "checkpoints" / "best" / "generator.safetensors")[0].tail
        assert _phase_spread(tail.weight, 2) < 1e-6 and tail.bias.reshape(-1, 4).std(1).max() < 1e-6

    model, spec = load_generator(pre)
    torch.nn.init.zeros_(model.tail.weight)
    torch.nn.init.zeros_(model.tail.bias)
    flat = save_generator(model, spec, tmp_path / "flat.safetensors")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:52]
    (tmp_path / "seqs" / "noisy").mkdir(parents=True)
    for t in range(5):  # textured enough that 8-bit rounding is a small part of the error
        img = 128 + 80 * np.sin(0.3 * xx + 0.2 * yy + 0.4 * t)[..., None] + rng.normal(0, 8, (40, 52, 3))
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(tmp_path / "seqs" / "noisy" / f"{t:02d}.png")
    scores = {}
    for name in ("bicubic", str(flat)):
        out = tmp_path / Path(name).stem
        assert main(["evaluate", "--data", str(tmp_path / "seqs"), "--scale", "2", "--model", name,
                     "--lpips", "none", "-o", str(out)]) == 0
        scores[name] = json.loads((out / "results.json").read_text())["per_frame"]["noisy"]["psnr"]
    # Rounding differs (bicubic of 8-bit RGB against the network's float bicubic of Y): hundredths.
    np.testing.assert_allclose(scores[str(flat)], scores["bicubic"], rtol=0, atol=0.05)


def test_another_scale_starts_from_the_body(tmp_path: Path) -> None:
    """An LR-space ×3 run may start from a ×2 generator's head and body; its tail starts afresh."""
    from savsr.train import Trainer, load_config

    dataset = make_dataset(tmp_path)
    x2 = GeneratorSpec(scale=2, blocks=2, features=8, kind="lr-vsrresnet")
    source = _model(scale=2)
    path = save_generator(source, x2, tmp_path / "x2.safetensors")
    cfg = write_config(tmp_path / "x3.yaml", dataset, init=str(path), device="cpu")
    data = yaml.safe_load(cfg.read_text())
    data["model"]["kind"] = "lr-vsrresnet"
    data["data"]["scale"], data["data"]["patch_size"] = 3, 18
    cfg.write_text(yaml.safe_dump(data))
    g = Trainer(load_config(cfg), tmp_path / "run").model()
    want = source.state_dict()
    for key, value in g.state_dict().items():
        if key.startswith("tail."):
            assert value.shape[0] == 9 and want[key].shape[0] == 4  # S²·C outputs: ×3 against ×2
        else:
            assert torch.equal(value, want[key]), key


def test_a_new_network_has_no_sub_pixel_pattern() -> None:
    """ICNR: at initialisation the S² phases of the sub-pixel tail are equal, so the residual is
    constant over each S×S block and has no energy at periods below S (checked by brute force)."""
    torch.manual_seed(0)
    model = LRVSRResNet(4, 5, 1, 2, 8).eval()
    with torch.no_grad():
        residual = model.residual(torch.rand(1, 5, 9, 11))[0, 0]
    blocks = residual.reshape(9, 4, 11, 4)
    assert torch.equal(blocks, blocks[:, :1, :, :1].expand_as(blocks))
    assert residual.abs().max() > 0  # not a zero tail: the body gets gradients from the first step
    assert torch.equal(model.tail.bias, torch.zeros(16))


def _phase_spread(weight: torch.Tensor, scale: int) -> float:
    """The largest spread, over output channels and input features, of the S² phases' tap sums."""
    sums = weight.detach().reshape(weight.shape[0] // scale**2, scale**2, weight.shape[1], -1).sum(-1)
    return float((sums.amax(1) - sums.amin(1)).max())


@pytest.mark.parametrize("scale", [2, 3])
def test_tie_phases_is_the_orthogonal_projection_onto_tied_weights(scale: int) -> None:
    """tie_phases_ against the textbook projection onto the null space of the constraint matrix
    (x − Aᵀ(AAᵀ)⁻¹Ax, numpy in float64); a locally constant input then gives every phase alike."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 2 * scale**2, 3, padding=1)
    raw = conv.weight.detach().double().numpy().reshape(2, scale**2, 3, 9)
    tie_phases_(conv, scale)
    for c in range(2):
        for k in range(3):
            x = raw[c, :, k].reshape(-1)  # phase-major: the 9 taps of phase 0, then phase 1, ...
            a = np.zeros((scale**2 - 1, x.size))
            for p in range(scale**2 - 1):  # sum(phase p) − sum(phase p + 1) = 0
                a[p, 9 * p:9 * p + 9], a[p, 9 * p + 9:9 * p + 18] = 1, -1
            want = x - a.T @ np.linalg.solve(a @ a.T, a @ x)
            got = conv.weight.detach().double().numpy().reshape(2, scale**2, 3, 9)[c, :, k].reshape(-1)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    before = conv.weight.detach().clone()
    tie_phases_(conv, scale)
    assert torch.allclose(conv.weight, before, atol=1e-7)  # idempotent
    flat = torch.ones(1, 3, 6, 6) * torch.tensor([0.3, -1.2, 2.0]).view(1, 3, 1, 1)
    with torch.no_grad():
        out = torch.nn.functional.pixel_shuffle(conv(flat), scale)[:, :, scale:-scale, scale:-scale]
    assert out.std(dim=(2, 3)).max() < 1e-5 and out.abs().max() > 0.01
