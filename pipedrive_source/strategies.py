"""How each sync strategy walks the API: generators that yield the tables of one entity and keep its
position in the dlt resource state (see ``source.py`` for the incremental model).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from .context import SyncContext
from .deletes import ReconcileAborted, reconcile, reconcile_due
from .entities import Entity
from .errors import DailyBudgetExhausted
from .pagination import Page, iter_concurrent, split_time_range
from .rows import format_v1_timestamp, parse_timestamp
from .transform import PageTransformer

log = logging.getLogger("pipedrive_source.source")


# --------------------------------------------------------------------------------------------
# generators per strategy


def _backfill_slices(entity: Entity, ctx: SyncContext, until: datetime) -> list[tuple[str | None, str]]:
    """Time slices for a first (backfill) window, so one entity's history downloads in parallel.

    The lower bound is estimated from the ``add_time`` of the lowest id (one page of 1 record);
    slice 0 is open-ended below, so a record older than the estimate is still read — the
    estimate only affects balance, never completeness.
    """
    n = ctx.options.max_workers * 2
    if n < 2:
        return [(None, format_v1_timestamp(until))]
    probe = next(iter(ctx.client.iter_cursor(f"{entity.path}/collection", {"until": until}, limit=1)), None)
    first = probe.items[0] if probe and probe.items else None
    low = _record_time({"update_time": first.get("add_time")}) if first else None
    if low is None or low >= until:
        return [(None, format_v1_timestamp(until))]
    bounds = split_time_range(low, until, n)
    out: list[tuple[str | None, str]] = []
    for i, (start, end) in enumerate(bounds):
        out.append((None if i == 0 else format_v1_timestamp(start), format_v1_timestamp(end)))
    return out


def _new_window(entity: Entity, ctx: SyncContext, state: dict[str, Any]) -> dict[str, Any]:
    opts = ctx.options
    last_until = state.get("last_until")
    since = parse_timestamp(last_until) - timedelta(seconds=opts.overlap_seconds) if last_until else opts.start_date
    until = ctx.window_end()
    streams: dict[str, Any] = {}
    if since is None:
        for i, (s_since, s_until) in enumerate(_backfill_slices(entity, ctx, until)):
            streams[f"live:{i}"] = {"since": s_since, "until": s_until, "cursor": None, "skip": 0}
    else:
        streams["live"] = {"since": format_v1_timestamp(since), "until": format_v1_timestamp(until),
                           "cursor": None, "skip": 0}
    if entity.has_deleted_status:
        streams["deleted"] = {"since": format_v1_timestamp(since) if since else None,
                              "until": format_v1_timestamp(until), "cursor": None, "skip": 0}
    return {"until": format_v1_timestamp(until), "streams": streams}


def _collection_pages(entity: Entity, ctx: SyncContext, state: dict[str, Any],
                      xf: PageTransformer) -> Iterator[Any]:
    """Cursor entity: the window over /collection as one or more streams (time slices, deleted deals).

    Streams run concurrently under the client's shared limiter; each stream's position (cursor,
    and how many parents of the current page already have their children) is saved after every
    page it contributes, so a stopped run resumes exactly there.
    """
    pending = state.get("pending")
    if pending is None:
        pending = state["pending"] = _new_window(entity, ctx, state)
    keys = [k for k, pos in pending["streams"].items() if pos != "done"]

    def stream(key: str) -> Callable[[], Iterator[Page]]:
        pos = pending["streams"][key]
        params: dict[str, Any] = {k: v for k, v in entity.params.items() if k != "user_id"}
        if pos["since"]:
            params["since"] = pos["since"]
        params["until"] = pos["until"]
        if key == "deleted":
            params["status"] = "deleted"
        if pos["cursor"]:
            params["cursor"] = pos["cursor"]
        return lambda: ctx.client.iter_cursor(f"{entity.path}/collection", params, decode=xf.offload)

    with ctx.using_parse_workers():
        yield from consume_streams(ctx, state, pending, keys, [stream(k) for k in keys], xf)


def consume_streams(ctx: SyncContext, state: dict[str, Any], pending: dict[str, Any], keys: list[str],
                    streams: list[Callable[[], Iterator[Page]]], xf: PageTransformer) -> Iterator[Any]:
    """Pages of a window's streams, concurrently; each stream's position saved after every page it
    contributes (cursor, and parents of the current page whose children are done), so a stopped
    run resumes exactly there. Completes the window (``last_until``) when every stream is done.

    At a checkpoint the streams stop *fetching* and every page already fetched is still processed,
    so the next round re-reads nothing.
    """
    guarded = [_until_checkpoint(ctx, make) for make in streams]
    for index, page in iter_concurrent(guarded, ctx.options.max_workers):
        key = keys[index]
        pos = pending["streams"][key]
        tables, rows = xf.transform_rows(page.items) if page.prepared is None else xf.adopt(page.prepared)
        yield from tables
        for done, child_tables in xf.children_chunks(rows, int(pos.get("skip") or 0)):
            yield from child_tables
            pos["skip"] = done
        pos["skip"] = 0
        if page.next:
            pos["cursor"] = page.next
        else:
            pending["streams"][key] = "done"
    if all(pos == "done" for pos in pending["streams"].values()):
        state["last_until"] = pending["until"]
        state.pop("pending", None)


def _until_checkpoint(ctx: SyncContext, make: Callable[[], Iterator[Page]]) -> Callable[[], Iterator[Page]]:
    """A stream that stops asking for pages once the round's checkpoint is due."""

    def run() -> Iterator[Page]:
        if ctx.paused:
            return
        for page in make():
            yield page
            if ctx.checkpoint_due():
                return

    return run


