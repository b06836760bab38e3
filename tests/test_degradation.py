"""Degradations (savsr.data.degradation) against independent references: scipy's Gaussian, a
brute-force numpy BD, a rewrite of BasicSR's duf_downsample, PyAV's own conversion and decoder."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage, stats

from savsr.cli import main
from savsr.data.dataset import VideoPatchDataset
from savsr.data.degradation import (
    Degradation, RealConfig, VideoCodec, bd_downsample, bd_kernel_1d, blur_kernel, parse_degradation,
)
from savsr.data.resize import bi_degrade, imresize
from savsr.errors import ParameterError, SavsrError
from savsr.evaluation import Validator
from savsr.train.config import load_config


def _clip(t: int, h: int, w: int, seed: int = 0, c: int = 3) -> torch.Tensor:
    """A smooth texture drifting by a pixel a frame, plus mild noise: (T, C, H, W) uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for i in range(t):
        base = 128 + 70 * np.sin(0.31 * (xx - i) + 0.17 * yy) * np.cos(0.11 * xx - 0.23 * (yy + i))
        img = base[None] + rng.normal(0, 6, (c, h, w)) + np.arange(c)[:, None, None] * 10
        frames.append(img.clip(0, 255).round().astype(np.uint8))
    return torch.from_numpy(np.stack(frames))


# ------------------------------------------------------------------------------------------ BD

@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bd_kernel_is_scipys_gaussian_of_a_dirac(scale: int) -> None:
    """BasicSR's generate_gaussian_kernel: scipy's gaussian_filter of a 13×13 dirac."""
    dirac = np.zeros((13, 13))
    dirac[6, 6] = 1
    want = ndimage.gaussian_filter(dirac, 0.4 * scale)
    k = bd_kernel_1d(0.4 * scale)
    np.testing.assert_allclose(np.outer(k, k), want, rtol=0, atol=1e-16)
    assert k.sum() == pytest.approx(1.0, abs=1e-15)


