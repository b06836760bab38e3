"""Reading frames: still images, frame folders and videos, streamed one frame at a time.

Frames are numpy arrays (H, W, C) of their native depth, uint8 or uint16, with C = 1 (grey) or
3 (RGB). Alpha planes are dropped: super-resolution restores colour, and an alpha plane carries
no detail a video model was trained on.

Decoders, and why:
- Videos, PNG, TIFF and every other format go through FFmpeg with PyAV. PyAV decodes frame by
  frame from Python objects (no shell command strings, no pipe to parse), gives exact 16-bit
  samples (Pillow silently truncates 16-bit colour PNG and TIFF to 8 bits), and reads each
  video's colour matrix and range tags when converting to RGB.
- JPEG goes through Pillow (libjpeg-turbo), the decoder that JPEG datasets are made and used with:
  FFmpeg's JPEG path upsamples chroma differently and differs from it by up to 27 grey levels.

Decompression bombs: a frame whose declared width × height exceeds :func:`max_pixels` is refused
from its header, before a frame buffer is allocated (docs/reliability.md).

``decoder="opencv"`` reads with OpenCV instead of PyAV, for machines where PyAV is not installed
(it is imported only for the "pyav" decoder). OpenCV gives no timestamps, colour tags or 16-bit
video samples, so it is a fallback, not the default.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ParameterError, SavsrError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
# What a folder of videos is scanned for (any FFmpeg-readable file can still be named directly).
VIDEO_INPUT_SUFFIXES = {".mp4", ".mkv", ".mov", ".m4v", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts",
                        ".flv", ".wmv", ".3gp", ".y4m", ".ogv"}
_JPEG_MAGIC = b"\xff\xd8\xff"
# Still-image formats with a magic number, whose size Pillow reads from the header alone.
_HEADER_FORMATS = ("PNG", "TIFF", "BMP", "WEBP")

# 2**26 = 8192×8192 pixels: an 8K UHD frame (7680×4320, 33 Mpx) twice over. One frame at the
# limit already takes 400 MB as 16-bit RGB and 800 MB as a float32 tensor, before upscaling.
DEFAULT_MAX_PIXELS = 1 << 26
MAX_PIXELS_ENV = "SAVSR_MAX_PIXELS"
# FFmpeg checks its max_pixels against the width padded to its stride alignment (at most 64
# pixels more), so it is given the room of 64 extra columns of 65536 lines.
_STRIDE_SLACK = 64 * 65536

# Pillow logs some header errors (e.g. a TIFF's sample count) before raising them; with no handler
# anywhere, Python would print them to stderr next to savsr's own one-line error.
logging.getLogger("PIL").addHandler(logging.NullHandler())


DECODERS = ("pyav", "opencv")


@dataclass(frozen=True)
class MediaInfo:
    """What one probe of a frame source tells, before decoding all of it: the frames' layout and,
    for a video, the timing, colour tags and display geometry that its output keeps."""

    width: int
    height: int
    channels: int
    dtype: np.dtype
    num_frames: int | None  # None when a video container does not say
    fps: Fraction | None  # None for images and frame folders
    time_base: Fraction | None = None
    colorspace: int | None = None  # FFmpeg's AVColorSpace, range, primaries and transfer
    color_range: int | None = None
    color_primaries: int | None = None
    color_trc: int | None = None
    rotation: int = 0  # display rotation, degrees counter-clockwise (a phone's portrait video: 90 or -90)
    sample_aspect_ratio: Fraction | None = None  # None: square pixels or unknown

    @property
    def is_video(self) -> bool:
        return self.fps is not None


def upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """An (H, W, C) frame as a player shows it: turned by its display ``rotation`` (degrees
    counter-clockwise, :attr:`MediaInfo.rotation`; the frames read are as coded)."""
    return np.ascontiguousarray(np.rot90(frame, k=round(rotation / 90) % 4))


def to_float(frame: np.ndarray) -> np.ndarray:
    """uint8 or uint16 frame to float32 in [0, 1]."""
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    if frame.dtype == np.uint16:
        return frame.astype(np.float32) / 65535.0
    raise TypeError(f"expected uint8 or uint16 frames, got {frame.dtype}")


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """Any frame to uint8: 16-bit samples are rounded to the nearest of 256 levels."""
    if frame.dtype == np.uint8:
        return frame
    if frame.dtype == np.uint16:
        return ((frame.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    raise TypeError(f"expected uint8 or uint16 frames, got {frame.dtype}")


def max_pixels() -> int:
    """The largest frame (width × height) savsr decodes: ``$SAVSR_MAX_PIXELS``, else the default."""
    text = os.environ.get(MAX_PIXELS_ENV)
    if text is None:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise SavsrError(f"{MAX_PIXELS_ENV}={text!r}: expected a positive whole number of pixels")
    return value


def _check_pixels(path: Path, width: int, height: int, limit: int) -> None:
    """Refuse a frame of ``width`` × ``height`` above ``limit`` pixels."""
    if width * height > limit:
        raise SavsrError(
            f"{path}: a {width}×{height} frame ({width * height} pixels) exceeds the limit of {limit} pixels "
            f"(set {MAX_PIXELS_ENV} to raise it)"
        )


def _open_pillow(path: Path, limit: int, formats: tuple[str, ...] | None) -> Image.Image:
    """``Image.open`` (header only, nothing decoded yet), refusing images above ``limit`` pixels."""
    with warnings.catch_warnings():
        # savsr's own limit decides, and a corrupt header fails with an error: Pillow's warnings
        # (its 89 Mpx bomb warning, "Corrupt EXIF data", ...) would only be noise on stderr.
        warnings.simplefilter("ignore")
        try:
            img = Image.open(path, formats=formats)
        except Image.DecompressionBombError:
            # Pillow refuses above twice its default (179 Mpx) whatever savsr's limit says.
            cap = 2 * Image.MAX_IMAGE_PIXELS
            why = (f"the limit of {limit} pixels (set {MAX_PIXELS_ENV} to raise it)" if limit < cap
                   else f"Pillow's fixed cap (it applies whatever {MAX_PIXELS_ENV} says)")
            raise SavsrError(f"{path}: declares a frame of over {cap} pixels, which exceeds {why}") from None
    try:
        _check_pixels(path, img.width, img.height, limit)
    except SavsrError:
        img.close()
        raise
    return img


def _check_still_header(path: Path, limit: int) -> None:
    """Refuse a PNG/TIFF/BMP/WebP whose header declares more than ``limit`` pixels."""
    try:
        img = _open_pillow(path, limit, _HEADER_FORMATS)
    except SavsrError:
        raise
    except Exception:  # a header Pillow cannot parse is left to FFmpeg, which has its own cap
        return
    img.close()


def _av_frame_to_array(frame) -> np.ndarray:  # frame: av.VideoFrame
    """Decoded FFmpeg frame to (H, W, C) uint8/uint16, using the frame's colour tags."""
    fmt = frame.format
    grey = fmt.name.startswith(("gray", "ya", "mono"))
    deep = max(c.bits for c in fmt.components) > 8
    target = ("gray16le" if deep else "gray") if grey else ("rgb48le" if deep else "rgb24")
    arr = frame.to_ndarray(format=target)
    return arr[..., None] if arr.ndim == 2 else arr


