"""Inference: sliding windows, tiling, the Python API and `savsr upscale` on real and odd inputs."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import DATA, require
from savsr.cli import main
from savsr.data.dihedral import CODES, dihedral, dihedral_inverse
from savsr.errors import SavsrError
from savsr.data.window import sliding_windows, window_indices
from savsr.infer.tiling import tiled_apply
from savsr.infer.pipeline import parse_frames, upscale_file
from savsr.infer.upscaler import Upscaler, load_model
from savsr.media.mux import join
from savsr.media.reader import FrameSource
from savsr.media.writer import VideoWriter
from savsr.models import VSRResNet
from test_io import write_ffmpeg_image


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_sliding_windows_replicate_the_ends(n: int) -> None:
    windows = list(sliding_windows(range(n), 2))
    assert len(windows) == n
    for t, w in enumerate(windows):
        assert w == [min(max(i, 0), n - 1) for i in range(t - 2, t + 3)]
        assert window_indices(t, n, 2) == w  # one window alone is the stream's window


def test_tiles_equal_whole_frame() -> None:
    torch.manual_seed(0)
    net = VSRResNet(blocks=3, features=8).double().eval()
    x = torch.rand(1, 5, 75, 61, dtype=torch.float64)
    with torch.no_grad():
        whole = net(x)
        for tile in (16, 20, 33):
            tiled = tiled_apply(net, x, tile, net.receptive_radius, 1)
            torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-12)
        # Too little overlap shows seams: the test would catch a tiling bug.
        assert (tiled_apply(net, x, 16, 2, 1) - whole).abs().max() > 1e-6


def test_out_of_memory_halves_the_tile_then_gives_one_line(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The memory a tile may use is simulated here: tests/test_cuda.py caps a real GPU's.
    import savsr.infer.upscaler as upscaler_module

    up = load_model(model_file, device="cpu", precision="fp32", tile=0, backend="torch")
    lr = torch.rand(3, 150, 170)
    whole = up(lr)
    tried: list[int] = []

    def capped(limit: int):
        def apply(engine, x, tile, *args):
            tried.append(tile)
            if tile == 0 or tile > limit:
                raise torch.cuda.OutOfMemoryError("simulated")
            return tiled_apply(engine, x, tile, *args)
        return apply

    monkeypatch.setattr(upscaler_module, "tiled_apply", capped(100))
    torch.testing.assert_close(up(lr), whole, rtol=0, atol=1e-5)
    assert tried == [0, 150, 75]  # the whole 300×340 frame, then halves of its short side
    tried.clear()
    monkeypatch.setattr(upscaler_module, "tiled_apply", capped(50))
    with pytest.raises(SavsrError, match="out of GPU memory even with 64-pixel tiles"):
        up(lr)
    assert tried == [0, 150, 75]  # 37 would be below MIN_TILE: not tried


def test_upscaler_rejects_seamy_overlap(model_file: Path) -> None:
    with pytest.raises(SavsrError, match="receptive radius"):
        load_model(model_file, device="cpu", tile_overlap=3)
    with pytest.raises(SavsrError, match="fp16 needs a GPU"):
        load_model(model_file, device="cpu", precision="fp16")


def test_call_on_tensors(model_file: Path, tmp_path: Path) -> None:
    model = load_model(model_file, device="cpu")
    clip = torch.rand(4, 3, 10, 12)
    out = model(clip)
    assert out.shape == (4, 3, 20, 24) and 0 <= float(out.min()) and float(out.max()) <= 1
    assert model(clip[0]).shape == (3, 20, 24)
    assert model(clip[:, :1]).shape == (4, 1, 20, 24)  # grey stays grey
    # uint8 frames are 0-255 and go the way of 8-bit files through `savsr upscale`.
    u8 = torch.round(clip * 255).to(torch.uint8)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(u8):
        Image.fromarray(frame.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    assert main(["upscale", str(folder), "-o", str(tmp_path / "sr"), "--model", str(model_file)]) == 0
    cli = torch.stack([torch.from_numpy(np.array(Image.open(p))).permute(2, 0, 1) for p in sorted((tmp_path / "sr").iterdir())])
    assert torch.equal(torch.round(model(u8) * 255).to(torch.uint8), cli)
    with pytest.raises(TypeError, match="torch.from_numpy"):
        model(clip.numpy())
    with pytest.raises(ValueError, match="T ≥ 1"):
        model(clip[:0])
    # Tiling changes nothing.
    model.tile = 8
    torch.testing.assert_close(model(clip), out, rtol=0, atol=1e-5)


def _numpy_symmetries(a: np.ndarray) -> list[tuple[np.ndarray, object]]:
    """The 8 symmetries of the square as rotations of the array and of its mirror image, each with
    its inverse: a construction independent of savsr.data.dihedral's flips and transposes."""
    out = []
    for mirror in (False, True):
        for k in range(4):
            def inverse(y: np.ndarray, k: int = k, mirror: bool = mirror) -> np.ndarray:
                y = np.rot90(y, -k, axes=(-2, -1))
                return np.flip(y, -1) if mirror else y

            out.append((np.rot90(np.flip(a, -1) if mirror else a, k, axes=(-2, -1)), inverse))
    return out


