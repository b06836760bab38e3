"""File to file: a video, frame folder or image super-resolved into a video, a PNG folder or an
image, resumably.

Finished work is kept in a work folder beside the output, named after it (``.NAME.savsr``):
the settings in ``manifest.json``, a ``lock`` naming the process that writes it, and the frames
so far, as encoded video segments of ``segment_frames`` frames (each from its own encoder, so it
opens on a keyframe) or as PNG files. A run that is stopped, killed or crashes resumes after the
last complete segment; its frames still see their real neighbours, because reading starts M
frames before the first frame to compute. The segments are then joined without re-encoding,
with the source's other streams (:func:`savsr.media.mux.join`), and the output appears under its
final name at once. The work folder is removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import ParameterError, SavsrError
from ..fileio import Lock, publish, raise_if_disk_full
from ..media.mux import DEFAULT_SEGMENT_FRAMES, SEGMENT_SUFFIX, join, segment_options
from ..media.reader import FrameSource, MediaInfo
from ..media.writer import IMAGE_OUT_SUFFIXES, VIDEO_SUFFIXES, VideoWriter, encoder_for, write_image
from .background import background
from .upscaler import Upscaler

_MANIFEST_VERSION = 1


@dataclass(frozen=True)
class EncodeOptions:
    """How a video output is encoded."""

    codec: str | None = None  # None: libx264, or the suffix's default (libvpx-vp9 for .webm)
    crf: int = 18
    preset: str = "medium"
    fps: float | None = None  # frame rate for frame-folder input, or to override a video's


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


def work_dir(dst: Path) -> Path:
    """The folder that holds an unfinished run's work for the output ``dst``."""
    return dst.with_name(f".{dst.name}.savsr")


def output_kind(dst: Path, info: MediaInfo) -> str:
    """``video``, ``image`` or ``folder``, from the output name (and the input's frame count)."""
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


def _fingerprint(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _model_digest(upscaler: Upscaler) -> str:
    """A digest of the generator's weights: a run resumes only with the same network."""
    h = hashlib.sha256()
    for name, t in sorted(upscaler.model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def _settings(upscaler: Upscaler, src: Path, kind: str, start: int, stop: int | None, enc: EncodeOptions,
              codec: str | None, segment_frames: int) -> dict:
    """What a resumed run must share with the run it continues."""
    return {
        "version": _MANIFEST_VERSION, "source": _fingerprint(src) if src.is_file() else {"path": str(src.resolve())},
        "model": upscaler.name, "weights": _model_digest(upscaler), "scale": upscaler.scale,
        "precision": upscaler.precision, "backend": upscaler.backend, "self_ensemble": upscaler.self_ensemble,
        "frames": [start, stop], "output": kind,
        "encoder": {**asdict(enc), "codec": codec} if kind == "video" else None,
        "segment_frames": segment_frames if kind == "video" else None,
    }


def _differences(old: dict, new: dict) -> list[str]:
    return [f"{k}: {old.get(k)!r} → {new[k]!r}" for k in new if old.get(k) != new[k]]


class _Work:
    """The work folder of one output: manifest, lock and finished segments or frames."""

    def __init__(self, dst: Path, settings: dict, restart: bool, lock_wait: float = 0.0) -> None:
        self.dir = work_dir(dst)
        self.dst = dst
        self.lock = Lock(self.dir / "lock", str(dst))
        self.settings, self.restart, self.lock_wait = settings, restart, lock_wait

    def __enter__(self) -> _Work:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock.acquire(self.lock_wait)
        try:
            self._check_manifest()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()

    def _check_manifest(self) -> None:
        manifest = self.dir / "manifest.json"
        try:
            old = json.loads(manifest.read_text())
        except FileNotFoundError:
            old = None
        except ValueError:
            old = {}  # torn by a kill mid-write: nothing can be trusted
        if old is not None and old != self.settings:
            if not self.restart:
                what = "; ".join(_differences(old, self.settings)) or "an unreadable manifest"
                raise ParameterError("restart", f"{self.dst}: an unfinished run with other settings is in {self.dir} "
                                                f"({what}); pass {{param}} to discard it and start over")
            old = None
        if old is None:
            for p in self.dir.iterdir():
                if p.name != "lock":
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
            tmp = manifest.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.settings, indent=1))
            os.replace(tmp, manifest)

    # ---------------------------------------------------------------- video segments
    def segments(self) -> list[tuple[Path, int]]:
        """The complete segments in order, with their frame counts, up to the first gap."""
        found = {}
        for p in self.dir.glob(f"seg-*{SEGMENT_SUFFIX}"):
            try:
                _, first, count = p.stem.split("-")
                found[int(first)] = (p, int(count))
            except ValueError:
                continue
        out, at = [], 0
        while at in found:
            out.append(found[at])
            at += found[at][1]
        return out

    def segment_path(self, first: int, count: int) -> Path:
        return self.dir / f"seg-{first:08d}-{count:06d}{SEGMENT_SUFFIX}"

    # ---------------------------------------------------------------- frame files
    def frames_dir(self) -> Path:
        d = self.dir / "frames"
        d.mkdir(exist_ok=True)
        return d

    def frames_done(self, start: int) -> int:
        d, n = self.frames_dir(), 0
        while (d / f"{start + n:08d}.png").exists():
            n += 1
        return n

    def has_progress(self, start: int) -> bool:
        """Whether finished segments or frames are kept here."""
        return bool(self.segments()) or ((self.dir / "frames").is_dir() and self.frames_done(start) > 0)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _lr_tensor(frame: np.ndarray) -> Tensor:
    """An (H, W, C) uint8/uint16 frame as a (3, h, w) tensor (uint8, or int32 holding 16-bit values)."""
    t = torch.from_numpy(frame.astype(np.int32) if frame.dtype == np.uint16 else frame).permute(2, 0, 1)
    return t.expand(3, -1, -1) if t.shape[0] == 1 else t


