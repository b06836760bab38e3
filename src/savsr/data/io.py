"""Reading images and video frames into float arrays in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import SavsrError


def _image_to_float(img: Image.Image, path: Path) -> np.ndarray:
    """Pillow image to (H, W, C) float32 in [0, 1], C = 1 or 3.

    Grey stays one channel; palette and CMYK become RGB; alpha is dropped, because SR is
    defined on colour and the alpha plane of a video frame carries no detail to restore.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return (arr / peak).astype(np.float32)[..., None]
    if img.mode in ("L", "1"):
        return (np.asarray(img.convert("L"), dtype=np.float32) / 255.0)[..., None]
    if img.mode == "LA":
        return (np.asarray(img.getchannel("L"), dtype=np.float32) / 255.0)[..., None]
    if img.mode == "F":
        return np.asarray(img, dtype=np.float32)[..., None]
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.float32) / 255.0


def read_image(path: str | Path) -> np.ndarray:
    """Read a still image (PNG, JPEG, TIFF, …) as (H, W, C) float32 in [0, 1]."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            return _image_to_float(img, path)
    except FileNotFoundError:
        raise SavsrError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SavsrError(f"{path}: is a folder, expected an image") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise SavsrError(f"{path}: cannot read image ({exc})") from None


def read_video_frame(path: str | Path, index: int = 0) -> np.ndarray:
    """Decode frame ``index`` (0-based) of a video as (H, W, 3) float32 in [0, 1]."""
    import av  # imported here: PyAV loads FFmpeg, which image-only uses do not need

    path = Path(path)
    if index < 0:
        raise SavsrError(f"frame index must be >= 0, got {index}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SavsrError(f"{path}: has no video stream")
            for i, frame in enumerate(container.decode(video=0)):
                if i == index:
                    return frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0
    except av.FFmpegError as exc:
        raise SavsrError(f"{path}: not a readable image or video ({exc.strerror or exc})") from None
    raise SavsrError(f"{path}: has no frame {index}")


def read_frame(path: str | Path, index: int = 0) -> np.ndarray:
    """Read an image, or frame ``index`` of a video, as (H, W, C) float32 in [0, 1]."""
    path = Path(path)
    if not path.exists():
        raise SavsrError(f"{path}: no such file")
    if path.is_dir():
        raise SavsrError(f"{path}: is a folder, expected an image or a video")
    if path.stat().st_size == 0:
        raise SavsrError(f"{path}: is empty")
    try:
        with Image.open(path) as img:
            if index != 0:
                raise SavsrError(f"{path}: is a still image; it has only frame 0")
    except (UnidentifiedImageError, OSError):
        return read_video_frame(path, index)
    return read_image(path)
