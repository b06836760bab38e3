"""The periodic error ratio (metrics/periodic.py) against a brute-force DFT, and its response to grids."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from savsr.data.color import rgb_to_y
from savsr.data.resize import bi_degrade
from savsr.metrics.periodic import periodic_error


def _dft_matrix(n: int) -> np.ndarray:
    k = np.arange(n)
    return np.exp(-2j * np.pi * np.outer(k, k) / n)


def _reference(sr_y: np.ndarray, gt_y: np.ndarray, border: int, period: int) -> float:
    """The definition of docs/evaluation.md, written out: explicit DFT sums, bands from the
    frequencies in cycles per pixel."""
    def crop(y: np.ndarray) -> np.ndarray:
        if border:
            y = y[border:-border, border:-border]
        h, w = y.shape
        hh, ww = h - h % 4, w - w % 4  # a multiple of both periods
        top, left = (h - hh) // 2, (w - ww) // 2
        return y[top : top + hh, left : left + ww]

    gt = crop(gt_y)
    err = crop(sr_y) - gt
    h, w = gt.shape

    def energy(x: np.ndarray) -> np.ndarray:
        hann = lambda n: np.array([0.5 - 0.5 * math.cos(2 * math.pi * i / n) for i in range(n)])  # noqa: E731
        xw = x * hann(h)[:, None] * hann(w)[None, :]
        return np.abs(_dft_matrix(h) @ xw @ _dft_matrix(w).T) ** 2

    def in_band(n: int) -> np.ndarray:
        freq = np.array([k / n if k <= n // 2 else (k - n) / n for k in range(n)])
        return np.abs(np.abs(freq) - 1 / period) <= 1 / n + 1e-12

    band = in_band(h)[:, None] | in_band(w)[None, :]
    return float(energy(err)[band].sum() / energy(gt)[band].sum())


def _y(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) in [0, 1] to a (1, H, W) float64 Y tensor."""
    return rgb_to_y(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0]


@pytest.mark.parametrize("size, border", [((40, 48), 4), ((47, 41), 3), ((36, 30), 0)])
def test_matches_brute_force(calendar_rgb: np.ndarray, size: tuple[int, int], border: int) -> None:
    h, w = size
    gt = _y(calendar_rgb[200 : 200 + h, 300 : 300 + w])
    rng = np.random.default_rng(0)
    sr = (gt + torch.from_numpy(rng.normal(0, 0.02, gt.shape))).clamp(0, 1)
    got = periodic_error(sr, gt, border)
    for p in (2, 4):
        want = _reference(sr[0].numpy() * 255, gt[0].numpy() * 255, border, p)
        assert got[p] == pytest.approx(want, rel=1e-9)
        assert 0.01 < got[p] < 100  # a real, non-degenerate ratio


def test_rgb_is_scored_on_y(calendar_rgb: np.ndarray) -> None:
    gt_rgb = torch.from_numpy(calendar_rgb[:64, :64]).permute(2, 0, 1)
    sr_rgb = (gt_rgb + 0.03 * torch.from_numpy(np.random.default_rng(1).normal(size=gt_rgb.shape))).clamp(0, 1)
    assert periodic_error(sr_rgb, gt_rgb, 2) == periodic_error(_y(sr_rgb.permute(1, 2, 0).numpy()), _y(calendar_rgb[:64, :64]), 2)


def test_uint8_arrays_score_as_their_tensors(calendar_rgb: np.ndarray) -> None:
    """Like psnr and ssim, it takes (H, W[, C]) uint8 arrays: the same ratios as the tensors k/255."""
    gt = np.round(calendar_rgb[:96, :96] * 255).astype(np.uint8)
    noise = np.random.default_rng(2).normal(0, 6, gt.shape)
    sr = np.clip(gt + noise, 0, 255).astype(np.uint8)
    got = periodic_error(sr, gt, 4)
    want = periodic_error(*(torch.from_numpy(x).permute(2, 0, 1).double() / 255 for x in (sr, gt)), 4)
    assert got == pytest.approx(want, rel=1e-12) and 0.01 < got[2] < 100
    with pytest.raises(TypeError, match="uint8"):
        periodic_error(sr.astype(np.float32), gt, 4)


