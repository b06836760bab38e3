"""The server process's C heap: fewer glibc malloc arenas, and freed pages given back.

A server runs for days, and its threads (uploads probed in a thread pool, the worker's jobs,
FFmpeg's decoders) each allocate from a glibc arena of their own, up to eight per core; pages
freed in one arena stay mapped and are not reused by another, so the resident memory climbs to
the sum of every arena's busiest moment. Measured with tests/test_serve_load.py (20 concurrent
47 MB uploads): docs/serve.md. Where the C library is not glibc both calls do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h
ARENAS = 2  # enough for the event loop's thread and the worker's not to contend


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


_LIBC = _libc()


def limit_arenas(arenas: int = ARENAS) -> None:
    """Cap glibc's malloc arenas for the threads started from now on (mallopt M_ARENA_MAX)."""
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, arenas)


def release_memory() -> None:
    """Give the free pages of every arena back to the system (glibc's malloc_trim)."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)
