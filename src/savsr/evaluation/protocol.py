"""The Vid4 evaluation protocol of the literature (docs/evaluation.md): degrade each ground-truth
sequence (BI by default, or any degradation of :mod:`savsr.data.degradation`), or read LR frames a
user supplies, super-resolve the sequence, score every frame (and with ``temporal`` every pair)
against the GT."""

from __future__ import annotations

import itertools
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ..media.reader import FrameSource, to_uint8
from ..data.degradation import Degradation, parse_degradation
from ..data.resize import check_scale, crop_to_multiple, imresize
from ..errors import ParameterError, SavsrError
from ..data.window import window_indices
from ..metrics.lpips import MIN_SIDE
from ..metrics.psnr_ssim import SSIM_WINDOW
from ..metrics.regions import Regions
from ..metrics.temporal import SKIP
from .scoring import Scorer, SequenceResult, metrics_for

if TYPE_CHECKING:
    from ..infer.upscaler import SRFrame, Upscaler

VID4 = ("calendar", "city", "foliage", "walk")
# The smallest side and length that temporal scores accept: TecoGAN's crop keeps multiples of 32
# with 8 pixels a side, and a pair needs two frames after the SKIP frames at each end.
TEMPORAL_MIN_SIDE, TEMPORAL_MIN_FRAMES = 48, 2 * SKIP + 2


@dataclass
class EvalConfig:
    data: Path
    scale: int
    model: str = "bicubic"
    frames: str = "all"  # "all" or "inner" (drops the M frames at each end)
    lpips: str = "alex"  # "alex", "vgg" or "none"
    lpips_on: str = "rgb"  # "rgb" (SR Y joined to bicubic Cb/Cr) or "y" (Y replicated)
    device: str = "cpu"
    # fp32 by default so reported numbers do not depend on whether the hardware has bf16;
    # bf16 is about 2× faster on CPUs that compute it natively and moves Vid4 PSNR by about 0.001 dB
    # (docs/performance.md). evaluate() leaves here the precision that computed: auto resolved, and
    # fp32 where bf16 was asked for on hardware without it.
    precision: str = "fp32"
    backend: str = "auto"  # "torch", "openvino" or "auto" (OpenVINO on a CPU where installed)
    regions: Regions | None = None  # region-aware scores (metrics/regions.py) when set
    self_ensemble: bool = False  # average the network over the 8 flips/transposes (8× slower)
    temporal: bool = False  # TecoGAN's tOF and tLP, and with regions the temporal region scores
    # How the LR is made from the GT: a spec of savsr.data.degradation (bi, bd, h264:CRF, h265:CRF,
    # real), applied to each sequence's whole clip; ``seed`` seeds the random ones.
    degradation: str = "bi"
    seed: int = 0
    lr: Path | None = None  # LR frames supplied instead, one folder per sequence as in ``data``
    # Filled by evaluate(): the degradation's fixed choices and, per sequence, what it drew.
    degradation_record: dict = field(default_factory=dict)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics this configuration scores, in table order."""
        return metrics_for(self.regions is not None, self.temporal)

    def scorer(self) -> Scorer:
        return Scorer(self.scale, self.lpips, self.lpips_on, self.device, self.regions, self.temporal)


def sequences(data: Path) -> list[Path]:
    """The sequence folders of a dataset folder (one sub-folder of frames per sequence), sorted."""
    if not data.is_dir():
        raise SavsrError(f"{data}: no such folder (expected one sub-folder of frames per sequence)")
    seqs = sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not seqs:
        raise SavsrError(f"{data}: holds no sequence folders")
    return seqs


def _check_sequence(seq: Path, info, cfg: EvalConfig) -> None:
    """Refuse, before any work, a sequence too small to score: SSIM's window must fit inside the GT
    cropped to a multiple of the scale less its border, LPIPS's network must accept the whole
    frame, and temporal scores need TecoGAN's crop and one pair."""
    s = cfg.scale
    side = min(info.width - info.width % s, info.height - info.height % s)
    need = SSIM_WINDOW + 2 * s
    if cfg.lpips != "none":
        need = max(need, MIN_SIDE[cfg.lpips])
    if cfg.temporal:
        need = max(need, TEMPORAL_MIN_SIDE)
    if side < need:
        raise SavsrError(f"{seq}: frames of {info.width}×{info.height} are too small to score at ×{s} "
                         f"(each side needs at least {need} pixels)")
    if cfg.temporal and (info.num_frames or 0) < TEMPORAL_MIN_FRAMES:
        raise SavsrError(f"{seq}: {info.num_frames} frames; temporal scores need at least {TEMPORAL_MIN_FRAMES}")


