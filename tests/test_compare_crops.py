"""scripts/compare_crops.py on real footage (issue #33): a region of a clip degraded as one clip,
GT | bicubic | models, and the same region upscaled from the clip's own frames (no GT)."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO
from savsr.data.color import rgb_to_y
from savsr.data.degradation import parse_degradation
from savsr.data.resize import imresize
from savsr.infer.upscaler import load_model
from savsr.media import FrameSource
from savsr.media.writer import VideoWriter
from savsr.metrics.psnr_ssim import psnr
from savsr.models.checkpoint import GeneratorSpec, save_generator

sys.path.insert(0, str(REPO / "scripts"))
import compare_crops  # noqa: E402

REGION = (8, 16, 48, 64)  # top, left, height, width of the 64×96 frames
BOX = (8, 12, 16, 24)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 96×64 frames of moving texture, FFV1 (lossless): what is decoded is what was written."""
    path = tmp_path_factory.mktemp("clip") / "clip.mkv"
    yy, xx = np.mgrid[0:64, 0:96]
    writer = VideoWriter(path, 96, 64, Fraction(25), codec="ffv1")
    for t in range(6):
        img = 128 + 80 * np.sin(0.4 * xx + 0.25 * yy + 0.6 * t)[..., None] * np.array([1.0, 0.7, -0.5])
        writer.write(img.clip(0, 255).astype(np.uint8))
    writer.close()
    return path


