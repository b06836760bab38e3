"""The ``savsr`` command line. Each subcommand parses its arguments and calls the library."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import ParameterError, SavsrError, SavsrWarning
from .fileio import DISK_FULL
from .media.mux import DEFAULT_SEGMENT_FRAMES


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _crf(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 63:  # VP9's range; x264/x265 stop at 51 (checked with the codec)
        raise argparse.ArgumentTypeError(f"must be 0 to 63, got {text}")
    return value


def _odd_window(text: str) -> int:
    value = int(text)
    if value < 1 or value % 2 == 0:
        raise argparse.ArgumentTypeError(f"must be a positive odd integer, got {text}")
    return value


def _cmd_maps(args: argparse.Namespace) -> int:
    from .data.activity import DELTA, WINDOW
    from .media.reader import read_frame
    from .figures import save_activity_figure

    image = read_frame(args.image, args.frame)
    delta = DELTA if args.delta is None else args.delta
    window = WINDOW if args.window is None else args.window
    out = save_activity_figure(image, args.output, delta, window, args.overwrite)
    print(f"wrote {out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    for kind, path in run_demo(args.output_dir, args.model, args.device).items():
        print(f"{kind}: {path}")
    print(f"metrics:\n{(Path(args.output_dir) / 'metrics.md').read_text()}", end="")
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from .data.prepare import prepare_dataset

    scenes = prepare_dataset(
        args.sources, args.output, downscale=args.downscale, scene_threshold=args.scene_threshold,
        overwrite=args.overwrite, progress=sys.stderr.isatty(), decoder=args.decoder,
    )
    frames = sum(s.frames for s in scenes)
    print(f"wrote {args.output}: {len(scenes)} scene(s), {frames} frame(s)")
    return 0


# Where `savsr evaluate` looks for Vid4 when --data is not given: the one setting, documented in
# docs/evaluation.md. This repository's development layout sets it to ../shared/data/vid4/GT.
VID4_SETTING, VID4_DEFAULT = "SAVSR_VID4", "data/vid4/GT"


def default_vid4() -> Path:
    """The Vid4 ground-truth folder: $SAVSR_VID4, else data/vid4/GT."""
    folder = Path(os.environ.get(VID4_SETTING) or VID4_DEFAULT)
    if not folder.is_dir():
        raise SavsrError(f"Vid4 not found in {folder} (set {VID4_SETTING} or pass --data DIR: "
                         "one folder of ground-truth frames per sequence)")
    return folder


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import REPORTS, EvalConfig, check_reports, evaluate, render_markdown, write_reports
    from .device import resolve_device
    from .metrics.regions import Regions

    model_name = "bicubic" if args.model == "bicubic" else Path(args.model).stem
    # A degradation other than BI, or supplied LR, gets its own default folder beside BI's results.
    tag = "_lr" if args.lr else "" if args.degradation == "bi" else "_" + args.degradation.replace(":", "-").replace("+", "_")
    outdir = Path(args.output_dir or f"eval_output/{model_name}_x{args.scale}{tag}")
    check_reports(outdir, args.overwrite)  # before the evaluation, which can take half an hour
    cfg = EvalConfig(
        data=Path(args.data) if args.data else default_vid4(), scale=args.scale, model=args.model,
        frames=args.frames, lpips=args.lpips, lpips_on=args.lpips_on, device=str(resolve_device(args.device)),
        precision=args.precision, backend=args.backend, self_ensemble=args.self_ensemble, temporal=args.temporal,
        regions=Regions(*(args.region_thresholds or ())) if args.regions or args.region_thresholds else None,
        degradation=args.degradation, seed=args.seed, lr=Path(args.lr) if args.lr else None,
    )
    results, baseline = evaluate(cfg, progress=sys.stderr.isatty())
    table = write_reports(results, baseline, cfg, outdir, args.overwrite)
    print(render_markdown(table, cfg), end="")
    print(f"wrote {', '.join(str(outdir / name) for name in REPORTS)}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import logging
    import os

    from .train import Trainer, TrainingInterrupted, load_config

    cfg = load_config(args.config, args.set)
    out = Path(args.out or Path("runs") / Path(args.config).stem)
    if args.resume is None and (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir()):
        raise SavsrError(f"{out} already holds checkpoints; pass --resume auto to continue, or choose another --out")
    main_rank = os.environ.get("RANK", "0") == "0"
    logging.basicConfig(level=logging.INFO if main_rank else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    trainer = Trainer(cfg, out)
    trainer.resume(args.resume)
    try:
        final = trainer.fit()
    except TrainingInterrupted as exc:
        print(f"savsr: {exc}", file=sys.stderr)
        return 128 + exc.signum
    if main_rank:
        print(f"done: {trainer.step} steps; final checkpoint {final} (generator: {final}/generator.safetensors)")
    return 0


def _cmd_upscale(args: argparse.Namespace) -> int:
    from .infer.batch import frame_count, is_video_folder, parse_shard, plan, run_batch, shard, summary
    from .infer.pipeline import EncodeOptions, upscale_file
    from .infer.upscaler import load_model
    from .models.zoo import default_model

    from .data.resize import check_scale

    if args.scale is not None:
        check_scale(args.scale)
    name = args.model or default_model(args.scale or 4)  # --scale alone picks the bundled model of that scale
    inputs = [Path(p) for p in args.input]
    one = inputs[0]
    is_batch = (len(inputs) > 1 or (one.suffix.lower() == ".txt" and one.is_file()) or is_video_folder(one)
                or args.ray is not None or args.shard is not None)
    which = parse_shard(args.shard) if is_batch else None
    encode = EncodeOptions(args.codec, args.crf, args.preset, args.fps)
    progress = sys.stderr.isatty()
    model = load_model(name, args.device, args.precision, args.tile, args.tile_overlap, args.self_ensemble, args.backend)
    if args.scale is not None and args.scale != model.scale:
        raise SavsrError(f"model {name} super-resolves ×{model.scale}, not ×{args.scale}")
    if not is_batch:
        from tqdm.auto import tqdm

        total = frame_count(one, args.frames) if progress else None  # for the ETA; one more probe, only on a terminal
        with tqdm(total=total, desc=f"upscale ×{model.scale}", unit="frame", disable=not progress) as bar:
            out = upscale_file(model, one, args.output, args.frames, args.overwrite, args.restart, encode,
                               args.segment_frames, bar.update)
        print(f"wrote {out}")
        return 0
    out_dir = Path(args.output)
    if out_dir.suffix and not out_dir.is_dir():
        raise SavsrError(f"{out_dir}: several inputs go into a folder; give -o a folder name")
    jobs = shard(plan(inputs, out_dir), which)
    if which is not None:
        print(f"shard {which[0]}/{which[1]}: {len(jobs)} input(s)", flush=True)
    options = dict(overwrite=args.overwrite, restart=args.restart, encode=encode, frames=args.frames,
                   segment_frames=args.segment_frames)
    if args.ray is not None:
        from .infer.cluster import ModelArgs, run_on_ray

        del model  # each actor loads its own
        spec = ModelArgs(name, args.device, args.precision, args.tile, args.tile_overlap, args.self_ensemble, args.backend)
        outcomes = []
        for o in run_on_ray(spec, jobs, args.ray or None, args.workers, args.cpus_per_worker, **options):
            print(f"{o.status}: {o.job.src}" + (f" ({o.reason})" if o.reason else ""), flush=True)
            outcomes.append(o)
    else:
        outcomes = run_batch(model, jobs, progress=progress, **options)
    print(summary(outcomes))
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def _size(text: str) -> int:
    """A size in bytes, with an optional K, M or G (powers of 1024)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    number, unit = (text[:-1], units[text[-1].upper()]) if text[-1:].upper() in units else (text, 1)
    try:
        value = int(float(number) * unit)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 500M or 2G, got {text}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte, got {text}")
    return value