def _to_output(sr: Tensor, info: MediaInfo) -> np.ndarray:
    """SR RGB in [0, 1] to an (H, W, C) array in the source's depth and channel count."""
    x = sr[:1] if info.channels == 1 else sr
    peak = 65535.0 if info.dtype == np.uint16 else 255.0
    arr = torch.round(x.float().cpu() * peak).permute(1, 2, 0).numpy()
    return arr.astype(np.uint16 if peak > 255 else np.uint8)


def _check_output(dst: Path, overwrite: bool) -> None:
    if dst.exists() and not overwrite:
        raise ParameterError("overwrite", f"{dst} exists; pass {{param}} to replace it")
    parent = dst.parent if str(dst.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = parent / f".savsr-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise SavsrError(f"{parent}: cannot write there ({exc.strerror or exc})") from None


def upscale_file(
    upscaler: Upscaler, src: str | os.PathLike, dst: str | os.PathLike, frames: str | None = None,
    overwrite: bool = False, restart: bool = False, encode: EncodeOptions = EncodeOptions(),
    segment_frames: int = DEFAULT_SEGMENT_FRAMES, progress: Callable[[int], None] | None = None,
    lock_wait: float = 0.0,
) -> Path:
    """Super-resolve a video, frame folder or image ``src`` into ``dst``, resuming an unfinished run.

    The output kind follows ``dst``: a video extension (.mp4, .mkv, .mov, .webm, …) writes a video
    with the source's timing, colour tags, display rotation, audio and subtitle tracks and
    chapters; .png/.tif writes one image (for a one-frame input); anything else is a folder of
    PNG frames. Nothing appears under ``dst`` until it is complete, and a ``dst`` that exists (or
    appears meanwhile) is replaced only with ``overwrite``. ``progress`` is called with the number
    of frames each step adds (finished frames found on resuming count too). A run of ``dst`` that
    another host holds is waited for up to ``lock_wait`` seconds (fileio.Lock.acquire).
    """
    src, dst = Path(src), Path(dst)
    if segment_frames < 1:
        raise ParameterError("segment_frames", f"{{param}} must be at least 1, got {segment_frames}")
    source = FrameSource(src)
    info = source.info
    start, stop = parse_frames(frames)
    kind = output_kind(dst, info)
    _check_output(dst, overwrite)
    codec = encoder_for(dst, encode.codec, encode.crf, encode.preset) if kind == "video" else None
    total = info.num_frames
    if total is not None:
        stop = total if stop is None else min(stop, total)
        if start >= stop:
            raise ParameterError("frames", f"{src}: has {total} frame(s); {{param}} {frames} selects none")
    settings = _settings(upscaler, src, kind, start, stop, encode, codec, segment_frames)
    with _Work(dst, settings, restart, lock_wait) as work:
        try:
            if kind == "video":
                staged = _video(upscaler, source, work, start, stop, encode, codec, segment_frames, progress)
            else:
                staged = _frames(upscaler, source, work, start, stop, kind, progress)
            publish(staged, dst, overwrite)
        except BaseException:
            if not work.has_progress(start):  # nothing worth resuming: leave no trace
                work.lock.release()
                work.remove()
            raise
    work.remove()
    return dst


def _sr_frames(upscaler: Upscaler, source: FrameSource, first: int, stop: int | None
               ) -> Iterator[tuple[np.ndarray, int | None]]:
    """(SR frame, source pts) for frames ``first`` to ``stop``, each with its real neighbours:
    reading starts M frames before ``first``, and those frames are context, not computed."""
    read_from = max(first - upscaler.radius, 0)
    lead = first - read_from
    pts: deque = deque()

    def lr() -> Iterator[Tensor]:
        for i, (frame, p) in enumerate(source.timed_frames(read_from)):
            if stop is not None and read_from + i >= stop:
                return
            pts.append(p)
            yield _lr_tensor(frame)

    for i, sr in enumerate(upscaler.stream(lr(), skip=lead)):
        p = pts.popleft()  # one SR frame per LR frame, in order: the queue stays short
        if i >= lead:
            yield _to_output(sr.rgb, source.info), p


def _video(upscaler: Upscaler, source: FrameSource, work: _Work, start: int, stop: int | None,
           enc: EncodeOptions, codec: str, segment_frames: int, progress) -> Path:
    """Encode the missing segments, join them all, and return the staged output file."""
    info = source.info
    done = work.segments()
    have = sum(n for _, n in done)
    if progress and have:
        progress(have)
    rate = Fraction(enc.fps).limit_denominator(1001) if enc.fps else (info.fps or Fraction(25))
    # A new frame rate (or a frame folder) means new timestamps: one per frame, in 1/rate.
    retime = enc.fps is not None or not info.is_video
    time_base = Fraction(1) / rate if retime else (info.time_base or Fraction(1) / rate)
    out_w, out_h = info.width * upscaler.scale, info.height * upscaler.scale
    writer: VideoWriter | None = None
    seg_first = have
    tmp = work.dir / f"segment.part{SEGMENT_SUFFIX}"
    index = have
    try:
        # The network (and reading before it) runs in its own thread while this one encodes.
        for frame, pts in background(_sr_frames(upscaler, source, start + have, stop), 2, "savsr-network"):
            if writer is None:
                tmp.unlink(missing_ok=True)
                writer = VideoWriter(tmp, out_w, out_h, rate, time_base, info, codec, enc.crf, enc.preset,
                                     deep=frame.dtype == np.uint16, name=work.dst, container_format="mp4",
                                     options=segment_options(time_base))
            rgb = frame if frame.shape[2] == 3 else np.repeat(frame, 3, 2)
            writer.write(rgb, index if retime or pts is None else pts)
            index += 1
            if progress:
                progress(1)
            if writer.frames == segment_frames:
                writer.close()
                writer = None
                os.replace(tmp, work.segment_path(seg_first, index - seg_first))
                seg_first = index
        if writer is not None:
            writer.close()
            writer = None
            os.replace(tmp, work.segment_path(seg_first, index - seg_first))
    except OSError as exc:
        raise_if_disk_full(exc, work.dst)
        raise
    finally:
        if writer is not None:
            writer.abort()
    segments = [p for p, _ in work.segments()]
    if not segments:
        raise SavsrError(f"{source.path}: no frames to upscale")
    staged = work.dir / f"joined{work.dst.suffix}"
    cut = start > 0 or (info.num_frames is not None and stop is not None and stop < info.num_frames)
    notes = join(segments, staged, source.path if info.is_video else None, info.rotation,
                 cut=cut, name=work.dst, retimed=retime)
    for note in notes:
        print(f"savsr: {work.dst}: {note}", flush=True)
    return staged


def _frames(upscaler: Upscaler, source: FrameSource, work: _Work, start: int, stop: int | None, kind: str,
            progress) -> Path:
    """Write the missing PNG frames (or the one image) into the work folder; return what to publish."""
    if kind == "image":
        image = work.dir / f"image{work.dst.suffix}"
        for frame, _ in _sr_frames(upscaler, source, start, stop):
            try:
                write_image(image, frame)
            except OSError as exc:
                raise_if_disk_full(exc, work.dst)
                raise
        if progress:
            progress(1)
        return image
    folder = work.frames_dir()
    have = work.frames_done(start)
    if progress and have:
        progress(have)
    index = start + have
    for frame, _ in background(_sr_frames(upscaler, source, index, stop), 2, "savsr-network"):
        part = folder / f".{index:08d}.part.png"
        try:
            write_image(part, frame)
            os.replace(part, folder / f"{index:08d}.png")
        except OSError as exc:
            raise_if_disk_full(exc, work.dst)
            raise
        index += 1
        if progress:
            progress(1)
    if index == start:
        raise SavsrError(f"{source.path}: no frames to upscale")
    return folder
