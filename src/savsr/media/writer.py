"""Encoding frames: a video stream (with the source's timing and colour tags) and image files."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ParameterError, SavsrError
from .reader import MediaInfo

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".m4v", ".avi", ".webm"}
IMAGE_OUT_SUFFIXES = {".png", ".tif", ".tiff"}
_DEFAULT_CODEC = {".webm": "libvpx-vp9", ".avi": "mpeg4"}
_FORMAT = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".mov": "mov", ".avi": "avi", ".webm": "webm"}
_FF_QP2LAMBDA = 118  # FFmpeg's scale from a quantiser to global_quality
X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
# x264 pinned so that the same frames give the same bytes, run after run and resumed or not
# (docs/inference.md, "Same input, same bytes"). cpu-independent=1 takes x264's C mb-tree
# propagation, not its AVX-512 assembly, which reads memory it never wrote: on AVX-512 CPUs (Ice
# Lake, Zen 4) two runs decoded up to 58 levels apart, and the stream changed with the heap's state.
_X264_PARAMS = "cpu-independent=1"
# x264's "auto" thread count is the number of CPUs the encoding thread may run on (its affinity),
# and with PyAV's slice threads that number of slices per frame shapes the stream: so a fixed 4,
# as fast as auto's 2 on 2 cores (17 and 18 fps at 1536×864 on a Zen 4; 1 thread: 10), more elsewhere.
_X264_THREADS = 4
# Muxers leave out what changes from file to file (Matroska's random IDs, the writing library's
# version), so the same packets give the same bytes in any container.
BITEXACT = {"fflags": "+bitexact"}


def _pix_fmt(codec: str, odd: bool, deep: bool) -> str:
    """The encoder's pixel format: 4:2:0, or 4:4:4 where a side is odd (4:2:0 cannot hold it);
    10-bit for a deep (16-bit or 10-bit) source where the encoder has it, else 8-bit."""
    import av  # FFmpeg, loaded on first use (training imports this module without it)

    base = "yuv444p" if odd and codec.startswith("libx26") else "yuv420p"
    if deep:
        formats = {f.name for f in av.codec.Codec(codec, "w").video_formats or ()}
        if f"{base}10le" in formats:
            return f"{base}10le"
    return base


def encoder_for(path: Path, codec: str | None, crf: int, preset: str) -> str:
    """The encoder of a video ``path`` (``codec``, else its suffix's default), once ``crf`` and
    ``preset`` are known to suit it (called before any frame is computed)."""
    import av

    codec = codec or _DEFAULT_CODEC.get(path.suffix.lower(), "libx264")
    try:
        # A name such as h264 as the encoder FFmpeg picks for it (libx264): one set of settings each.
        codec = av.codec.Codec(codec, "w").name
    except (av.FFmpegError, ValueError):
        raise SavsrError(f"{path}: cannot encode with codec {codec!r}: FFmpeg has no such encoder") from None
    if codec.startswith("libx26") and (crf > 51 or preset not in X26X_PRESETS):
        if crf > 51:
            raise ParameterError("crf", f"{path}: {{param}} {crf} is above {codec}'s 51")
        raise ParameterError("preset", f"{path}: unknown {{param}} {preset!r}; expected one of {', '.join(X26X_PRESETS)}")
    # The output's container, and the MP4 of the resumable segments, must both hold the codec.
    for fmt in (_FORMAT.get(path.suffix.lower(), "matroska"), "mp4"):
        with av.open(io.BytesIO(), "w", format=fmt) as probe:
            if codec not in probe.supported_codecs and av.codec.Codec(codec, "w").name not in probe.supported_codecs:
                where = f"a {path.suffix} file" if fmt != "mp4" or path.suffix.lower() in (".mp4", ".m4v") else "MP4 segments"
                raise SavsrError(f"{path}: cannot encode with codec {codec!r}: {where} cannot hold it")
    return codec


def _set_quality(stream, codec: str, crf: int, preset: str) -> None:
    """Constant quality for each default encoder (their own defaults are low fixed bitrates), and
    for x264 the settings that make its stream depend on the frames alone."""
    if codec == "libx264":
        stream.options = {"crf": str(crf), "preset": preset, "x264-params": _X264_PARAMS}
        stream.codec_context.thread_count = _X264_THREADS
    elif codec.startswith("libx26"):
        stream.options = {"crf": str(crf), "preset": preset}
    elif codec == "libvpx-vp9":
        stream.options = {"crf": str(crf), "b": "0"}
    elif codec == "mpeg4":  # no CRF: a fixed quantiser, 2 of 1-31 (ffmpeg -q:v 2)
        stream.codec_context.qscale = True
        stream.codec_context.global_quality = 2 * _FF_QP2LAMBDA


class VideoWriter:
    """Encodes RGB frames (uint8, or uint16 from deep sources) into the video stream of ``path``.

    Frame timestamps are kept (so variable frame rates survive). The stream is tagged with the
    colour matrix, range, primaries and transfer of ``tags`` (BT.709 where it has none: frame
    folders, images), the RGB frames are converted with that same matrix, and its pixel aspect
    ratio is kept. Other streams, chapters and the display rotation are the muxer's (:mod:`.mux`).
    ``container_format`` and ``options`` go to FFmpeg's muxer (the segments of a resumable run
    are MP4 whose timescale is the source's time base, so no timestamp is rounded).
    """

    def __init__(
        self, path: Path, width: int, height: int, rate: Fraction, time_base: Fraction | None = None,
        tags: MediaInfo | None = None, codec: str | None = None, crf: int = 18, preset: str = "medium",
        deep: bool = False, name: Path | None = None, container_format: str | None = None,
        options: dict[str, str] | None = None,
    ) -> None:
        import av

        self.path = path
        self.name = name or path  # what messages call the output (``path`` may be a staged name)
        codec = encoder_for(self.name, codec, crf, preset)
        fmt = container_format or {".m4v": "mp4"}.get(path.suffix.lower())
        self.out = av.open(str(path), "w", format=fmt, options={**BITEXACT, **(options or {})})
        try:
            self.stream = self.out.add_stream(codec, rate=rate)
        except (av.FFmpegError, ValueError) as exc:
            self.out.close()
            raise SavsrError(f"{self.name}: cannot encode with codec {codec!r} ({exc})") from None
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = _pix_fmt(codec, bool(width % 2 or height % 2), deep)
        _set_quality(self.stream, codec, crf, preset)
        self.time_base = time_base or 1 / rate
        self.stream.codec_context.time_base = self.time_base
        cc = self.stream.codec_context
        if tags is not None and tags.sample_aspect_ratio:
            cc.sample_aspect_ratio = tags.sample_aspect_ratio
        # Untagged sources (image folders) are tagged BT.709, the HD standard.
        colorspace = tags.colorspace if tags is not None else None
        self.colorspace = colorspace if colorspace not in (None, 2) else 1
        if codec == "mpeg4":  # FFmpeg writes it without colour tags, and decoders then assume BT.601
            self.colorspace = 5
        color_range = tags.color_range if tags is not None else None
        self.color_range = color_range if color_range not in (None, 0) else 1
        cc.colorspace, cc.color_range = self.colorspace, self.color_range
        primaries, trc = (tags.color_primaries, tags.color_trc) if tags is not None else (None, None)
        cc.color_primaries = primaries if primaries not in (None, 2) else 1
        cc.color_trc = trc if trc not in (None, 2) else 1
        self._index = 0
        self.frames = 0

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Encode one (H, W, 3) uint8 or uint16 frame; ``pts`` in the time base (None: frame index)."""
        import av

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
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and close the file."""
        for packet in self.stream.encode():
            self.out.mux(packet)
        self.out.close()

    def abort(self) -> None:
        self.out.close()


def write_image(path: Path, frame: np.ndarray) -> None:
    """Write an (H, W, C) uint8 or uint16 frame losslessly (16-bit stays 16-bit)."""
    if frame.dtype == np.uint8:
        Image.fromarray(frame[..., 0] if frame.shape[2] == 1 else frame).save(path, format=_pil_format(path))
        return
    import av

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