def _cmd_serve(args: argparse.Namespace) -> int:
    from .serve import ServeConfig, new_token, serve

    token = new_token() if args.token == "auto" else args.token
    config = ServeConfig(Path(args.data), args.host, args.port, token, args.max_upload,
                         tuple(Path(p) for p in args.model), args.device, args.segment_frames,
                         args.ray, args.keep_days)
    serve(config, announce=lambda line: print(line, flush=True))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .models.zoo import DEFAULTS, available_models

    models = available_models()
    defaults = {name: scale for scale, name in DEFAULTS.items()}
    if not models:
        print("no bundled models")
    width = max((len(m.name) for m in models), default=0)
    for m in models:
        gflops = m.spec.flops_per_pixel() * 1e6 / 1e9
        print(f"{m.name:<{width}} ×{m.spec.scale} {m.spec.color.upper():<3} {m.spec.kind:<12} {m.spec.blocks:>2} blocks × "
              f"{m.spec.features:<3} {gflops:>7,.0f} GFLOP per output megapixel  card: {m.card}"
              + (f"  (the default at ×{defaults[m.name]})" if m.name in defaults else ""))
    return 0


BACKEND_HELP = ("auto (default: OpenVINO on a CPU where it is installed, PyTorch elsewhere), torch or openvino; "
                "OpenVINO ran 1.9× PyTorch in bf16 on a Zen 5, 1.4× on a Zen 4, and 1.4× in fp32, the "
                "precision of AVX2-only CPUs (docs/performance.md, per CPU type)")
