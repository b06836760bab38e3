"""Safe output files: nothing half-written ever appears under its final name."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ParameterError, SavsrError

# A full disk, a file-size limit (EFBIG, as under `ulimit -f`) or a quota: the environment, not a bug.
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def check_writable(path: Path, overwrite: bool) -> None:
    """Refuse to replace an existing file unless ``overwrite``; require its folder to exist."""
    if path.exists() and not overwrite:
        raise ParameterError("overwrite", f"{path} exists; pass {{param}} to replace it")
    if path.is_dir():
        raise SavsrError(f"{path} is a folder, expected a file name")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was; a full disk
    becomes a SavsrError naming ``path``. The temporary name keeps the suffix, so writers that
    pick a format by extension still work.
    """
    final = Path(path)
    check_writable(final, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".part{final.suffix}", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except OSError as exc:
        raise_if_disk_full(exc, final)
        raise
    finally:
        tmp.unlink(missing_ok=True)


def raise_if_disk_full(exc: OSError, path: Path) -> None:
    """Turn a full-disk error met while writing ``path`` into a one-line SavsrError."""
    if exc.errno in DISK_FULL:
        raise SavsrError(f"{path}: not written: {exc.strerror} (the disk or a file-size limit is full)") from None


@contextlib.contextmanager
def staged_output(dst: Path, kind: str) -> Iterator[Path]:
    """A temporary path beside ``dst`` (a folder, made, if ``kind`` is "folder") that replaces
    ``dst`` only if the block succeeds; on failure it is removed and ``dst`` is left as it was."""
    tmp = dst.with_name(f".{dst.stem}.part{dst.suffix}")
    shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
    if kind == "folder":
        tmp.mkdir(parents=True)
    try:
        yield tmp
        if dst.is_dir():
            old = dst.with_name(f".{dst.name}.old")
            os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dst)
    except OSError as exc:
        raise_if_disk_full(exc, dst)
        raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
