"""Generator and discriminator: shapes, parameter counts, receptive field, and that they learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from savsr.models import Discriminator, VSRResNet
from savsr.models.discriminator import BlurPool


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def vsrresnet_params(frames: int, channels: int, blocks: int, features: int) -> int:
    conv = lambda cin, cout: cin * cout * 9 + cout  # noqa: E731
    return conv(frames * channels, features) + blocks * 2 * conv(features, features) + conv(features, channels)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shapes_for_odd_sizes(scale: int, channels: int) -> None:
    lr_h, lr_w = 13, 17  # odd LR sizes; the network runs on their bicubic upsampling
    gen = VSRResNet(frames=5, channels=channels, blocks=2, features=8)
    out = gen(torch.rand(2, 5 * channels, lr_h * scale, lr_w * scale))
    assert out.shape == (2, channels, lr_h * scale, lr_w * scale)


def test_parameter_counts_match_docs() -> None:
    # The counts written in docs/method.md.
    assert n_params(VSRResNet()) == vsrresnet_params(5, 1, 15, 64) == 1_111_361
    assert n_params(VSRResNet(channels=3)) == vsrresnet_params(5, 3, 15, 64) == 1_118_275
    d = Discriminator()
    want = (1 * 64 * 9 + 64) + (64 * 128 * 9 + 2 * 128) + (128 * 256 * 9 + 2 * 256) + (256 * 5 * 5 + 1)
    assert n_params(d) == want == 376_449


def test_residual_block_structure() -> None:
    block = VSRResNet(blocks=1).body[0]
    kinds = [type(m).__name__ for m in block.body]
    assert kinds == ["Conv2d", "ReLU", "Conv2d", "ReLU"]


def test_global_skip_returns_the_centre_frame_when_the_tail_is_zero() -> None:
    gen = VSRResNet(frames=5, channels=3, blocks=1, features=4)
    torch.nn.init.zeros_(gen.tail.weight)
    torch.nn.init.zeros_(gen.tail.bias)
    x = torch.rand(1, 15, 9, 9)
    torch.testing.assert_close(gen(x), x[:, 6:9])


def test_receptive_radius_bounds_the_influence_of_a_pixel() -> None:
    torch.manual_seed(0)
    gen = VSRResNet(frames=5, channels=1, blocks=2, features=8).double()
    r = gen.receptive_radius
    assert r == 6
    x = torch.rand(1, 5, 31, 31, dtype=torch.float64)
    y = x.clone()
    y[0, 0, 15, 15] += 1.0
    changed = (gen(x) - gen(y)).abs()[0, 0] > 0
    rows, cols = np.nonzero(changed.numpy())
    assert rows.min() == 15 - r and rows.max() == 15 + r
    assert cols.min() == 15 - r and cols.max() == 15 + r


def test_rejects_wrong_input_layout() -> None:
    with pytest.raises(ValueError, match="5 frames"):
        VSRResNet()(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="odd"):
        VSRResNet(frames=4)


def test_discriminator_structure_and_sizes() -> None:
    d = Discriminator(channels=3)
    convs = [m for m in d.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride for c in convs] == [(2, 2)] * 3
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.features) == 2
    for size in [(36, 36), (36, 48), (17, 23), (96, 96)]:
        logits = d(torch.rand(3, 3, *size))
        assert logits.shape == (3, 1)
        p = d.probability(torch.rand(3, 3, *size))
        assert ((p > 0) & (p < 1)).all()


def test_antialiased_discriminator_keeps_the_sizes_and_the_weights() -> None:
    plain, smooth = Discriminator(channels=3), Discriminator(channels=3, antialias=True)
    convs = [m for m in smooth.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride for c in convs] == [(1, 1)] * 3
    assert sum(isinstance(m, BlurPool) for m in smooth.features) == 3
    # Same parameters, so the paper's layout and the antialiased one have the same size and
    # each can start from the other's weights.
    assert [p.shape for p in plain.parameters()] == [p.shape for p in smooth.parameters()]
    for size in [(36, 36), (17, 23)]:
        assert smooth(torch.rand(2, 3, *size)).shape == (2, 1)
    assert plain.features[1].__class__ is torch.nn.LeakyReLU  # the paper's layout: keys as before


def test_blurpool_against_numpy(calendar_rgb: np.ndarray) -> None:
    x = calendar_rgb[100:123, 200:217].transpose(2, 0, 1)  # odd sizes: 23×17
    got = BlurPool(3)(torch.from_numpy(x.copy()).float()[None])[0].double().numpy()
    k = np.outer([1, 2, 1], [1, 2, 1]) / 16
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    want = np.zeros((3, 12, 9))
    for c in range(3):
        for i in range(12):
            for j in range(9):
                want[c, i, j] = (padded[c, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3] * k).sum()
    np.testing.assert_allclose(got, want, atol=1e-6)
    # The 3-tap binomial has a zero at the 2-pixel period: a checkerboard vanishes inside the
    # frame instead of folding onto the coarse grid as a constant, as a plain stride does.
    yy, xx = np.mgrid[:16, :16]
    checker = torch.from_numpy((-1.0) ** (yy + xx)).float()[None, None]
    assert BlurPool(1)(checker)[..., 1:-1, 1:-1].abs().max() < 1e-6
    assert checker[..., ::2, ::2].abs().min() == 1


def _fixed_batch(frame: np.ndarray, n: int = 4, size: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    """Real HR patches and a crude ×2 degradation (the MATLAB-exact one arrives with the data module)."""
    hr = torch.from_numpy(frame.transpose(2, 0, 1)[:1].copy()).float()[None]
    patches = torch.cat([hr[..., 60 * i : 60 * i + size, 100 : 100 + size] for i in range(n)])
    lr = F.interpolate(F.avg_pool2d(patches, 2), scale_factor=2, mode="bilinear", align_corners=False)
    return lr.repeat(1, 5, 1, 1), patches


def test_generator_overfits_one_fixed_batch(calendar_rgb: np.ndarray) -> None:
    torch.manual_seed(0)
    x, y = _fixed_batch(calendar_rgb)
    gen = VSRResNet(frames=5, channels=1, blocks=2, features=32)
    opt = torch.optim.Adam(gen.parameters(), lr=1e-3)
    first = F.mse_loss(gen(x), y).item()
    for _ in range(600):
        opt.zero_grad()
        loss = F.mse_loss(gen(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < first / 10


def test_discriminator_learns_to_separate_real_from_blurred(calendar_rgb: np.ndarray) -> None:
    torch.manual_seed(0)
    blurred, sharp = _fixed_batch(calendar_rgb, size=36)
    blurred = blurred[:, :1]
    d = Discriminator(features=(16, 32, 64))
    opt = torch.optim.Adam(d.parameters(), lr=1e-3)
    from savsr.losses import discriminator_loss

    for _ in range(60):
        opt.zero_grad()
        loss = discriminator_loss(d(sharp), d(blurred))
        loss.backward()
        opt.step()
    d.eval()
    assert (d.probability(sharp) > 0.9).all() and (d.probability(blurred) < 0.1).all()
