"""The Python API: ``savsr.load_model(...)`` returns an :class:`Upscaler`.

    import savsr
    model = savsr.load_model("sa-vsrgan-x4")          # a bundled model, or a .safetensors path
    model.upscale_video("input.mp4", "output.mp4")    # streamed, audio kept
    sr = model(frames)                                # (T, C, h, w) LR clip in [0, 1] -> SR clip
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..data.color import assemble_rgb, rgb_to_y
from ..data.dihedral import CODES, dihedral, dihedral_inverse
from ..data.io import FrameSource, StreamInfo
from ..data.resize import imresize
from ..device import resolve_device
from ..errors import ParameterError, SavsrError
from ..fileio import staged_output
from ..models.checkpoint import GeneratorSpec, load_generator
from ..models.zoo import model_path
from ..precision import default_precision
from .sequence import sliding_windows
from .tiling import MIN_TILE, auto_tile, memory_budget_pixels, tiled_apply
from .video import (
    IMAGE_OUT_SUFFIXES,
    VIDEO_SUFFIXES,
    VideoWriter,
    encoder_for,
    probe_video,
    write_image,
)


@dataclass(frozen=True)
class SRFrame:
    """One super-resolved frame: the network's output, the RGB result, and the bicubic frame."""

    output: Tensor  # (C, H, W) in [0, 1]: Y for a Y model, RGB for an RGB model
    rgb: Tensor  # (3, H, W) in [0, 1]: a Y output joined to the bicubic Cb/Cr
    bicubic: Tensor  # (3, H, W) bicubic upsampling, in the input's dtype


def parse_frames(text: str | None) -> tuple[int, int | None]:
    """``A:B`` (B exclusive, either may be empty) into (start, stop)."""
    if not text:
        return 0, None
    try:
        a, b = text.split(":")
        start, stop = int(a) if a else 0, int(b) if b else None
    except ValueError:
        raise ParameterError("frames", f"{{param}} {text!r}: expected A:B, e.g. 0:100") from None
    if start < 0 or (stop is not None and stop <= start):
        raise ParameterError("frames", f"{{param}} {text!r}: need 0 <= A < B")
    return start, stop