def test_dihedral_is_the_group_of_the_square() -> None:
    a = np.random.default_rng(0).random((2, 5, 7))
    ours = [dihedral(torch.from_numpy(a), c).numpy() for c in CODES]
    for ref, _ in _numpy_symmetries(a):
        assert sum(x.shape == ref.shape and np.array_equal(x, ref) for x in ours) == 1
    for c in CODES:
        assert np.array_equal(dihedral_inverse(dihedral(torch.from_numpy(a), c), c).numpy(), a)


def test_self_ensemble_of_a_bd_model_averages_identity_and_transpose(tmp_path: Path) -> None:
    """A flip moves BD's LR grid (LR pixel i on HR pixel s·i) by a sub-pixel shift, so a model
    trained on BD, as its file's metadata says, averages only the symmetries that keep it."""
    from savsr.models.checkpoint import GeneratorSpec, load_generator, save_generator

    torch.manual_seed(0)
    spec = GeneratorSpec(scale=2, blocks=2, features=8)
    path = save_generator(spec.build(), spec, tmp_path / "bd.safetensors", extra={"degradation": "bd"})
    ens = load_model(path, device="cpu", precision="fp32", self_ensemble=True)
    plain = load_model(path, device="cpu", precision="fp32")
    x = torch.rand(1, 5, 11, 14)
    want = (plain._predict(x) + plain._predict(x.transpose(-1, -2)).transpose(-1, -2)) / 2
    torch.testing.assert_close(ens._predict(x), want, rtol=0, atol=1e-6)
    bi = save_generator(load_generator(path)[0], spec, tmp_path / "bi.safetensors", extra={"degradation": "bi"})
    assert load_model(bi, device="cpu", self_ensemble=True).ensemble_codes == CODES


def test_self_ensemble_averages_the_8_symmetries(model_file: Path) -> None:
    plain = load_model(model_file, device="cpu", precision="fp32")
    ens = load_model(model_file, device="cpu", precision="fp32", self_ensemble=True)
    x = torch.rand(1, 5, 11, 14)
    want = np.mean([inv(plain._predict(torch.from_numpy(np.ascontiguousarray(t))).numpy())
                    for t, inv in _numpy_symmetries(x.numpy())], axis=0)
    np.testing.assert_allclose(ens._predict(x).numpy(), want, rtol=0, atol=1e-6)
    # So the whole pipeline (bicubic chroma included) commutes with the symmetries, which a
    # single pass of the network does not; tiles change nothing.
    clip = torch.rand(3, 3, 11, 14)
    out = ens(clip)
    for c in CODES[1:]:
        torch.testing.assert_close(ens(dihedral(clip, c)), dihedral(out, c), rtol=0, atol=1e-5)
    assert (plain(dihedral(clip, 5)) - dihedral(plain(clip), 5)).abs().max() > 1e-3
    ens.tile = 8
    torch.testing.assert_close(ens(clip), out, rtol=0, atol=1e-5)
    # `savsr upscale --self-ensemble` is the same computation.
    frame = torch.round(clip[0] * 255).to(torch.uint8)
    src, dst = model_file.parent / "se_in.png", model_file.parent / "se_out.png"
    Image.fromarray(frame.permute(1, 2, 0).numpy()).save(src)
    assert main(["upscale", str(src), "-o", str(dst), "--model", str(model_file), "--precision", "fp32",
                 "--self-ensemble", "--overwrite"]) == 0
    cli = torch.from_numpy(np.array(Image.open(dst))).permute(2, 0, 1)
    ens.tile = None
    assert torch.equal(torch.round(ens(frame) * 255).to(torch.uint8), cli)