def _pillow_to_array(img: Image.Image) -> np.ndarray:
    """Pillow image (JPEG and the like: 8-bit) to (H, W, C) uint8."""
    if img.mode in ("L", "1", "LA", "I;16", "I"):
        return np.array(img.convert("L"))[..., None]  # a copy: np.asarray of a Pillow image is read-only
    return np.array(img.convert("RGB"))


def _is_jpeg(path: Path) -> bool:
    _check_file(path)
    with open(path, "rb") as fh:
        return fh.read(3) == _JPEG_MAGIC


def read_image(path: str | Path) -> np.ndarray:
    """Read one still image as (H, W, C) uint8 or uint16, C = 1 or 3."""
    path = Path(path)
    return _read_jpeg(path) if _is_jpeg(path) else _first_decoded(path)


def _read_jpeg(path: Path) -> np.ndarray:
    """Decode a JPEG with Pillow, refusing it from its header if it is above the pixel limit."""
    try:
        with _open_pillow(path, max_pixels(), None) as img, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a damaged file fails below; warnings would be noise
            img.load()
            # As viewers and OpenCV show it: a phone's portrait photo is stored sideways.
            return _pillow_to_array(ImageOps.exif_transpose(img))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise SavsrError(f"{path}: corrupt or unreadable JPEG ({exc})") from None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise SavsrError(f"{path}: no such file")
    if path.is_dir():
        raise SavsrError(f"{path}: is a folder, expected a file")
    if path.stat().st_size == 0:
        raise SavsrError(f"{path}: is empty")


