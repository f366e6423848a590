"""Flattened records of one entity -> the Arrow tables of a page (entity table + child lists).

No dlt here: the parse workers (``parse_worker``) run this too, so the tables a page becomes are
the same whether it was transformed in the sync process or in a worker. ``transform.PageTransformer``
adds the dlt hints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from .entities import Entity, PerParentChild
from .rows import TableBuilder, child_rows

TOMBSTONE = "_tombstone"
POSITION = "_position"  # a child row's index in its parent's list; -1 on delete markers
REPLACED_TYPES = {TOMBSTONE: "bool", POSITION: "bigint"}  # explicit types of every replaced-per-parent table

BuilderFor = Callable[..., TableBuilder]  # (table, explicit=None, key="id") -> the table's builder
PageTable = tuple[str, pa.Table, int]  # (table name, rows, delete markers among them)


def page_tables(entity: Entity, records: list[dict[str, Any]], builder: BuilderFor,
                main_types: dict[str, str] | None,
                seen_ids: set[Any] | None = None) -> tuple[list[PageTable], list[dict[str, Any]]]:
    """The entity table and its child-list tables of one page of flattened records, and the rows.

    ``records`` are fresh dicts (parsed JSON or the flattener's copies): they are changed in place.
    """
    parent_key = entity.parent_key
    child_tables: dict[str, list[dict[str, Any]]] = {c.table: [] for c in entity.child_lists}
    rows: list[dict[str, Any]] = []
    for row in records:
        if seen_ids is not None:
            seen_ids.add(row.get("id"))
        for k, v in row.items():  # v1 reference objects -> their id, as v2 sends them
            if v.__class__ is dict and "value" in v:
                row[k] = v["value"]
        for key in entity.object_columns:
            spread_object(row, key)
        for c in entity.child_lists:
            items = row.pop(c.key, None)
            stone = {parent_key: row.get("id"), POSITION: -1, TOMBSTONE: True}
            kids = child_rows(row.get("id"), items if isinstance(items, list) else None, parent_key,
                              c.value_key or "value")
            child_tables[c.table].append(stone)
            child_tables[c.table].extend(kids)
        if entity.has_deleted_status:
            deleted = row.get("status") == "deleted"
            row["is_deleted"] = deleted
            row["deleted_at"] = row.get("update_time") if deleted else None
        else:
            row.setdefault("is_deleted", False)
            row.setdefault("deleted_at", None)
        rows.append(row)
    out: list[PageTable] = []
    main = builder(entity.name, main_types).to_arrow(rows)
    if main is not None:
        out.append((entity.name, main, 0))
    for c in entity.child_lists:
        table = replaced_table(builder, c.table, parent_key, child_tables[c.table])
        if table is not None:
            out.append(table)
    return out, rows


def replaced_table(builder: BuilderFor, table: str, key: str, rows: list[dict[str, Any]]) -> PageTable | None:
    """A table replaced per ``key`` value: delete markers first, then the current rows."""
    tbl = builder(table, REPLACED_TYPES, key=key).to_arrow(rows)
    if tbl is None:
        return None
    return table, tbl, sum(1 for r in rows if r.get(TOMBSTONE))


def children_fields(entity: Entity) -> tuple[str, ...]:
    """The keys of a parent row that deciding on its per-parent children reads."""
    return ("id", "is_deleted", *(c.count_field for c in entity.children if c.count_field))


def has_children(row: dict[str, Any], child: PerParentChild) -> bool:
    """Whether a parent has children, by its counter (no counter, or an unreadable one: ask)."""
    if child.count_field is None:
        return True
    n = row.get(child.count_field)
    try:
        return n is None or int(n) > 0
    except (TypeError, ValueError):
        return True


def spread_object(row: dict[str, Any], key: str) -> None:
    """``{"value": {"amount": 10, "currency": "EUR"}}`` -> ``value_amount``, ``value_currency`` columns.

    Why: an object stored as JSON text hides money and dates from SQL (lead values, goal durations).
    The keys of the object as the API sends it become columns; deeper objects stay JSON text.
    A null object leaves the columns NULL (absent keys); a non-object value is kept under ``key``.
    """
    obj = row.get(key)
    if obj is None:
        row.pop(key, None)
    elif isinstance(obj, dict):
        del row[key]
        for sub, v in obj.items():
            row[f"{key}_{sub}"] = v
