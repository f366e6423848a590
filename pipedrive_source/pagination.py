"""Page iterators over Pipedrive list endpoints, plus helpers to page several streams in parallel.

Three paging kinds (FACTS.md "Envelopes and pagination", 002_*.txt):
- v1 offset lists: ``start``/``limit``; ``additional_data.pagination.{more_items_in_collection,next_start}``;
- v1 ``/collection``: ``cursor``/``limit`` (``since``/``until`` pass through); ``additional_data.next_cursor``;
- v2 lists: ``cursor``/``limit``; ``additional_data.next_cursor``.
``data: null`` is an empty page. Limits are capped per endpoint (``/callLogs`` 50, ``/files`` 100, else 500).
Whole pages are yielded (``Page``), never single rows. The iterators take a ``get`` callable so they hold no
HTTP state of their own; ``PipedriveClient.iter_*`` binds it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pipedrive_source.envelope import PREPARED_KEY
from pipedrive_source.errors import PipedriveError

logger = logging.getLogger("pipedrive_source.pagination")

MAX_LIMIT = 500
# endpoints (last literal path segment) with a lower page-size cap
ENDPOINT_MAX_LIMITS = {"callLogs": 50, "files": 100}


class GetFn(Protocol):
    def __call__(self, path: str, params: Mapping[str, Any] | None = None, *, version: str = "v1") -> dict: ...


@dataclass
class Page:
    """One page of a list endpoint."""

    items: list[dict]  # ``data``, or [] when ``data`` is null
    additional_data: dict | None
    related_objects: dict | None
    next: str | int | None  # next cursor / next_start; None on the last page
    prepared: Any = None  # the page already transformed by a parse worker (``items`` is then empty)


def max_limit_for(path: str) -> int:
    """Largest page size the endpoint accepts."""
    literal = [s for s in path.split("?", 1)[0].split("/") if s and not s.isdigit()]
    for seg in reversed(literal):
        if seg in ENDPOINT_MAX_LIMITS:
            return ENDPOINT_MAX_LIMITS[seg]
    return MAX_LIMIT


def _page_from(envelope: dict, path: str, next_value: str | int | None) -> Page:
    data = envelope.get("data")
    if data is None:
        items: list[dict] = []
    elif isinstance(data, list):
        items = data
    else:
        raise PipedriveError(f"expected a list in 'data', got {type(data).__name__}", method="GET", path=path)
    return Page(items, envelope.get("additional_data"), envelope.get("related_objects"), next_value,
                envelope.get(PREPARED_KEY))


def _check_success(envelope: dict, path: str) -> None:
    if envelope.get("success") is False:
        raise PipedriveError("answer has success=false", method="GET", path=path,
                             error=envelope.get("error"), error_info=envelope.get("error_info"))


def iter_offset(get: GetFn, path: str, params: Mapping[str, Any] | None = None, *, limit: int = MAX_LIMIT,
                version: str = "v1", start: int = 0) -> Iterator[Page]:
    """Page an offset list (``start``/``limit``) until ``more_items_in_collection`` is false."""
    size = max(1, min(limit, max_limit_for(path)))
    base = {k: v for k, v in (params or {}).items() if k not in ("start", "limit")}
    while True:
        envelope = get(path, {**base, "start": start, "limit": size}, version=version)
        _check_success(envelope, path)
        pagination = (envelope.get("additional_data") or {}).get("pagination") or {}
        nxt: int | None = None
        if pagination.get("more_items_in_collection"):
            nxt = pagination.get("next_start")
            if nxt is None:
                nxt = start + size
            if int(nxt) <= start:
                raise PipedriveError(f"offset paging did not advance (start {start}, next_start {nxt})",
                                     method="GET", path=path)
            nxt = int(nxt)
        page = _page_from(envelope, path, nxt)
        yield page
        if nxt is None:
            return
        start = nxt


def _iter_cursor(get: GetFn, path: str, params: Mapping[str, Any] | None, limit: int, version: str,
                 cursor: str | None) -> Iterator[Page]:
    size = max(1, min(limit, max_limit_for(path)))
    cursor = cursor or (params or {}).get("cursor") or None  # a resumed stream starts at its saved cursor
    base = {k: v for k, v in (params or {}).items() if k not in ("cursor", "limit")}
    seen: set[str] = set()
    while True:
        query = {**base, "limit": size}
        if cursor:
            query["cursor"] = cursor
        envelope = get(path, query, version=version)
        _check_success(envelope, path)
        nxt = (envelope.get("additional_data") or {}).get("next_cursor") or None
        if nxt is not None:
            if nxt in seen or nxt == cursor:
                raise PipedriveError("cursor paging returned a cursor it had already returned",
                                     method="GET", path=path)
            seen.add(nxt)
        yield _page_from(envelope, path, nxt)
        if nxt is None:
            return
        cursor = nxt


def iter_cursor(get: GetFn, path: str, params: Mapping[str, Any] | None = None, *, limit: int = MAX_LIMIT,
                cursor: str | None = None) -> Iterator[Page]:
    """Page a v1 ``/collection`` endpoint; ``since``/``until``/``status`` in ``params`` pass through."""
    return _iter_cursor(get, path, params, limit, "v1", cursor)


def iter_v2_cursor(get: GetFn, path: str, params: Mapping[str, Any] | None = None, *, limit: int = MAX_LIMIT,
                   cursor: str | None = None) -> Iterator[Page]:
    """Page a v2 list endpoint (``/api/v2/...``) by ``cursor``."""
    return _iter_cursor(get, path, params, limit, "v2", cursor)


# ---- parallel helpers ---------------------------------------------------------------------------------

def split_time_range(since: datetime, until: datetime, n: int, *, inclusive: bool = True,
                     resolution: timedelta = timedelta(seconds=1)) -> list[tuple[datetime, datetime]]:
    """Split [since, until] into ``n`` adjacent, non-overlapping slices (fewer if the range is too short).

    ``inclusive=True`` (v1 ``/collection``: ``since`` and ``until`` both inclusive, second precision): slice
    i ends one ``resolution`` before slice i+1 starts, so a record stamped on a boundary is fetched once.
    ``inclusive=False`` (v2 ``updated_until`` exclusive): slice i ends where slice i+1 starts.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since/until must be timezone-aware (UTC)")
    if until < since:
        raise ValueError(f"until ({until}) is before since ({since})")
    points = int((until - since) / resolution) + (1 if inclusive else 0)  # distinct slice starts available
    n = max(1, min(n, points))
    bounds = [since + resolution * (points * i // n) for i in range(n)]
    slices = []
    for i, start in enumerate(bounds):
        if i + 1 < n:
            end = bounds[i + 1] - resolution if inclusive else bounds[i + 1]
        else:
            end = until
        slices.append((start.astimezone(UTC), end.astimezone(UTC)))
    return slices


def format_v1_time(dt: datetime) -> str:
    """UTC ``YYYY-MM-DD HH:MM:SS``, the format v1 ``since``/``until`` take."""
    if dt.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


_DONE = object()


def iter_concurrent(streams: Sequence[Callable[[], Iterable[Page]]], max_workers: int = 4, *,
                    ordered: bool = False, buffer: int | None = None) -> Iterator[tuple[int, Page]]:
    """Run several page streams on a thread pool and yield ``(stream_index, page)``.

    Pages of one stream always come in that stream's order. ``ordered=False`` yields pages as they arrive
    (bounded buffer, low memory); ``ordered=True`` yields stream 0 entirely, then stream 1, ... (later
    streams are fetched ahead and buffered). The first error of any stream stops the others and is raised.
    Closing the generator early stops the workers.
    """
    if not streams:
        return
    n = len(streams)
    stop = threading.Event()
    out: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=0 if ordered else (buffer or max(2, 2 * max_workers)))

    def put(item: tuple[int, Any]) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(index: int) -> None:
        try:
            for page in streams[index]():
                if stop.is_set() or not put((index, page)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            put((index, exc))
            return
        put((index, _DONE))

    pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, n)), thread_name_prefix="pipedrive-page")
    try:
        for i in range(n):
            pool.submit(run, i)
        done = 0
        pending: dict[int, list[Page]] = {i: [] for i in range(n)}
        finished: set[int] = set()
        current = 0
        while done < n:
            index, item = out.get()
            if isinstance(item, BaseException):
                raise item
            if item is _DONE:
                done += 1
                finished.add(index)
            elif not ordered:
                yield index, item
                continue
            else:
                pending[index].append(item)
            if ordered:
                while current < n:
                    for page in pending[current]:
                        yield current, page
                    pending[current] = []
                    if current in finished:
                        current += 1
                    else:
                        break
    finally:
        stop.set()
        while True:  # unblock workers waiting on a full queue
            try:
                out.get_nowait()
            except queue.Empty:
                break
        pool.shutdown(wait=True, cancel_futures=True)