def test_frames_argument() -> None:
    assert parse_frames("3:10") == (3, 10) and parse_frames(":5") == (0, 5) and parse_frames("4:") == (4, None)
    for bad in ("5", "a:b", "5:5", "-1:3"):
        with pytest.raises(SavsrError):
            parse_frames(bad)


def _streams(path: Path) -> dict:
    # Everything is read while the container is open: a stream of a closed container reads freed memory.
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = sum(1 for _ in c.decode(video=0))
        return {"frames": frames, "size": (v.codec_context.width, v.codec_context.height), "rate": v.average_rate,
                "audio": len(c.streams.audio), "colorspace": int(v.codec_context.colorspace)}


def test_upscale_real_mp4_keeps_timing_audio_and_colour(model_file: Path, tmp_path: Path) -> None:
    src = require(DATA / "videos" / "sam2gallery_01_dog.mp4")
    # A short, small clip of it with its audio and BT.601 tags, so the test stays fast.
    clip, video_only = tmp_path / "clip.mp4", tmp_path / "video.mp4"
    info = replace(FrameSource(src).info, colorspace=5, color_primaries=5, color_trc=6)
    writer = VideoWriter(video_only, 160, 90, info.fps, info.time_base, info)
    with av.open(str(src)) as inp:
        for i, f in enumerate(inp.decode(video=0)):
            if i == 12:
                break
            writer.write(f.reformat(width=160, height=90, format="rgb24").to_ndarray(), f.pts)
    writer.close()
    join([video_only], clip, src, cut=True)
    dst = tmp_path / "up.mp4"
    assert main(["upscale", str(clip), "-o", str(dst), "--model", str(model_file), "--device", "cpu"]) == 0
    got, want = _streams(dst), _streams(clip)
    assert got["frames"] == want["frames"] == 12
    assert got["size"] == (320, 180) and got["rate"] == want["rate"]
    assert want["audio"] == got["audio"] == 1 and want["colorspace"] == got["colorspace"] == 5
    assert not list(tmp_path.glob(".*part*"))
    # An existing output is refused without --overwrite, and left as it was.
    stamp = dst.read_bytes()
    assert main(["upscale", str(clip), "-o", str(dst), "--model", str(model_file)]) == 2
    assert dst.read_bytes() == stamp
    # A frame range.
    part = tmp_path / "part.mkv"
    assert main(["upscale", str(clip), "-o", str(part), "--model", str(model_file), "--frames", "3:8"]) == 0
    assert _streams(part)["frames"] == 5


