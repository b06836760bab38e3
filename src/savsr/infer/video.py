"""Writing super-resolved frames: videos (with the source's audio and timing) and image files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from ..data.io import open_container
from ..errors import ParameterError, SavsrError

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".m4v", ".avi", ".webm"}
IMAGE_OUT_SUFFIXES = {".png", ".tif", ".tiff"}
_DEFAULT_CODEC = {".webm": "libvpx-vp9", ".avi": "mpeg4"}
_FF_QP2LAMBDA = 118  # FFmpeg's scale from a quantiser to global_quality
X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")


@dataclass
class VideoProps:
    """Timing and colour tags of a source video stream, carried over to the output."""

    rate: Fraction
    time_base: Fraction | None
    colorspace: int | None = None
    color_range: int | None = None
    color_primaries: int | None = None
    color_trc: int | None = None
    has_audio: bool = False


def probe_video(path: Path, fallback_rate: Fraction) -> VideoProps:
    """The rate, time base, colour tags and audio presence of ``path``'s first video stream."""
    with open_container(path) as c:
        v = c.streams.video[0]
        cc = v.codec_context
        rate = Fraction(v.average_rate) if v.average_rate else fallback_rate
        return VideoProps(
            rate=rate, time_base=Fraction(v.time_base) if v.time_base else None,
            colorspace=int(cc.colorspace), color_range=int(cc.color_range),
            color_primaries=int(cc.color_primaries), color_trc=int(cc.color_trc),
            has_audio=bool(c.streams.audio),
        )


def _pix_fmt(codec: str, odd: bool, deep: bool) -> str:
    """The encoder's pixel format: 4:2:0, or 4:4:4 where a side is odd (4:2:0 cannot hold it);
    10-bit for a deep (16-bit or 10-bit) source where the encoder has it, else 8-bit."""
    base = "yuv444p" if odd and codec.startswith("libx26") else "yuv420p"
    if deep:
        formats = {f.name for f in av.codec.Codec(codec, "w").video_formats or ()}
        if f"{base}10le" in formats:
            return f"{base}10le"
    return base


def encoder_for(path: Path, codec: str | None, crf: int, preset: str) -> str:
    """The encoder of a video ``path`` (``codec``, else its suffix's default), once ``crf`` and
    ``preset`` are known to suit it (called before any frame is computed)."""
    codec = codec or _DEFAULT_CODEC.get(path.suffix.lower(), "libx264")
    if codec.startswith("libx26") and (crf > 51 or preset not in X26X_PRESETS):
        if crf > 51:
            raise ParameterError("crf", f"{path}: {{param}} {crf} is above {codec}'s 51")
        raise ParameterError("preset", f"{path}: unknown {{param}} {preset!r}; expected one of {', '.join(X26X_PRESETS)}")
    return codec


def _set_quality(stream, codec: str, crf: int, preset: str) -> None:
    """Constant quality for each default encoder; their own defaults are low fixed bitrates."""
    if codec.startswith("libx26"):
        stream.options = {"crf": str(crf), "preset": preset}
    elif codec == "libvpx-vp9":
        stream.options = {"crf": str(crf), "b": "0"}
    elif codec == "mpeg4":  # no CRF: a fixed quantiser, 2 of 1-31 (ffmpeg -q:v 2)
        stream.codec_context.qscale = True
        stream.codec_context.global_quality = 2 * _FF_QP2LAMBDA