SELF_ENSEMBLE_HELP = ("average the network over the 8 flips and transposes of each frame: 8× slower, "
                      "higher PSNR (docs/inference.md)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="savsr",
        description="Video super-resolution with spatially adaptive GAN losses (Wang et al., ICASSP 2019).",
    )
    parser.add_argument("--version", action="version", version=f"savsr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    maps = sub.add_parser("maps", help="draw the spatial-activity maps of Fig. 1 for an image or video frame")
    maps.add_argument("image", metavar="IMAGE", help="an image file, or a video (see --frame)")
    maps.add_argument("-o", "--output", required=True, metavar="OUT.png", help="figure to write")
    # Defaults None: the loss's δ and window (savsr.data.activity), filled in by the command so that
    # building the parser does not import torch.
    maps.add_argument("--delta", type=_positive_float, help="δ of Eq. 3 (default: the loss's, docs/method.md)")
    maps.add_argument("--window", type=_odd_window, help="local-variance window side (default: the loss's)")
    maps.add_argument("--frame", type=int, default=0, help="frame index when IMAGE is a video (default 0)")
    maps.add_argument("--overwrite", action="store_true", help="replace OUT.png if it exists")
    maps.set_defaults(func=_cmd_maps)

    prep = sub.add_parser("prepare", help="decode videos and frame folders into a training dataset")
    prep.add_argument("sources", nargs="+", metavar="SOURCE", help="videos, frame folders or images")
    prep.add_argument("-o", "--output", required=True, metavar="DATASET", help="dataset folder to create")
    prep.add_argument("--downscale", type=int, default=1, choices=(1, 2, 3, 4),
                      help="shrink HR frames by this factor first (for compressed sources; default 1)")
    prep.add_argument("--scene-threshold", type=float, default=0.12,
                      help="cut detection threshold, mean abs. thumbnail difference in [0,1]; 0 = off")
    prep.add_argument("--overwrite", action="store_true", help="replace DATASET if it exists")
    prep.add_argument("--decoder", default="pyav", choices=("pyav", "opencv"),
                      help="video decoder: pyav (default), or opencv where PyAV is not installed")
    prep.set_defaults(func=_cmd_prepare)

    ev = sub.add_parser("evaluate", help="score a model on Vid4 (or any folder of sequences) with PSNR/SSIM/LPIPS")
    ev.add_argument("--data", metavar="DIR", help=f"one folder of GT frames per sequence (default: ${VID4_SETTING}, else {VID4_DEFAULT})")
    ev.add_argument("--scale", type=int, required=True, help="2, 3 or 4")
    ev.add_argument("--model", default="bicubic", metavar="bicubic|NAME|CHECKPOINT",
                    help="'bicubic', a bundled model, or a generator .safetensors")
    ev.add_argument("--frames", choices=("all", "inner"), default="all",
                    help="'inner' skips the M frames at each end that lack real neighbours")
    ev.add_argument("--lpips", choices=("alex", "vgg", "none"), default="alex", help="LPIPS network (default alex)")
    ev.add_argument("--lpips-on", choices=("rgb", "y"), default="rgb", help="LPIPS on RGB (default) or on Y replicated")
    ev.add_argument("--regions", action="store_true",
                    help="also score high-activity and flat pixels (W of Eq. 3 on the GT; docs/evaluation.md)")
    ev.add_argument("--region-thresholds", type=float, nargs=2, metavar=("HIGH", "FLAT"),
                    help="high activity is W > HIGH, flat is W < FLAT (default 0.5 0.1; implies --regions)")
    ev.add_argument("--temporal", action="store_true",
                    help="also score flicker: TecoGAN's tOF and tLP, and with --regions the flat and high-activity "
                         "temporal scores (docs/evaluation.md)")
    ev.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ev.add_argument("--precision", choices=("fp32", "bf16", "fp16", "int8", "auto"), default="fp32",
                    help="the network's arithmetic (default fp32, so numbers do not depend on the hardware; "
                         "bf16 is about 2× faster on CPUs with native bf16, AVX512-BF16 or AMX; on others it "
                         "computes in fp32 and says so; int8: OpenVINO quantized by NNCF, docs/performance.md)")
    ev.add_argument("--backend", default="auto", help=BACKEND_HELP)
    ev.add_argument("--self-ensemble", action="store_true", help=SELF_ENSEMBLE_HELP)
    ev.add_argument("--degradation", default="bi", metavar="SPEC",
                    help="how the LR is made from each GT sequence: bi (default, the paper's), bd (Gaussian σ 0.4·s, "
                         "13×13, every s-th pixel: TecoGAN's and DUF's BD), h264:CRF or h265:CRF (BI, then the whole "
                         "LR sequence through x264/x265 at CRF 0-51 and back), bd+h264:CRF, or real (a seeded random "
                         "blur/resize/noise/JPEG/codec pipeline); every choice is recorded (docs/evaluation.md)")
    ev.add_argument("--seed", type=int, default=0, help="seed of a random degradation (real; default 0)")
    ev.add_argument("--lr", metavar="DIR",
                    help="score these LR frames instead of degrading the GT: one sub-folder per sequence, named as "
                         "in --data, each frame the GT's size (cropped to a multiple of the scale) divided by it")
    ev.add_argument("-o", "--output-dir", metavar="OUTDIR", help="where to write results.{md,json,csv}")
    ev.add_argument("--overwrite", action="store_true", help="replace existing result files")
    ev.set_defaults(func=_cmd_evaluate)

    tr = sub.add_parser("train", help="run one training stage (pretrain or gan) from a YAML config")
    tr.add_argument("config", metavar="CONFIG.yaml")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value, e.g. --set run.epochs=2 (repeatable)")
    tr.add_argument("--resume", metavar="auto|PATH", help="continue from the newest valid checkpoint, or from PATH")
    tr.add_argument("--out", metavar="DIR", help="run folder for checkpoints and logs (default runs/CONFIG)")
    tr.set_defaults(func=_cmd_train)

    up = sub.add_parser("upscale", help="super-resolve videos, frame folders or images; resumable, in batches",
                        description="Super-resolve a video, a frame folder or an image; several of them, a folder "
                                    "of videos or a .txt list of inputs make a batch. An interrupted run resumes "
                                    "where it stopped when the same command is run again (docs/inference.md).")
    up.add_argument("input", nargs="+", metavar="INPUT",
                    help="video, frame folder or image; several, a folder of videos or a .txt list: a batch")
    up.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                    help="video (.mp4/.mkv/.mov/.webm), image (.png/.tif) or folder of PNG frames; "
                         "for a batch, the folder for the outputs (named after the inputs)")
    up.add_argument("--model", metavar="NAME|CHECKPOINT",
                    help="bundled model (see `savsr models`) or generator .safetensors "
                         "(default: the bundled default of --scale, else of ×4; `savsr models` marks them)")
    up.add_argument("--scale", type=int, help="2, 3 or 4: picks the bundled model; with --model, must match it")
    up.add_argument("--tile", type=int, help="tile side in HR pixels, at least 64 (default: from free memory; 0 = whole frame)")
    up.add_argument("--tile-overlap", type=int, help="context around each tile, in output pixels (default and least: the model's receptive radius, 32 for the paper's generator, 32·S for an LR-space one at ×S)")
    up.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    up.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16", "int8"),
                    help="auto (default: int8 for a bundled model whose card shows int8 costs at most 0.05 dB "
                         "and 1%% LPIPS; else bf16 where the CPU or GPU computes it natively: AVX512-BF16 or AMX, "
                         "about 2× fp32 there; else fp32, as on AVX2-only CPUs), fp32, bf16 (fp32 with a note "
                         "where not native), fp16 (GPU only), int8 (CPU, through OpenVINO quantized by NNCF; "
                         "the first run quantizes and caches the model)")
    up.add_argument("--backend", default="auto", help=BACKEND_HELP)
    up.add_argument("--self-ensemble", action="store_true", help=SELF_ENSEMBLE_HELP)
    up.add_argument("--frames", metavar="A:B", help="only frames A (inclusive) to B (exclusive)")
    up.add_argument("--codec", help="video encoder (default libx264; libvpx-vp9 for .webm)")
    up.add_argument("--crf", type=_crf, default=18,
                    help="quality for x264/x265 (0-51) and VP9 (0-63), lower is better (default 18)")
    up.add_argument("--preset", default="medium", help="x264/x265 speed preset, ultrafast to placebo (default medium)")
    up.add_argument("--fps", type=_positive_float, help="frame rate for frame-folder input (default 25) or to override")
    up.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    up.add_argument("--restart", action="store_true",
                    help="discard an unfinished run of OUTPUT made with other settings, instead of refusing")
    up.add_argument("--segment-frames", type=_positive_int, default=DEFAULT_SEGMENT_FRAMES, metavar="N",
                    help=f"frames per finished segment kept for resuming (default {DEFAULT_SEGMENT_FRAMES})")
    up.add_argument("--shard", metavar="I/N", help="only every N-th input from the I-th (default: from torchrun's "
                                                   "RANK/WORLD_SIZE or a SLURM array, when set)")
    up.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                    help="run the batch on a Ray cluster (default: RAY_ADDRESS, else a local one); needs savsr[cluster]")
    up.add_argument("--workers", type=_positive_int, help="Ray actors (default: one per GPU, else per 4 CPUs)")
    up.add_argument("--cpus-per-worker", type=_positive_int, metavar="N", help="CPUs each Ray actor reserves")
    up.set_defaults(func=_cmd_upscale)

    sv = sub.add_parser("serve", help="a local web page for upscaling: upload, progress, before/after, W map",
                        description="Serve a web page that queues uploads for upscaling, shows their progress, "
                                    "a before/after slider and the W map of any frame (docs/serve.md).")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1, this machine only; any other needs --token)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sv.add_argument("--data", default="serve_data", metavar="DIR",
                    help="folder for uploads, results and the job list (default serve_data)")
    sv.add_argument("--token", metavar="TOKEN|auto",
                    help="a secret every request must carry; 'auto' makes a random one (printed in the address)")
    sv.add_argument("--max-upload", type=_size, default=2 << 30, metavar="SIZE",
                    help="largest upload, e.g. 500M or 4G (default 2G)")
    sv.add_argument("--model", action="append", default=[], metavar="CHECKPOINT",
                    help="also offer this generator .safetensors, by its file name (repeatable)")
    sv.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    sv.add_argument("--segment-frames", type=_positive_int, default=DEFAULT_SEGMENT_FRAMES, metavar="N",
                    help=f"frames per finished segment kept for resuming (default {DEFAULT_SEGMENT_FRAMES})")
    sv.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                    help="run the jobs on a Ray cluster (default: RAY_ADDRESS, else a local one); needs savsr[cluster]")
    sv.add_argument("--keep-days", type=_positive_float, metavar="N",
                    help="at start, delete the finished jobs (and their files) last changed over N days ago "
                         "(default: keep them until deleted on the page)")
    sv.set_defaults(func=_cmd_serve)

    models = sub.add_parser("models", help="list the bundled models")
    models.set_defaults(func=_cmd_models)

    demo = sub.add_parser("demo", help="run the demo on the bundled sample (what `make demo` runs)")
    demo.add_argument("-o", "--output-dir", default="demo_output", help="folder for the results")
    demo.add_argument("--model", help="bundled model or .safetensors (default: the bundled default of ×4, "
                                      "`savsr models` marks it)")
    demo.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    demo.set_defaults(func=_cmd_demo)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None, _default=warnings.showwarning) -> None:
    """savsr's own warnings as one line on stderr; any other keeps Python's form."""
    if issubclass(category, SavsrWarning):
        print(f"savsr: note: {message}", file=sys.stderr, flush=True)
    else:
        _default(message, category, filename, lineno, file, line)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``savsr`` command; returns the exit status (2 for a usage or input error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command, its errors turned into one line and exit status 2."""
    try:
        return args.func(args)
    except SavsrError as exc:
        # The library names its parameters; here they are the flags that set them.
        text = exc.render("--" + exc.param.replace("_", "-")) if isinstance(exc, ParameterError) else str(exc)
        print(f"savsr: error: {text}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A full disk met by a writer that does not name its output itself; any other OSError is
        # unexpected and keeps its traceback.
        if exc.errno not in DISK_FULL:
            raise
        print(f"savsr: error: {exc.filename or 'output'}: not written: {exc.strerror} "
              "(the disk or a file-size limit is full)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("savsr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