def _bd_brute_force(hr: np.ndarray, scale: int) -> np.ndarray:
    """BD written as its definition, in loops: LR(i, j) = Σ K(a, b)·HR(s·i + a − 6, s·j + b − 6),
    indices outside reflected (numpy's reflect), K scipy's 13×13 Gaussian of σ = 0.4·s."""
    dirac = np.zeros((13, 13))
    dirac[6, 6] = 1
    kern = ndimage.gaussian_filter(dirac, 0.4 * scale)
    *lead, h, w = hr.shape
    pad = np.pad(hr.astype(np.float64), [(0, 0)] * len(lead) + [(6, 6), (6, 6)], mode="reflect")
    oh, ow = -(-h // scale), -(-w // scale)
    out = np.zeros((*lead, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y, x = scale * i, scale * j  # the padded window starting here is centred on HR (s·i, s·j)
            out[..., i, j] = (pad[..., y : y + 13, x : x + 13] * kern).sum(axis=(-2, -1))
    return out


def _basicsr_duf_downsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """A rewrite of BasicSR's duf_downsample (basicsr/data/data_util.py): pad 6 + 2s reflect,
    13×13 conv at stride s, drop two outputs a side."""
    dirac = np.zeros((13, 13))
    dirac[6, 6] = 1
    kern = torch.from_numpy(ndimage.gaussian_filter(dirac, 0.4 * scale)).to(x.dtype)[None, None]
    h, w = x.shape[-2:]
    flat = x.reshape(-1, 1, h, w)
    p = 6 + 2 * scale
    out = F.conv2d(F.pad(flat, (p, p, p, p), mode="reflect"), kern, stride=scale)[:, :, 2:-2, 2:-2]
    return out.reshape(*x.shape[:-2], *out.shape[-2:])


@pytest.mark.parametrize(("scale", "h", "w"), [(2, 24, 30), (3, 27, 33), (4, 32, 36), (4, 29, 35)])
def test_bd_equals_brute_force_and_basicsr(scale: int, h: int, w: int) -> None:
    clip = _clip(2, h, w, seed=scale)
    want = _bd_brute_force(clip.numpy(), scale)
    got = bd_downsample(clip.double() / 255, scale).numpy() * 255
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert got.shape[-2:] == (-(-h // scale), -(-w // scale))
    basicsr = _basicsr_duf_downsample(clip.double(), scale).numpy()
    np.testing.assert_allclose(basicsr, want, rtol=0, atol=1e-9)
    # uint8 in: the same values rounded half up, as a saved LR set holds them.
    assert np.array_equal(bd_downsample(clip, scale).numpy(), np.floor(want + 0.5).clip(0, 255).astype(np.uint8))


def test_bd_samples_the_first_pixel_of_each_cell() -> None:
    """The sampling phase: a dot at HR (s·i, s·j) peaks at LR (i, j); BI's cell centre would not."""
    hr = torch.zeros(1, 1, 48, 48, dtype=torch.float64)
    hr[..., 20, 28] = 1.0
    lr = bd_downsample(hr, 4)[0, 0]
    assert divmod(int(lr.argmax()), lr.shape[1]) == (5, 7)
    assert lr[5, 7] == pytest.approx(bd_kernel_1d(1.6)[6] ** 2)


def test_bd_through_the_degradation_crops_to_the_scale() -> None:
    clip = _clip(3, 30, 41)
    lr, record = parse_degradation("bd").apply(clip, 4)
    assert torch.equal(lr, bd_downsample(clip[..., :28, :40], 4)) and record == {"spec": "bd", "scale": 4}


# --------------------------------------------------------------------------------- codecs

def _reformat_round_trip(clip: torch.Tensor) -> np.ndarray:
    """What 4:2:0 BT.709 limited range alone does to RGB frames, through PyAV's swscale, no codec."""
    out = []
    for f in clip.permute(0, 2, 3, 1).numpy():
        yuv = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24").reformat(
            format="yuv420p", dst_colorspace=1, dst_color_range=1)
        out.append(yuv.reformat(format="rgb24", src_colorspace=1, src_color_range=1).to_ndarray())
    return np.stack(out)


def _parse_decode(stream: bytes, decoder: str) -> list[av.VideoFrame]:
    """Decode an elementary stream with the parser API (no demuxer): a second path to the frames."""
    ctx = av.CodecContext.create(decoder, "r")
    frames = []
    for packet in [*ctx.parse(stream), *ctx.parse(None)]:
        frames += ctx.decode(packet)
    return frames + list(ctx.decode(None))


def test_x264_crf0_is_lossless_after_the_colour_conversion() -> None:
    clip = _clip(6, 24, 32)
    got = VideoCodec("libx264", crf=0)(clip)
    assert np.array_equal(got.permute(0, 2, 3, 1).numpy(), _reformat_round_trip(clip))


@pytest.mark.parametrize(("encoder", "decoder"), [("libx264", "h264"), ("libx265", "hevc")])
def test_codec_encodes_the_whole_clip_as_one_stream(encoder: str, decoder: str) -> None:
    clip = _clip(8, 128, 144)
    codec = VideoCodec(encoder, crf=28)
    stream = codec.encode(clip)
    assert stream == codec.encode(clip)  # one thread: the same clip gives the same bytes
    frames = _parse_decode(stream, decoder)
    # One keyframe, then frames predicted from their neighbours: real inter-frame artefacts.
    assert [f.key_frame for f in frames] == [True] + [False] * 7
    assert {int(f.pict_type) for f in frames[1:]} <= {2, 3}  # AV_PICTURE_TYPE_P, _B
    ref = np.stack([f.reformat(format="rgb24", src_colorspace=1, src_color_range=1).to_ndarray() for f in frames])
    got = codec(clip)
    assert np.array_equal(got.permute(0, 2, 3, 1).numpy(), ref)
    assert got.shape == clip.shape


def test_codec_quality_falls_with_crf_and_odd_sides_survive() -> None:
    clip = _clip(6, 33, 45)  # odd sides: padded to even for 4:2:0, cropped back
    err = []
    for crf in (15, 25, 35, 45):
        out = VideoCodec("libx264", crf=crf)(clip)
        assert out.shape == clip.shape
        err.append(float(((out.double() - clip.double()) ** 2).mean()))
    assert err == sorted(err) and err[-1] > 4 * err[0]


@pytest.mark.parametrize(("h", "w"), [(32, 40), (48, 64), (64, 64), (9, 9), (20, 26)])
def test_x265_small_frames_are_padded_not_crashed(h: int, w: int) -> None:
    """The bundled x265 aborts the process on some frames under 64 pixels a side, and is not
    deterministic at 64; padded to 128, they encode, always to the same frames."""
    clip = _clip(5, h, w)
    out = VideoCodec("libx265", crf=20)(clip)
    assert out.shape == clip.shape
    assert float(((out.double() - clip.double()) ** 2).mean()) < 60  # a fair copy (PSNR above 30 dB)
    assert all(torch.equal(out, VideoCodec("libx265", crf=20)(clip)) for _ in range(4))
    with pytest.raises(ValueError, match="at least 128"):
        VideoCodec("libx265").encode(clip[..., : h - h % 2, : w - w % 2])


def test_grey_clips_stay_grey() -> None:
    clip = _clip(4, 16, 16, c=1)
    out = VideoCodec("libx264", crf=0)(clip)
    assert out.shape == clip.shape
    assert int((out.int() - clip.int()).abs().max()) <= 1  # limited range: 8-bit grey levels merge by at most 1


# ------------------------------------------------------------------------------------- specs

@pytest.mark.parametrize(("spec", "base", "encoder", "crf"), [
    ("bi", "bi", None, None), ("bd", "bd", None, None), ("real", "real", None, None), ("BI", "bi", None, None),
    ("h264:23", "bi", "libx264", 23), ("h265:0", "bi", "libx265", 0), ("bd+h264:51", "bd", "libx264", 51),
    ("h264:15-35", "bi", "libx264", 15),
])
def test_parse_specs(spec: str, base: str, encoder: str | None, crf: int | None) -> None:
    d = parse_degradation(spec)
    assert d.base == base
    assert (d.codec.encoder, d.codec.crf) == (encoder, crf) if d.codec else encoder is None
    assert parse_degradation(d.spec) == d


@pytest.mark.parametrize(("spec", "needle"), [
    ("h264:52", "CRF 52 is outside 0-51"), ("h265:-1", "CRF -1"), ("h264", "unknown degradation"),
    ("vp9:30", "unknown degradation"), ("real+h264:20", "unknown degradation"), ("", "unknown degradation"),
    ("h264:35-15", "35 < high <= 51, got 35-15"), ("h264:20-60", "got 20-60"), ("h264:20-20", "got 20-20"),
])
def test_bad_specs_name_the_parameter(spec: str, needle: str) -> None:
    with pytest.raises(ParameterError, match=needle) as info:
        parse_degradation(spec)
    assert info.value.param == "degradation"


def test_crf_range_draws_one_crf_per_clip_from_the_seed() -> None:
    """``h264:LO-HI``: the clip is exactly BI then x264 at the CRF drawn from the seed, and the
    draws cover the range."""
    clip = _clip(5, 48, 64, seed=2)
    d = parse_degradation("h264:20-40")
    assert d.random and not d.per_frame
    crfs = set()
    for seed in range(12):
        lr, record = d.apply(clip, 2, seed=(seed, 3))
        crf = record["params"]["crf"]
        assert 20 <= crf <= 40 and record["seed"] == [seed, 3]
        assert crf == int(np.random.default_rng((seed, 3)).integers(20, 41))
        assert torch.equal(lr, VideoCodec(crf=crf)(bi_degrade(clip, 2)[1]))
        crfs.add(crf)
    assert len(crfs) >= 6
    assert d.describe()["codec"]["crf"] == "20-40, drawn per clip"


def test_codec_record_names_every_choice() -> None:
    record = parse_degradation("h265:30").describe()
    codec = record["codec"]
    assert (codec["encoder"], codec["crf"], codec["preset"], codec["gop"], codec["pix_fmt"]) == (
        "libx265", 30, "medium", 250, "yuv420p")
    assert codec["threads"] == 1 and codec["pyav"] == av.__version__ and codec["matrix"] == "bt709"
    json.dumps(record)


# ------------------------------------------------------------------------------- real

def test_blur_kernels_against_scipy() -> None:
    """Anisotropic Gaussian: a rotated bivariate normal's density on the grid, normalised."""
    sx, sy, theta = 2.0, 0.7, 0.6
    u = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    cov = u @ np.diag([sx * sx, sy * sy]) @ u.T
    ax = np.arange(15) - 7.0
    xx, yy = np.meshgrid(ax, ax)
    want = stats.multivariate_normal([0, 0], cov).pdf(np.stack([xx, yy], -1))
    np.testing.assert_allclose(blur_kernel("aniso", 15, sx, sy, theta), want / want.sum(), rtol=1e-12, atol=1e-15)
    iso = blur_kernel("iso", 13, 1.6, 1.6)
    np.testing.assert_allclose(iso, np.outer(bd_kernel_1d(1.6), bd_kernel_1d(1.6)), rtol=1e-12, atol=1e-15)
    assert blur_kernel("generalized_iso", 13, 1.6, 1.6, beta=1.0) == pytest.approx(iso)
    for kind in ("plateau_aniso", "sinc"):
        k = blur_kernel(kind, 11, 1.2, 0.8, 0.3, beta=1.5, omega=1.2)
        assert k.sum() == pytest.approx(1.0) and np.allclose(k, k[::-1, ::-1])  # point-symmetric


@pytest.mark.parametrize(("scale", "h", "w"), [(4, 64, 80), (2, 30, 42), (3, 33, 27)])
def test_real_is_seeded_and_exactly_the_lr_size(scale: int, h: int, w: int) -> None:
    clip = _clip(5, h, w)
    d = parse_degradation("real")
    lr, record = d.apply(clip, scale, seed=(7, 1))
    assert lr.shape == (5, 3, h // scale, w // scale) and lr.dtype == torch.uint8
    again, record2 = d.apply(clip, scale, seed=(7, 1))
    assert torch.equal(lr, again) and record == record2
    json.dumps(record)  # every drawn value is recorded, JSON-ready
    other = [d.apply(clip, scale, seed=(7, s))[1]["params"] for s in range(2, 6)]
    assert all(p != record["params"] for p in other)


def test_real_parameters_are_shared_by_the_frames() -> None:
    """A still clip without noise or codec gives identical LR frames: one blur, resize, JPEG for all;
    with noise, each frame gets its own sample of it."""
    still = _clip(1, 48, 48).expand(5, -1, -1, -1).contiguous()
    quiet = RealConfig(noise_sigma=(0.0, 0.0), noise_sigma2=(0.0, 0.0), poisson_scale=(0.0, 0.0),
                       poisson_scale2=(0.0, 0.0), codec_prob=0.0, codec_prob2=0.0)
    for seed in range(4):
        lr, _ = Degradation("real", real=quiet).apply(still, 4, seed=seed)
        assert all(torch.equal(lr[0], f) for f in lr[1:])
    noisy = RealConfig(gaussian_noise_prob=1.0, noise_sigma=(20.0, 20.0), codec_prob=0.0, codec_prob2=0.0)
    lr, _ = Degradation("real", real=noisy).apply(still, 4, seed=0)
    assert not torch.equal(lr[0], lr[1])


def test_real_noise_has_the_drawn_sigma() -> None:
    from savsr.data.degradation import _noise

    flat = torch.full((4, 3, 64, 64), 0.5)
    out = _noise(flat, {"kind": "gaussian", "sigma": 10.0, "gray": True}, np.random.default_rng(0))
    assert float((out - 0.5).std()) * 255 == pytest.approx(10.0, rel=0.03)
    assert torch.equal(out[:, 0], out[:, 2])  # gray noise: one sample on every channel


# ------------------------------------------------------------------------------- evaluate

def _sequences(root: Path) -> Path:
    for name, n in (("alpha", 6), ("beta", 5)):
        (root / name).mkdir(parents=True)
        for t, frame in enumerate(_clip(n, 40, 52, seed=len(name)).permute(0, 2, 3, 1).numpy()):
            Image.fromarray(frame).save(root / name / f"{t:02d}.png")
    return root


def _write_lr(data: Path, out: Path, make) -> Path:
    """Write make(GT clip (T, 3, H, W) uint8) as PNG frames, one folder per sequence, as --lr reads them."""
    for seq in sorted(data.iterdir()):
        gt = torch.from_numpy(np.stack([np.array(Image.open(p)) for p in sorted(seq.iterdir())])).permute(0, 3, 1, 2)
        (out / seq.name).mkdir(parents=True)
        for t, frame in enumerate(make(gt).permute(0, 2, 3, 1).numpy()):
            Image.fromarray(frame).save(out / seq.name / f"{t:02d}.png")
    return out


def _encode_test_side(lr: torch.Tensor, crf: int) -> torch.Tensor:
    """BI LR through x264 in an MP4 written by PyAV's container API (not savsr's code), same settings."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = lr.shape[-1], lr.shape[-2], "yuv420p"
        stream.codec_context.gop_size, stream.codec_context.thread_count = 250, 1
        stream.codec_context.colorspace, stream.codec_context.color_range = 1, 1
        stream.options = {"crf": str(crf), "preset": "medium", "x264-params": "mbtree=0"}
        for f in lr.permute(0, 2, 3, 1).numpy():
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24").reformat(
                format="yuv420p", dst_colorspace=1, dst_color_range=1)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buf.seek(0)
    with av.open(buf) as src:
        frames = [f.reformat(format="rgb24", src_colorspace=1, src_color_range=1).to_ndarray() for f in src.decode(video=0)]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)


@pytest.mark.parametrize(("spec", "make"), [
    ("bd", lambda gt: bd_downsample(gt, 2)),
    ("h264:30", lambda gt: _encode_test_side(bi_degrade(gt, 2)[1], 30)),
])
def test_evaluate_degradation_equals_supplied_lr(tmp_path: Path, spec: str, make) -> None:
    """--degradation SPEC scores exactly what --lr scores on LR frames made test-side."""
    data = _sequences(tmp_path / "seqs")
    lr = _write_lr(data, tmp_path / "lr", make)
    common = ["evaluate", "--data", str(data), "--scale", "2", "--lpips", "none"]
    assert main([*common, "--degradation", spec, "-o", str(tmp_path / "a")]) == 0
    assert main([*common, "--lr", str(lr), "-o", str(tmp_path / "b")]) == 0
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in "ab")
    # The same LR frames, so the same output; the scores agree to rounding (SSIM's float64 sums have
    # differed in the last bit between the two paths: seen on an Emerald Rapids Xeon).
    assert a["per_frame"].keys() == b["per_frame"].keys()
    for seq, scores in a["per_frame"].items():
        for name, values in scores.items():
            assert values == pytest.approx(b["per_frame"][seq][name], rel=1e-12, abs=1e-12), (seq, name)
    assert a["degradation"]["spec"] == spec and b["degradation"] == {"supplied": str(lr)}
    bi = tmp_path / "bi"
    assert main([*common, "-o", str(bi)]) == 0
    assert json.loads((bi / "results.json").read_text())["table"]["mean"]["psnr"] != a["table"]["mean"]["psnr"]
    md = (tmp_path / "a" / "results.md").read_text()
    assert f"LR: `{spec}`" in md
    if spec.startswith("h264"):
        assert "libx264 CRF 30, preset medium, GOP 250" in md
        assert a["degradation"]["codec"]["crf"] == 30


@pytest.mark.parametrize("spec", ["real", "h264:10-45"])
def test_evaluate_random_degradations_record_the_draws_per_sequence(tmp_path: Path, spec: str) -> None:
    data = _sequences(tmp_path / "seqs")
    common = ["evaluate", "--data", str(data), "--scale", "2", "--lpips", "none", "--degradation", spec]
    assert main([*common, "-o", str(tmp_path / "a")]) == 0
    assert main([*common, "-o", str(tmp_path / "b")]) == 0
    assert main([*common, "--seed", "1", "-o", str(tmp_path / "c")]) == 0
    a, b, c = (json.loads((tmp_path / d / "results.json").read_text()) for d in "abc")
    assert a["per_frame"] == b["per_frame"] and a["per_frame"] != c["per_frame"]
    seqs = a["degradation"]["sequences"]
    assert set(seqs) == {"alpha", "beta"} and seqs["alpha"]["params"] != seqs["beta"]["params"]
    assert a["degradation"]["seed"] == 0 and c["degradation"]["seed"] == 1
    if spec.startswith("h264"):
        assert all(10 <= seq["params"]["crf"] <= 45 for seq in seqs.values())
        assert "libx264 CRF 10-45, drawn per clip" in (tmp_path / "a" / "results.md").read_text()


def test_evaluate_bad_degradation_inputs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = _sequences(tmp_path / "seqs")
    small = _write_lr(data, tmp_path / "small", lambda gt: bi_degrade(gt, 4)[1])
    short = _write_lr(data, tmp_path / "short", lambda gt: bi_degrade(gt, 2)[1][:-1])
    cases = [
        (["--degradation", "h264:60"], "--degradation: CRF 60 is outside 0-51"),
        (["--degradation", "jpeg"], "--degradation: unknown degradation 'jpeg'"),
        (["--lr", str(small)], "LR frames of 13×10, but ×2 of the GT's 52×40 needs 26×20"),
        (["--lr", str(short)], "alpha: 5 LR frames for 6 GT frames"),
        (["--lr", str(tmp_path / "none")], "no such folder"),
        (["--lr", str(small), "--degradation", "bd"], "--lr supplies the LR frames"),
    ]
    for args, needle in cases:
        assert main(["evaluate", "--data", str(data), "--scale", "2", "--lpips", "none", *args,
                     "-o", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err


def test_validator_degrades_each_window_as_training_does(tmp_path: Path) -> None:
    data = _sequences(tmp_path / "seqs")
    bd = Validator([data / "alpha"], 2, 5, 2, 0, degradation="bd")
    bi = Validator([data / "alpha"], 2, 5, 2, 0)
    gt = torch.from_numpy(np.stack([np.array(Image.open(p)) for p in sorted((data / "alpha").iterdir())]))
    gt = gt.permute(0, 3, 1, 2)
    for (lr_bd, hr_bd), (lr_bi, hr_bi), t in zip(bd.windows, bi.windows, (2, 3)):
        assert torch.equal(hr_bd, hr_bi) and torch.equal(hr_bd, gt[t])
        idx = [min(max(i, 0), 5) for i in range(t - 2, t + 3)]
        assert torch.equal(torch.stack(lr_bd), bd_downsample(gt[idx], 2))
    codec = Validator([data / "alpha"], 2, 5, 2, 0, degradation="h264:35")
    assert torch.equal(torch.stack(codec.windows[0][0]), VideoCodec(crf=35)(bi_degrade(gt[[0, 1, 2, 3, 4]], 2)[1]))


# ------------------------------------------------------------------------------- training

@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from savsr.data.prepare import prepare_dataset

    folder = tmp_path_factory.mktemp("src") / "scene"
    folder.mkdir()
    for t, frame in enumerate(_clip(7, 72, 80, seed=3).permute(0, 2, 3, 1).numpy()):
        Image.fromarray(frame).save(folder / f"{t:03d}.png")
    out = tmp_path_factory.mktemp("ds") / "data"
    prepare_dataset([folder], out, progress=False)
    return out


@pytest.mark.parametrize("cache_lr", [False, True])
@pytest.mark.parametrize("lr_space", [False, True])
def test_bd_samples_equal_the_degraded_whole_frame(dataset_dir: Path, cache_lr: bool, lr_space: bool) -> None:
    s, p = 4, 16
    ds = VideoPatchDataset(dataset_dir, scale=s, patch_size=p, color="rgb", augment=False, samples_per_epoch=12,
                           cache_lr=cache_lr, lr_space=lr_space, degradation="bd")
    for i in range(12):
        k, t, top, left, _ = ds.locate(i)
        root, entry = ds.scenes[k]
        frames = torch.from_numpy(np.load(root / entry.file)[t - 2 : t + 3]).permute(0, 3, 1, 2)
        lr = bd_downsample(frames, s)
        net, f = (lr, s) if lr_space else (imresize(lr, s), 1)
        lr_patch, hr_patch = ds[i]
        want = net[:, :, top // f : (top + p) // f, left // f : (left + p) // f].float().reshape(-1, p // f, p // f) / 255
        assert torch.equal(lr_patch, want)
        assert torch.equal(hr_patch, frames[2, :, top : top + p, left : left + p].float() / 255)


@pytest.mark.parametrize("cache_lr", [False, True])
def test_augmented_bd_samples_keep_the_lr_on_its_hr_pixel(dataset_dir: Path, cache_lr: bool) -> None:
    """With augmentation, each LR-space sample is still BD of its own HR patch away from the patch
    border: the augmentation must not move LR pixel i off HR pixel s·i (a flip would, to s·i + 3)."""
    s, p, n = 4, 32, 24
    ds = VideoPatchDataset(dataset_dir, scale=s, patch_size=p, color="rgb", augment=True, samples_per_epoch=n,
                           cache_lr=cache_lr, lr_space=True, degradation="bd", seed=1)
    inner = slice(2, 7)  # LR pixels whose 13×13 HR footprint lies inside the patch
    transposed = 0
    for i in range(n):
        lr, hr = ds[i]
        transposed += ds.locate(i)[4] == 4
        hr8 = (hr * 255).round().to(torch.uint8)
        want = bd_downsample(hr8, s)[:, inner, inner]
        got = (lr.reshape(5, 3, p // s, p // s)[2] * 255).round().to(torch.uint8)[:, inner, inner]
        assert torch.equal(got, want), f"sample {i}, augmentation {ds.locate(i)[4]}"
    assert 0 < transposed < n  # both kept codes were drawn


@pytest.mark.parametrize("spec", ["real", "h264:30"])
@pytest.mark.parametrize("lr_space", [False, True])
def test_clip_degradations_are_reproducible_per_sample(dataset_dir: Path, spec: str, lr_space: bool) -> None:
    s, p = 4, 16
    ds = VideoPatchDataset(dataset_dir, scale=s, patch_size=p, color="y", augment=True, samples_per_epoch=6,
                           lr_space=lr_space, degradation=spec, seed=5)
    f = s if lr_space else 1
    first = [ds[i] for i in range(6)]
    for lr, hr in first:
        assert lr.shape == (5, p // f, p // f) and hr.shape == (1, p, p)
    again = VideoPatchDataset(dataset_dir, scale=s, patch_size=p, color="y", augment=True, samples_per_epoch=6,
                              lr_space=lr_space, degradation=spec, seed=5)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, (again[i] for i in range(6))))
    bi = VideoPatchDataset(dataset_dir, scale=s, patch_size=p, color="y", augment=True, samples_per_epoch=6,
                           lr_space=lr_space, seed=5)
    # The same positions as BI (the degradation draws from its own stream), other LR.
    assert all(torch.equal(a[1], bi[i][1]) and not torch.equal(a[0], bi[i][0]) for i, a in enumerate(first))
    if spec == "real":
        ds.set_epoch(1)
        assert not torch.equal(ds[0][0], first[0][0]) or not torch.equal(ds[0][1], first[0][1])


def test_codec_samples_are_the_codec_over_the_window(dataset_dir: Path) -> None:
    """h264 in training: the window's region, BI-degraded, encoded as one 5-frame clip, then cropped."""
    s, p = 4, 16
    ds = VideoPatchDataset(dataset_dir, scale=s, patch_size=p, color="rgb", augment=False, samples_per_epoch=4,
                           lr_space=True, degradation="h264:30")
    for i in range(4):
        k, t, top, left, _ = ds.locate(i)
        root, entry = ds.scenes[k]
        h, w = entry.height - entry.height % s, entry.width - entry.width % s
        y0, x0 = max(0, top - 8 * s) // s * s, max(0, left - 8 * s) // s * s
        y1, x1 = min(h, -(-(top + p + 8 * s) // s) * s), min(w, -(-(left + p + 8 * s) // s) * s)
        region = torch.from_numpy(np.load(root / entry.file)[t - 2 : t + 3, y0:y1, x0:x1]).permute(0, 3, 1, 2)
        lr = VideoCodec(crf=30)(bi_degrade(region, s)[1])
        ty, tx = (top - y0) // s, (left - x0) // s
        want = lr[:, :, ty : ty + p // s, tx : tx + p // s].float().reshape(-1, p // s, p // s) / 255
        assert torch.equal(ds[i][0], want)


@pytest.mark.parametrize("spec", ["h264:20-40", "real"])
@pytest.mark.parametrize("lr_space", [False, True])
def test_cached_clip_samples_are_crops_of_the_whole_degraded_scene(dataset_dir: Path, spec: str, lr_space: bool) -> None:
    """cache_lr under a clip-level degradation: the whole scene is one clip (one codec stream),
    drawn from (seed, epoch, scene), drawn anew each epoch, and every sample is its crop."""
    s, p, seed = 4, 16, 5
    ds = VideoPatchDataset(dataset_dir, scale=s, patch_size=p, color="rgb", augment=False, samples_per_epoch=6,
                           cache_lr=True, lr_space=lr_space, degradation=spec, seed=seed)
    root, entry = ds.scenes[0]
    scene = torch.from_numpy(np.load(root / entry.file)).permute(0, 3, 1, 2)
    f = s if lr_space else 1
    wholes = []
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        lr, record = parse_degradation(spec).apply(scene, s, seed=(seed, epoch, 0, 0x5CE))
        net = lr if lr_space else imresize(lr, s)
        wholes.append((lr, record["params"]))
        for i in range(6):
            k, t, top, left, _ = ds.locate(i)
            want = net[t - 2 : t + 3, :, top // f : (top + p) // f, left // f : (left + p) // f]
            assert torch.equal(ds[i][0], want.float().reshape(-1, p // f, p // f) / 255), (epoch, i)
            assert torch.equal(ds[i][1], scene[t, :, top : top + p, left : left + p].float() / 255)
    assert wholes[0][1] != wholes[1][1] and not torch.equal(wholes[0][0], wholes[1][0])
    if spec.startswith("h264"):  # the scene is one stream: frames 1.. are predicted, unlike 5-frame windows'
        assert torch.equal(wholes[0][0], VideoCodec(crf=wholes[0][1]["crf"])(bi_degrade(scene, s)[1]))


def test_config_degradation_field(tmp_path: Path) -> None:
    cfg = load_config(None, ["data.roots=[x]"])
    assert cfg.data.degradation == "bi"
    assert load_config(None, ["data.roots=[x]", "data.degradation=h265:28"]).data.degradation == "h265:28"
    with pytest.raises(SavsrError, match=r"^data.degradation: unknown degradation 'blur'"):
        load_config(None, ["data.roots=[x]", "data.degradation=blur"])
    with pytest.raises(SavsrError, match=r"^data.degradation: CRF 99"):
        load_config(None, ["data.roots=[x]", "data.degradation=h264:99"])
    for spec in ("bd", "real", "h264:15-35"):
        assert load_config(None, ["data.roots=[x]", f"data.degradation={spec}", "data.cache_lr=true"]).data.cache_lr


def test_config_real_ranges(tmp_path: Path) -> None:
    """data.real changes the ``real`` pipeline's ranges (RealConfig) and leaves the rest at their defaults."""
    from savsr.data.degradation import RealConfig
    from savsr.train.config import data_degradation

    path = tmp_path / "c.yaml"
    path.write_text("data: {roots: [x], degradation: real, real: {noise_sigma: [1, 10], codec_crf: [15, 35]}}\n")
    cfg = load_config(path, ["data.real.blur2_prob=0.3"])
    real = data_degradation(cfg.data).real
    assert (real.noise_sigma, real.codec_crf, real.blur2_prob) == ((1.0, 10.0), (15, 35), 0.3)
    assert real.jpeg_quality == RealConfig().jpeg_quality and data_degradation(cfg.data).spec == "real"
    for override, message in (("data.real.noise=[1,2]", "data.real: unknown field 'noise'"),
                              ("data.real.noise_sigma=[10,1]", "data.real.noise_sigma: expected a range [low, high]"),
                              ("data.real.codec_probs=[1]", "data.real.codec_probs: expected 2 probabilities"),
                              ("data.real.blur2_prob=x", "data.real.blur2_prob: expected float"),
                              ("data.real=3", "data.real: expected a mapping")):
        with pytest.raises(SavsrError, match=f"^{re.escape(message)}"):
            load_config(None, ["data.roots=[x]", "data.degradation=real", override])
    with pytest.raises(SavsrError, match=r"^data.real: only for data.degradation real, not 'bi'"):
        load_config(None, ["data.roots=[x]", "data.real.noise_sigma=[1,10]"])


def test_training_runs_on_its_degradation_and_validates_on_it(tmp_path: Path) -> None:
    """data.degradation reaches the dataset and the validation; a tiny run with ``real`` completes."""
    from savsr.train import Trainer
    from train_helpers import make_dataset, write_config

    cfg_path = write_config(tmp_path / "c.yaml", make_dataset(tmp_path), epochs=1)
    cfg = load_config(cfg_path, ["data.degradation=h264:30"])
    trainer = Trainer(cfg, tmp_path / "probe")
    assert trainer.dataset.degradation.spec == "h264:30"
    trainer.validate()
    assert trainer._validator.degradation.spec == "h264:30"
    out = tmp_path / "run"
    assert main(["train", str(cfg_path), "--out", str(out), "--set", "data.degradation=real",
                 "--set", "data.samples_per_epoch=8"]) == 0
    assert "degradation: real" in (out / "config.yaml").read_text()
    # data.real's ranges reach the dataset and the validation.
    probe = Trainer(load_config(cfg_path, ["data.degradation=real", "data.real.noise_sigma=[1,10]"]), tmp_path / "probe2")
    assert probe.dataset.degradation.real.noise_sigma == (1.0, 10.0)
    probe.validate()
    assert probe._validator.degradation.real.noise_sigma == (1.0, 10.0)


@pytest.mark.parametrize("spec", ["bd", "h264:30", "real"])
def test_protocol_frame_shows_the_frames_evaluate_scores(tmp_path: Path, spec: str) -> None:
    from savsr.evaluation import EvalConfig, evaluate, protocol_frame
    from savsr.media.reader import FrameSource
    from savsr.metrics.periodic import periodic_error

    data = _sequences(tmp_path / "seqs")
    _, baseline = evaluate(EvalConfig(data, 2, lpips="none", degradation=spec, seed=3), progress=False)
    for res in baseline:
        hr, up, _ = protocol_frame(FrameSource(data / res.name), 3, 2, degradation=spec, seed=3)
        want = periodic_error(up.double() / 255, hr.double() / 255, crop_border=2)
        assert (res.grid2[3], res.grid4[3]) == (want[2], want[4])


def test_default_output_folder_names_the_degradation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _sequences(tmp_path / "seqs")
    monkeypatch.chdir(tmp_path)
    for args, folder in ((["--degradation", "bd+h264:30"], "bicubic_x2_bd_h264-30"), ([], "bicubic_x2")):
        assert main(["evaluate", "--data", str(data), "--scale", "2", "--lpips", "none", *args]) == 0
        assert (tmp_path / "eval_output" / folder / "results.json").is_file()
