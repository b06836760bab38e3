"""Region-aware scores (``savsr evaluate --regions``) against a brute-force numpy reference, and
the single-frame protocol that the report figures use."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from savsr.cli import main
from savsr.data.resize import bi_degrade
from savsr.errors import SavsrError
from savsr.data.color import rgb_to_y
from savsr.media.reader import FrameSource
from savsr.infer.upscaler import load_model
from savsr.evaluation import EvalConfig, evaluate, protocol_frame
from savsr.metrics.psnr_ssim import psnr
from savsr.models import VSRResNet
from savsr.models.checkpoint import GeneratorSpec, save_generator
from savsr.data.activity import DELTA, WINDOW
from savsr.metrics.regions import Regions, region_scores
from savsr.train.config import LossConfig
from test_activity import brute_force_variance
from test_evaluate import _sequences, tiny_model  # noqa: F401 (tiny_model is a fixture)


def numpy_luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 studio-swing Y in [0, 1] of an (H, W, 3) image in [0, 1], written out."""
    return (16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def brute_force_regions(sr_y: np.ndarray, hr_y: np.ndarray, crop: int, high: float, flat: float) -> dict:
    """Eq. 1-3 by loops on the whole GT Y (δ = 0.01, 3×3 window), then the masked scores."""
    mu = brute_force_variance(hr_y[None], 3)[0]
    w = mu / (mu + 0.01)
    err = (sr_y - hr_y) * 255.0
    if crop:
        w, err = w[crop:-crop, crop:-crop], err[crop:-crop, crop:-crop]
    out = {"frac_high": float(np.mean(w > high)), "frac_flat": float(np.mean(w < flat))}
    for name, mask in (("high", w > high), ("flat", w < flat)):
        e = err[mask]
        out[f"psnr_{name}"] = 10 * math.log10(255.0**2 / np.mean(e**2)) if e.size else math.nan
    e = err[w < flat]
    out["noise_flat"] = float(np.sqrt(np.mean((e - e.mean()) ** 2))) if e.size else math.nan
    return out


def scores(sr: np.ndarray, hr: np.ndarray, crop: int, regions: Regions) -> dict:
    """region_scores on (H, W, C) numpy images."""
    as_t = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))  # noqa: E731
    return region_scores(as_t(sr), as_t(hr), crop, regions)


def assert_matches(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-9, err_msg=key)


def test_defaults_are_the_loss_defaults() -> None:
    assert (DELTA, WINDOW) == (LossConfig.delta, LossConfig.window)
    assert Regions() == Regions(0.5, 0.1)


def test_real_vid4_crop_matches_brute_force(calendar_rgb: np.ndarray) -> None:
    hr = np.round(calendar_rgb[100:164, 180:260] * 255) / 255
    rng = np.random.default_rng(3)
    sr = np.clip(np.round((hr + rng.normal(0, 0.02, hr.shape)) * 255) / 255, 0, 1)  # an 8-bit "SR" frame
    want = brute_force_regions(numpy_luma(sr), numpy_luma(hr), 4, 0.5, 0.1)
    assert 0.05 < want["frac_high"] and 0.05 < want["frac_flat"]  # the crop has edges and flat areas
    assert_matches(scores(sr, hr, 4, Regions()), want)


@pytest.mark.parametrize("crop", [0, 2])
def test_random_data_and_other_thresholds_match_brute_force(crop: int) -> None:
    rng = np.random.default_rng(crop)
    # Smooth ramps plus sparse noise, so both regions are populated.
    yy, xx = np.mgrid[0:23, 0:31] / 40.0
    hr = np.clip(np.stack([xx, yy, xx * yy], 2) + (rng.random((23, 31, 1)) > 0.85) * 0.6, 0, 1)
    sr_y = numpy_luma(hr)[..., None] + rng.normal(0, 0.01, (23, 31, 1))
    want = brute_force_regions(sr_y[..., 0], numpy_luma(hr), crop, 0.3, 0.05)
    assert want["frac_high"] > 0.05 and want["frac_flat"] > 0.05
    assert_matches(scores(sr_y, hr, crop, Regions(0.3, 0.05)), want)  # Y prediction, RGB ground truth


