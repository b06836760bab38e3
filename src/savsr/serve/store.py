"""The job list, kept in SQLite (WAL) in the data folder, so that it outlives the server."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

# A job's status: queued -> running -> done | failed | cancelled. A running job whose server was
# killed is queued again at the next start, and its resumable work folder makes it continue
# where it stopped. A running job being deleted is "deleting" until it stops (or, after a kill,
# until the next start), then its row and folder are removed.
FINISHED = ("done", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,          -- the uploaded file's sanitised name
    src TEXT NOT NULL,           -- input and output, relative to the data folder
    dst TEXT NOT NULL,
    kind TEXT NOT NULL,          -- video or image
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    model TEXT NOT NULL,
    scale INTEGER NOT NULL,
    precision TEXT NOT NULL,
    frames TEXT NOT NULL,        -- the range A:B as given, '' for all
    start INTEGER NOT NULL,      -- first frame computed
    total INTEGER,               -- frames to compute; NULL where the container does not say
    status TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    fps REAL,
    message TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL
)
"""


class JobStore:
    """Jobs as rows of one SQLite table; safe to share between the web server's and the worker's threads."""

    def __init__(self, path: Path) -> None:
        # One connection behind a lock: the writes are few and small, and WAL with synchronous=NORMAL
        # keeps every committed write through a SIGKILL of the server.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA secure_delete=ON")  # a deleted job's name is overwritten, not left in free pages
            self._db.execute(_SCHEMA)

    def add(self, job: dict) -> None:
        """Insert a new job (a dict of the table's columns, without the times)."""
        now = time.time()
        row = {**job, "created": now, "updated": now}
        names = ", ".join(row)
        with self._lock:
            self._db.execute(f"INSERT INTO jobs ({names}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row) if row else None

    def all(self) -> list[dict]:
        """Every job, oldest first."""
        with self._lock:
            return [dict(r) for r in self._db.execute("SELECT * FROM jobs ORDER BY created, id")]

    def update(self, job_id: str, only_if: tuple[str, ...] = (), **fields) -> bool:
        """Set ``fields`` of a job (only while its status is one of ``only_if``, when given);
        whether a row changed."""
        fields["updated"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in fields)
        where, args = "id = ?", [*fields.values(), job_id]
        if only_if:
            where += f" AND status IN ({', '.join('?' * len(only_if))})"
            args += list(only_if)
        with self._lock:
            return self._db.execute(f"UPDATE jobs SET {sets} WHERE {where}", args).rowcount > 0

    def next_queued(self) -> dict | None:
        """The oldest queued job, now marked running; None when none waits."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY created, id LIMIT 1").fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE jobs SET status = 'running', fps = NULL, updated = ? WHERE id = ?",
                             (time.time(), row["id"]))
        return {**dict(row), "status": "running"}

    def requeue_running(self) -> int:
        """Queue again the jobs a killed server left running; how many."""
        with self._lock:
            return self._db.execute("UPDATE jobs SET status = 'queued', updated = ? WHERE status = 'running'",
                                    (time.time(),)).rowcount

    def ids(self, statuses: tuple[str, ...], before: float | None = None) -> list[str]:
        """The jobs whose status is one of ``statuses`` (last changed before ``before``, when given), oldest first."""
        where = f"status IN ({', '.join('?' * len(statuses))})" + (" AND updated < ?" if before is not None else "")
        args = [*statuses, *([before] if before is not None else [])]
        with self._lock:
            return [r["id"] for r in self._db.execute(f"SELECT id FROM jobs WHERE {where} ORDER BY created, id", args)]

    def remove(self, job_id: str) -> None:
        """Delete a job's row, and the old copies of its pages in the write-ahead log."""
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self._db.close()
