"""The dlt source: one resource per row of ``entities.ENTITIES``, all sharing one client.

Incremental model (dlt resource state, committed by dlt in the same load package as the rows):

- ``collection`` entities keep ``last_until``. A run reads ``since = last_until - overlap`` to
  ``until = server time - safety lag`` (fixed once per run, taken from the server's ``Date``
  header so a skewed local clock cannot open a gap). Both bounds are inclusive at the API, so a
  record on a boundary second is read twice at worst and the merge on ``id`` removes the copy.
  While a window is being read its position is kept in ``pending`` (window + cursor per stream),
  so an interrupted or budget-stopped run continues where it stopped.
- ``update_time_desc`` entities keep ``high_water``: the newest ``update_time`` of the last
  completed run; pages sorted ``update_time DESC`` are read until older than it minus overlap.
- ``full`` entities are read whole and merged.

dlt's own ``dlt.sources.incremental`` is not used for the cursor entities: the window is pushed to
the API (``since``/``until``), the resume point is an opaque API cursor, and two streams (live and
deleted deals) share one window — none of which ``incremental`` models. Merge de-duplication
(``dedup_sort`` on ``update_time``) replaces its boundary de-duplication.

Pages become Arrow tables (``rows.TableBuilder``); child tables are built here and replaced per
parent with a tombstone row (``_tombstone`` is dlt's ``hard_delete`` hint) followed by the current
children, so removed emails or products disappear too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import dlt
import pyarrow as pa
from sqlalchemy.pool import NullPool
from dlt.extract.resource import DltResource

from . import custom_fields as cf
from . import db
from .client import PipedriveClient
from .deletes import ReconcileAborted, reconcile, reconcile_due
from .entities import ENTITY_BY_NAME, ChildList, Entity, PerParentChild, resolve_entities
from .errors import DailyBudgetExhausted, PipedriveNotFoundError, PipedrivePermissionError
from .options import SyncOptions, build_options
from .pagination import Page, iter_concurrent, split_time_range
from .rows import TableBuilder, child_rows, collapse_reference, format_v1_timestamp, parse_timestamp

log = logging.getLogger(__name__)

MERGE: dict[str, str] = {"disposition": "merge", "strategy": "delete-insert"}
TOMBSTONE = "_tombstone"
CHILD_CHUNK = 50  # parents per batch of child calls (progress is saved after each batch)
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)

_local = threading.local()
_DLT_CONTEXT_LOCK = threading.Lock()


class _ArrowHintNoise(logging.Filter):
    """dlt warns on every Arrow page whose nullability differs from our hints; that is by design here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "when merging arrow schema with dlt schema" not in record.getMessage()


logging.getLogger("dlt").addFilter(_ArrowHintNoise())