class Upscaler:
    """A VSRResNet generator ready for inference on frames, clips and videos.

    Frames are processed through a sliding window of 2M+1 frames (edge frames replicated at the
    ends of a clip), each frame bicubic-upsampled first as in training. Large frames are split
    into tiles that overlap by the receptive field, so the result does not depend on the tiling.
    With ``self_ensemble`` each window is super-resolved under the 8 flips and transposes of the
    frame and the 8 outputs, mapped back, are averaged: 8× the compute, for a higher PSNR.
    """

    def __init__(
        self, model: torch.nn.Module, spec: GeneratorSpec, device: str | torch.device = "auto",
        precision: str = "auto", tile: int | None = None, tile_overlap: int | None = None, name: str = "",
        self_ensemble: bool = False,
    ) -> None:
        self.device = resolve_device(device) if isinstance(device, str) else device
        if precision == "auto":
            precision = default_precision(self.device)
        if precision not in ("fp32", "bf16", "fp16"):
            raise SavsrError(f"unknown precision {precision!r}; expected auto, fp32, bf16 or fp16")
        if precision == "fp16" and self.device.type == "cpu":
            raise ParameterError("precision", "{param} fp16 needs a GPU; on the CPU use fp32 (default) or bf16")
        self.model = model.to(self.device).eval()
        self.spec, self.name, self.precision = spec, name, precision
        self.radius = spec.frames // 2
        rf = self.model.receptive_radius
        self.overlap = rf if tile_overlap is None else tile_overlap
        if self.overlap < rf:
            raise ParameterError("tile_overlap", f"{{param}} {self.overlap} is below the receptive radius {rf}; tiles would show seams")
        if tile is not None and tile != 0 and tile < MIN_TILE:
            # Each tile carries `overlap` pixels of context on every side: small tiles multiply the work.
            raise ParameterError("tile", f"{{param}} {tile}: tiles start at {MIN_TILE} pixels (0 = the whole frame)")
        self.tile, self.self_ensemble = tile, self_ensemble
        self._dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]

    @property
    def scale(self) -> int:
        return self.spec.scale

    # ---------------------------------------------------------------- core
    def _tile_for(self, h: int, w: int) -> int:
        if self.tile is not None:
            return self.tile
        bytes_per = 2 if self._dtype is not None else 4
        return auto_tile(memory_budget_pixels(self.device, self.spec.features, bytes_per), h, w)

    @torch.no_grad()
    def _forward(self, x: Tensor) -> Tensor:
        """Generator on (1, T·C, H, W), tiled; on CUDA out-of-memory, retried with smaller tiles."""
        h, w = x.shape[-2:]
        tile = self._tile_for(h, w)

        def run(t: Tensor) -> Tensor:
            t = t.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=self._dtype or torch.float32, enabled=self._dtype is not None):
                return self.model(t).float()

        while True:
            try:
                return tiled_apply(run, x, tile, self.overlap, self.spec.channels)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                tile = (min(h, w) if tile == 0 else tile) // 2
                if tile < MIN_TILE:
                    raise ParameterError("device", f"out of GPU memory even with {MIN_TILE}-pixel tiles; try {{param}} cpu") from None

    def _predict(self, x: Tensor) -> Tensor:
        """The generator's output for (1, T·C, H, W), averaged over the 8 symmetries with self-ensemble."""
        if not self.self_ensemble:
            return self._forward(x)
        # The generator is not equivariant to flips and transposes; averaging its 8 answers cancels
        # part of its error (the "+" results of Lim et al., EDSR, CVPRW 2017).
        total = self._forward(x)  # code 0 is the identity
        for code in CODES[1:]:
            total += dihedral_inverse(self._forward(dihedral(x, code)), code)
        return total / len(CODES)

    def _upsample(self, lr: Tensor) -> Tensor:
        """(3, h, w) LR frame, uint8/uint16/float, to the bicubic HR frame in the same dtype."""
        return imresize(lr.to(self.device), self.scale)

    def _prepare(self, lr: Tensor) -> tuple[Tensor, Tensor]:
        """An LR frame (3, h, w) as the model's input (Y or RGB in [0, 1]) and its bicubic frame."""
        up = self._upsample(lr)
        unit = _to_unit(up)
        return (rgb_to_y(unit[None])[0] if self.spec.color == "y" else unit), up

    def _centre(self, window: list[tuple[Tensor, Tensor]]) -> SRFrame:
        x = torch.cat([inp for inp, _ in window])[None]
        out = self._predict(x)[0].clamp_(0, 1)
        up = window[self.radius][1]
        return SRFrame(out, assemble_rgb(out, _to_unit(up)), up)

    def stream(self, lr_frames: Iterator[Tensor]) -> Iterator[SRFrame]:
        """One :class:`SRFrame` for each LR frame (3, h, w) of a stream, holding 2M+1 frames.

        Each frame is upsampled and converted to the model's input (Y or RGB) once, when it
        enters the window, not once per window it belongs to.
        """
        for window in sliding_windows(map(self._prepare, lr_frames), self.radius):
            yield self._centre(window)

    def window(self, lr_frames: list[Tensor]) -> SRFrame:
        """The :class:`SRFrame` of the centre of 2M+1 LR frames (3, h, w): one frame of a stream,
        without super-resolving its neighbours."""
        if len(lr_frames) != 2 * self.radius + 1:
            raise ValueError(f"expected {2 * self.radius + 1} frames, got {len(lr_frames)}")
        return self._centre([self._prepare(f) for f in lr_frames])

    # ---------------------------------------------------------------- public API
    def __call__(self, frames: Tensor) -> Tensor:
        """Super-resolve a clip: (T, C, h, w), C = 1 or 3, float in [0, 1] or uint8 in 0-255, to
        float (T, C, s·h, s·w) in [0, 1].

        A single frame (C, h, w) is a one-frame clip whose neighbours are itself. uint8 frames
        go the way of `savsr upscale`'s 8-bit input (their bicubic upsampling rounded to 8 bits,
        as in training).
        """
        if not isinstance(frames, Tensor):
            raise TypeError(f"expected a torch.Tensor, got {type(frames).__name__} (for a numpy (T, h, w, C) "
                            "array: torch.from_numpy(a).permute(0, 3, 1, 2))")
        single = frames.dim() == 3
        clip = frames[None] if single else frames
        if clip.dim() != 4 or clip.shape[1] not in (1, 3) or clip.shape[0] == 0:
            raise ValueError(f"expected (T ≥ 1, 1 or 3, h, w) or (C, h, w), got {tuple(frames.shape)}")
        grey = clip.shape[1] == 1
        rgb = clip.expand(-1, 3, -1, -1) if grey else clip
        out = torch.stack([f.rgb for f in self.stream(iter(rgb if rgb.dtype == torch.uint8 else rgb.float()))])
        out = out[:, :1] if grey else out
        return out[0] if single else out

    def upscale_video(
        self, src: str | os.PathLike, dst: str | os.PathLike, frames: str | None = None, overwrite: bool = False,
        codec: str | None = None, crf: int = 18, preset: str = "medium", fps: float | None = None,
        progress: bool = True,
    ) -> Path:
        """Super-resolve a video, frame folder or image into a video, a PNG folder or an image.

        The output kind follows ``dst``: a video extension (.mp4, .mkv, .mov, .webm, …) writes a
        video with the source's timing, colour tags and audio; .png/.tif writes one image (for a
        one-frame input); anything else is a folder of PNG frames. Nothing appears under ``dst``
        until it is complete.
        """
        from tqdm.auto import tqdm

        src, dst = Path(src), Path(dst)
        source = FrameSource(src)
        start, stop = parse_frames(frames)
        info = source.info
        kind = _output_kind(dst, info)
        _check_output(dst, overwrite)
        if kind == "video":
            encoder_for(dst, codec, crf, preset)
        total = info.num_frames
        if total is not None:
            stop = total if stop is None else min(stop, total)
            if start >= stop:
                raise ParameterError("frames", f"{src}: has {total} frame(s); {{param}} {frames} selects none")
        count = None if stop is None else stop - start
        first = max(start - self.radius, 0)
        lead = start - first  # real neighbours read before the range, not written
        timed = source.timed_frames(first)
        written = 0
        bar = tqdm(total=count, desc=f"upscale ×{self.scale}", unit="frame", disable=not progress)
        with staged_output(dst, kind) as staged:
            writer = None
            try:
                lr_iter, pts_queue = _lr_tensors(timed, stop - first if stop is not None else None)
                for i, sr in enumerate(self.stream(lr_iter)):
                    pts = pts_queue.popleft()  # SR frames come out in input order, one per frame
                    if i < lead:
                        continue
                    frame = _to_output(sr.rgb, info)
                    if kind == "video":
                        if writer is None:
                            writer = _open_writer(staged, dst, frame, src, source, codec, crf, preset, fps)
                        writer.write(frame if frame.shape[2] == 3 else np.repeat(frame, 3, 2), pts)
                    elif kind == "image":
                        write_image(staged, frame)
                    else:
                        write_image(staged / f"{start + written:08d}.png", frame)
                    written += 1
                    bar.update(1)
                if written == 0:
                    raise SavsrError(f"{src}: no frames to upscale")
                if writer is not None:
                    writer.close()
                    writer = None
            finally:
                bar.close()
                if writer is not None:
                    writer.abort()
        return dst


