"""Many inputs: a folder of videos, a list file or several paths, upscaled one by one into an
output folder with mirrored names; finished outputs skipped, failures reported and skipped, and a
static shard of the list for schedulers that start N copies (torchrun, SLURM arrays)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParameterError, SavsrError
from ..media.reader import IMAGE_SUFFIXES, VIDEO_INPUT_SUFFIXES, FrameSource
from ..media.writer import IMAGE_OUT_SUFFIXES, VIDEO_SUFFIXES
from .pipeline import DEFAULT_SEGMENT_FRAMES, EncodeOptions, parse_frames, upscale_file
from .upscaler import Upscaler


@dataclass(frozen=True)
class Job:
    """One input and the output it goes to."""

    src: Path
    dst: Path


@dataclass
class Outcome:
    """What became of one job: ``done``, ``skipped`` (its output exists) or ``failed``."""

    job: Job
    status: str
    reason: str = ""
    frames: int = 0
    seconds: float = 0.0


@dataclass
class Progress:
    """Frames per second and the ETA for the current input and for the whole batch (tqdm bars)."""

    total_frames: int | None = None
    enabled: bool = True
    _batch: object = field(default=None, init=False)
    _current: object = field(default=None, init=False)

    def start(self, name: str, frames: int | None) -> None:
        from tqdm.auto import tqdm

        if not self.enabled:
            return
        if self._batch is None and self.total_frames is not None:
            self._batch = tqdm(total=self.total_frames, desc="batch", unit="frame", position=0, dynamic_ncols=True)
        self.finish()
        self._current = tqdm(total=frames, desc=name[-40:], unit="frame", position=1 if self._batch else 0,
                             leave=self._batch is None, dynamic_ncols=True)

    def update(self, n: int) -> None:
        for bar in (self._current, self._batch):
            if bar is not None:
                bar.update(n)

    def skip(self, frames: int | None) -> None:
        """Take an input that is not computed off the batch's total, so the ETA stays honest."""
        if self._batch is not None and frames:
            self._batch.total -= frames
            self._batch.refresh()

    def finish(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None

    def close(self) -> None:
        self.finish()
        if self._batch is not None:
            self._batch.close()
            self._batch = None


def is_video_folder(path: Path) -> bool:
    """A folder holding videos (a batch), as opposed to a folder of frames (one input)."""
    if not path.is_dir():
        return False
    top = [p for p in path.iterdir() if not p.name.startswith(".")]
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in top):
        return False
    return any(_videos_under(path))


def _videos_under(folder: Path) -> Iterable[Path]:
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix.lower() in VIDEO_INPUT_SUFFIXES and not any(
                part.startswith(".") for part in p.relative_to(folder).parts):
            yield p


