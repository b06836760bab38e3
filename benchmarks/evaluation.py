"""Scoring: what `savsr evaluate` spends per frame, against the work it cannot skip and an independent SSIM.

1. The Scorer on a Vid4-size clip (704×576, ×4) as `scripts/reproduce.sh` scores it: every frame
   of the model and of the bicubic baseline, with regions and TecoGAN's tOF/tLP, in frames per
   second of the clip.
2. Its floor, timed in the same rounds: per frame, three LPIPS-alex passes over the whole frame
   (the model's, the baseline's and the GT's, each needed once), and per scored pair (TecoGAN's:
   :func:`savsr.metrics.temporal.scored_pairs`) three Farneback flows (the model's, the
   baseline's and the GT's). The ratio says how much the Scorer adds to them.
3. SSIM on one Y frame pair: ours (:func:`savsr.metrics.ssim`) against scikit-image's
   ``structural_similarity``, the reference the tests hold it to, with the same Gaussian window.

The clip is a smooth moving texture with noise: scoring time depends on the frame size, not on
what the frames show.
"""

from __future__ import annotations

import numpy as np
import torch

from savsr.data.color import rgb_to_y
from savsr.evaluation import Scorer, SequenceResult
from savsr.metrics.lpips import LPIPS
from savsr.metrics.psnr_ssim import ssim
from savsr.metrics.regions import Regions
from savsr.metrics.temporal import optical_flow, scored_pairs

from .common import Report, Row, interleaved

SCALE = 4


def _clip(frames: int, height: int, width: int) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """(GT, model output, bicubic) RGB frames in [0, 1] on 8-bit levels: a texture moving a pixel a
    frame, the output and the baseline the GT with less and more noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    gt, sr, bic = [], [], []
    for t in range(frames):
        v = 0.5 + 0.3 * np.sin(0.21 * (xx - t)) * np.cos(0.13 * yy) + 0.1 * np.sin(0.9 * (xx - t) + 0.7 * yy)
        frame = torch.from_numpy(np.stack([v, v**1.3, 1 - v]))
        for out, sigma in ((gt, 0.0), (sr, 0.03), (bic, 0.06)):
            noisy = frame + sigma * torch.from_numpy(rng.standard_normal(frame.shape))
            out.append(torch.round(noisy.clamp(0, 1) * 255) / 255)
    return gt, sr, bic


def _score(gt: list[torch.Tensor], sr: list[torch.Tensor], bic: list[torch.Tensor]) -> None:
    """One clip through a fresh Scorer, as `savsr evaluate --regions --temporal` scores it."""
    score = Scorer(SCALE, regions=Regions(), temporal=True)
    model, base = SequenceResult("model", len(gt)), SequenceResult("bicubic", len(gt))
    for i, hr in enumerate(gt):
        score(model, i, rgb_to_y(sr[i][None])[0], sr[i], hr)
        score(base, i, rgb_to_y(bic[i][None])[0], bic[i], hr)


def _floor(lpips: LPIPS, gt: list[torch.Tensor], sr: list[torch.Tensor], bic: list[torch.Tensor]) -> None:
    """The work the Scorer cannot skip for the same clip: 3 LPIPS passes a frame, 3 flows a scored pair."""
    u8 = [[(f.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy() for f in frames] for frames in (gt, sr, bic)]
    with torch.no_grad():
        for frames in (gt, sr, bic):
            for frame in frames:
                lpips.features(frame[None].float())
    for t in scored_pairs(len(gt)):
        for clip in u8:
            optical_flow(clip[t - 1], clip[t])


def run(report: Report, device: torch.device, quick: bool) -> None:
    del device  # scoring runs where `savsr evaluate` runs it, on the CPU
    height, width = (96, 120) if quick else (576, 704)
    frames, rounds = (6, 1) if quick else (12, 3)  # 12 frames: 7 scored pairs, as most of a Vid4 sequence
    gt, sr, bic = _clip(frames, height, width)
    lpips = LPIPS("alex").eval()
    cpu = torch.device("cpu")
    secs = interleaved({"scorer": lambda: _score(gt, sr, bic), "floor": lambda: _floor(lpips, gt, sr, bic)}, rounds, cpu)
    report.add(Row("evaluation", "Scorer, model + bicubic, regions + tOF/tLP", frames / secs["scorer"], "frame/s",
                   note=f"{width}×{height}, ×{SCALE}, {frames} frames; {torch.get_num_threads()} threads"))
    report.add(Row("evaluation", "Scorer / its floor (3 LPIPS-alex passes a frame + 3 flows a scored pair)",
                   secs["scorer"] / secs["floor"], "×", note="same clip, same run; 1 would be nothing added"))
    from skimage.metrics import structural_similarity  # a dev dependency, as in the tests

    a, b = (rgb_to_y(f[None])[0, 0] for f in (sr[1], gt[1]))
    a255, b255 = (x.double().numpy() * 255 for x in (a, b))

    def ours() -> float:
        return ssim(a[None], b[None])

    def theirs() -> float:
        return structural_similarity(a255, b255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=255)

    t = interleaved({"ours": ours, "skimage": theirs}, 25 * rounds, cpu)  # tens of ms a call: many rounds for a stable median
    same = abs(ours() - theirs())
    report.add(Row("evaluation", "SSIM on Y, scikit-image / ours", t["skimage"] / t["ours"], "×",
                   note=f"{width}×{height}; ours {1 / t['ours']:.1f} frame/s; values differ by {same:.1e}"))
