"""Evaluation: the protocol (frames in, a model run over them, every frame scored) and its reports.

It sits above :mod:`savsr.infer` and :mod:`savsr.metrics`; `savsr evaluate`, the trainer's
validation, the demo and the scripts all go through it, so a score is computed one way::

    from savsr.evaluation import EvalConfig, evaluate, summary

    cfg = EvalConfig(data=Path("vid4/GT"), scale=4, model="sa-vsrgan-x4", temporal=True)
    results, bicubic = evaluate(cfg)
    summary(results, bicubic, cfg.metrics)["mean"]   # {"psnr": ..., "lpips": ..., "tof": ..., "tlp": ...}
"""

from .protocol import (
    VID4,
    EvalConfig,
    evaluate,
    load_upscaler,
    protocol_frame,
    sequences,
)
from .reports import REPORTS, check_reports, render_markdown, summary, write_reports
from .scoring import METRICS, Scorer, SequenceResult
from .validation import Validator

__all__ = [
    "METRICS", "REPORTS", "VID4", "EvalConfig", "Scorer", "SequenceResult", "Validator", "check_reports", "evaluate",
    "load_upscaler", "protocol_frame", "render_markdown", "sequences", "summary", "write_reports",
]