def read_list(path: Path) -> list[Path]:
    """The inputs a list file names, one per line (blank lines and ``#`` comments skipped),
    relative to the list's folder."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SavsrError(f"{path}: cannot read the list ({exc})") from None
    items = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if not items:
        raise SavsrError(f"{path}: lists no inputs")
    return [p if p.is_absolute() else path.parent / p for p in map(Path, items)]


def _out_name(rel: Path, src: Path) -> Path:
    """The mirrored output name: a video keeps its container where savsr can write it (else .mkv),
    an image its format where lossless (else .png), a frame folder stays a folder."""
    suffix = src.suffix.lower()
    if src.is_dir():
        return rel
    if suffix in VIDEO_SUFFIXES:
        return rel
    if suffix in IMAGE_SUFFIXES:
        return rel if suffix in IMAGE_OUT_SUFFIXES else rel.with_suffix(".png")
    return rel.with_suffix(".mkv")


def plan(inputs: list[Path], out_dir: Path) -> list[Job]:
    """The jobs for ``inputs`` (videos, frame folders, images, folders of videos, list files),
    each output named after its input inside ``out_dir``."""
    jobs: list[Job] = []
    for item in inputs:
        if item.suffix.lower() == ".txt" and item.is_file():
            jobs += [Job(p, out_dir / _out_name(Path(p.name), p)) for p in read_list(item)]
        elif is_video_folder(item):
            jobs += [Job(p, out_dir / _out_name(p.relative_to(item), p)) for p in _videos_under(item)]
        else:
            jobs.append(Job(item, out_dir / _out_name(Path(item.name), item)))
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.dst in seen:
            raise SavsrError(f"{seen[job.dst]} and {job.src} would both be written to {job.dst}; "
                             "rename one or run them separately")
        seen[job.dst] = job.src
    if not jobs:
        raise SavsrError("no inputs to upscale")
    return jobs


def parse_shard(text: str | None, env: dict[str, str] | None = None) -> tuple[int, int] | None:
    """``I/N`` (0 ≤ I < N), else the rank and world size that torchrun (RANK, WORLD_SIZE) or a
    SLURM array (SLURM_ARRAY_TASK_ID from SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT) sets."""
    env = os.environ if env is None else env
    if text is None:
        if "WORLD_SIZE" in env and "RANK" in env:
            text = f"{env['RANK']}/{env['WORLD_SIZE']}"
        elif "SLURM_ARRAY_TASK_COUNT" in env and "SLURM_ARRAY_TASK_ID" in env:
            first = int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
            text = f"{int(env['SLURM_ARRAY_TASK_ID']) - first}/{env['SLURM_ARRAY_TASK_COUNT']}"
        else:
            return None
    try:
        i, n = (int(t) for t in text.split("/"))
    except ValueError:
        raise ParameterError("shard", f"{{param}} {text!r}: expected I/N, e.g. 0/4") from None
    if not 0 <= i < n:
        raise ParameterError("shard", f"{{param}} {text!r}: need 0 <= I < N")
    return i, n


def shard(jobs: list[Job], which: tuple[int, int] | None) -> list[Job]:
    """Every N-th job from the I-th, of the jobs in a fixed order: N copies split the list between them."""
    if which is None:
        return jobs
    i, n = which
    return sorted(jobs, key=lambda j: str(j.src))[i::n]


def frame_count(src: Path, frames: str | None = None) -> int | None:
    """How many frames an upscale of ``src`` makes: the container's count, cut to the ``frames``
    range (``A:B``); None where the container does not say (also for a bad input)."""
    try:
        total = FrameSource(src).info.num_frames
        start, stop = parse_frames(frames)
    except SavsrError:
        return None
    if total is None:
        return None
    return max(min(total, stop if stop is not None else total) - start, 0)


def run_job(upscaler: Upscaler, job: Job, overwrite: bool = False, restart: bool = False,
            encode: EncodeOptions = EncodeOptions(), frames: str | None = None,
            segment_frames: int = DEFAULT_SEGMENT_FRAMES, progress: Callable[[int], None] | None = None,
            lock_wait: float = 0.0) -> Outcome:
    """Upscale one job, answering instead of raising: a finished output is skipped (unless
    ``overwrite``) and a bad input fails with its one-line reason. ``lock_wait``: upscale_file's."""
    if job.dst.exists() and not overwrite:
        return Outcome(job, "skipped", "output exists")
    t0 = time.monotonic()
    count = [0]

    def tick(n: int) -> None:
        count[0] += n
        if progress:
            progress(n)

    try:
        upscale_file(upscaler, job.src, job.dst, frames, overwrite, restart, encode, segment_frames, tick, lock_wait)
    except SavsrError as exc:
        return Outcome(job, "failed", str(exc), count[0], time.monotonic() - t0)
    except (OSError, ValueError, RuntimeError) as exc:  # an FFmpeg or torch error the reader did not foresee
        return Outcome(job, "failed", f"{job.src}: {type(exc).__name__}: {exc}", count[0], time.monotonic() - t0)
    return Outcome(job, "done", "", count[0], time.monotonic() - t0)


def run_batch(upscaler: Upscaler, jobs: list[Job], overwrite: bool = False, restart: bool = False,
              encode: EncodeOptions = EncodeOptions(), frames: str | None = None,
              segment_frames: int = DEFAULT_SEGMENT_FRAMES, progress: bool = True) -> list[Outcome]:
    """Upscale ``jobs`` one after the other in this process."""
    counts = [frame_count(j.src, frames) for j in jobs] if progress else [None] * len(jobs)
    known = all(c is not None for c in counts)
    bars = Progress(sum(counts) if known else None, enabled=progress)  # type: ignore[arg-type]
    outcomes = []
    try:
        for job, count in zip(jobs, counts):
            bars.start(job.src.name, count)
            outcome = run_job(upscaler, job, overwrite, restart, encode, frames, segment_frames, bars.update)
            if outcome.status != "done":
                bars.skip((count or 0) - outcome.frames)
            outcomes.append(outcome)
    finally:
        bars.close()
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    """A table of the batch: each input's status and output or reason, then the totals."""
    rows = [(str(o.job.src), o.status, str(o.job.dst) if o.status == "done" else o.reason or str(o.job.dst))
            for o in outcomes]
    width = [max(len(r[i]) for r in rows + [("input", "status", "")]) for i in range(2)]
    lines = [f"{'input':<{width[0]}}  {'status':<{width[1]}}  output or reason"]
    lines += [f"{a:<{width[0]}}  {b:<{width[1]}}  {c}" for a, b, c in rows]
    n = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    lines.append(f"{n['done']} done, {n['skipped']} skipped, {n['failed']} failed")
    return "\n".join(lines)
