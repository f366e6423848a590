"""Hand freed heap memory back to the OS during a long extract (glibc's ``malloc_trim``).

Why: with parse workers, pages are received and unpickled in the stream threads and freed in dlt's
threads; glibc keeps the freed chunks in its per-thread arenas, and the sync's RSS grew with the size
of the company (measured with ``bench_raw_speed.py``, extract peak at 50k → 200k deals: 0.96 → 1.44 GB;
parsing in the sync process 0.70 → 0.84 GB; with ``MALLOC_ARENA_MAX=1`` 0.89 → 1.01 GB). Dask documents
the same remedy for the same symptom. A no-op where the C library has no ``malloc_trim`` (musl, macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Return free heap pages of every arena to the OS; False where that is not available."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
