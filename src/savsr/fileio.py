"""Safe output files: nothing half-written ever appears under its final name."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import tempfile
import threading
import time
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


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (os.umask can only be
    read by setting it, which would hand other threads' new files a wrong mask meanwhile)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was; a full disk
    becomes a SavsrError naming ``path``. The temporary name keeps the suffix, so writers that
    pick a format by extension still work. The file gets the permissions the umask gives a new
    file, as if it had been opened under its final name.
    """
    final = Path(path)
    check_writable(final, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".part{final.suffix}", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file 0600; the output gets the mode any new file of the user's gets.
    os.chmod(tmp, 0o666 & ~current_umask())
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


def publish(tmp: Path, dst: Path, overwrite: bool) -> None:
    """Rename the finished ``tmp`` to ``dst``. Without ``overwrite`` a ``dst`` that appeared in the
    meantime (another run's output) is never replaced: a file is linked into place, which fails if
    the name is taken, and a folder is renamed only onto a free name."""
    try:
        if overwrite:
            if dst.is_dir() and tmp.is_dir():
                old = dst.with_name(f".{dst.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(dst, old)
                os.replace(tmp, dst)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, dst)
            return
        if tmp.is_dir():
            if dst.exists():
                raise FileExistsError(errno.EEXIST, "exists")
            os.rename(tmp, dst)
        else:
            os.link(tmp, dst)
            tmp.unlink()
    except FileExistsError:
        raise ParameterError("overwrite", f"{dst} appeared while this run was writing it; pass {{param}} to replace it, "
                             f"or take the finished result from {tmp}") from None
    except OSError as exc:
        raise_if_disk_full(exc, dst)
        raise


class Lock:
    """An exclusive claim on a folder's work by one process, as a file that names its owner.

    The file is made with O_EXCL. A lock whose process is gone (same host, pid not running) or
    whose heartbeat stopped (another host: its mtime, refreshed every ``HEARTBEAT`` seconds, is
    older than ``STALE``) is stale and is taken over; taking over renames the stale file away
    first, so that of two runs taking it over at once, one wins.
    """

    HEARTBEAT = 60.0
    STALE = 600.0

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what
        self._stop: threading.Event | None = None

    def _owner(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def _is_stale(self, owner: dict | None) -> bool:
        if owner is None:  # unreadable: a run killed while writing it, or garbage
            try:
                return time.time() - self.path.stat().st_mtime > 5.0
            except OSError:
                return True
        if owner.get("host") == socket.gethostname():
            pid = int(owner.get("pid", 0))
            if pid == os.getpid():
                return False
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return _is_zombie(pid)
        try:
            return time.time() - self.path.stat().st_mtime > self.STALE
        except OSError:
            return True

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock. A lock another host holds is waited for up to ``wait`` seconds: a retry
        after a lost node (Ray's, a requeued array task) then takes it over once it is ``STALE``
        rather than failing; a live owner on this host is refused at once."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        deadline = time.monotonic() + wait
        takeovers = 0
        while takeovers < 3:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                stale = self._is_stale(owner)
                foreign = owner is not None and owner.get("host") != socket.gethostname()
                if not stale and foreign and time.monotonic() < deadline:
                    time.sleep(min(self.HEARTBEAT / 4, max(deadline - time.monotonic(), 0.01)))
                    continue
                if not stale:
                    who = f"process {owner['pid']} on {owner['host']}" if owner else "another process"
                    raise SavsrError(f"{self.what} is being written by {who}; wait for it to finish, "
                                     f"or remove {self.path} if that run is gone") from None
                aside = self.path.with_name(f"{self.path.name}.stale.{os.getpid()}")
                takeovers += 1
                try:
                    os.rename(self.path, aside)  # only one of several runs taking it over succeeds
                except FileNotFoundError:
                    continue
                aside.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(body)
            self._start_heartbeat()
            return
        raise SavsrError(f"{self.what}: could not take the lock {self.path}")

    def _start_heartbeat(self) -> None:
        self._stop = threading.Event()

        def beat(stop: threading.Event) -> None:
            while not stop.wait(self.HEARTBEAT):
                with contextlib.suppress(OSError):
                    os.utime(self.path)

        threading.Thread(target=beat, args=(self._stop,), daemon=True).start()

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None
        owner = self._owner()
        if owner is not None and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _is_zombie(pid: int) -> bool:
    """A killed child not yet reaped still answers kill(pid, 0); its lock is stale all the same."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