def _fallback_pages(entity: Entity, ctx: SyncContext, state: dict[str, Any], xf: PageTransformer) -> Iterator[Any]:
    """Non-admin token: the offset list, newest first, down to the previous high-water mark."""
    opts = ctx.options
    last_until = state.get("last_until")
    since = parse_timestamp(last_until) - timedelta(seconds=opts.overlap_seconds) if last_until else opts.start_date
    until = ctx.window_end()
    params: dict[str, Any] = dict(entity.params)
    sortable = entity.name != "activities"  # v1 /activities has no sort parameter
    if sortable:
        params["sort"] = "update_time DESC"
    statuses = [None, "deleted"] if entity.has_deleted_status else [None]
    for status in statuses:
        if status:
            params["status"] = status
        for page in ctx.client.iter_offset(entity.path, params):
            keep = page.items
            stop = False
            if since is not None:
                keep = []
                for rec in page.items:
                    ut = _record_time(rec)
                    if ut is None or ut >= since:
                        keep.append(rec)
                    elif sortable:
                        stop = True
            yield from xf.transform(keep)
            if stop:
                break
    state["last_until"] = format_v1_timestamp(until)
    state.pop("pending", None)


def _record_time(rec: dict[str, Any]) -> datetime | None:
    try:
        return parse_timestamp(rec.get("update_time"))
    except ValueError:
        return None


def _desc_pages(entity: Entity, ctx: SyncContext, state: dict[str, Any], xf: PageTransformer) -> Iterator[Any]:
    """Offset list sorted update_time DESC, stopping below the last run's high-water mark."""
    hw = state.get("high_water")
    floor = parse_timestamp(hw) - timedelta(seconds=ctx.options.overlap_seconds) if hw else ctx.options.start_date
    newest: datetime | None = parse_timestamp(hw) if hw else None
    params = dict(entity.params)
    params["sort"] = "update_time DESC"
    for page in ctx.client.iter_offset(entity.path, params, limit=entity.max_limit):
        keep = []
        stop = False
        for rec in page.items:
            ut = _record_time(rec)
            if ut is not None and (newest is None or ut > newest):
                newest = ut
            if floor is not None and ut is not None and ut < floor:
                stop = True
                continue
            keep.append(rec)
        yield from xf.transform(keep)
        if stop:
            break
    if newest is not None:
        state["high_water"] = format_v1_timestamp(newest)


