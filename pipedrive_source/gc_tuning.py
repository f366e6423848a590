"""Cyclic-GC thresholds while pages are being parsed in bulk.

Why: a 500-record page parses into ~40k dicts and strings that all live until the page is Arrow;
with CPython's default young-generation threshold (700 allocations) the collector scans them again
and again as they are promoted — 12-15 % of a backfill's CPU (``bench_backfill_ceiling``, 50k deals).
A higher threshold keeps cycles collected (memory stays flat: cycles are still found, just in
larger batches) at a fraction of the cost. Applied while any resource of a source is extracting
(also under Airflow/Dagster, which do not go through ``run_sync``); the previous thresholds return
when the last one finishes. A process that disabled the collector or set higher thresholds is left alone.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLDS = (20_000, 10, 10)

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def bulk_parsing_gc() -> Iterator[None]:
    global _active, _saved
    with _lock:
        if _active == 0:
            current = gc.get_threshold()
            if gc.isenabled() and current[0] < BULK_THRESHOLDS[0]:
                _saved = current
                gc.set_threshold(*BULK_THRESHOLDS)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
