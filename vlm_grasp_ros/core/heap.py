"""Giving a dropped model's memory back to the OS (glibc only; elsewhere these do nothing).

glibc keeps freed memory mapped in per-thread arenas. A node that loads a model of a few
hundred MB, frees it at cleanup and loads it again crept up by ~20% in 20 cycles (the new
model lands beside the old, freed one in another arena). Fewer arenas and a trim after each
release keep it flat: `python benchmarks/lifecycle_memory.py`.
"""

from __future__ import annotations

import ctypes
import functools

# mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
#: Blocks this large always get their own mapping, returned to the OS when freed. glibc's
#: default threshold rises after the first large free (up to 32 MB), after which model-sized
#: buffers come from the heap and stay there: +29 MB in one step of 20 cycles without this.
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def limit_heap_arenas(arenas: int = 2) -> None:
    """At most ``arenas`` malloc arenas for this process, and large blocks always mapped on their
    own; call before threads start. A node has a handful of threads (executor, worker, DDS), so
    two arenas cost no measurable speed (benchmarks/soak.py, benchmarks/node_latency.py)."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, arenas)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def trim_heap() -> None:
    """Return the freed heap to the OS (after a model is dropped)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