def gt_tensor(frame: np.ndarray) -> Tensor:
    """A decoded (H, W, C) frame as the uint8 (3, H, W) ground truth (grey replicated)."""
    frame = to_uint8(frame)
    rgb = frame if frame.shape[2] == 3 else np.repeat(frame, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)


def load_upscaler(cfg: EvalConfig) -> Upscaler | None:
    """The model of ``cfg`` ready to run, or None for bicubic; ``cfg.precision`` becomes the one it computes in."""
    check_scale(cfg.scale)
    if cfg.model == "bicubic":
        if cfg.self_ensemble:
            raise SavsrError("self-ensemble averages a network's outputs; bicubic has no network")
        return None
    from ..infer.upscaler import load_model

    upscaler = load_model(cfg.model, cfg.device, precision=cfg.precision, self_ensemble=cfg.self_ensemble,
                          backend=cfg.backend)
    if upscaler.scale != cfg.scale:
        raise SavsrError(f"{cfg.model} is a ×{upscaler.scale} model, but the scale asked for is {cfg.scale}")
    upscaler.engine  # built now: an engine may compute in another precision than asked (OpenVINO's fallback)
    cfg.precision = upscaler.precision
    return upscaler


def score_output(score: Scorer, res: SequenceResult, index: int, sr: SRFrame, hr_rgb: Tensor) -> None:
    """Score an upscaler's frame as the 8-bit output a user would save, not the unrounded float."""
    out = torch.round(sr.output.cpu().double() * 255.0) / 255.0
    score(res, index, out, torch.round(sr.rgb.cpu().double() * 255.0) / 255.0, hr_rgb)


def evaluate(cfg: EvalConfig, progress: bool = True) -> tuple[list[SequenceResult], list[SequenceResult]]:
    """Run the protocol: degrade each GT sequence (or read the supplied LR), super-resolve, score
    on Y and with LPIPS. ``cfg.degradation_record`` is filled with what the degradation did.

    Returns per-sequence results of the model and of bicubic upsampling of the same LR, the
    baseline of every table (the same list twice when the model is bicubic).
    """
    from tqdm.auto import tqdm

    degradation = parse_degradation(cfg.degradation)  # a bad spec is refused before the model loads
    if cfg.lr is not None and degradation.spec != "bi":
        raise ParameterError("lr", f"{{param}} supplies the LR frames; the degradation {cfg.degradation!r} would not be applied")
    upscaler = load_upscaler(cfg)
    radius = upscaler.radius if upscaler is not None else 2
    score = cfg.scorer()
    sources = [(seq, FrameSource(seq)) for seq in sequences(cfg.data)]
    for seq, source in sources:
        _check_sequence(seq, source.info, cfg)
    lr_sources = _lr_sources(cfg, sources) if cfg.lr is not None else None
    cfg.degradation_record = ({"supplied": str(cfg.lr)} if cfg.lr is not None
                              else degradation.describe() | ({"seed": cfg.seed} if degradation.random else {}))
    total = sum(src.info.num_frames or 0 for _, src in sources)
    bar = tqdm(total=total, desc="evaluate", unit="frame", disable=not progress)
    results, baseline = [], []
    for k, (seq, source) in enumerate(sources):
        n = source.info.num_frames or 0
        res, base = SequenceResult(seq.name, n), SequenceResult(seq.name, n)
        if cfg.frames == "inner" and n <= 2 * radius:
            raise SavsrError(f"{seq}: {n} frames, too few to drop {radius} at each end")
        if lr_sources is not None:
            frames = _supplied_frames(source, lr_sources[k], cfg.scale)
        elif degradation.per_frame:
            frames = _frames_one_by_one(source, degradation, cfg.scale)
        else:
            frames = _frames_of_clip(source, degradation, cfg.scale, cfg.seed, seq.name, cfg.degradation_record)

        pending: deque[tuple[Tensor, Tensor]] = deque()

        def lr_frames() -> Iterator[Tensor]:
            for hr, lr, up in frames:
                pending.append((hr, up))
                yield lr

        # The upscaler yields frame t once it has read t + M; `pending` holds the GT until then.
        outputs = upscaler.stream(lr_frames()) if upscaler is not None else (None for _ in lr_frames())
        for index, sr in enumerate(outputs):
            hr, up = pending.popleft()
            bar.update(1)
            if cfg.frames == "inner" and not radius <= index < n - radius:
                continue
            hr_rgb, up_rgb = hr.double() / 255.0, up.double() / 255.0
            score(base, index, up_rgb, up_rgb, hr_rgb)
            if sr is not None:
                score_output(score, res, index, sr, hr_rgb)
        results.append(res)
        baseline.append(base)
    bar.close()
    return (results if upscaler is not None else baseline), baseline


