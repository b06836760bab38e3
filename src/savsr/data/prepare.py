"""``savsr prepare``: decode training sources once into a memory-mappable dataset on disk.

Layout of a dataset folder::

    manifest.json          format version, sources and one entry per scene
    scenes/NAME.npy        uint8 array (T, H, W, C) of one scene's HR frames

Each scene is written frame by frame into a memory map (memory stays flat whatever the video
length), under a temporary name, and renamed when complete. The manifest is written last, so an
interrupted run leaves no half-dataset that looks complete.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ParameterError, SavsrError
from ..fileio import raise_if_disk_full
from ..media.reader import FrameSource, to_uint8
from .resize import imresize

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SceneEntry:
    """One scene of a dataset: consecutive frames of one shot."""

    name: str
    source: str
    first_frame: int
    frames: int
    height: int
    width: int
    channels: int

    @property
    def file(self) -> str:
        return f"scenes/{self.name}.npy"


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    """Small grey version of a frame, for cut detection."""
    grey = frame.mean(axis=2)
    h, w = grey.shape
    sh, sw = max(h // 32, 1), max(w // 32, 1)
    return grey[: h - h % sh, : w - w % sw].reshape(h // sh, sh, w // sw, sw).mean(axis=(1, 3)) / 255.0


def split_scenes(frames: Iterable[np.ndarray], threshold: float) -> Iterator[tuple[bool, np.ndarray]]:
    """Yield (starts_new_scene, frame): a cut is where the mean absolute difference of
    consecutive 32×32-block thumbnails exceeds ``threshold`` (grey levels / 255)."""
    previous = None
    for frame in frames:
        thumb = _thumbnail(frame)
        cut = previous is not None and threshold > 0 and float(np.abs(thumb - previous).mean()) > threshold
        previous = thumb
        yield cut, frame


def _downscale(frame: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return frame
    x = torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1)))[None]
    return imresize(x, 1 / factor)[0].permute(1, 2, 0).numpy()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "scene"


class _SceneWriter:
    """Streams the frames of one scene to disk, then wraps them as ``scenes/NAME.npy``.

    The frame count is only known at the end (cuts are found while decoding), so frames go to a
    raw file first and the .npy header is written in front of them when the scene closes.
    """

    def __init__(self, root: Path, name: str, source: str, first_frame: int) -> None:
        self.root, self.name, self.source, self.first_frame = root, name, source, first_frame
        self.raw_path = root / "scenes" / f".{name}.raw"
        self.raw = open(self.raw_path, "wb")
        self.shape: tuple[int, ...] | None = None
        self.count = 0

    def add(self, frame: np.ndarray) -> None:
        if self.shape is None:
            self.shape = frame.shape
        self.raw.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        self.count += 1

    def finish(self) -> SceneEntry:
        self.raw.close()
        assert self.shape is not None
        h, w, c = self.shape
        final = self.root / "scenes" / f"{self.name}.npy"
        part = final.with_name(f".{final.name}.part")
        with open(part, "wb") as out, open(self.raw_path, "rb") as raw:
            header = {"descr": "|u1", "fortran_order": False, "shape": (self.count, h, w, c)}
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(raw, out, 1 << 24)
            out.flush()
            os.fsync(out.fileno())
        self.raw_path.unlink()
        os.replace(part, final)
        return SceneEntry(self.name, self.source, self.first_frame, self.count, h, w, c)


def prepare_dataset(
    sources: Sequence[str | Path],
    output: str | Path,
    downscale: int = 1,
    scene_threshold: float = 0.12,
    overwrite: bool = False,
    progress: bool = True,
    decoder: str = "pyav",
) -> list[SceneEntry]:
    """Decode ``sources`` (videos, frame folders, images) into a dataset folder; see module doc.

    Args:
        sources: videos and frame folders; each is split into scenes at detected cuts.
        output: dataset folder to create.
        downscale: HR frames are first shrunk by this integer factor with :func:`imresize`
            (useful for compressed sources, whose artefacts shrink with the image).
        scene_threshold: cut threshold of :func:`split_scenes`; 0 disables cut detection.
        overwrite: replace an existing dataset folder.
        decoder: "pyav", or "opencv" where PyAV is not installed (:class:`FrameSource`).
    """
    from tqdm.auto import tqdm

    out = Path(output)
    if downscale not in (1, 2, 3, 4):
        raise ParameterError("downscale", f"{{param}} must be 1, 2, 3 or 4, got {downscale}")
    if out.exists():
        if not overwrite:
            raise ParameterError("overwrite", f"{out} exists; pass {{param}} to replace it")
        if out.is_dir() and not (out / MANIFEST).exists() and any(out.iterdir()):
            raise SavsrError(f"{out} is a non-empty folder that is not a savsr dataset; refusing to replace it")
    opened = [FrameSource(s, decoder) for s in sources]  # fail on a bad source before writing anything
    staging = out.with_name(f".{out.name}.part")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "scenes").mkdir(parents=True)
    scenes: list[SceneEntry] = []
    try:
        for source in opened:
            base = _slug(source.path.stem if source.path.is_file() else source.path.name)
            total = source.info.num_frames
            writer: _SceneWriter | None = None
            n_scenes = 0
            bar = tqdm(total=total, desc=base, unit="frame", disable=not progress, leave=False)
            for index, (cut, frame) in enumerate(split_scenes(map(to_uint8, source), scene_threshold)):
                frame = _downscale(frame, downscale)
                if writer is None or cut:
                    if writer is not None:
                        scenes.append(writer.finish())
                    name = f"{base}_{n_scenes:03d}"
                    while any(s.name == name for s in scenes):  # two sources with the same name
                        name += "_"
                    n_scenes += 1
                    writer = _SceneWriter(staging, name, str(source.path), index)
                writer.add(frame)
                bar.update(1)
            bar.close()
            if writer is not None:
                scenes.append(writer.finish())
        manifest = {
            "format": "savsr-dataset",
            "version": FORMAT_VERSION,
            "downscale": downscale,
            "scene_threshold": scene_threshold,
            "sources": [str(s) for s in sources],
            "scenes": [asdict(s) for s in scenes],
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except OSError as exc:
        raise_if_disk_full(exc, out)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return scenes


def load_manifest(root: str | Path) -> list[SceneEntry]:
    """Scenes of a dataset folder made by :func:`prepare_dataset`."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise SavsrError(f"{root}: not a savsr dataset (no {MANIFEST}; make one with `savsr prepare`)")
    try:
        data = json.loads(path.read_text())
        if data.get("format") != "savsr-dataset" or data.get("version") != FORMAT_VERSION:
            raise SavsrError(f"{path}: unsupported dataset format {data.get('format')} v{data.get('version')}")
        return [SceneEntry(**s) for s in data["scenes"]]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SavsrError(f"{path}: corrupt manifest ({exc})") from None
