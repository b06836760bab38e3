"""The pictures the page shows for one frame of a job: the input upsampled by bicubic, the
super-resolved frame at the same size, and W of Eq. 3 (the paper's Fig. 1) of the input frame."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.activity import activity_weights
from ..data.color import luma
from ..data.resize import imresize
from ..errors import SavsrError
from ..media.reader import FrameSource, to_uint8, upright

VIEWS = ("bicubic", "sr", "w")


def frame_at(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a video or image as (H, W, 3) uint8, upright as a player shows it."""
    source = FrameSource(path)
    frames = source.frames(index)
    try:
        frame = to_uint8(next(frames))
    except StopIteration:
        raise SavsrError(f"there is no frame {index}") from None
    finally:
        frames.close()
    return upright(np.repeat(frame, 3, 2) if frame.shape[2] == 1 else frame, source.info.rotation)


def _tensor(frame: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 to (3, H, W) float64 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1))).double() / 255.0


def bicubic(frame: np.ndarray, scale: int) -> np.ndarray:
    """The frame enlarged ×``scale`` by MATLAB's bicubic, the upsampling the network refines."""
    return imresize(torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1))), scale).permute(1, 2, 0).numpy()


def activity_image(frame: np.ndarray) -> np.ndarray:
    """W of Eq. 3 on the frame's Y (the paper's defaults δ and window), coloured with viridis
    from 0 (flat) to 1 (edges, texture), as (H, W, 3) uint8."""
    from matplotlib import colormaps

    w = activity_weights(luma(_tensor(frame))[None])[0, 0].numpy()
    return (colormaps["viridis"](w)[..., :3] * 255 + 0.5).astype(np.uint8)


def png(image: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 image as PNG bytes."""
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def view(job: dict, data: Path, index: int, kind: str) -> bytes:
    """The PNG of view ``kind`` (bicubic, sr, w) of frame ``index`` of a job (a frame of its
    input; the super-resolved one exists once the job is done)."""
    if kind == "sr":
        return png(frame_at(data / job["dst"], index - job["start"]))
    frame = frame_at(data / job["src"], index)
    return png(bicubic(frame, job["scale"]) if kind == "bicubic" else activity_image(frame))