def _frames_one_by_one(frames: Iterable[np.ndarray], degradation: Degradation,
                       scale: int) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """(GT cropped, LR, LR bicubic-upsampled) per frame, for a degradation of each frame alone:
    one frame in memory at a time. BI's are :func:`bi_degrade`'s, so its numbers are unchanged."""
    for frame in frames:
        hr = crop_to_multiple(gt_tensor(frame), scale)
        lr = degradation.downsample(hr, scale)
        yield hr, lr, imresize(lr, scale)


def _frames_of_clip(frames: Iterable[np.ndarray], degradation: Degradation, scale: int, seed: int, name: str,
                    record: dict | None = None) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """The same, degrading the sequence as one clip (a codec's stream needs every frame); a random
    degradation is seeded by (``seed``, the sequence's name), so a sequence's LR does not depend on
    which others are scored with it. Its draws go into ``record["sequences"][name]``."""
    hr = crop_to_multiple(torch.stack([gt_tensor(f) for f in frames]), scale)
    lr, drawn = degradation.apply(hr, scale, seed=(seed, zlib.crc32(name.encode())))
    if degradation.random and record is not None:
        record.setdefault("sequences", {})[name] = {"seed": drawn["seed"], "params": drawn["params"]}
    for t in range(hr.shape[0]):
        yield hr[t], lr[t], imresize(lr[t], scale)


def _lr_sources(cfg: EvalConfig, sources: list[tuple[Path, FrameSource]]) -> list[FrameSource]:
    """The supplied LR sequence of each GT sequence (same folder name), its length checked."""
    assert cfg.lr is not None
    if not cfg.lr.is_dir():
        raise SavsrError(f"{cfg.lr}: no such folder (expected one sub-folder of LR frames per sequence)")
    out = []
    for seq, source in sources:
        folder = cfg.lr / seq.name
        if not folder.is_dir():
            raise SavsrError(f"{folder}: missing; the LR folder needs one sub-folder per sequence of {cfg.data}")
        lr = FrameSource(folder)
        if lr.info.num_frames != source.info.num_frames:
            raise SavsrError(f"{folder}: {lr.info.num_frames} LR frames for {source.info.num_frames} GT frames")
        out.append(lr)
    return out


def _supplied_frames(source: FrameSource, lr_source: FrameSource, scale: int) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """(GT cropped, supplied LR, its bicubic upsampling) per frame; the LR must be the cropped GT's size / scale."""
    for frame, lr_frame in zip(source, lr_source):
        hr = crop_to_multiple(gt_tensor(frame), scale)
        lr = gt_tensor(lr_frame)
        want = (hr.shape[-1] // scale, hr.shape[-2] // scale)
        if (lr.shape[-1], lr.shape[-2]) != want:
            raise SavsrError(f"{lr_source.path}: LR frames of {lr.shape[-1]}×{lr.shape[-2]}, but ×{scale} of the "
                             f"GT's {hr.shape[-1]}×{hr.shape[-2]} needs {want[0]}×{want[1]}")
        yield hr, lr, imresize(lr, scale)


def protocol_frame(
    source: FrameSource, index: int, scale: int, upscaler: Upscaler | None = None,
    degradation: str | Degradation = "bi", seed: int = 0,
) -> tuple[Tensor, Tensor, SRFrame | None]:
    """Frame ``index`` of one sequence under the protocol of :func:`evaluate`, without the rest.

    Returns the GT (cropped to a multiple of ``scale``) and its bicubic upsampling, both uint8
    (3, H, W), and the upscaler's :class:`~savsr.infer.upscaler.SRFrame` (None without one). The
    model sees the same 2M+1 degraded frames (``degradation`` and ``seed`` as in
    :class:`EvalConfig`), edges replicated at the sequence ends, as in a full evaluation, so
    figures show exactly the frames that the tables score. A codec or ``real`` degrades the
    whole sequence, as evaluate does; BI and BD only the window.
    """
    degradation = parse_degradation(degradation)
    n = source.info.num_frames or 0
    if not 0 <= index < n:
        raise SavsrError(f"{source.path}: frame {index} out of range (0 to {n - 1})")
    radius = upscaler.radius if upscaler is not None else 0
    if degradation.per_frame:
        start, stop = max(0, index - radius), min(n, index + radius + 1)
        clip = list(_frames_one_by_one(itertools.islice(source.frames(start), stop - start), degradation, scale))
    else:
        start = 0
        clip = list(_frames_of_clip(source, degradation, scale, seed, source.path.name))
    hr, _, up = clip[index - start]
    if upscaler is None:
        return hr, up, None
    lr = [clip[t - start][1] for t in window_indices(index, n, radius)]
    return hr, up, upscaler.window(lr)
