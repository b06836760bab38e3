"""The Python API: ``savsr.load_model(...)`` returns an :class:`Upscaler`, tensors in and out.

    import savsr
    model = savsr.load_model("sa-vsrgan-x4")               # a bundled model, or a .safetensors path
    sr = model(frames)                                     # (T, C, h, w) LR clip in [0, 1] -> SR clip
    savsr.upscale_file(model, "input.mp4", "output.mp4")   # files: savsr.infer.pipeline
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data.color import assemble_rgb, rgb_to_y
from ..data.degradation import parse_degradation
from ..data.dihedral import CODES, dihedral, dihedral_inverse
from ..data.resize import imresize
from ..data.window import sliding_windows, stack_window
from ..device import resolve_device
from ..errors import ParameterError, PrecisionFallback
from ..models.checkpoint import GeneratorSpec, load_generator, read_spec
from ..models.zoo import default_model, model_path
from ..precision import AUTOCAST_DTYPES, resolve_precision
from .background import background
from .engine import OpenVINOEngine, TorchEngine, openvino_available, resolve_backend
from .quantize import calibration_windows, int8_by_default
from .tiling import MIN_TILE, auto_tile, memory_budget_pixels, tiled_apply


@dataclass(frozen=True)
class SRFrame:
    """One super-resolved frame: the network's output, the RGB result, and the bicubic frame."""

    output: Tensor  # (C, H, W) in [0, 1]: Y for a Y model, RGB for an RGB model
    rgb: Tensor  # (3, H, W) in [0, 1]: a Y output joined to the bicubic Cb/Cr
    bicubic: Tensor  # (3, H, W) bicubic upsampling, in the input's dtype


