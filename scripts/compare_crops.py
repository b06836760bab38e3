"""Fig. 4/5-style comparison: GT | bicubic | models on one Vid4 frame, with a zoomed crop.

    .venv/bin/python scripts/compare_crops.py --sequence calendar --frame 20 --scale 4 \
        --box 190 150 96 128 --model VSRResFeatGAN=vsrresfeatgan-x4 --model SA-VSRGAN=sa-vsrgan-x4 \
        -o docs/figures/crops_x4.png

The frame goes through the protocol of ``savsr evaluate`` (the ``--degradation``, BI by default,
the model's 2M+1 window, 8-bit output), so the figure shows what the tables score; each label
gives the frame's PSNR-Y (s border pixels cropped).

Real footage (issue #33): ``--video CLIP`` takes ``--clip-frames`` frames of a video around
``--frame``, cut to ``--region``, as the sequence, and degrades them as one clip (e.g.
``--degradation h264:25``: ×s down, then H.264 over the LR clip)::

    .venv/bin/python scripts/compare_crops.py --video ../shared/data/videos/sam2gallery_02_cups.mp4 \
        --frame 30 --region 144 384 320 512 --box 136 196 96 128 --scale 4 --degradation h264:25 \
        --model SA-VSRGAN=sa-vsrgan-x4 -o docs/figures/real_x4.png

With ``--original`` the same region of the clip's own frames is upscaled instead, with no ground
truth: bicubic | models, the box scaled by s.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from savsr.data.color import rgb_to_y
from savsr.data.degradation import SPEC_HELP, parse_degradation
from savsr.data.resize import imresize
from savsr.data.window import window_indices
from savsr.media import FrameSource
from savsr.media.writer import write_image
from savsr.errors import SavsrError
from savsr.fileio import check_writable
from savsr.figures import save_comparison_figure
from savsr.infer.upscaler import load_model
from savsr.evaluation import protocol_frame
from savsr.evaluation.protocol import gt_tensor
from savsr.metrics.psnr_ssim import psnr

CLIP_FRAMES = 16  # --video: frames of the clip degraded together, the one shown in their middle


def render(
    data: Path, sequence: str, frame: int, scale: int, box: tuple[int, int, int, int],
    models: dict[str, str], out: Path, overwrite: bool = False, degradation: str = "bi", title: str | None = None,
) -> Path:
    """Write the comparison figure of ``frame`` of ``sequence``; ``models`` maps label -> model."""
    check_writable(out, overwrite)
    spec = parse_degradation(degradation).spec
    seq = data / sequence
    if not seq.is_dir():
        raise SavsrError(f"{seq}: no such sequence folder")
    source = FrameSource(seq)
    hr, up, _ = protocol_frame(source, frame, scale, degradation=spec)
    _check_box(box, hr.shape[1], hr.shape[2])
    gt = hr.double() / 255.0

    def labelled(name: str, rgb: torch.Tensor) -> tuple[str, torch.Tensor]:
        return f"{name} ({psnr(rgb_to_y(rgb[None])[0], rgb_to_y(gt[None])[0], scale):.2f} dB)", rgb

    panels = dict([("GT", gt), labelled("bicubic", up.double() / 255.0)])
    for label, name in models.items():
        _, _, sr = protocol_frame(source, frame, scale, load_model(name, "cpu", precision="fp32"), degradation=spec)
        panels.update([labelled(label, torch.round(sr.rgb.double() * 255.0) / 255.0)])
    images = {k: v.permute(1, 2, 0).numpy() for k, v in panels.items()}
    if title is None:
        title = f"{sequence} frame {frame}, ×{scale}" + ("" if spec == "bi" else f" from {spec}") + "; PSNR-Y of the whole frame"
    return save_comparison_figure(images, out, box, overwrite, title)


def _check_box(box: tuple[int, int, int, int], height: int, width: int, flag: str = "--box") -> None:
    top, left, bh, bw = box
    if bh < 1 or bw < 1 or top < 0 or left < 0 or top + bh > height or left + bw > width:
        raise SavsrError(f"{flag} {top} {left} {bh} {bw} is not inside the {width}×{height} frame")


def clip_region(clip: Path, frame: int, region: tuple[int, int, int, int] | None,
                clip_frames: int = CLIP_FRAMES) -> tuple[list[np.ndarray], int]:
    """Up to ``clip_frames`` frames of ``clip`` around ``frame`` (it in the middle where the clip
    allows), each cut to ``region`` (top, left, height, width; None: whole frames), and the index
    of ``frame`` among them."""
    if clip_frames < 1:
        raise SavsrError(f"--clip-frames must be at least 1, got {clip_frames}")
    source = FrameSource(clip)
    info = source.info
    if region is not None:
        _check_box(region, info.height, info.width, "--region")
    # Every frame that a window of clip_frames holding `frame` can hold; a container may not say
    # how many frames it has, so where it ends is seen by reading.
    first = max(0, frame - clip_frames + 1)
    frames = source.frames(first)
    try:
        read = [_cut(f, region) for f in itertools.islice(frames, frame + clip_frames - first)]
    finally:
        frames.close()
    n = first + len(read)  # the clip's length, or more than the window needs
    if frame >= n:
        raise SavsrError(f"{clip}: has no frame {frame} (it has {info.num_frames or (n if read else 'fewer')})")
    start = max(0, min(frame - clip_frames // 2, n - clip_frames))
    segment = read[start - first : start - first + clip_frames]
    return segment, frame - start


def _cut(frame: np.ndarray, region: tuple[int, int, int, int] | None) -> np.ndarray:
    if region is None:
        return frame
    top, left, h, w = region
    return frame[top : top + h, left : left + w].copy()  # not a view: the whole frame is let go


def _region_title(clip: Path, frame: int, region: tuple[int, int, int, int] | None, shape: tuple[int, ...]) -> str:
    where = f"the {region[3]}×{region[2]} region at x {region[1]}, y {region[0]}" if region else f"{shape[1]}×{shape[0]}"
    return f"{clip.name} frame {frame}, {where}"


def render_video(
    clip: Path, frame: int, scale: int, box: tuple[int, int, int, int], models: dict[str, str], out: Path,
    overwrite: bool = False, degradation: str = "h264:25", region: tuple[int, int, int, int] | None = None,
    clip_frames: int = CLIP_FRAMES,
) -> Path:
    """The figure of :func:`render` for frame ``frame`` of a video: the frames around it, cut to
    ``region``, are the sequence that ``degradation`` degrades as one clip (as evaluate degrades a
    Vid4 sequence), and the region is the GT."""
    check_writable(out, overwrite)
    spec = parse_degradation(degradation).spec
    segment, index = clip_region(clip, frame, region, clip_frames)
    with tempfile.TemporaryDirectory(prefix="savsr_crops_") as tmp:
        seq = Path(tmp) / clip.stem
        seq.mkdir()
        for t, f in enumerate(segment):  # PNG: lossless, so the protocol reads exactly these frames
            write_image(seq / f"{t:08d}.png", f)
        title = (f"{_region_title(clip, frame, region, segment[0].shape)}\n×{scale} from {spec} (over "
                 f"{len(segment)} frames); PSNR-Y of the region")
        return render(Path(tmp), clip.stem, index, scale, box, models, out, overwrite, spec, title)


def render_original(
    clip: Path, frame: int, scale: int, box: tuple[int, int, int, int], models: dict[str, str], out: Path,
    overwrite: bool = False, region: tuple[int, int, int, int] | None = None, clip_frames: int = CLIP_FRAMES,
) -> Path:
    """Frame ``frame`` of a video (cut to ``region``) upscaled ×``scale`` from its own frames, as
    `savsr upscale` would: bicubic | models, no ground truth. ``box`` is in the region's pixels
    and is drawn ×``scale`` on the outputs."""
    check_writable(out, overwrite)
    segment, index = clip_region(clip, frame, region, clip_frames)
    lr = [gt_tensor(f) for f in segment]  # uint8 RGB (3, h, w), as evaluate reads a frame
    _check_box(box, lr[0].shape[1], lr[0].shape[2])
    panels = {"bicubic": imresize(lr[index], scale).double() / 255.0}
    for label, name in models.items():
        upscaler = load_model(name, "cpu", precision="fp32")
        if upscaler.scale != scale:
            raise SavsrError(f"{name} is a ×{upscaler.scale} model, but the scale asked for is {scale}")
        sr = upscaler.window([lr[t] for t in window_indices(index, len(lr), upscaler.radius)])
        panels[label] = torch.round(sr.rgb.double() * 255.0) / 255.0
    images = {k: v.permute(1, 2, 0).numpy() for k, v in panels.items()}
    title = f"{_region_title(clip, frame, region, segment[0].shape)}\n×{scale} from the original frames, no ground truth"
    return save_comparison_figure(images, out, tuple(v * scale for v in box), overwrite, title)


def _model_arg(text: str) -> tuple[str, str]:
    label, sep, name = text.partition("=")
    if not sep or not label or not name:
        raise argparse.ArgumentTypeError(f"expected LABEL=MODEL, got {text!r}")
    return label, name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/vid4/GT"), help="one folder per sequence")
    parser.add_argument("--sequence", help="the sequence folder under --data (not with --video)")
    parser.add_argument("--video", type=Path, metavar="CLIP", help="a video instead: its frames around --frame are the sequence")
    parser.add_argument("--frame", type=int, required=True)
    parser.add_argument("--scale", type=int, required=True, choices=(2, 3, 4))
    parser.add_argument("--box", type=int, nargs=4, required=True, metavar=("TOP", "LEFT", "HEIGHT", "WIDTH"),
                        help="the zoomed crop, in the pixels of the GT (with --original: of the region, drawn ×s)")
    parser.add_argument("--degradation", default=None, metavar="SPEC",
                        help=f"how the LR is made, as in savsr evaluate: {SPEC_HELP} (default bi; with --video h264:25)")
    parser.add_argument("--region", type=int, nargs=4, metavar=("TOP", "LEFT", "HEIGHT", "WIDTH"),
                        help="with --video: the part of each frame that is the sequence (default the whole frame)")
    parser.add_argument("--clip-frames", type=int, default=CLIP_FRAMES,
                        help=f"with --video: how many frames around --frame are degraded together (default {CLIP_FRAMES})")
    parser.add_argument("--original", action="store_true",
                        help="with --video: upscale the clip's own frames (no degradation, no GT): bicubic | models")
    parser.add_argument("--model", type=_model_arg, action="append", default=[], metavar="LABEL=MODEL",
                        help="a bundled model or .safetensors, shown as LABEL (repeatable, in order)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.png")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    if (args.video is None) == (args.sequence is None):
        parser.error("give one of --sequence and --video")
    if args.video is None and (args.region or args.original):
        parser.error("--region and --original need --video")
    if args.original and args.degradation is not None:
        parser.error("--original upscales the clip's own frames; it takes no --degradation")
    region = tuple(args.region) if args.region else None
    try:
        if args.original:
            out = render_original(args.video, args.frame, args.scale, tuple(args.box), dict(args.model), args.output,
                                  args.overwrite, region, args.clip_frames)
        elif args.video is not None:
            out = render_video(args.video, args.frame, args.scale, tuple(args.box), dict(args.model), args.output,
                               args.overwrite, args.degradation or "h264:25", region, args.clip_frames)
        else:
            out = render(args.data, args.sequence, args.frame, args.scale, tuple(args.box), dict(args.model),
                         args.output, args.overwrite, args.degradation or "bi")
    except SavsrError as exc:
        print(f"compare_crops: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