def _full_pages(entity: Entity, ctx: SyncContext, state: dict[str, Any], xf: PageTransformer) -> Iterator[Any]:
    client = ctx.client
    if entity.paging == "none":
        env = client.get(entity.path, dict(entity.params) or None)
        data = env.get("data")
        if entity.data_key and isinstance(data, dict):
            data = data.get(entity.data_key)
        items = data if isinstance(data, list) else ([data] if isinstance(data, dict) else [])
        yield from xf.transform(items)
        return
    pages = (
        client.iter_cursor(entity.path, dict(entity.params) or None)
        if entity.paging == "v1_cursor"
        else client.iter_offset(entity.path, dict(entity.params) or None, limit=entity.max_limit)
    )
    for page in pages:
        yield from xf.transform(page.items)


SCAN_COST = {"collection": 10, "offset": 20}  # tokens per page of the id scan (token_costs.tsv)


def _scan_ids(entity: Entity, ctx: SyncContext, pages: list[int]) -> Iterator[Any]:
    """Every id the API has for the entity, through the cheapest list it offers."""
    if entity.strategy == "collection":
        source = ctx.client.iter_cursor(f"{entity.path}/collection", None)
    else:
        params = dict(entity.params)
        source = ctx.client.iter_offset(entity.path, params or None, limit=entity.max_limit)
    for page in source:
        pages[0] += 1
        for rec in page.items:
            if rec.get("id") is not None:
                yield rec["id"]


def _reconcile_pages(entity: Entity, ctx: SyncContext, state: dict[str, Any], xf: PageTransformer,
                     known_ids: set[Any] | None,
                     scan: Callable[[Entity, SyncContext, list[int]], Iterator[Any]] | None = None) -> Iterator[Any]:
    """Id reconciliation: vanished (deleted or merged-away) records become soft/hard deletes.

    The full scan completes before anything is compared (``deletes.reconcile``); a failed scan
    changes nothing and is retried on the next run. ``known_ids``: a listing of this run already
    saw every id (free scan); ``scan``: another id scan (v2), counting its pages like ``_scan_ids``.
    """
    scan = scan or _scan_ids
    now = ctx.window_end()
    last = state.get("reconciled_at")
    if known_ids is None and not reconcile_due(parse_timestamp(last) if last else None, ctx.options.reconcile, now):
        return
    pages = [0]
    try:
        engine, schema = ctx.destination_engine()
        result = reconcile(
            (lambda: known_ids) if known_ids is not None else (lambda: scan(entity, ctx, pages)),
            lambda: engine,
            schema,
            entity.name,
            mode=ctx.options.deletes,
            now=now,
        )
    except DailyBudgetExhausted:
        raise
    except ReconcileAborted as exc:
        log.warning("%s: reconciliation skipped: %s", entity.name, exc)
        return
    except Exception as exc:  # noqa: BLE001 - a failed scan must never delete; the sync itself goes on
        log.warning("%s: reconciliation failed (%s: %s); nothing was marked deleted, it runs again next time",
                    entity.name, type(exc).__name__, exc)
        return
    cost = pages[0] * SCAN_COST["collection" if entity.strategy == "collection" else "offset"]
    ctx.record_reconcile(entity.name, {**result.counts(), "pages": pages[0], "tokens": cost})
    log.info("%s: reconciliation scanned %d ids in %d pages (~%d tokens), %d vanished", entity.name,
             result.scanned, pages[0], cost, result.vanished)
    if result.rows:
        yield from xf.emit_rows(result.rows)
        if ctx.options.deletes == "hard":
            yield from xf.tombstone_children(result.vanished_ids)
    state["reconciled_at"] = format_v1_timestamp(now)