class VideoWriter:
    """Encodes RGB frames (uint8, or uint16 from deep sources) into ``path``, copying the audio
    streams of ``audio_from``.

    Frame timestamps are kept (so variable frame rates survive); audio packets are copied, not
    re-encoded, and interleaved with the video by time. The output is tagged with the source's
    colour matrix, range, primaries and transfer (BT.709 for sources without tags), and the RGB
    frames are converted with that same matrix.
    """

    def __init__(
        self, path: Path, width: int, height: int, props: VideoProps, codec: str | None = None,
        crf: int = 18, preset: str = "medium", audio_from: Path | None = None, deep: bool = False,
        name: Path | None = None,
    ) -> None:
        self.path = path
        self.name = name or path  # what messages call the output (``path`` may be a staged name)
        suffix = path.suffix.lower()
        codec = encoder_for(self.name, codec, crf, preset)
        self.out = av.open(str(path), "w", format={".m4v": "mp4"}.get(suffix))
        try:
            self.stream = self.out.add_stream(codec, rate=props.rate)
        except (av.FFmpegError, ValueError) as exc:
            self.out.close()
            raise SavsrError(f"{self.name}: cannot encode with codec {codec!r} ({exc})") from None
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = _pix_fmt(codec, bool(width % 2 or height % 2), deep)
        _set_quality(self.stream, codec, crf, preset)
        self.time_base = props.time_base or 1 / props.rate
        self.stream.codec_context.time_base = self.time_base
        cc = self.stream.codec_context
        # Untagged sources (image folders) are tagged BT.709, the HD standard.
        self.colorspace = props.colorspace if props.colorspace not in (None, 2) else 1
        if codec == "mpeg4":  # FFmpeg writes it without colour tags, and decoders then assume BT.601
            self.colorspace = 5
        self.color_range = props.color_range if props.color_range not in (None, 0) else 1
        cc.colorspace, cc.color_range = self.colorspace, self.color_range
        cc.color_primaries = props.color_primaries if props.color_primaries not in (None, 2) else 1
        cc.color_trc = props.color_trc if props.color_trc not in (None, 2) else 1
        self._audio_in = None
        self._audio: Iterator | None = None
        self._pending = None
        if audio_from is not None and props.has_audio:
            self._audio_in = open_container(audio_from)
            in_audio = self._audio_in.streams.audio
            self._map = {s.index: self.out.add_stream_from_template(s) for s in in_audio}
            self._audio = self._audio_in.demux(*in_audio)
        self._index = 0
        self._first: float | None = None  # time of the first video frame, seconds
        self._last = 0.0

    def _mux_audio_until(self, seconds: float) -> None:
        """Copy audio packets up to ``seconds``; those before the first video frame are dropped,
        so a clip cut with --frames keeps only its own sound."""
        while self._audio is not None:
            if self._pending is None:
                try:
                    self._pending = next(self._audio)
                except StopIteration:
                    self._audio = None
                    return
                if self._pending.dts is None:  # demuxer flush packet
                    self._pending = None
                    continue
            packet = self._pending
            t = float(packet.pts * packet.time_base) if packet.pts is not None else self._last
            if t > seconds:
                return
            if self._first is None or t >= self._first - 1e-6:
                packet.stream = self._map[packet.stream.index]
                self.out.mux(packet)
            self._pending = None

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Encode one (H, W, 3) uint8 or uint16 frame; ``pts`` in the source's time base (None: frame index)."""
        fmt = "rgb48le" if rgb.dtype == np.uint16 else "rgb24"  # reformat below converts the depth
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format=fmt)
        frame = frame.reformat(format=self.stream.pix_fmt, dst_colorspace=self.colorspace,
                               dst_color_range=self.color_range)
        frame.pts = self._index if pts is None else pts
        frame.time_base = self.time_base
        self._index += 1
        try:
            packets = self.stream.encode(frame)
        except av.FFmpegError as exc:  # the encoder opens on the first frame and may refuse its options
            raise SavsrError(f"{self.name}: the encoder {self.stream.codec_context.name!r} refused the frames ({exc})") from None
        for packet in packets:
            self.out.mux(packet)
        self._last = float(frame.pts * self.time_base)
        if self._first is None:
            self._first = self._last
        self._mux_audio_until(self._last)

    def close(self) -> None:
        """Flush the encoder and the remaining audio, and close the file."""
        for packet in self.stream.encode():
            self.out.mux(packet)
        self._mux_audio_until(self._last + float(1 / self.stream.average_rate if self.stream.average_rate else 0))
        self.out.close()
        if self._audio_in is not None:
            self._audio_in.close()

    def abort(self) -> None:
        try:
            self.out.close()
        finally:
            if self._audio_in is not None:
                self._audio_in.close()


def write_image(path: Path, frame: np.ndarray) -> None:
    """Write an (H, W, C) uint8 or uint16 frame losslessly (16-bit stays 16-bit)."""
    if frame.dtype == np.uint8:
        Image.fromarray(frame[..., 0] if frame.shape[2] == 1 else frame).save(path, format=_pil_format(path))
        return
    grey = frame.shape[2] == 1
    src = "gray16le" if grey else "rgb48le"
    dst = {".png": "gray16be" if grey else "rgb48be"}.get(path.suffix.lower(), src)
    codec = "png" if path.suffix.lower() == ".png" else "tiff"
    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[..., 0] if grey else frame), format=src).reformat(format=dst)
    with av.open(str(path), "w", format="image2") as out:
        stream = out.add_stream(codec)
        stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], dst
        for packet in stream.encode(vf):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _pil_format(path: Path) -> str:
    return {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF"}.get(path.suffix.lower(), "PNG")