def test_10_bit_video_stays_10_bit(model_file: Path, tmp_path: Path) -> None:
    """A 10-bit source is written 10-bit where the encoder has it (H.264), 8-bit where not (MPEG-4
    in .avi), and the decoded pixels are the model's output on the decoded input."""
    src = tmp_path / "ten.mp4"
    y, x = np.mgrid[0:24, 0:32]
    clip = [np.stack([x * 2000 + t * 900, y * 2600, (x + y) * 1200], -1).clip(0, 65535).astype(np.uint16) for t in range(4)]
    with av.open(str(src), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt, s.options = 32, 24, "yuv420p10le", {"qp": "0"}
        for i, f in enumerate(clip):
            frame = av.VideoFrame.from_ndarray(f, format="rgb48le").reformat(format="yuv420p10le")
            frame.pts = i
            for packet in s.encode(frame):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)
    model = load_model(model_file, device="cpu")
    lr = np.stack(list(FrameSource(src)))
    assert lr.dtype == np.uint16
    want = model(torch.from_numpy(lr.astype(np.float32) / 65535).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    for name, fmt in (("up.mp4", "yuv420p10le"), ("up.avi", "yuv420p")):
        dst = tmp_path / name
        assert main(["upscale", str(src), "-o", str(dst), "--model", str(model_file), "--device", "cpu"]) == 0
        with av.open(str(dst)) as c:
            frames = list(c.decode(video=0))
        assert frames[0].format.name == fmt and len(frames) == 4
        got = np.stack([f.to_ndarray(format="rgb48le") for f in frames]).astype(np.float32) / 65535
        assert np.abs(got - want).mean() < 0.01, name  # H.264/MPEG-4 and 4:2:0 chroma are lossy


def test_folder_and_image_inputs_of_every_layout(model_file: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((rng.random((9, 11, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "sr_frames"
    assert main(["upscale", str(folder), "-o", str(out), "--model", str(model_file)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["00000000.png", "00000001.png", "00000002.png"]
    assert Image.open(out / "00000000.png").size == (22, 18)
    video = tmp_path / "from_folder.mp4"
    assert main(["upscale", str(folder), "-o", str(video), "--model", str(model_file), "--fps", "12"]) == 0
    assert _streams(video)["frames"] == 3

    rgb16 = (rng.random((9, 11, 3)) * 65535).astype(np.uint16)
    write_ffmpeg_image(tmp_path / "deep.png", rgb16, "rgb48le", "png", "rgb48be")
    Image.fromarray(np.dstack([(rgb16 >> 8).astype(np.uint8), np.full((9, 11), 200, np.uint8)])).save(tmp_path / "alpha.png")
    Image.fromarray((rgb16[..., 0] >> 8).astype(np.uint8)).save(tmp_path / "grey.png")
    for name, mode in (("deep.png", "RGB"), ("alpha.png", "RGB"), ("grey.png", "L")):
        dst = tmp_path / f"sr_{name}"
        assert main(["upscale", str(tmp_path / name), "-o", str(dst), "--model", str(model_file)]) == 0
        with av.open(str(dst)) as c:
            fmt = next(c.decode(video=0)).format.name
        assert Image.open(dst).size == (22, 18)
        if name == "deep.png":
            assert fmt == "rgb48be"  # 16-bit in, 16-bit out
        elif name == "grey.png":
            assert Image.open(dst).mode == mode


def test_bad_inputs_get_one_line_errors(model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty_video = tmp_path / "empty.mp4"
    with av.open(str(empty_video), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height = 16, 16
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 10)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.png")
    cases = [
        ([str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.mp4")], "no such file"),
        ([str(junk), "-o", str(tmp_path / "o.mp4")], "junk.mp4"),
        ([str(empty_video), "-o", str(tmp_path / "o.mp4")], "empty.mp4"),
        ([str(tmp_path / "ok.png"), "-o", str(tmp_path / "o.xyz")], "unsupported output"),
        ([str(tmp_path / "ok.png"), "-o", str(tmp_path / "o.png"), "--scale", "4"], "not ×4"),
        ([str(tmp_path / "ok.png"), "-o", str(tmp_path / "o.png"), "--model", "no-such-model"], "unknown model"),
        ([str(tmp_path / "ok.png"), "-o", str(tmp_path / "o.png"), "--tile", "3"], "tiles start at 64"),
        ([str(tmp_path / "ok.png"), "-o", str(tmp_path / "o.mp4"), "--crf", "55"], "o.mp4: --crf 55 is above libx264's 51"),
        ([str(tmp_path / "ok.png"), "-o", str(tmp_path / "o.mp4"), "--preset", "nope"], "o.mp4: unknown --preset"),
        # MPEG-1 has a fixed list of frame rates: the encoder refuses 7 fps when it opens, at the first frame.
        ([str(tmp_path / "ok.png"), "-o", str(tmp_path / "o.mkv"), "--codec", "mpeg1video", "--fps", "7"], "o.mkv: the encoder"),
        ([str(tmp_path / "ok.png"), "-o", str(tmp_path / "o.webm"), "--codec", "libx264"], "o.webm: cannot encode"),
    ]
    for args, needle in cases:
        if "--model" not in args:
            args = [*args, "--model", str(model_file)]
        assert main(["upscale", *args]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (args, err)
    assert not list(tmp_path.glob("o.*")) and not list(tmp_path.glob(".o*"))


def test_read_only_output_folder(model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("running as root, which writes into a read-only folder: the case cannot happen")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["upscale", str(tmp_path / "ok.png"), "-o", str(locked / "o.png"), "--model", str(model_file)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "cannot write" in err[0]
        assert not list(locked.iterdir())
    finally:
        locked.chmod(0o700)


def test_unwritable_output_folder(model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.png")
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    assert main(["upscale", str(tmp_path / "ok.png"), "-o", str(blocker / "sub" / "o.png"), "--model", str(model_file)]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_interrupted_run_leaves_no_output(model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), i * 40, np.uint8)).save(folder / f"{i}.png")
    model = load_model(model_file, device="cpu")
    calls = {"n": 0}
    real = Upscaler._forward

    def failing(self, x):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, x)

    monkeypatch.setattr(Upscaler, "_forward", failing)
    with pytest.raises(KeyboardInterrupt):
        upscale_file(model, folder, tmp_path / "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
