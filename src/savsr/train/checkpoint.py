"""Training checkpoints that survive crashes: atomic, checksummed, rotated.

A checkpoint is a folder ``checkpoints/step_00001234/`` holding:

- ``generator.safetensors``: the generator, loadable by ``savsr evaluate``/``upscale``;
- ``discriminator.safetensors`` (GAN stage);
- ``state.pt``: optimizers, schedulers, step, RNG states, sampler position, AMP scaler;
- ``checksums.json``: the sha256 of each file, written last.

The folder is assembled under a temporary name, each file fsynced, and renamed into place, so a
checkpoint either exists whole or not at all. ``latest()`` skips (and reports) any checkpoint
whose checksums do not match, so a truncated file never ends a run. Loading uses safetensors and
``torch.load(weights_only=True)``: no pickled code is ever run.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors

from ..errors import SavsrError
from ..fileio import raise_if_disk_full

log = logging.getLogger(__name__)
_NAME = re.compile(r"^step_(\d{8,})$")
LOWER_IS_BETTER = frozenset({"lpips_alex"})  # validation metrics that `checkpoints/best` minimises


def read_best(directory: Path, metric: str) -> tuple[int, float] | None:
    """(step, value of ``metric``) of ``directory/best.json``; None if there is none yet, or if it
    records another metric (a run resumed with a new ``run.best_metric``: its best starts again).

    best.json is ``{"step": 1234, "metric": "lpips_alex", "value": 0.1057}``. Runs made before that
    format stored ``{"step", "metric": score}`` with LPIPS negated ("higher is better"): read as such.
    """
    record = directory / "best.json"
    if not record.is_file():
        return None
    best = json.loads(record.read_text())
    if isinstance(best["metric"], str):
        if best["metric"] != metric:
            log.warning("%s records the best %s; selecting by %s from now on", record, best["metric"], metric)
            return None
        return int(best["step"]), float(best["value"])
    score = float(best["metric"])
    return int(best["step"]), -score if metric in LOWER_IS_BETTER else score


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def verify(folder: Path) -> str | None:
    """None if ``folder`` is a complete checkpoint whose files match their checksums, else why not."""
    sums_path = folder / "checksums.json"
    if not sums_path.is_file():
        return "no checksums.json"
    try:
        sums = json.loads(sums_path.read_text())
    except json.JSONDecodeError:
        return "corrupt checksums.json"
    for name, digest in sums.items():
        path = folder / name
        if not path.is_file():
            return f"{name} missing"
        if _sha256(path) != digest:
            return f"{name} does not match its checksum"
    return None


def _write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it. The bytes are made in memory and written by
    Python, so that a full disk raises an OSError with its errno (torch.save would report it
    as an opaque RuntimeError)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _write_folder(folder: Path, modules: dict[str, torch.nn.Module], state: dict[str, Any],
                  metadata: dict[str, str] | None) -> None:
    """Write the files of a checkpoint into the new ``folder``, checksums last."""
    folder.mkdir()
    files = {f"{name}.safetensors": save_safetensors(_tensors(module), metadata=metadata)
             for name, module in modules.items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    files["state.pt"] = buf.getvalue()
    for name, data in files.items():
        _write_file(folder / name, data)
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    _write_file(folder / "checksums.json", json.dumps(sums, indent=2).encode())


class CheckpointManager:
    """Writes, rotates and finds checkpoints under ``root/checkpoints`` (call on rank 0 only)."""

    def __init__(self, root: str | Path, keep_last: int = 3) -> None:
        self.dir = Path(root) / "checkpoints"
        self.keep_last = keep_last

    def folders(self) -> list[tuple[int, Path]]:
        """(step, folder) of every ``step_N`` checkpoint, oldest first (not verified)."""
        if not self.dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.dir.iterdir() if (m := _NAME.match(p.name)) and p.is_dir()]
        return sorted(found)

    def save(
        self,
        step: int,
        modules: dict[str, torch.nn.Module],
        state: dict[str, Any],
        metadata: dict[str, str] | None = None,
        best: tuple[str, float] | None = None,
    ) -> Path:
        """Write checkpoint ``step``; then keep the newest ``keep_last`` and, given ``best`` = (validation
        metric, its value at this step), the best checkpoint so far as ``best/`` (see :func:`read_best`)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        final = self.dir / f"step_{step:08d}"
        tmp = self.dir / f".step_{step:08d}.part"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _write_folder(tmp, modules, state, metadata)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)  # no half-written folder is left behind
            if isinstance(exc, OSError):
                raise_if_disk_full(exc, final)
            raise
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync(self.dir)
        if best is not None:
            self._update_best(final, step, *best)
        self._rotate()
        return final

    def _update_best(self, folder: Path, step: int, metric: str, value: float) -> None:
        record = self.dir / "best.json"
        best = read_best(self.dir, metric)
        sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
        if best is not None and sign * best[1] >= sign * value:
            return
        tmp = self.dir / ".best.part"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(folder, tmp)
        shutil.rmtree(self.dir / "best", ignore_errors=True)
        os.replace(tmp, self.dir / "best")
        part = self.dir / ".best.json.part"
        part.write_text(json.dumps({"step": step, "metric": metric, "value": value}))
        os.replace(part, record)

    def _rotate(self) -> None:
        folders = self.folders()
        for _, path in folders[: -self.keep_last]:
            shutil.rmtree(path, ignore_errors=True)

    def latest(self) -> Path | None:
        """The newest checkpoint that verifies; corrupt ones are reported and skipped."""
        for step, path in reversed(self.folders()):
            problem = verify(path)
            if problem is None:
                return path
            log.warning("skipping corrupt checkpoint %s: %s", path, problem)
        return None


def load_checkpoint(folder: str | Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """Module state dicts (by file stem) and the training state of a verified checkpoint."""
    folder = Path(folder)
    problem = verify(folder)
    if problem is not None:
        raise SavsrError(f"{folder}: not a usable checkpoint ({problem})")
    # The checksums match, but they can be recomputed by whoever altered the files: loading
    # still expects anything.
    try:
        modules = {p.stem: load_file(str(p)) for p in sorted(folder.glob("*.safetensors"))}
    except (SafetensorError, OSError) as exc:
        raise SavsrError(f"{folder}: corrupt weights ({str(exc).splitlines()[0]})") from None
    try:
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise SavsrError(f"{folder}/state.pt: refused to load ({str(exc).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise SavsrError(f"{folder}/state.pt: corrupt ({str(exc).splitlines()[0]})") from None
    return modules, state