# -------------------------------------------------------------------- helpers
def _to_unit(x: Tensor) -> Tensor:
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if x.dtype in (torch.int32, torch.uint16) or x.dtype == torch.int64:
        return x.float() / 65535.0
    return x.float()


def _lr_tensors(timed: Iterator, limit: int | None) -> tuple[Iterator[Tensor], deque]:
    """LR frames as (3, h, w) tensors (uint8, or int32 holding 16-bit values), and a queue that
    receives each frame's pts as it is read (popped as its SR frame is written: memory stays flat)."""
    pts: deque = deque()

    def gen() -> Iterator[Tensor]:
        for i, (frame, p) in enumerate(timed):
            if limit is not None and i >= limit:
                return
            pts.append(p)
            t = torch.from_numpy(frame.astype(np.int32) if frame.dtype == np.uint16 else frame).permute(2, 0, 1)
            yield t.expand(3, -1, -1) if t.shape[0] == 1 else t

    return gen(), pts


def _to_output(sr: Tensor, info: StreamInfo) -> np.ndarray:
    """SR RGB in [0, 1] to an (H, W, C) array in the source's depth and channel count."""
    x = sr[:1] if info.channels == 1 else sr
    peak = 65535.0 if info.dtype == np.uint16 else 255.0
    arr = torch.round(x.float().cpu() * peak).permute(1, 2, 0).numpy()
    return arr.astype(np.uint16 if peak > 255 else np.uint8)


