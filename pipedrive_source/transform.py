"""Page -> tables: API records of one entity become the entity table and its child tables (Arrow),
with the dlt hints of each table (merge keys, delete markers, column hints).

Child tables are replaced per parent: a delete marker row (``_tombstone``, dlt's ``hard_delete``
hint) for every parent on the page, then its current children, so removed emails or products
disappear too. Table hints live on table variants, not on the resource: variants start from the
resource's hints, and child tables must not inherit the entity's primary key or column hints.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import dlt

from . import custom_fields as cf
from .context import SyncContext
from .entities import Entity, PerParentChild
from .envelope import PREPARED_KEY, decode_body
from .errors import PipedriveNotFoundError
from .options import SyncOptions
from .page_rows import POSITION, REPLACED_TYPES, TOMBSTONE, PageTable, has_children, page_tables, replaced_table
from .parse_worker import Prepared, Setup
from .rows import TableBuilder, collapse_reference

log = logging.getLogger("pipedrive_source.source")

MERGE: dict[str, str] = {"disposition": "merge", "strategy": "delete-insert"}
CHILD_CHUNK = 50  # parents per batch of child calls (progress is saved after each batch)
OFFLOAD_MIN_ROWS = 500  # a full /collection page: pages go to parse workers once one of them arrived


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
    # Replaced per parent (merge key); the primary key (parent, position) lets delete-insert
    # de-duplicate a package that is loaded twice after a kill mid-load (staging keeps both copies).
    # Variants start from the resource's hints, so the entity's primary key must be overridden.
    position = parent_key != "field_key"
    return dlt.mark.make_hints(
        table_name=table,
        write_disposition=MERGE,
        primary_key=[parent_key, POSITION] if position else "",
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
        self.field_map: dict[str, Any] | None = None
        self._builders: dict[str, TableBuilder] = {}
        self._hinted: set[str] = set()
        # parse workers (``offload``/``adopt``): what they need, and the column types they start from,
        # published by the consumer thread as one (version, snapshot) tuple for the stream threads
        self._setup: Setup | None = None
        self._published: tuple[int, dict[str, dict[str, str]]] = (0, {})
        self._published_size = -1
        # a full listing doubles as the reconciliation id scan; other strategies keep no per-id memory
        self.seen_ids: set[Any] | None = set() if entity.strategy == "full" else None
        self.parent_key = entity.parent_key
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
        def fetch() -> list[dict[str, Any]]:
            return [f for page in self.ctx.client.iter_offset(e.fields_endpoint) for f in page.items]

        self.fields = self.ctx.fields(e.fields_endpoint, fetch)
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
        self.field_map = field_map
        # deals and leads share /dealFields: one warning per run for a deleted option, not one per resource
        self.flattener = cf.FieldFlattener(self.fields, field_map, mode, warn=self.ctx.warn_once)
        self.builder(self.entity.name, self.flattener.column_types)
        out: list[Any] = []
        if self.entity.fields_table:
            field_rows, option_rows = cf.field_metadata_rows(self.fields, field_map)
            ft = self.entity.fields_table
            ot = self.entity.field_options_table
            tbl = self.builder(ft, key="key").to_arrow(field_rows)
            if tbl is not None:
                out.append(self._mark(tbl, ft, _fields_hints(ft)))
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
        out = self._ensure_flattener(records[0])
        if self.flattener is not None:
            records = self.flattener.flatten_page(records)
        tables, rows = page_tables(self.entity, records, self.builder,
                                   self.flattener.column_types if self.flattener else None, self.seen_ids)
        out.extend(self._emit(tables))
        if self._setup is None and len(records) >= OFFLOAD_MIN_ROWS and self._offloadable():
            self._setup = Setup(self.entity.name, self.fields, self.field_map if self.flattener else None,
                                self.ctx.options.custom_fields, self.ctx.options.children)
        self._publish_types()
        return out, rows

    # parse workers ----------------------------------------------------------------------------
    def offload(self, content: bytes) -> tuple[dict | None, str | None]:
        """Body decoder for ``/collection`` pages (runs in the stream threads): once a full page has
        been transformed here, a parse worker decodes and transforms the next ones; until then, with
        ``parse_processes = 0`` or when no worker answers, the body is decoded here as always."""
        setup = self._setup
        pool = self.ctx.parse_pool() if setup is not None else None
        if pool is not None:
            version, snapshot = self._published
            answer = pool.run(self.entity.name, setup, version, snapshot, content)
            if answer is not None:
                answer[PREPARED_KEY].content = content
                return answer, None
        return decode_body(content)

    def adopt(self, prepared: Prepared) -> tuple[list[Any], list[dict[str, Any]]]:
        """A worker's page as ``transform_rows`` would have made it (consumer thread).

        The worker started from the column types published when it got the page; a column it typed
        differently from a type learned here since (an earlier page, adopted meanwhile) makes this page
        be transformed here again: a column keeps the type of the first page that had a value for it,
        as without workers.
        """
        learned: list[tuple[dict[str, str], str, str]] = []
        for table, cols in prepared.types.items():
            known = self.types.setdefault(table, {})
            b = self._builders.get(table)
            explicit = b.explicit if b is not None else ({} if table == self.entity.name else REPLACED_TYPES)
            for col, t in cols.items():
                if col in explicit:
                    continue
                have = known.get(col)
                if have is None:
                    learned.append((known, col, t))
                elif have != t:
                    envelope, _ = decode_body(prepared.content or b"")
                    return self.transform_rows(envelope["data"] if envelope else [])
        for known, col, t in learned:
            known[col] = t
        for name, level, message, once in prepared.warnings:
            if once:
                self.ctx.warn_once(message)
            else:
                logging.getLogger(name).log(level, "%s", message)
        self._publish_types()
        return self._emit(prepared.tables), prepared.rows

    def _offloadable(self) -> bool:
        """Whether pages may go to parse workers: not while ids are collected for reconciliation."""
        return self.seen_ids is None

    def _publish_types(self) -> None:
        size = sum(len(c) for c in self.types.values())
        if size != self._published_size:
            self._published_size = size
            self._published = (self._published[0] + 1, {t: dict(c) for t, c in self.types.items()})

    def _emit(self, tables: list[PageTable]) -> list[Any]:
        """Page tables -> items to yield, each routed to its table variant."""
        out: list[Any] = []
        for name, tbl, markers in tables:
            if name == self.entity.name:
                out.append(self._mark(tbl, name, self.main_hints))
            else:
                self.ctx.count_markers(name, markers)
                out.append(self._mark(tbl, name, _child_hints(name, self.parent_key)))
        return out

    def emit_rows(self, rows: list[dict[str, Any]]) -> list[Any]:
        """Rows read back from the destination (reconciliation) in the entity table's types."""
        main = self.builder(self.entity.name).to_arrow(rows)
        return [] if main is None else [self._mark(main, self.entity.name, self.main_hints)]

    def tombstone_children(self, parent_ids: Sequence[Any]) -> list[Any]:
        """Remove every child row of these parents (hard deletes)."""
        out: list[Any] = []
        tables = [(c.table, self.parent_key) for c in self.entity.child_lists]
        tables += [(ch.table, ch.parent_key) for ch in self.entity.children]
        for table, key in tables:
            out.extend(self._replaced(table, key, [{key: pid, POSITION: -1, TOMBSTONE: True} for pid in parent_ids]))
        return out

    def _replaced(self, table: str, key: str, rows: list[dict[str, Any]]) -> list[Any]:
        """A table replaced per ``key`` value: delete markers first, then the current rows."""
        made = replaced_table(self.builder, table, key, rows)
        if made is None:
            return []
        self.ctx.count_markers(table, made[2])
        return [self._mark(made[1], table, _child_hints(table, key))]

    def _mark(self, tbl: Any, table: str, hints: Any) -> Any:
        """Route a table to its variant; the hints travel with the first item only (dlt recomputes
        the table schema for every item that carries hints, a few ms per page)."""
        if table in self._hinted:
            return dlt.mark.with_table_name(tbl, table)
        self._hinted.add(table)
        return dlt.mark.with_hints(tbl, hints, create_table_variant=True)

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
                stones = [{child.parent_key: r["id"], POSITION: -1, TOMBSTONE: True} for r in chunk]
                wanted = [r["id"] for r in chunk if not (hard and r.get("is_deleted")) and self._wants(r, child)]
                kid_rows: list[dict[str, Any]] = list(stones)
                for pid, items in zip(wanted, self._children_of(child, wanted)):
                    for pos, item in enumerate(items):
                        row = {k: collapse_reference(v) for k, v in item.items()}
                        row[child.parent_key] = pid
                        row[POSITION] = pos
                        kid_rows.append(row)
                tables.extend(self._replaced(child.table, child.parent_key, kid_rows))
            self._chunk_done(chunk)
            yield start + len(chunk), tables

    # hooks for another API generation (v2.V2PageTransformer) ---------------------------------
    def _wants(self, row: dict[str, Any], child: PerParentChild) -> bool:
        """Whether the parent has children, by its counter (no counter: ask)."""
        return has_children(row, child)

    def _children_of(self, child: PerParentChild, parent_ids: list[Any]) -> list[list[dict[str, Any]]]:
        """Children per parent, in ``parent_ids`` order: one call per parent in v1, concurrently."""
        return self.ctx.map_parents(lambda pid: self._fetch_children(child, pid), parent_ids)

    def _chunk_done(self, chunk: list[dict[str, Any]]) -> None:
        """Called after each chunk of parents (subclasses drop per-parent bookkeeping)."""

    def _fetch_children(self, child: PerParentChild, parent_id: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        path, params = child.request(parent_id)
        try:
            for page in self.ctx.client.iter_offset(path, params or None):
                items.extend(page.items)
        except PipedriveNotFoundError:  # the parent vanished between its page and this call
            log.info("%s: parent %s is gone; no children", child.table, parent_id)
        return items


def _is_custom_key(key: str, custom_keys: set[str]) -> bool:
    return key in custom_keys or key[:40] in custom_keys