class Upscaler:
    """A generator (VSRResNet, or its LR-space sibling) ready for inference on frames, clips and videos.

    Frames are processed through a sliding window of 2M+1 frames (edge frames replicated at the
    ends of a clip), each frame bicubic-upsampled first as in training (an LR-space network takes
    the LR frames and upsamples only inside, for its global skip). Large frames are split
    into tiles that overlap by the receptive field, so the result does not depend on the tiling.
    With ``self_ensemble`` each window is super-resolved under the 8 flips and transposes of the
    frame and the 8 outputs, mapped back, are averaged: 8× the compute, for a higher PSNR.
    ``degradation`` is the spec the model was trained on (savsr.data.degradation); for one that
    flips do not commute with (BD) self-ensemble averages the identity and the transpose only,
    since a flip moves its LR grid by a sub-pixel shift.
    """

    def __init__(
        self, model: torch.nn.Module, spec: GeneratorSpec, device: str | torch.device = "auto",
        precision: str = "auto", tile: int | None = None, tile_overlap: int | None = None, name: str = "",
        self_ensemble: bool = False, backend: str = "auto", degradation: str = "bi",
    ) -> None:
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.backend = resolve_backend(backend, self.device)
        self.model = model.to(self.device).eval()
        precision = self._choose_precision(precision, name, spec.frames * spec.channels)
        self.spec, self.name, self.precision = spec, name, precision
        self.radius = spec.frames // 2
        self.zoom = spec.scale if spec.lr_input else 1  # the network's output size over its input size
        rf = self.model.receptive_radius
        self.overlap = rf if tile_overlap is None else tile_overlap
        if self.overlap < rf:
            raise ParameterError("tile_overlap", f"{{param}} {self.overlap} is below the receptive radius {rf}; tiles would show seams")
        if tile is not None and tile != 0 and tile < MIN_TILE:
            # Each tile carries `overlap` pixels of context on every side: small tiles multiply the work.
            raise ParameterError("tile", f"{{param}} {tile}: tiles start at {MIN_TILE} pixels (0 = the whole frame)")
        self.tile, self.self_ensemble = tile, self_ensemble
        self.degradation = parse_degradation(degradation)
        self._dtype = AUTOCAST_DTYPES[precision]
        self._engine: TorchEngine | OpenVINOEngine | None = None  # built on first use: conversion takes seconds

    @property
    def ensemble_codes(self) -> tuple[int, ...]:
        """The dihedral codes self-ensemble averages: all 8, or identity and transpose for a model
        trained on a degradation that flips do not commute with (BD)."""
        return CODES if self.degradation.flips_commute else (0, 4)

    @property
    def engine(self) -> TorchEngine | OpenVINOEngine:
        """The engine that runs the generator, converting it for OpenVINO on first use."""
        if self._engine is None:
            if self.backend == "openvino":
                in_channels = self.spec.frames * self.spec.channels
                calibration = (lambda: calibration_windows(lambda lr: self.prepare(lr)[0], self.scale, self.spec.frames))
                self._engine = OpenVINOEngine(self.model, in_channels, self.precision, torch.get_num_threads(), calibration)
                self._record(self._engine.precision)
            else:
                self._engine = TorchEngine(self.model, self.device, self._dtype)
        return self._engine

    def _choose_precision(self, precision: str, name: str, in_channels: int) -> str:
        """The precision to compute in: :func:`resolve_precision`'s, except that ``auto`` takes int8
        for a bundled model whose measured int8 cost is within :data:`INT8_AUTO` (infer/quantize.py)."""
        if precision == "auto" and self.backend == "openvino" and int8_by_default(name, self.model, in_channels):
            return "int8"
        precision = resolve_precision(precision, self.device)
        if precision == "int8" and self.backend != "openvino":
            why = "the torch backend was asked for" if openvino_available() else "OpenVINO is not installed"
            raise ParameterError("precision", f"{{param}} int8 runs through OpenVINO, and {why}")
        return precision

    def _record(self, computed: str) -> None:
        """Make :attr:`precision` the one the engine computes in, saying so if it is not the one asked for."""
        if computed != self.precision:
            warnings.warn(PrecisionFallback(f"{self.precision} asked for, computing in {computed}: "
                                            f"OpenVINO compiled the model in {computed} on this CPU"), stacklevel=3)
            self.precision, self._dtype = computed, AUTOCAST_DTYPES[computed]

    @property
    def scale(self) -> int:
        return self.spec.scale

    # ---------------------------------------------------------------- core
    def _tile_for(self, h: int, w: int) -> int:
        """The tile side in HR pixels for an (h, w) network input (0: the whole frame)."""
        if self.tile is not None:
            return self.tile
        bytes_per = 2 if self._dtype is not None else 4
        return auto_tile(memory_budget_pixels(self.device, self.spec.features, bytes_per), h, w) * self.zoom

    @torch.no_grad()
    def _forward(self, x: Tensor) -> Tensor:
        """Generator on (1, T·C, H, W), tiled; on CUDA out-of-memory, retried with smaller tiles.

        Tiles and their overlap are in HR pixels; an LR-space network is cut on the LR grid, each
        rounded up to whole LR pixels.
        """
        h, w = x.shape[-2:]
        tile, z = self._tile_for(h, w), self.zoom
        while True:
            try:
                return tiled_apply(self.engine, x, -(-tile // z), -(-self.overlap // z), self.spec.channels, z)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                tile = (min(h, w) * z if tile == 0 else tile) // 2
                if tile < MIN_TILE:
                    raise ParameterError("device", f"out of GPU memory even with {MIN_TILE}-pixel tiles; try {{param}} cpu") from None

    def _predict(self, x: Tensor) -> Tensor:
        """The generator's output for (1, T·C, H, W), averaged over the 8 symmetries with self-ensemble."""
        if not self.self_ensemble:
            return self._forward(x)
        # The generator is not equivariant to flips and transposes; averaging its 8 answers cancels
        # part of its error (the "+" results of Lim et al., EDSR, CVPRW 2017).
        total = self._forward(x)  # code 0 is the identity
        for code in self.ensemble_codes[1:]:
            total += dihedral_inverse(self._forward(dihedral(x, code)), code)
        return total / len(self.ensemble_codes)

    def _upsample(self, lr: Tensor) -> Tensor:
        """(3, h, w) LR frame, uint8/uint16/float, to the bicubic HR frame in the same dtype."""
        return imresize(lr.to(self.device), self.scale)

    def prepare(self, lr: Tensor) -> tuple[Tensor, Tensor]:
        """An LR frame (3, h, w) as the model's input (Y or RGB in [0, 1]: of the bicubic frame,
        or of the LR frame itself for an LR-space network) and its bicubic frame."""
        up = self._upsample(lr)
        unit = _to_unit(lr.to(self.device) if self.spec.lr_input else up)
        return (rgb_to_y(unit[None])[0] if self.spec.color == "y" else unit), up

    def _centre(self, window: list[tuple[Tensor, Tensor]]) -> SRFrame:
        x = stack_window([inp for inp, _ in window])[None]
        out = self._predict(x)[0].clamp_(0, 1)
        up = window[self.radius][1]
        return SRFrame(out, assemble_rgb(out, _to_unit(up)), up)

    def stream(self, lr_frames: Iterator[Tensor], skip: int = 0, prefetch: int = 2) -> Iterator[SRFrame | None]:
        """One :class:`SRFrame` for each LR frame (3, h, w) of a stream, holding 2M+1 frames.

        Each frame is upsampled and converted to the model's input (Y or RGB) once, when it
        enters the window, not once per window it belongs to. With ``prefetch`` > 0 that, and
        reading ``lr_frames`` (a decoder), run in a background thread up to ``prefetch`` frames
        ahead of the network. The first ``skip`` frames are context only: they yield None, and
        the network does not run for them.
        """
        prepared = map(self.prepare, lr_frames)
        # Built before the reader thread starts: OpenVINO's conversion swaps the process-wide
        # warnings filters, which races with a thread that swaps them too (the image reader does).
        _ = self.engine
        if prefetch:
            prepared = background(prepared, prefetch, "savsr-read")
        for i, window in enumerate(sliding_windows(prepared, self.radius)):
            yield self._centre(window) if i >= skip else None

    def window(self, lr_frames: list[Tensor]) -> SRFrame:
        """The :class:`SRFrame` of the centre of 2M+1 LR frames (3, h, w): one frame of a stream,
        without super-resolving its neighbours."""
        if len(lr_frames) != 2 * self.radius + 1:
            raise ValueError(f"expected {2 * self.radius + 1} frames, got {len(lr_frames)}")
        return self._centre([self.prepare(f) for f in lr_frames])

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


# -------------------------------------------------------------------- helpers
def _to_unit(x: Tensor) -> Tensor:
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if x.dtype in (torch.int32, torch.uint16) or x.dtype == torch.int64:
        return x.float() / 65535.0
    return x.float()


def load_model(
    name_or_path: str | os.PathLike | None = None, device: str = "auto", precision: str = "auto",
    tile: int | None = None, tile_overlap: int | None = None, self_ensemble: bool = False, backend: str = "auto",
) -> Upscaler:
    """A bundled model by name (see ``savsr models``) or a generator .safetensors file, ready to use;
    None: the bundled ×4 default (``models.zoo.default_model``).

    ``self_ensemble`` averages each frame over the 8 flips and transposes (8× slower, higher PSNR).
    ``backend``: "torch", "openvino" (CPU only), or "auto": OpenVINO on a CPU where it is installed
    (1.3× to 1.9× PyTorch's speed there, docs/performance.md), PyTorch elsewhere.
    """
    path = model_path(default_model(4) if name_or_path is None else name_or_path)
    dev = resolve_device(device)
    model, spec = load_generator(path, dev)
    _, meta = read_spec(path)
    # channels_last: oneDNN and cuDNN convolutions are fastest in NHWC (docs/performance.md).
    model = model.to(memory_format=torch.channels_last)
    return Upscaler(model, spec, dev, precision, tile, tile_overlap, name=path.stem, self_ensemble=self_ensemble,
                    backend=backend, degradation=meta.get("degradation", "bi"))  # older files: all BI