def _output_kind(dst: Path, info: StreamInfo) -> str:
    suffix = dst.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_OUT_SUFFIXES:
        if info.num_frames != 1:
            raise SavsrError(f"{dst}: one image cannot hold {info.num_frames or 'many'} frames; "
                             "give a video name (.mp4) or a folder")
        return "image"
    if suffix:
        raise SavsrError(f"{dst}: unsupported output type {suffix!r} (video: {', '.join(sorted(VIDEO_SUFFIXES))}; "
                         f"image: {', '.join(sorted(IMAGE_OUT_SUFFIXES))}; or a folder)")
    return "folder"


def _check_output(dst: Path, overwrite: bool) -> None:
    if dst.exists() and not overwrite:
        raise ParameterError("overwrite", f"{dst} exists; pass {{param}} to replace it")
    parent = dst.parent if str(dst.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".savsr-write-test-"):
            pass
    except OSError as exc:
        raise SavsrError(f"{parent}: cannot write there ({exc.strerror or exc})") from None


def _open_writer(path: Path, dst: Path, frame: np.ndarray, src: Path, source: FrameSource, codec, crf, preset,
                 fps) -> VideoWriter:
    rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(25)
    if source.is_video:
        props = probe_video(src, rate)
        if fps:
            props.rate, props.time_base = rate, None
        audio = src
    else:
        from .video import VideoProps

        props, audio = VideoProps(rate=rate, time_base=None), None
    return VideoWriter(path, frame.shape[1], frame.shape[0], props, codec, crf, preset, audio,
                       deep=frame.dtype == np.uint16, name=dst)


def load_model(
    name_or_path: str | os.PathLike = "sa-vsrgan-x4", device: str = "auto", precision: str = "auto",
    tile: int | None = None, tile_overlap: int | None = None, self_ensemble: bool = False,
) -> Upscaler:
    """A bundled model by name (see ``savsr models``) or a generator .safetensors file, ready to use.

    ``self_ensemble`` averages each frame over the 8 flips and transposes (8× slower, higher PSNR).
    """
    path = model_path(name_or_path)
    dev = resolve_device(device)
    model, spec = load_generator(path, dev)
    # channels_last: oneDNN and cuDNN convolutions are fastest in NHWC (docs/performance.md).
    model = model.to(memory_format=torch.channels_last)
    return Upscaler(model, spec, dev, precision, tile, tile_overlap, name=path.stem, self_ensemble=self_ensemble)