def _decode_video(path: Path, start: int = 0) -> Iterator[tuple[np.ndarray, int | None]]:
    """Yield ``(frame, pts)`` for the frames of any FFmpeg-readable file, from index ``start``."""
    import av  # loads FFmpeg; imported on first use

    limit = max_pixels()
    try:
        with open_container(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for i, frame in enumerate(container.decode(stream)):
                if i >= start:
                    _check_pixels(path, frame.width, frame.height, limit)
                    yield _av_frame_to_array(frame), frame.pts
    except av.FFmpegError as exc:
        raise SavsrError(f"{path}: not a readable image or video ({exc.strerror or exc})") from None


def open_container(path: Path):  # -> av.container.InputContainer
    """Open ``path`` with FFmpeg, refusing it before any frame is decoded if it has no video
    stream or declares frames above :func:`max_pixels`. FFmpeg errors propagate."""
    import av

    limit = max_pixels()
    _check_still_header(path, limit)
    # max_pixels makes FFmpeg's own decoders refuse larger frames, both while probing the stream
    # here and when decoding: a size that the header hides or that changes mid-stream is caught
    # too. The exact limit is checked on the stream's and on each decoded frame's size.
    options = {"max_pixels": str(limit + _STRIDE_SLACK)}
    # Tags are decoded leniently: a damaged title must not make a readable video unreadable.
    container = av.open(str(path), options=options, metadata_errors="replace")
    try:
        if not container.streams.video:
            raise SavsrError(f"{path}: has no video stream")
        cc = container.streams.video[0].codec_context
        if cc is None:  # FFmpeg has no decoder for the stream's codec
            raise SavsrError(f"{path}: its video stream is in a codec that FFmpeg cannot decode")
        _check_pixels(path, cc.width, cc.height, limit)
        cc.options = options
    except BaseException:
        container.close()
        raise
    return container


def _first_decoded(path: Path) -> np.ndarray:
    """The first frame FFmpeg decodes from ``path``; an error naming the file if there is none."""
    frames = _decode_video(path)
    try:
        return next(frames)[0]
    except StopIteration:
        raise SavsrError(f"{path}: holds no frames") from None
    finally:
        frames.close()


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_frames(folder: str | Path) -> list[Path]:
    """Image files of a frame folder in natural order (frame2 before frame10); hidden files skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SavsrError(f"{folder}: not a folder")
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    if not files:
        raise SavsrError(f"{folder}: holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return sorted(files, key=_natural_key)


class FrameSource:
    """A video file, a frame folder or a single image, read one frame at a time.

    ``info`` comes from the first frame (and the container, for videos). Iterating checks that
    every frame has the same size and layout, and names the first one that does not.
    """

    def __init__(self, path: str | Path, decoder: str = "pyav") -> None:
        if decoder not in DECODERS:
            raise ParameterError("decoder", f"unknown {{param}} {decoder!r}; expected one of {', '.join(DECODERS)}")
        self.path, self.decoder = Path(path), decoder
        if self.path.is_dir():
            self._files: list[Path] | None = list_frames(self.path)
            self.info = replace(_still_info(self._read_image(self._files[0])), num_frames=len(self._files))
        else:
            _check_file(self.path)
            self._files = None
            self.info = self._probe_file()

    def _probe_file(self) -> MediaInfo:
        if _is_jpeg(self.path):
            self._files = [self.path]
            return _still_info(read_image(self.path))
        if self.decoder == "opencv":
            return _opencv_probe(self.path)
        return _pyav_probe(self.path)

    @property
    def is_video(self) -> bool:
        return self.info.is_video

    def _check(self, frame: np.ndarray, where: str) -> np.ndarray:
        i = self.info
        if frame.shape != (i.height, i.width, i.channels) or frame.dtype != i.dtype:
            raise SavsrError(
                f"{where}: frame is {frame.shape[1]}×{frame.shape[0]}×{frame.shape[2]} {frame.dtype}, "
                f"but the sequence is {i.width}×{i.height}×{i.channels} {i.dtype}"
            )
        return frame

    def frames(self, start: int = 0) -> Iterator[np.ndarray]:
        """Yield frames from index ``start`` on, as (H, W, C) uint8/uint16 arrays."""
        for frame, _ in self.timed_frames(start):
            yield frame

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.frames()

    def timed_frames(self, start: int = 0) -> Iterator[tuple[np.ndarray, int | None]]:
        """Like :meth:`frames`, with each video frame's presentation timestamp (None for images)."""
        if self._files is not None:
            for f in self._files[start:]:
                yield self._check(self._read_image(f), str(f)), None
            return
        decode = _opencv_decode if self.decoder == "opencv" else _decode_video
        for i, (frame, pts) in enumerate(decode(self.path, start)):
            yield self._check(frame, f"{self.path} frame {start + i}"), pts

    def _read_image(self, path: Path) -> np.ndarray:
        if self.decoder == "opencv" and not _is_jpeg(path):  # JPEG is Pillow's with either decoder
            return _opencv_image(path)
        return read_image(path)


def _still_info(first: np.ndarray) -> MediaInfo:
    return MediaInfo(first.shape[1], first.shape[0], first.shape[2], first.dtype, 1, None)


def _pyav_probe(path: Path) -> MediaInfo:
    """The layout, timing, colour tags and display geometry of ``path``, from one opening: the
    container's header and its first decoded frame."""
    import av

    limit = max_pixels()
    try:
        with open_container(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            is_still = container.format.name.endswith("_pipe") or container.format.name == "image2"
            frame = next(container.decode(stream), None)
            if frame is None:
                raise SavsrError(f"{path}: holds no frames")
            _check_pixels(path, frame.width, frame.height, limit)
            first = _av_frame_to_array(frame)
            if is_still:
                return _still_info(first)
            cc = stream.codec_context
            sar = stream.sample_aspect_ratio
            return MediaInfo(
                first.shape[1], first.shape[0], first.shape[2], first.dtype, stream.frames or None,
                Fraction(stream.average_rate) if stream.average_rate else Fraction(25),
                time_base=Fraction(stream.time_base) if stream.time_base else None,
                colorspace=int(cc.colorspace), color_range=int(cc.color_range),
                color_primaries=int(cc.color_primaries), color_trc=int(cc.color_trc),
                rotation=int(round(frame.rotation or 0)),
                sample_aspect_ratio=Fraction(sar) if sar and sar != 1 else None,
            )
    except av.FFmpegError as exc:
        raise SavsrError(f"{path}: not a readable image or video ({exc.strerror or exc})") from None


def _cv2():
    try:
        import cv2
    except ImportError:
        raise SavsrError("the opencv decoder needs OpenCV: pip install opencv-python-headless") from None
    return cv2


def _opencv_image(path: Path) -> np.ndarray:
    """A still image read with OpenCV (8 or 16 bits, grey or RGB, alpha dropped)."""
    cv2 = _cv2()
    _check_file(path)
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None:
        raise SavsrError(f"{path}: OpenCV cannot read it")
    _check_pixels(path, arr.shape[1], arr.shape[0], max_pixels())
    if arr.ndim == 2:
        return arr[..., None]
    return np.ascontiguousarray(arr[..., 2::-1])  # BGR(A) to RGB


def _opencv_decode(path: Path, start: int = 0) -> Iterator[tuple[np.ndarray, None]]:
    """Yield ``(frame, None)`` for a video's frames from ``start``, decoded by OpenCV's FFmpeg in
    the stored orientation, as PyAV gives them."""
    cv2 = _cv2()
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SavsrError(f"{path}: OpenCV cannot open it")
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    limit = max_pixels()
    try:
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            if i >= start:
                _check_pixels(path, frame.shape[1], frame.shape[0], limit)
                yield np.ascontiguousarray(frame[:, :, ::-1]), None
            i += 1
    finally:
        cap.release()


def _opencv_probe(path: Path) -> MediaInfo:
    cv2 = _cv2()
    cap = cv2.VideoCapture(str(path))
    count, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None, cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    frames = _opencv_decode(path)
    try:
        first = next(frames)[0]
    except StopIteration:
        raise SavsrError(f"{path}: OpenCV decodes no frames from it") from None
    finally:
        frames.close()
    rate = Fraction(fps).limit_denominator(1001) if fps and fps > 0 else Fraction(25)
    return MediaInfo(first.shape[1], first.shape[0], 3, first.dtype, count, rate)


def read_frame(path: str | Path, index: int = 0) -> np.ndarray:
    """Frame ``index`` of an image, a frame folder or a video, as (H, W, C) float32 in [0, 1]."""
    if index < 0:
        raise SavsrError(f"frame index must be >= 0, got {index}")
    source = FrameSource(path)
    frames = source.frames(index)
    try:
        return to_float(next(frames))
    except StopIteration:
        raise SavsrError(f"{path}: has no frame {index} (it has {source.info.num_frames or 'fewer'})") from None
    finally:
        frames.close()
