"""Training samples: 2M+1 degraded LR frames (BI by default; upsampled to HR size, or not for an LR-space generator) and the HR centre patch."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import SavsrError
from .color import rgb_to_y
from .dihedral import dihedral
from .degradation import Degradation, parse_degradation
from .prepare import SceneEntry, load_manifest
from .resize import check_scale, imresize
from .window import stack_window, window_indices

log = logging.getLogger(__name__)
# The seed of a sample's degradation is (seed, epoch, index, this), a stream apart from the one
# that places the sample (locate), so adding a degradation leaves every sample's position as it was.
_DEGRADATION_STREAM = 0xDE6
_SCENE_STREAM = 0x5CE  # and of a whole scene's (cache_lr), (seed, epoch, scene, this)


class VideoPatchDataset(Dataset):
    """Random patches from datasets made by ``savsr prepare``, for scale s.

    Sample i is ``(lr, hr)``:
    - ``lr``: (2M+1)·C × P × P float32 in [0, 1], the frames t−M … t+M after the BI degradation
      of Sec. 3.1 (uint8 LR = imresize(HR, 1/s), then imresize(LR, s), as uint8), stacked in time
      order; with ``lr_space`` (for an LR-space generator) the uint8 LR frames themselves,
      (2M+1)·C × P/s × P/s, at patch positions on the LR grid;
    - ``hr``: C × P × P float32, the HR patch of frame t.
    C is 1 for ``color="y"`` (BT.601 Y of the RGB frames) and 3 for ``"rgb"``.

    With ``pairs`` = K each sample also carries the K frames after t: K = 1 for a temporal loss
    (:mod:`savsr.losses.temporal`), where ``lr`` stacks the 2M+2 frames t−M … t+M+1 (the windows
    centred on t and on t+1 overlap; :func:`savsr.data.window.split_pair` takes them apart) and
    ``hr`` the frames t and t+1 (2C channels); K = T−1 for a clip of T frames, as a recurrent
    network trains on (2M+T LR frames, T HR frames). All at the same position, under the same flip
    and degradation.

    The degradation runs on the fly on an HR region around the patch that is aligned to the LR
    grid and wide enough (6s pixels) for the bicubic kernels, so each sample equals the same crop
    of the degraded whole frame exactly (a test checks it), with no per-scale copy on disk.

    ``cache_lr`` degrades every scene once, whole frames, into memory (as much again as the
    dataset, 1/s² of it for ``lr_space``), and samples are then plain crops: for accelerators
    that a per-sample degradation (a few hundred samples/s per core, docs/performance.md) would
    starve. Samples are identical either way.

    ``degradation`` (a spec of :mod:`savsr.data.degradation`, default ``bi``) replaces BI: ``bd``
    works exactly as BI does. A codec (``h264:CRF``) or ``real`` depends on the whole clip:
    - without ``cache_lr``, the 2M+1 frames of the sample's region, with a margin of 8 LR pixels a
      side that gives the codec's blocks and the blurs context, are degraded as one short clip, its
      random parameters drawn from (seed, epoch, i) and shared by the window's frames;
    - with ``cache_lr``, each whole scene is degraded as one clip, as a test sequence or a user's
      file is (one stream of up to 250 frames a GOP, not an I-frame and 4 P-frames of a 40-pixel
      crop), its parameters drawn from (seed, epoch, scene) and drawn anew each epoch
      (:meth:`set_epoch` rebuilds the cache: for bi/bd under a codec only the codec reruns, about
      1.5 s per 1,000 ×4 frames on 2 Zen 4 cores), and samples are crops of it.

    Sampling is a pure function of (seed, epoch, i): a scene with probability proportional to its
    number of possible patches, a centre frame, a position, one of the 8 flips/transposes, and a
    random degradation's parameters. So any sampler, any number of DataLoader workers and DDP
    ranks see the same samples for a seed. Call :meth:`set_epoch` each epoch.
    """

    def __init__(
        self,
        roots: str | Path | Sequence[str | Path],
        scale: int,
        patch_size: int = 36,
        frames: int = 5,
        color: str = "y",
        augment: bool = True,
        samples_per_epoch: int = 64_000,
        seed: int = 0,
        cache_lr: bool = False,
        lr_space: bool = False,
        degradation: str | Degradation = "bi",
        pairs: int = 0,
    ) -> None:
        check_scale(scale)
        self.degradation = parse_degradation(degradation)
        if frames < 1 or frames % 2 == 0:
            raise ValueError(f"frames must be odd (2M+1), got {frames}")
        if color not in ("y", "rgb"):
            raise ValueError(f"color must be 'y' or 'rgb', got {color!r}")
        if patch_size < 1 or samples_per_epoch < 1:
            raise ValueError("patch_size and samples_per_epoch must be >= 1")
        if lr_space and patch_size % scale:
            raise ValueError(f"an LR-space patch_size must be a multiple of the scale {scale}, got {patch_size}")
        self.lr_space, self.pairs = lr_space, pairs
        roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
        self.scale, self.patch_size, self.frames, self.color = scale, patch_size, frames, color
        self.augment, self.samples_per_epoch, self.seed, self.epoch = augment, samples_per_epoch, seed, 0
        self.scenes: list[tuple[Path, SceneEntry]] = []
        refused: list[str] = []
        span = frames + pairs  # the frames a sample reads
        for root in roots:
            for entry in load_manifest(root):
                h, w = entry.height - entry.height % scale, entry.width - entry.width % scale
                if entry.frames < span:
                    refused.append(f"{entry.name} ({entry.frames} frames < {span})")
                elif min(h, w) < patch_size:
                    refused.append(f"{entry.name} ({entry.width}×{entry.height} smaller than a {patch_size}-pixel patch)")
                else:
                    self.scenes.append((Path(root), entry))
        if refused:
            log.warning("skipping %d scene(s): %s", len(refused), "; ".join(refused))
        if not self.scenes:
            raise SavsrError(f"no usable scene in {', '.join(map(str, roots))}: " + "; ".join(refused))
        counts = np.array(
            [
                (e.frames - span + 1) * (e.height - e.height % scale - patch_size + 1) * (e.width - e.width % scale - patch_size + 1)
                for _, e in self.scenes
            ],
            dtype=np.float64,
        )
        self._cumulative = np.cumsum(counts / counts.sum())
        self._arrays: dict[int, np.ndarray] = {}
        # Built before the DataLoader forks its workers, which then share it (copy-on-write).
        self._up: list[np.ndarray] | None = None
        self._up_epoch = -1  # the epoch whose draws self._up holds (a random degradation's)
        self._base_lr: dict[int, Tensor] = {}  # a random codec's input, per scene (bi/bd under h264:LO-HI)
        self.cache_lr = cache_lr
        self._build_cache()

    def set_epoch(self, epoch: int) -> None:
        """Select the samples of ``epoch`` (each epoch draws new patches, and a random clip-level
        degradation under ``cache_lr`` new parameters for every scene)."""
        self.epoch = epoch
        self._build_cache()

    def _build_cache(self) -> None:
        if not self.cache_lr or (self._up is not None and (self._up_epoch == self.epoch or not self.degradation.random)):
            return
        started = time.perf_counter()
        degrade = self._degraded if self.degradation.per_frame else self._degraded_clip
        self._up, self._up_epoch = [degrade(k) for k in range(len(self.scenes))], self.epoch
        if not self.degradation.per_frame:
            log.info("degraded %d scenes as whole clips (%s, epoch %d) in %.1f s", len(self.scenes),
                     self.degradation.spec, self.epoch, time.perf_counter() - started)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _array(self, k: int) -> np.ndarray:
        # Opened lazily so that each DataLoader worker maps the files itself.
        if k not in self._arrays:
            root, entry = self.scenes[k]
            self._arrays[k] = np.load(root / entry.file, mmap_mode="r")
        return self._arrays[k]

    def _scene(self, k: int) -> Tensor:
        """Scene ``k``'s HR frames (T, C, H, W) uint8, read into memory."""
        return torch.from_numpy(np.array(self._array(k))).permute(0, 3, 1, 2)

    def _degraded(self, k: int, chunk: int = 16) -> np.ndarray:
        """Scene ``k`` after the BI degradation (Sec. 3.1), whole frames (T, h, w, C) uint8."""
        e, s = self.scenes[k][1], self.scale
        h, w = e.height - e.height % s, e.width - e.width % s
        arr = self._array(k)
        f = s if self.lr_space else 1
        out = np.empty((e.frames, h // f, w // f, arr.shape[3]), np.uint8)
        for i in range(0, e.frames, chunk):
            stack = torch.from_numpy(np.array(arr[i : i + chunk])).permute(0, 3, 1, 2)
            out[i : i + chunk] = self._net_input(stack).permute(0, 2, 3, 1).numpy()
        return out

    def _degraded_clip(self, k: int, chunk: int = 16) -> np.ndarray:
        """Scene ``k`` degraded as one clip (a codec's stream, ``real``'s drawn parameters), seeded
        by (seed, epoch, k), as the network takes it: (T, h, w, C) uint8, LR or upsampled."""
        seed = (self.seed, self.epoch, k, _SCENE_STREAM)
        if self.degradation.base == "real":
            lr, _ = self.degradation.apply(self._scene(k), self.scale, seed=seed)
        else:
            base = self._base_lr.get(k)
            if base is None:
                base = self.degradation.downsample(self._scene(k), self.scale)
                if self.degradation.random:  # the downsampling (4/5 of the time) is kept: later epochs redo the codec only
                    self._base_lr[k] = base
            lr, _ = self.degradation.compress(base, seed)
        if not self.lr_space:
            lr = torch.cat([imresize(lr[i : i + chunk], self.scale) for i in range(0, lr.shape[0], chunk)])
        return lr.permute(0, 2, 3, 1).numpy()

    def _net_input(self, hr: Tensor) -> Tensor:
        """What the network takes of uint8 HR frames (sides multiples of s) under a per-frame
        degradation: the LR (``lr_space``) or its bicubic upsampling, uint8. BI is
        :func:`bi_degrade`'s, so BI samples are exactly what they were before degradations."""
        lr = self.degradation.downsample(hr, self.scale)
        return lr if self.lr_space else imresize(lr, self.scale)

    def locate(self, index: int) -> tuple[int, int, int, int, int]:
        """(scene, centre frame, top, left, augmentation code) of sample ``index``."""
        rng = np.random.default_rng((self.seed, self.epoch, index))
        k = int(np.searchsorted(self._cumulative, rng.random(), side="right"))
        k = min(k, len(self.scenes) - 1)
        e = self.scenes[k][1]
        m, s, p = self.frames // 2, self.scale, self.patch_size
        t = int(rng.integers(m, e.frames - m - self.pairs))
        grid = s if self.lr_space else 1  # an LR-space patch starts on the LR grid
        top = int(rng.integers(0, (e.height - e.height % s - p) // grid + 1)) * grid
        left = int(rng.integers(0, (e.width - e.width % s - p) // grid + 1)) * grid
        code = int(rng.integers(0, 8)) if self.augment else 0
        if not self.degradation.flips_commute:
            code &= 4  # identity or transpose: a flip would teach the network a different sub-pixel shift per sample
        return k, t, top, left, code

    def _indices(self, t: int, n: int) -> list[int]:
        """The frames of sample centred on ``t`` in a scene of ``n``: its window, then the ``pairs``
        frames after it (t+M+1, …), whose own windows the sample then also holds."""
        m = self.frames // 2
        return window_indices(t, n, m) + list(range(t + m + 1, t + m + 1 + self.pairs))  # locate keeps them in

    def _degrade_region(self, k: int, t: int, top: int, left: int, index: int) -> tuple[Tensor, Tensor]:
        """(T, C, P, P) degraded and (1, C, P, P) HR uint8 patches of sample ``index`` (T + 1 and 2
        frames with ``pairs``), degrading only an LR-grid-aligned region around the patch. Under a
        per-frame degradation the region is 6s pixels wider than the patch (the bicubic and BD
        kernels' reach), so the patches equal crops of the whole degraded frames; otherwise 8s, the
        context of a clip-level degradation."""
        e = self.scenes[k][1]
        s, p, m = self.scale, self.patch_size, self.frames // 2
        h, w = e.height - e.height % s, e.width - e.width % s
        margin = 6 * s if self.degradation.per_frame else 8 * s
        y0, x0 = max(0, (top - margin) // s * s), max(0, (left - margin) // s * s)
        y1, x1 = min(h, math.ceil((top + p + margin) / s) * s), min(w, math.ceil((left + p + margin) / s) * s)
        region = self._array(k)[self._indices(t, e.frames), y0:y1, x0:x1]  # a writable copy
        stack = torch.from_numpy(region).permute(0, 3, 1, 2)  # (T, C, h, w) uint8
        if self.degradation.per_frame:
            net = self._net_input(stack)  # the region is LR-grid aligned: its crop to a multiple of s is a no-op
        else:
            lr, _ = self.degradation.apply(stack, s, seed=(self.seed, self.epoch, index, _DEGRADATION_STREAM))
            net = lr if self.lr_space else imresize(lr, s)
        ty, tx = top - y0, left - x0
        f = s if self.lr_space else 1
        return (net[:, :, ty // f : (ty + p) // f, tx // f : (tx + p) // f],
                stack[m : m + 1 + self.pairs, :, ty : ty + p, tx : tx + p])

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not 0 <= index < self.samples_per_epoch:
            raise IndexError(index)
        k, t, top, left, code = self.locate(index)
        p = self.patch_size
        if self._up is not None:
            f = self.scale if self.lr_space else 1
            rows, cols = slice(top // f, (top + p) // f), slice(left // f, (left + p) // f)
            up = torch.from_numpy(self._up[k][self._indices(t, len(self._up[k])), rows, cols])
            hr = torch.from_numpy(np.array(self._array(k)[t : t + 1 + self.pairs, top : top + p, left : left + p]))
            up, hr = up.permute(0, 3, 1, 2), hr.permute(0, 3, 1, 2)
        else:
            up, hr = self._degrade_region(k, t, top, left, index)
        if up.shape[1] == 1:
            up, hr = up.expand(-1, 3, -1, -1), hr.expand(-1, 3, -1, -1)
        lr, hr = up.float() / 255.0, hr.float() / 255.0
        if self.color == "y":
            lr, hr = rgb_to_y(lr), rgb_to_y(hr)
        lr, hr = dihedral(lr, code), dihedral(hr, code)
        return stack_window(lr), stack_window(hr)