class SyncContext:
    """What the resources of one source instance share: the client, the window end, the budget stop."""

    def __init__(self, options: SyncOptions) -> None:
        self.options = options
        self._client: PipedriveClient | None = None
        self._lock = threading.Lock()
        self._client_lock = threading.Lock()
        self._client_error: Exception | None = None
        self._window_lock = threading.Lock()
        self._until: datetime | None = None
        self.budget_error: DailyBudgetExhausted | None = None
        self.notes: list[str] = []
        self._pool: ThreadPoolExecutor | None = None
        self._field_maps: dict[str, dict[str, Any]] = {}
        self.reconciliation: dict[str, dict[str, int]] = {}
        self.markers: dict[str, int] = {}
        self.started = time.monotonic()
        self.paused = False  # a resource stopped at a checkpoint: the runner runs another round
        self._engine: tuple[Any, str] | None = None

    def destination_engine(self) -> tuple[Any, str]:
        """SQLAlchemy engine + schema of the destination being loaded, built once per run.

        dlt's config contexts are process-global: resolving destination credentials from several
        extract worker threads at once corrupts them (ContainerInjectableContextMangled), so this
        happens once, under a process-wide lock. ``dispose()`` by callers is fine: the engine reconnects.
        """
        with _DLT_CONTEXT_LOCK:
            if self._engine is None:
                pipeline = dlt.current.pipeline()
                # NullPool: no connection outlives its query, so dlt's loader can reopen a DuckDB file
                self._engine = (db.engine_for_pipeline(pipeline, poolclass=NullPool), db.dataset_schema(pipeline))
            return self._engine

    def checkpoint_due(self) -> bool:
        """True once this round has run ``checkpoint_seconds``: long backfills load in rounds so a
        killed process loses at most one round (dlt commits state only with a completed load)."""
        limit = self.options.checkpoint_seconds
        if limit <= 0 or time.monotonic() - self.started < limit:
            return False
        self.paused = True
        return True

    def count_markers(self, table: str, n: int) -> None:
        """Delete markers (tombstones) emitted, so reports count rows, not markers."""
        if n:
            with self._lock:
                self.markers[table] = self.markers.get(table, 0) + n

    def record_reconcile(self, entity: str, report: dict[str, int]) -> None:
        with self._lock:
            self.reconciliation[entity] = report

    def field_map(self, endpoint: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """One field map per metadata endpoint per run, so deals and leads name columns alike."""
        with self._lock:
            if endpoint not in self._field_maps:
                self._field_maps[endpoint] = compute()
            return self._field_maps[endpoint]

    @property
    def client(self) -> PipedriveClient:
        """The run's one client; its first use checks the credentials with one cheap call.

        Resources start in parallel: without this check a wrong token would earn one 401 per
        resource. Every thread waits for the check and re-raises its error without a request.
        """
        with self._client_lock:
            if self._client_error is not None:
                raise self._client_error
            if self._client is None:
                o = self.options
                oauth = None
                if o.oauth_refresh_token:
                    from .oauth import OAuthCredentials

                    oauth = OAuthCredentials(
                        client_id=o.oauth_client_id or "",
                        client_secret=o.oauth_client_secret or "",
                        refresh_token=o.oauth_refresh_token,
                        token_file=o.oauth_token_file,
                        **({"token_url": o.oauth_token_url} if o.oauth_token_url else {}),
                    )
                self._client = PipedriveClient(
                    base_url=o.base_url,
                    company_domain=o.company_domain,
                    api_token=o.api_token,
                    oauth=oauth,
                    plan=o.plan,
                    daily_reserve=o.daily_reserve,
                    max_workers=o.max_workers,
                )
                try:
                    self._client.get("/users/me")  # also tells the server's clock (Date header)
                except Exception as exc:
                    self._client_error = exc
                    raise
            return self._client

    def window_end(self) -> datetime:
        """``until`` for this run: the server's clock minus the safety lag, fixed on first use."""
        with self._window_lock:
            if self._until is None:
                client = self.client
                server_now = client.server_time()
                if server_now is None:
                    client.get("/users/me")  # cheapest call that tells the server's time (Date header)
                    server_now = client.server_time()
                now = server_now or datetime.now(timezone.utc)
                self._until = (now - timedelta(seconds=self.options.safety_lag_seconds)).replace(microsecond=0)
            return self._until

    def stop_for_budget(self, exc: DailyBudgetExhausted, entity: str) -> None:
        with self._lock:
            if self.budget_error is None:
                self.budget_error = exc
        log.warning("%s: stopped by the daily token budget (%s); loading what was fetched", entity, exc)

    @property
    def budget_stopped(self) -> bool:
        return self.budget_error is not None

    def map_parents(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """Run per-parent calls concurrently under the client's shared limiter, results in order."""
        if len(items) <= 1:
            return [fn(i) for i in items]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.options.max_workers, thread_name_prefix="pipedrive-children")
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        if self._engine is not None:
            self._engine[0].dispose()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._client is not None:
            self._client.close()


def last_context() -> SyncContext | None:
    """The context of the source most recently built in this thread (the runner reads its stats)."""
    return getattr(_local, "context", None)


# --------------------------------------------------------------------------------------------
# hints


def _entity_columns(entity: Entity, options: SyncOptions) -> dict[str, Any]:
    cols: dict[str, Any] = {
        "is_deleted": {"data_type": "bool", "nullable": True},
        "deleted_at": {"data_type": "timestamp", "nullable": True},
    }
    if options.deletes == "hard":
        cols["is_deleted"]["hard_delete"] = True
    if entity.cursor_field == "update_time":
        cols["update_time"] = {"data_type": "timestamp", "dedup_sort": "desc"}
    return cols


def _child_hints(table: str, parent_key: str) -> Any:
    return dlt.mark.make_hints(
        table_name=table,
        write_disposition=MERGE,
        primary_key="",  # variants start from the resource's hints: drop its primary key
        merge_key=parent_key,
        columns={TOMBSTONE: {"data_type": "bool", "hard_delete": True, "nullable": True}},
    )


def _fields_hints(table: str) -> Any:
    return dlt.mark.make_hints(table_name=table, write_disposition=MERGE, primary_key="key")


# --------------------------------------------------------------------------------------------
# page -> tables


class PageTransformer:
    """Turns API records of one entity into the entity table and its child tables (Arrow)."""

    def __init__(self, entity: Entity, ctx: SyncContext, state: dict[str, Any]) -> None:
        self.entity = entity
        self.ctx = ctx
        self.state = state
        self.types: dict[str, dict[str, str]] = state.setdefault("column_types", {})
        self.flattener: cf.FieldFlattener | None = None
        self.fields: list[dict[str, Any]] | None = None
        self._builders: dict[str, TableBuilder] = {}
        self.seen_ids: set[Any] = set()  # a full listing doubles as the reconciliation id scan
        self.parent_key = f"{entity.name[:-1]}_id" if entity.name.endswith("s") else f"{entity.name}_id"
        # column hints of the entity table live on a table variant, not on the resource: child-table
        # variants start from the resource's hints and must not inherit them
        self.main_hints = dlt.mark.make_hints(table_name=entity.name, columns=_entity_columns(entity, ctx.options))

    def builder(self, table: str, explicit: dict[str, str] | None = None, key: str = "id") -> TableBuilder:
        b = self._builders.get(table)
        if b is None:
            b = self._builders[table] = TableBuilder(table, self.types.setdefault(table, {}), explicit, key)
        return b

    # custom fields ------------------------------------------------------------------------
    def load_fields(self) -> list[Any]:
        """Fetch the entity's field metadata; returns metadata tables to yield (deal_fields...)."""
        e = self.entity
        if not e.fields_endpoint:
            return []
        fields: list[dict[str, Any]] = []
        for page in self.ctx.client.iter_offset(e.fields_endpoint):
            fields.extend(page.items)
        self.fields = fields
        return []

    def _ensure_flattener(self, first_record: dict[str, Any]) -> list[Any]:
        """Build the stable field map on the first page (system keys of a record are reserved)."""
        if self.fields is None or self.flattener is not None:
            return []
        mode = self.ctx.options.custom_fields
        maps = dlt.current.source_state().setdefault("field_maps", {})
        previous = maps.get(self.entity.fields_endpoint)
        custom_keys = {f["key"] for f in self.fields if cf.is_custom_field(f)}
        reserved = {f["key"] for f in self.fields if f.get("key") and f["key"] not in custom_keys}
        reserved |= {k for k in first_record if not _is_custom_key(k, custom_keys)}
        reserved |= {c for c, t in self.types.get(self.entity.name, {}).items() if not _is_custom_key(c, custom_keys)}
        reserved |= {"is_deleted", "deleted_at", "_pipedrive_api"}
        if previous:  # columns the previous map gave to custom fields are not system columns
            for entry in previous.get("fields", {}).values():
                reserved -= set((entry.get("columns") or {}).values())
        field_map = self.ctx.field_map(self.entity.fields_endpoint,
                                       lambda: cf.update_field_map(previous, self.fields, reserved))
        maps[self.entity.fields_endpoint] = field_map
        self.flattener = cf.FieldFlattener(self.fields, field_map, mode)
        self.builder(self.entity.name, self.flattener.column_types)
        out: list[Any] = []
        if self.entity.fields_table:
            field_rows, option_rows = cf.field_metadata_rows(self.fields, field_map)
            ft = self.entity.fields_table
            ot = ft.replace("_fields", "_field_options")
            tbl = self.builder(ft, key="key").to_arrow(field_rows)
            if tbl is not None:
                out.append(dlt.mark.with_hints(tbl, _fields_hints(ft), create_table_variant=True))
            stones = [{"field_key": r["key"], TOMBSTONE: True} for r in field_rows]
            out.extend(self._replaced(ot, "field_key", stones + option_rows))
        return out

    def finish(self) -> list[Any]:
        """Metadata tables even when no record changed (field renames still arrive)."""
        return self._ensure_flattener({})

    # records --------------------------------------------------------------------------------
    def transform(self, records: list[dict[str, Any]]) -> list[Any]:
        """Entity rows + child-list rows + per-parent children for one page, ready to yield."""
        out, rows = self.transform_rows(records)
        for _, tables in self.children_chunks(rows, 0):
            out.extend(tables)
        return out

    def transform_rows(self, records: list[dict[str, Any]]) -> tuple[list[Any], list[dict[str, Any]]]:
        """Entity rows + child-list rows (tables to yield) and the rows, for ``children_chunks``."""
        if not records:
            return [], []
        e = self.entity
        out = self._ensure_flattener(records[0])
        if self.flattener is not None:
            records = self.flattener.flatten_page(records)
        child_tables: dict[str, list[dict[str, Any]]] = {c.table: [] for c in e.child_lists}
        rows: list[dict[str, Any]] = []
        for rec in records:
            self.seen_ids.add(rec.get("id"))
            row: dict[str, Any] = {}
            for k, v in rec.items():
                row[k] = collapse_reference(v)
            for c in e.child_lists:
                items = row.pop(c.key, None)
                stone = {self.parent_key: row.get("id"), "_position": -1, TOMBSTONE: True}
                kids = child_rows(row.get("id"), items if isinstance(items, list) else None, self.parent_key)
                child_tables[c.table].append(stone)
                child_tables[c.table].extend(kids)
            if e.has_deleted_status:
                deleted = row.get("status") == "deleted"
                row["is_deleted"] = deleted
                row["deleted_at"] = row.get("update_time") if deleted else None
            else:
                row.setdefault("is_deleted", False)
                row.setdefault("deleted_at", None)
            rows.append(row)
        main = self.builder(e.name, self.flattener.column_types if self.flattener else None).to_arrow(rows)
        if main is not None:
            out.append(dlt.mark.with_hints(main, self.main_hints, create_table_variant=True))
        for c in e.child_lists:
            out.extend(self._child_table(c.table, child_tables[c.table]))
        return out, rows

    def emit_rows(self, rows: list[dict[str, Any]]) -> list[Any]:
        """Rows read back from the destination (reconciliation) in the entity table's types."""
        main = self.builder(self.entity.name).to_arrow(rows)
        return [] if main is None else [dlt.mark.with_hints(main, self.main_hints, create_table_variant=True)]

    def tombstone_children(self, parent_ids: Sequence[Any]) -> list[Any]:
        """Remove every child row of these parents (hard deletes)."""
        out: list[Any] = []
        tables = [(c.table, self.parent_key) for c in self.entity.child_lists]
        tables += [(ch.table, ch.parent_key) for ch in self.entity.children]
        for table, key in tables:
            stones = [{key: pid, TOMBSTONE: True} for pid in parent_ids]
            if table in {c.table for c in self.entity.child_lists}:
                for stone in stones:
                    stone["_position"] = -1
                out.extend(self._child_table(table, stones))
            else:
                out.extend(self._replaced(table, key, stones))
        return out

    def _child_table(self, table: str, rows: list[dict[str, Any]]) -> list[Any]:
        return self._replaced(table, self.parent_key, rows, {TOMBSTONE: "bool", "_position": "bigint"})

    def _replaced(self, table: str, key: str, rows: list[dict[str, Any]],
                  explicit: dict[str, str] | None = None) -> list[Any]:
        """A table replaced per ``key`` value: delete markers first, then the current rows."""
        tbl = self.builder(table, explicit or {TOMBSTONE: "bool"}, key=key).to_arrow(rows)
        if tbl is None:
            return []
        self.ctx.count_markers(table, sum(1 for r in rows if r.get(TOMBSTONE)))
        return [dlt.mark.with_hints(tbl, _child_hints(table, key), create_table_variant=True)]

    def children_chunks(self, rows: list[dict[str, Any]], skip: int) -> Iterator[tuple[int, list[Any]]]:
        """Per-parent children (products, participants, followers) of a page's parents, in chunks.

        Yields ``(parents_done, tables)`` so the caller can record progress after each chunk: one
        page's children can cost more tokens than a small daily budget, and a resumed run must
        not start the page's children over (``skip`` = parents already done).
        """
        if not self.entity.children or not self.ctx.options.children:
            return
        hard = self.ctx.options.deletes == "hard"
        parents = [r for r in rows if r.get("id") is not None]
        for start in range(skip, len(parents), CHILD_CHUNK):
            chunk = parents[start:start + CHILD_CHUNK]
            tables: list[Any] = []
            for child in self.entity.children:
                stones = [{child.parent_key: r["id"], TOMBSTONE: True} for r in chunk]
                wanted = [r["id"] for r in chunk if not (hard and r.get("is_deleted")) and _has_children(r, child)]
                results = self.ctx.map_parents(lambda pid, ch=child: self._fetch_children(ch, pid), wanted)
                kid_rows: list[dict[str, Any]] = list(stones)
                for pid, items in zip(wanted, results):
                    for item in items:
                        row = {k: collapse_reference(v) for k, v in item.items()}
                        row[child.parent_key] = pid
                        kid_rows.append(row)
                tables.extend(self._replaced(child.table, child.parent_key, kid_rows))
            yield start + len(chunk), tables

    def _fetch_children(self, child: PerParentChild, parent_id: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        try:
            for page in self.ctx.client.iter_offset(child.path.format(id=parent_id)):
                items.extend(page.items)
        except PipedriveNotFoundError:  # the parent vanished between its page and this call
            log.info("%s: parent %s is gone; no children", child.table, parent_id)
        return items


def _is_custom_key(key: str, custom_keys: set[str]) -> bool:
    return key in custom_keys or key[:40] in custom_keys


def _has_children(row: dict[str, Any], child: PerParentChild) -> bool:
    if child.count_field is None:
        return True
    n = row.get(child.count_field)
    try:
        return n is None or int(n) > 0
    except (TypeError, ValueError):
        return True


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
        return lambda: ctx.client.iter_cursor(f"{entity.path}/collection", params)

    for index, page in iter_concurrent([stream(k) for k in keys], ctx.options.max_workers):
        key = keys[index]
        pos = pending["streams"][key]
        tables, rows = xf.transform_rows(page.items)
        yield from tables
        for done, child_tables in xf.children_chunks(rows, int(pos.get("skip") or 0)):
            yield from child_tables
            pos["skip"] = done
            if done < len(rows) and ctx.checkpoint_due():
                return  # the runner loads what we have and starts another round from `pending`
        pos["skip"] = 0
        if page.next:
            pos["cursor"] = page.next
        else:
            pending["streams"][key] = "done"
        if ctx.checkpoint_due():
            return
    state["last_until"] = pending["until"]
    state.pop("pending", None)


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
                     known_ids: set[Any] | None) -> Iterator[Any]:
    """Id reconciliation: vanished (deleted or merged-away) records become soft/hard deletes.

    The full scan completes before anything is compared (``deletes.reconcile``); a failed scan
    changes nothing and is retried on the next run.
    """
    now = ctx.window_end()
    last = state.get("reconciled_at")
    if known_ids is None and not reconcile_due(parse_timestamp(last) if last else None, ctx.options.reconcile, now):
        return
    pages = [0]
    try:
        engine, schema = ctx.destination_engine()
        result = reconcile(
            (lambda: known_ids) if known_ids is not None else (lambda: _scan_ids(entity, ctx, pages)),
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


def _make_resource(entity: Entity, ctx: SyncContext) -> DltResource:
    def pages() -> Iterator[Any]:
        if ctx.budget_stopped:
            return
        state = dlt.current.resource_state()
        first_run = not any(k in state for k in ("last_until", "high_water", "reconciled_at", "pending"))
        xf = PageTransformer(entity, ctx, state)
        try:
            yield from xf.load_fields()
            if entity.strategy == "collection":
                try:
                    yield from _collection_pages(entity, ctx, state, xf)
                except PipedrivePermissionError:
                    if not state.get("fallback_logged"):
                        log.warning("%s: /collection needs a global admin token (403); falling back to the "
                                    "offset list sorted by update_time", entity.name)
                    state.pop("pending", None)
                    yield from _fallback_pages(entity, ctx, state, xf)
            elif entity.strategy == "update_time_desc":
                yield from _desc_pages(entity, ctx, state, xf)
            else:
                try:
                    yield from _full_pages(entity, ctx, state, xf)
                except PipedrivePermissionError:
                    if not entity.admin_only:
                        raise
                    log.warning("%s: skipped, the token is not an admin token (403)", entity.name)
            if entity.reconcile and ctx.options.reconcile != "never" and not ctx.budget_stopped:
                if first_run and not ctx.options.start_date:
                    # the backfill just listed every record: nothing in the destination can be stale
                    state["reconciled_at"] = format_v1_timestamp(ctx.window_end())
                else:
                    # a full listing is itself the id scan, for free
                    known = xf.seen_ids if entity.strategy == "full" else None
                    yield from _reconcile_pages(entity, ctx, state, xf, known)
            yield from xf.finish()
        except DailyBudgetExhausted as exc:
            ctx.stop_for_budget(exc, entity.name)

    return dlt.resource(
        pages,
        name=entity.name,
        primary_key=list(entity.primary_key),
        write_disposition=MERGE,
        parallelized=True,
    )


@dlt.source(name="pipedrive", section="pipedrive", max_table_nesting=0)
def pipedrive_source(
    api_token: str | None = dlt.secrets.value,
    base_url: str | None = dlt.config.value,
    company_domain: str | None = dlt.config.value,
    oauth_client_id: str | None = dlt.secrets.value,
    oauth_client_secret: str | None = dlt.secrets.value,
    oauth_refresh_token: str | None = dlt.secrets.value,
    oauth_token_file: str = ".pipedrive/oauth_token.json",
    entities: list[str] | None = None,
    custom_fields: str = "labels",
    start_date: str | None = None,
    overlap_seconds: int = 60,
    safety_lag_seconds: int = 5,
    deletes: str = "soft",
    reconcile: str = "daily",
    api_version: str = "auto",
    plan: str = "professional",
    daily_reserve: float = 0.2,
    max_workers: int = 4,
    children: bool = True,
    checkpoint_seconds: int = 600,
) -> list[DltResource]:
    """Pipedrive company -> tables. No request is made here: only when the pipeline extracts."""
    options = build_options(**{k: v for k, v in locals().items()})
    ctx = SyncContext(options)
    _local.context = ctx
    return [_make_resource(e, ctx) for e in resolve_entities(list(options.entities) if options.entities else None)]


__all__ = ["pipedrive_source", "SyncContext", "last_context", "ENTITY_BY_NAME", "ChildList"]