def test_known_answer() -> None:
    # Left half flat, right half a ±0.3 checkerboard: W ≈ 0 on the left, far above 0.5 on the right.
    hr = np.full((12, 16, 1), 0.5)
    hr[:, 8:, 0] += 0.3 * (-1.0) ** np.add.outer(np.arange(12), np.arange(8))
    sr = hr.copy()
    sr[:, :8, 0] += 2 / 255 * (-1.0) ** np.arange(8)  # ±2 levels on the flat half
    sr[:, 8:, 0] += 10 / 255  # +10 levels on the textured half
    got = scores(sr, hr, 0, Regions())
    # Columns 0-6 are flat; column 7's window reaches the checkerboard.
    assert got["frac_flat"] == pytest.approx(7 / 16) and got["frac_high"] == pytest.approx(9 / 16)
    assert got["psnr_flat"] == pytest.approx(10 * math.log10(255**2 / 4))
    # The high region: column 7 (±2 levels) and the checkerboard (+10 levels), 12 rows each.
    assert got["psnr_high"] == pytest.approx(10 * math.log10(255**2 * 108 / (12 * 4 + 96 * 100)))
    # The flat errors alternate ±2 over 7 columns (4 × +2, 3 × −2): std = sqrt(4 − (2/7)²).
    assert got["noise_flat"] == pytest.approx(math.sqrt(4 - (2 / 7) ** 2))


def test_empty_region_is_nan_and_bad_thresholds() -> None:
    flat = np.full((10, 10, 1), 0.4)
    got = scores(flat + 1 / 255, flat, 1, Regions())
    assert math.isnan(got["psnr_high"]) and got["frac_high"] == 0 and got["frac_flat"] == 1
    assert got["psnr_flat"] == pytest.approx(10 * math.log10(255**2)) and got["noise_flat"] == pytest.approx(0)
    for high, low in ((0.1, 0.5), (1.0, 0.1), (0.5, 0.0)):
        with pytest.raises(SavsrError, match="thresholds"):
            Regions(high, low)


def test_evaluate_regions_per_frame(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    data = _sequences(tmp_path / "seqs")
    cfg = EvalConfig(data, 2, lpips="none", regions=Regions(0.4, 0.2))
    results, _ = evaluate(cfg, progress=False)
    for res in results:
        for i, index in enumerate(res.frames):
            gt = np.array(Image.open(data / res.name / f"{index:02d}.png").convert("RGB"))
            hr, _, up = bi_degrade(torch.from_numpy(gt).permute(2, 0, 1), 2)
            as_np = lambda t: t.permute(1, 2, 0).double().numpy() / 255.0  # noqa: E731
            want = brute_force_regions(numpy_luma(as_np(up)), numpy_luma(as_np(hr)), 2, 0.4, 0.2)
            assert_matches({k: getattr(res, k)[i] for k in want}, want)
    # The CLI: region columns in every report, for the model and its bicubic baseline row.
    out = tmp_path / "out"
    args = ["evaluate", "--data", str(data), "--scale", "2", "--model", str(tiny_model), "--lpips", "none"]
    assert main([*args, "--region-thresholds", "0.4", "0.2", "-o", str(out)]) == 0
    table = json.loads((out / "results.json").read_text())["table"]
    for key in ("psnr_high", "psnr_flat", "noise_flat", "frac_high", "frac_flat"):
        assert table["bicubic (mean)"][key] == pytest.approx(np.mean([r.mean(key) for r in results]), abs=1e-12)
    assert {"psnr_high", "noise_flat", "frac_flat"} <= table["bicubic (mean)"].keys() <= table["mean"].keys()
    assert (out / "results.csv").read_text().splitlines()[0].endswith("psnr_high,psnr_flat,noise_flat,frac_high,frac_flat")
    assert "| **mean** |" in (out / "results.md").read_text() and "noise flat" in (out / "results.md").read_text()
    capsys.readouterr()
    assert main([*args, "--region-thresholds", "0.1", "0.5", "-o", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "0 < flat <= high < 1" in err[0]


def test_protocol_frame_is_the_evaluated_frame(tmp_path: Path) -> None:
    # A random (not identity) tiny model, so the output depends on every frame of the window.
    torch.manual_seed(1)
    model = VSRResNet(blocks=1, features=8)
    path = save_generator(model, GeneratorSpec(scale=2, blocks=1, features=8), tmp_path / "rnd.safetensors")
    data = _sequences(tmp_path / "seqs")
    results, baseline = evaluate(EvalConfig(data, 2, model=str(path), lpips="none"), progress=False)
    upscaler = load_model(str(path), "cpu", precision="fp32")  # as evaluate runs
    source = FrameSource(data / "alpha")
    for index in (0, 1, 3, 5):  # both ends, where the window is cut, and the middle
        hr, up, sr = protocol_frame(source, index, 2, upscaler)
        out = torch.round(sr.output.double() * 255) / 255
        assert psnr(out, rgb_to_y(hr[None].double() / 255)[0], 2) == pytest.approx(results[0].psnr[index], abs=1e-9)
        assert psnr(up.double() / 255, hr.double() / 255, 2) == pytest.approx(baseline[0].psnr[index], abs=1e-9)
    with pytest.raises(SavsrError, match="out of range"):
        protocol_frame(source, 6, 2)
