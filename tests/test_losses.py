"""Eq. 8, 9, 11, 12 and 13 against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from savsr.losses import (
    SpatiallyAdaptiveLoss, activity_weights, discriminator_loss, periodic_loss, temporal_difference_loss,
)
from savsr.metrics import periodic_error
from savsr.models import VGG16Features, VSRResNet


def np_charb(u: np.ndarray, v: np.ndarray, w: np.ndarray | float, eps: float = 1e-3) -> float:
    return float(np.mean(w * np.sqrt((u - v) ** 2 + eps**2)))


def np_softplus(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


@pytest.fixture(scope="module")
def vgg() -> VGG16Features:
    return VGG16Features(("relu2_1", "relu2_2"))


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 1, 12, 14, generator=g, dtype=torch.float64)
    sr = (hr + 0.1 * torch.randn(hr.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    logits = torch.randn(2, 1, generator=g, dtype=torch.float64)
    return hr, sr, logits


def test_every_term_matches_hand_computation(vgg: VGG16Features, batch) -> None:
    hr, sr, logits = batch
    vgg = vgg.double()
    loss = SpatiallyAdaptiveLoss(vgg=vgg)
    terms = loss(sr, hr, logits)

    h, s = hr.numpy(), sr.numpy()
    w = activity_weights(hr).numpy()  # checked against brute force in test_activity
    pixel = np_charb(h, s, 0.001 + 0.1 * 10 * w)
    feat = 0.0
    with torch.no_grad():
        f_h, f_s = vgg(hr), vgg(sr)
        f_w = vgg(torch.from_numpy(w.mean(axis=1, keepdims=True)))
    for a, b, c in zip(f_h, f_s, f_w):
        feat += np_charb(a.numpy(), b.numpy(), 0.798 + 0.1 * 10 * c.numpy())
    adv = float(np.mean(np_softplus(-logits.numpy())))  # −log σ(l)

    assert terms.pixel.item() == pytest.approx(pixel, rel=1e-9)
    assert terms.feature.item() == pytest.approx(feat, rel=1e-9)
    assert terms.adversarial.item() == pytest.approx(adv, rel=1e-9)
    assert terms.total.item() == pytest.approx(0.001 * adv + pixel + feat, rel=1e-9)
    assert set(terms.as_dict()) == {"total", "adversarial", "pixel", "feature"}


@pytest.mark.parametrize("fusion", ["mean", "max"])
def test_rgb_terms_and_psi_match_hand_computation(vgg: VGG16Features, fusion: str) -> None:
    """Three channels with a δ per channel (Eq. 4): the pixel term weights each channel by its own
    W, and the feature term by VGG(ψ(W)) with ψ (Eq. 5) the channel mean or max, written here in
    numpy and replicated to RGB; the two fusions give different losses."""
    g = torch.Generator().manual_seed(1)
    hr = torch.rand(2, 3, 12, 14, generator=g, dtype=torch.float64)
    hr[:, 1, :, 7:] = 0.5  # a flat half in green only, so the channels' W differ
    sr = (hr + 0.1 * torch.randn(hr.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    vgg = vgg.double()
    delta = (0.01, 0.02, 0.005)
    terms = SpatiallyAdaptiveLoss(vgg=vgg, delta=delta, fusion=fusion)(sr, hr)

    h, s = hr.numpy(), sr.numpy()
    w = np.concatenate([activity_weights(hr[:, k : k + 1], d).numpy() for k, d in enumerate(delta)], axis=1)
    psi = w.mean(axis=1, keepdims=True) if fusion == "mean" else w.max(axis=1, keepdims=True)
    with torch.no_grad():
        f_h, f_s = vgg(hr), vgg(sr)
        f_w = vgg(torch.from_numpy(np.repeat(psi, 3, axis=1)))
    feat = sum(np_charb(a.numpy(), b.numpy(), 0.798 + 0.1 * 10 * c.numpy()) for a, b, c in zip(f_h, f_s, f_w))
    assert terms.pixel.item() == pytest.approx(np_charb(h, s, 0.001 + 0.1 * 10 * w), rel=1e-9)
    assert terms.feature.item() == pytest.approx(feat, rel=1e-9)
    other = SpatiallyAdaptiveLoss(vgg=vgg, delta=delta, fusion="max" if fusion == "mean" else "mean")(sr, hr)
    assert abs(other.feature.item() - terms.feature.item()) > 1e-6 * terms.feature.item()


def test_zero_beta_is_the_vsrresfeatgan_baseline(vgg: VGG16Features, batch) -> None:
    hr, sr, logits = batch
    vgg = vgg.double()
    terms = SpatiallyAdaptiveLoss(beta2=0.0, beta3=0.0, vgg=vgg)(sr, hr, logits)
    pixel = 0.001 * np_charb(hr.numpy(), sr.numpy(), 1.0)
    with torch.no_grad():
        feat = sum(0.798 * np_charb(a.numpy(), b.numpy(), 1.0) for a, b in zip(vgg(hr), vgg(sr)))
    assert terms.pixel.item() == pytest.approx(pixel, rel=1e-9)
    assert terms.feature.item() == pytest.approx(feat, rel=1e-9)
    # The spatial weights only add to the loss: W >= 0 and VGG(W) >= 0 after ReLU.
    full = SpatiallyAdaptiveLoss(vgg=vgg)(sr, hr, logits)
    assert full.pixel.item() > terms.pixel.item() and full.feature.item() > terms.feature.item()


def test_sum_reduction_is_the_literal_sum(vgg: VGG16Features, batch) -> None:
    hr, sr, _ = batch
    vgg = vgg.double()
    mean = SpatiallyAdaptiveLoss(vgg=vgg, alpha3=0.0, beta3=0.0)(sr, hr)
    total = SpatiallyAdaptiveLoss(vgg=vgg, alpha3=0.0, beta3=0.0, reduction="sum")(sr, hr)
    assert total.pixel.item() == pytest.approx(mean.pixel.item() * hr.numel(), rel=1e-12)


def test_discriminator_loss_eq12() -> None:
    real, fake = torch.tensor([[2.0], [-1.0]]), torch.tensor([[0.5], [-3.0]])
    want = np.mean(np_softplus(-real.numpy())) + np.mean(np_softplus(fake.numpy()))
    assert discriminator_loss(real, fake).item() == pytest.approx(float(want), rel=1e-6)
    assert SpatiallyAdaptiveLoss.discriminator_loss(real, fake).item() == pytest.approx(float(want), rel=1e-6)
    # Stable for huge logits, where log(sigmoid) would overflow.
    assert torch.isfinite(discriminator_loss(torch.tensor([[1e4]]), torch.tensor([[-1e4]])))


def test_gradients_reach_the_generator_and_vgg_stays_fixed(vgg: VGG16Features) -> None:
    vgg = vgg.float()
    before = [p.detach().clone() for p in vgg.parameters()]
    gen = VSRResNet(frames=5, channels=1, blocks=1, features=8)
    opt = torch.optim.Adam(gen.parameters(), lr=1e-2)
    lr_stack, hr = torch.rand(2, 5, 16, 16), torch.rand(2, 1, 16, 16)
    sr = gen(lr_stack)
    sr.retain_grad()
    loss = SpatiallyAdaptiveLoss(vgg=vgg)(sr, hr, torch.randn(2, 1))
    loss.total.backward()
    assert sr.grad is not None and torch.isfinite(sr.grad).all() and sr.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.parameters())
    opt.step()
    assert all(p.grad is None for p in vgg.parameters())
    for p, q in zip(before, vgg.parameters()):
        assert torch.equal(p, q)


def test_no_logits_means_no_adversarial_term(vgg: VGG16Features) -> None:
    hr = torch.rand(1, 3, 10, 10)
    terms = SpatiallyAdaptiveLoss(vgg=vgg.float())(hr, hr)
    assert terms.adversarial.item() == 0.0


def test_rejects_bad_configuration(vgg: VGG16Features) -> None:
    with pytest.raises(ValueError, match="beta2"):
        SpatiallyAdaptiveLoss(beta2=-1, vgg=vgg)
    with pytest.raises(ValueError, match="feature_layers"):
        SpatiallyAdaptiveLoss(vgg=vgg, feature_layers=("relu3_3",))
    with pytest.raises(ValueError, match="shape"):
        SpatiallyAdaptiveLoss(vgg=vgg)(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 9))
    loss = SpatiallyAdaptiveLoss(vgg=vgg.float())
    sr = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="one per sample"):
        loss(sr, sr, fake_logits=torch.zeros(4, 1))  # e.g. logits of torch.cat([hr, sr])
    loss(sr, sr, fake_logits=torch.zeros(2, 1, 3, 3))  # patch logits, one map per sample, are fine


def test_temporal_term_is_charbonnier_of_the_change_and_ignores_a_shared_error() -> None:
    rng = np.random.default_rng(3)
    sr, sr_next, hr, hr_next = (rng.random((2, 1, 8, 9)) for _ in range(4))
    want = np.mean(np.sqrt(((sr_next - sr) - (hr_next - hr)) ** 2 + 1e-3**2))
    got = temporal_difference_loss(*(torch.from_numpy(a) for a in (sr, sr_next, hr, hr_next)))
    assert float(got) == pytest.approx(want, rel=1e-12)
    # An error both outputs share (a blur, a shift of level) is no change: only ε is left.
    err = torch.from_numpy(rng.normal(size=(2, 1, 8, 9)))
    h, h_next = torch.from_numpy(hr), torch.from_numpy(hr_next)
    assert float(temporal_difference_loss(h + err, h_next + err, h, h_next)) == pytest.approx(1e-3, rel=1e-6)


def _band_energy_numpy(y: np.ndarray, period: int) -> float:
    """Brute force: the periodic-Hann-windowed image's DFT power summed over the bins whose signed
    frequency in y or in x is within one bin of ±n/period."""
    h, w = y.shape
    hann = [0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n) for n in (h, w)]
    power = np.abs(np.fft.fft2(y * np.outer(*hann))) ** 2
    total = 0.0
    for ky in range(h):
        for kx in range(w):
            fy, fx = min(ky, h - ky), min(kx, w - kx)
            if abs(fy - h // period) <= 1 or abs(fx - w // period) <= 1:
                total += power[ky, kx]
    return total


def test_periodic_term_is_the_grid_score_pooled_over_the_batch() -> None:
    rng = np.random.default_rng(5)
    hr = rng.random((3, 1, 16, 20))
    sr = hr + 0.1 * rng.normal(size=hr.shape)
    got = float(periodic_loss(torch.from_numpy(sr), torch.from_numpy(hr)))
    want = sum(sum(_band_energy_numpy(sr[n, 0] - hr[n, 0], p) for n in range(3))
               / sum(_band_energy_numpy(hr[n, 0], p) for n in range(3)) for p in (2, 4))
    assert got == pytest.approx(want, rel=1e-10)
    # One RGB image: the sum of the score's two ratios (metrics/periodic.py, on Y).
    a, b = (torch.from_numpy(rng.random((1, 3, 24, 24))) for _ in range(2))
    assert float(periodic_loss(a, b)) == pytest.approx(sum(periodic_error(a[0], b[0]).values()), rel=1e-9)


def test_periodic_term_sees_a_grid_and_not_a_smooth_error() -> None:
    rng = np.random.default_rng(6)
    hr = torch.from_numpy(rng.random((2, 1, 32, 32)))
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    base = float(periodic_loss(hr, hr))
    smooth = 0.2 * torch.cos(2 * torch.pi * 3 * x / 32) * torch.cos(2 * torch.pi * 2 * y / 32)
    assert float(periodic_loss(hr + smooth, hr)) == pytest.approx(base, abs=1e-12)
    grid = 0.05 * torch.cos(torch.pi * x)  # a 2-pixel column pattern
    assert float(periodic_loss(hr + grid, hr)) > 0.05
    sr = (hr + grid).requires_grad_(True)
    periodic_loss(sr, hr).backward()
    # Its gradient is the grid's own pattern seen through the window twice (once in the forward
    # pass, once in the backward): it points back along the error in the band.
    hann = 0.5 - 0.5 * torch.cos(2 * torch.pi * torch.arange(32.0) / 32)
    window = torch.outer(hann, hann)
    g = sr.grad[0, 0]
    assert torch.corrcoef(torch.stack([g.flatten(), (grid * window**2).flatten()]))[0, 1] > 0.9
