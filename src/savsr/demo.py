"""``savsr demo`` (and ``make demo``): the bundled x4 model (or any other) on a bundled real clip.

The clip is ground truth; it is BI-degraded by the model's scale (Sec. 3.1), super-resolved, and
compared with bicubic upsampling: an SR video, a Fig. 4/5-style comparison, the Fig. 1 maps and
a metrics table.
"""

from __future__ import annotations

import json
from fractions import Fraction
from importlib.resources import files
from pathlib import Path

import torch

from .media.reader import FrameSource
from .data.resize import crop_to_multiple, imresize
from .errors import ParameterError
from .evaluation import Scorer, SequenceResult
from .figures import save_activity_figure, save_comparison_figure
from .fileio import atomic_output
from .infer.upscaler import load_model
from .models.zoo import default_model
from .media.writer import VideoWriter

CLIP = "bedroom_clip.mkv"


def run_demo(output_dir: str | Path, model_name: str | None = None, device: str = "auto",
             precision: str = "auto", frames: int | None = None) -> dict[str, Path]:
    """Write the demo outputs into ``output_dir`` and return their paths by kind; the model is
    the bundled ×4 default unless ``model_name`` names one, on the clip's first ``frames`` frames
    (all 32 by default), degraded as the model was trained (BI, or BD for a BD model)."""
    if frames is not None and frames < 1:
        raise ParameterError("frames", f"{{param}} must be at least 1, got {frames}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(model_name or default_model(4), device=device, precision=precision)
    s = model.scale
    clip = Path(str(files("savsr") / "assets" / CLIP))
    gt = torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in FrameSource(clip)])[:frames]  # (T, 3, H, W) uint8
    gt = crop_to_multiple(gt, s)
    degradation = model.degradation
    lr, _ = degradation.apply(gt, s)
    bicubic = imresize(lr, s)
    sr = model(lr.float() / 255.0)  # (T, 3, H, W) in [0, 1]
    sr_u8 = torch.round(sr * 255).to(torch.uint8)

    paths: dict[str, Path] = {}
    video = out / f"sr_x{s}.mp4"
    tmp = out / f".sr_x{s}.part.mp4"
    writer = VideoWriter(tmp, sr.shape[-1], sr.shape[-2], Fraction(30))
    for frame in sr_u8:
        writer.write(frame.permute(1, 2, 0).numpy())
    writer.close()
    tmp.replace(video)
    paths["super-resolved video"] = video

    scorer = Scorer(s, "alex", "rgb", model.device)
    rows = {}
    for name, est in (("bicubic", bicubic), (model.name, sr_u8)):
        res = SequenceResult(name)
        for i in range(len(gt)):
            rgb = est[i].double() / 255.0
            scorer(res, i, rgb, rgb, gt[i].double() / 255.0)
        rows[name] = {"psnr_y": res.mean("psnr"), "ssim_y": res.mean("ssim"), "lpips_alex": res.mean("lpips")}
    table = ["| method | PSNR-Y (dB) | SSIM-Y | LPIPS-alex |", "|---|---:|---:|---:|"]
    table += [f"| {k} | {v['psnr_y']:.2f} | {v['ssim_y']:.4f} | {v['lpips_alex']:.4f} |" for k, v in rows.items()]
    text = (f"×{s} on the bundled clip ({len(gt)} frames, {gt.shape[-1]}×{gt.shape[-2]} ground truth), "
            f"{degradation.spec.upper()} degradation, network in {model.precision}; "
            f"PSNR/SSIM on Y with {s} border pixels cropped, LPIPS-alex on RGB.\n\n" + "\n".join(table) + "\n")
    for name, content in (("metrics.md", text), ("metrics.json", json.dumps(rows, indent=2))):
        with atomic_output(out / name, overwrite=True) as t:
            t.write_text(content)
    paths["metrics table"] = out / "metrics.md"

    mid = len(gt) // 2
    as_img = lambda t: t[mid].permute(1, 2, 0).float().numpy() / (255.0 if t.dtype == torch.uint8 else 1.0)  # noqa: E731
    h, w = gt.shape[-2:]
    box = (h * 100 // 216, w * 250 // 384, 48, 80)  # the patterned pillow: fine texture
    paths["comparison figure (Fig. 4/5 style)"] = save_comparison_figure(
        {"ground truth": as_img(gt), f"bicubic ×{s}": as_img(bicubic), f"{model.name} ×{s}": as_img(sr_u8)},
        out / "fig_comparison.png", box, overwrite=True, title=f"frame {mid} of the bundled clip",
    )
    paths["activity maps (Fig. 1 style)"] = save_activity_figure(
        as_img(gt), out / "fig1_activity_maps.png", overwrite=True
    )
    return paths
