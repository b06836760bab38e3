"""Decompression bombs: frames declaring enormous sizes are refused from their headers, under a
pixel limit that SAVSR_MAX_PIXELS configures, before any frame buffer is allocated."""

from __future__ import annotations

import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robust_helpers import SAVSR, one_line_error, run_measured
from savsr.media.reader import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, FrameSource, max_pixels, read_image
from savsr.errors import SavsrError


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_of_zeros(width: int, height: int, rows: int | None = None) -> bytes:
    """An 8-bit RGB PNG declaring ``width`` × ``height`` whose image data holds ``rows`` black rows
    (all of them by default; a few make a header-only bomb). Zeros compress about 1000:1."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    packer = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)
    body = b"".join(packer.compress(row) for _ in range(height if rows is None else rows)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small valid JPEG whose frame header (SOF0) is rewritten to declare ``width`` × ``height``."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def y4m_declaring(width: int, height: int) -> bytes:
    """A raw YUV4MPEG video header declaring ``width`` × ``height``, then a few bytes of a frame."""
    return f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\nFRAME\n".encode() + b"\0" * 4096


def test_default_limit_holds_8k_and_env_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DEFAULT_MAX_PIXELS == 8192 * 8192 > 7680 * 4320  # 8K UHD fits
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    assert max_pixels() == DEFAULT_MAX_PIXELS
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000")
    assert max_pixels() == 1000
    for bad in ("0", "-5", "lots", "1e9"):
        monkeypatch.setenv(MAX_PIXELS_ENV, bad)
        with pytest.raises(SavsrError, match=MAX_PIXELS_ENV):
            max_pixels()


@pytest.mark.parametrize("name, data, size", [
    ("png_100k.png", png_of_zeros(100_000, 100_000, rows=1), None),  # past Pillow's own cap too
    ("png_9k.png", png_of_zeros(9000, 8000, rows=1), "9000×8000"),
    ("jpeg_65k.jpg", jpeg_declaring(65_000, 65_000), None),
    ("jpeg_9k.jpg", jpeg_declaring(9000, 8000), "9000×8000"),
    ("video_12k.y4m", y4m_declaring(12_000, 12_000), "12000×12000"),
    ("video_12k_lying.mp4", y4m_declaring(12_000, 12_000), "12000×12000"),  # the extension lies
])
def test_bombs_are_refused_from_the_header(tmp_path: Path, name: str, data: bytes, size: str | None) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(SavsrError, match=f"exceeds the limit of {DEFAULT_MAX_PIXELS} pixels") as info:
        FrameSource(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    if size is not None:
        assert size in str(info.value)


def test_limit_from_the_environment_applies_to_every_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = np.zeros((12, 16, 3), np.uint8)
    Image.fromarray(small).save(tmp_path / "a.png")
    Image.fromarray(small).save(tmp_path / "a.jpg")
    monkeypatch.setenv(MAX_PIXELS_ENV, str(16 * 12))
    assert read_image(tmp_path / "a.png").shape == read_image(tmp_path / "a.jpg").shape == (12, 16, 3)
    monkeypatch.setenv(MAX_PIXELS_ENV, str(16 * 12 - 1))
    for name in ("a.png", "a.jpg"):
        with pytest.raises(SavsrError, match="16×12 frame"):
            read_image(tmp_path / name)


def test_cli_reports_a_bomb_in_one_line(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_of_zeros(9000, 8000, rows=1))
    line = one_line_error(run_measured([SAVSR, "maps", str(bomb), "-o", str(tmp_path / "m.png")]))
    assert "9000×8000" in line and MAX_PIXELS_ENV in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.png"]


_READ = "import sys; from savsr.media.reader import FrameSource; print(FrameSource(sys.argv[1]).info.width)"


@pytest.mark.slow  # the control decodes 300 MB
def test_refusal_comes_before_the_allocation(tmp_path: Path) -> None:
    """A genuine 10000×10000 PNG (300 MB decoded, 290 kB on disk), read in a child process: under
    the default limit its peak memory stays that of reading a tiny image; raised, it decodes."""
    big, tiny = tmp_path / "big.png", tmp_path / "tiny.png"
    big.write_bytes(png_of_zeros(10_000, 10_000))
    tiny.write_bytes(png_of_zeros(16, 12))
    base = run_measured([sys.executable, "-c", _READ, str(tiny)])
    refused = run_measured([sys.executable, "-c", _READ, str(big)])
    assert base.returncode == 0 and base.stdout.strip() == "16"
    assert refused.returncode == 1 and "exceeds the limit" in refused.stderr
    assert refused.peak_rss_mb < base.peak_rss_mb + 30, (refused.peak_rss_mb, base.peak_rss_mb)
    # The control: with the limit raised, the same measurement sees the 300 MB frame.
    decoded = run_measured([sys.executable, "-c", _READ, str(big)], env={MAX_PIXELS_ENV: str(10**8)})
    assert decoded.returncode == 0 and decoded.stdout.strip() == "10000"
    assert decoded.peak_rss_mb > base.peak_rss_mb + 250, (decoded.peak_rss_mb, base.peak_rss_mb)