def _tile(period: int, rng: np.random.Generator, shape: tuple[int, int]) -> torch.Tensor:
    """A zero-mean pattern repeating every ``period`` pixels in x and y, unit RMS."""
    tile = rng.standard_normal((period, period))
    pattern = np.tile(tile, (shape[0] // period + 1, shape[1] // period + 1))[: shape[0], : shape[1]]
    pattern -= pattern.mean()
    return torch.from_numpy(pattern / np.sqrt((pattern**2).mean()))[None]


def test_rises_with_grid_amplitude(calendar_rgb: np.ndarray) -> None:
    """A smooth output plus a 4-pixel grid of growing amplitude: both ratios rise with it."""
    gt = _y(calendar_rgb[100:228, 200:328])
    smooth = torch.nn.functional.avg_pool2d(gt[None], 3, 1, 1, count_include_pad=False)[0]
    grid = _tile(4, np.random.default_rng(2), gt.shape[-2:])
    scores = [periodic_error(smooth + a / 255 * grid, gt, 4) for a in (0, 1, 2, 4, 8)]
    for p in (2, 4):
        values = [s[p] for s in scores]
        assert all(b > a for a, b in zip(values, values[1:])), values
    assert scores[-1][4] > 2 * scores[0][4]


def test_bands_are_separate(calendar_rgb: np.ndarray) -> None:
    """A checkerboard (the 2-pixel period only) raises grid2 and leaves grid4 as it was."""
    gt = _y(calendar_rgb[100:228, 200:328])
    smooth = torch.nn.functional.avg_pool2d(gt[None], 3, 1, 1, count_include_pad=False)[0]
    yy, xx = np.mgrid[:128, :128]
    checker = torch.from_numpy((-1.0) ** (yy + xx))[None]
    before, after = periodic_error(smooth, gt, 4), periodic_error(smooth + 4 / 255 * checker, gt, 4)
    assert after[2] > 1.5 * before[2]
    assert after[4] == pytest.approx(before[4], rel=1e-9)


def test_bicubic_x4_has_nothing_in_the_bands(calendar_rgb: np.ndarray) -> None:
    """Bicubic interpolation ×4 has zeros at 1/4 and 1/2 cycle per pixel (multiples of the LR
    sampling rate), so its error there is exactly −GT: a ratio of 1. A sharpened output is not."""
    hr_u8 = torch.from_numpy(np.round(calendar_rgb[:200, :240] * 255).astype(np.uint8)).permute(2, 0, 1)
    hr, _, up = bi_degrade(hr_u8, 4)
    gt, bic = hr.double() / 255, up.double() / 255
    ratios = periodic_error(bic, gt, 4)
    assert ratios[2] == pytest.approx(1.0, abs=2e-3)
    assert ratios[4] == pytest.approx(1.0, abs=2e-3)


def test_edge_cases(calendar_rgb: np.ndarray) -> None:
    gt = _y(calendar_rgb[:32, :32])
    assert periodic_error(gt, gt) == {2: 0.0, 4: 0.0}
    flat = torch.full((1, 32, 32), 0.5, dtype=torch.float64)
    assert all(math.isnan(v) for v in periodic_error(flat, flat).values())
    with pytest.raises(ValueError, match="differ in shape"):
        periodic_error(gt, gt[:, :16])
    with pytest.raises(ValueError, match="too small"):
        periodic_error(gt, gt, crop_border=15)


def test_probe_locked_share() -> None:
    """scripts/periodic_probe.py's share of an error that is one 4×4 tile repeated from the origin."""
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "scripts"))
    import periodic_probe

    rng = np.random.default_rng(3)
    tile = torch.from_numpy(rng.standard_normal((4, 4)))
    assert periodic_probe.locked_share(tile.repeat(10, 12)) == pytest.approx(1.0)
    noise = torch.from_numpy(rng.standard_normal((80, 96)))
    # Brute force: the mean of each of the 16 phases, their variance over the field's variance.
    means = np.array([[noise.numpy()[i::4, j::4].mean() for j in range(4)] for i in range(4)])
    want = ((means - means.mean()) ** 2).mean() / noise.numpy().var()
    assert periodic_probe.locked_share(noise) == pytest.approx(want, rel=1e-9)
    assert periodic_probe.locked_share(noise + 0.5 * tile.repeat(20, 24)) > 0.1 > periodic_probe.locked_share(noise)