@pytest.fixture(scope="module")
def model_x4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ×4 VSRResNet generator file (1 block × 8 features, seed 0)."""
    torch.manual_seed(0)
    spec = GeneratorSpec(scale=4, blocks=1, features=8)
    return save_generator(spec.build(), spec, tmp_path_factory.mktemp("m") / "tiny_x4.safetensors")


def capture(monkeypatch: pytest.MonkeyPatch) -> dict:
    """What compare_crops hands to the drawing function, then drawn as usual."""
    seen: dict = {}
    draw = compare_crops.save_comparison_figure

    def spy(panels, out, box, overwrite=False, title=""):
        seen.update(panels=panels, box=box, title=title)
        return draw(panels, out, box, overwrite, title)

    monkeypatch.setattr(compare_crops, "save_comparison_figure", spy)
    return seen


def layout(panels: int, h: int, w: int, box: tuple[int, ...]) -> tuple[int, int]:
    """The PNG size save_comparison_figure gives ``panels`` panels of h × w with a box inset: 4.2 in a
    panel wide, rows of height h/w and box h/w, 0.6 in for the titles, at 110 dpi."""
    return round(110 * 4.2 * panels), round(110 * (4.2 * (h / w + box[2] / box[3]) + 0.6))


def test_clip_region_centres_the_frame(clip: Path) -> None:
    frames = list(FrameSource(clip))
    segment, index = compare_crops.clip_region(clip, 3, REGION, clip_frames=4)
    assert index == 2 and len(segment) == 4  # frames 1-4: frame 3 in the middle
    top, left, h, w = REGION
    assert all(np.array_equal(s, f[top : top + h, left : left + w]) for s, f in zip(segment, frames[1:5]))
    segment, index = compare_crops.clip_region(clip, 5, None, clip_frames=4)  # at the end: frames 2-5
    assert index == 3 and segment[0].shape == (64, 96, 3)


def test_real_footage_figure(clip: Path, model_x4: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture(monkeypatch)
    out = tmp_path / "real_x4.png"
    args = ["--video", str(clip), "--frame", "3", "--region", *map(str, REGION), "--box", *map(str, BOX), "--scale", "4",
            "--clip-frames", "4", "--degradation", "h264:25", "--model", f"tiny={model_x4}", "-o", str(out)]
    assert compare_crops.main(args) == 0
    names = list(seen["panels"])
    assert names[0] == "GT" and names[1].startswith("bicubic (") and names[2].startswith("tiny (")
    # The expected panels, computed here without the protocol: frames 1-4 cut to the region, ×4
    # down by BI and through x264 CRF 25 as one clip, then bicubic up and the model's window.
    top, left, h, w = REGION
    hr = torch.stack([torch.from_numpy(f[top : top + h, left : left + w]).permute(2, 0, 1)
                      for f in list(FrameSource(clip))[1:5]])
    lr, _ = parse_degradation("h264:25").apply(hr, 4)
    gt = hr[2].double() / 255.0
    up = imresize(lr[2], 4).double() / 255.0
    sr = load_model(str(model_x4), "cpu", precision="fp32").window([lr[i] for i in (0, 1, 2, 3, 3)]).rgb
    sr = torch.round(sr.double() * 255.0) / 255.0
    for name, want in zip(names, (gt, up, sr)):
        assert np.array_equal(seen["panels"][name], want.permute(1, 2, 0).numpy()), name
    for name, want in zip(names[1:], (up, sr)):
        value = psnr(rgb_to_y(want[None])[0], rgb_to_y(gt[None])[0], 4)
        assert name.endswith(f"({value:.2f} dB)") and 5 < value < 60
    assert seen["box"] == BOX and "×4 from h264:25 (over 4 frames)" in seen["title"]
    assert Image.open(out).size == layout(3, h, w, BOX)


def test_original_figure_has_no_gt(clip: Path, model_x4: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture(monkeypatch)
    out = tmp_path / "real_original_x4.png"
    args = ["--video", str(clip), "--frame", "0", "--region", *map(str, REGION), "--box", *map(str, BOX), "--scale", "4",
            "--clip-frames", "3", "--original", "--model", f"tiny={model_x4}", "-o", str(out)]
    assert compare_crops.main(args) == 0
    assert list(seen["panels"]) == ["bicubic", "tiny"]
    top, left, h, w = REGION
    lr = [torch.from_numpy(f[top : top + h, left : left + w]).permute(2, 0, 1) for f in list(FrameSource(clip))[:3]]
    up = imresize(lr[0], 4).double() / 255.0
    sr = load_model(str(model_x4), "cpu", precision="fp32").window([lr[i] for i in (0, 0, 0, 1, 2)]).rgb
    assert np.array_equal(seen["panels"]["bicubic"], up.permute(1, 2, 0).numpy())
    assert np.array_equal(seen["panels"]["tiny"], (torch.round(sr.double() * 255.0) / 255.0).permute(1, 2, 0).numpy())
    assert seen["panels"]["tiny"].shape == (4 * h, 4 * w, 3)
    box = tuple(4 * v for v in BOX)  # the box is given in the region's pixels, drawn on the ×4 output
    assert seen["box"] == box and "no ground truth" in seen["title"]
    assert Image.open(out).size == layout(2, 4 * h, 4 * w, box)


def test_refusals(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base = ["--frame", "0", "--box", *map(str, BOX), "--scale", "4", "-o", str(tmp_path / "x.png")]
    assert compare_crops.main(["--video", str(clip), "--region", "40", "0", "48", "64", *base]) == 2
    assert "--region 40 0 48 64 is not inside the 96×64 frame" in capsys.readouterr().err
    # FFV1 in Matroska does not say how many frames it holds: the end is found by reading.
    assert FrameSource(clip).info.num_frames is None
    assert compare_crops.main(["--video", str(clip), "--clip-frames", "4", "--frame", "7", *base[2:]]) == 2
    assert "has no frame 7 (it has 6)" in capsys.readouterr().err
    assert compare_crops.main(["--video", str(clip), "--clip-frames", "2", "--frame", "9", *base[2:]]) == 2
    assert "has no frame 9 (it has fewer)" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one source only
        compare_crops.main(["--video", str(clip), "--sequence", "calendar", *base])
    with pytest.raises(SystemExit):  # the original frames are not degraded
        compare_crops.main(["--video", str(clip), "--original", "--degradation", "bd", *base])
    assert not (tmp_path / "x.png").exists()
