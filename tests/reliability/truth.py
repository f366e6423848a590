"""Compare what landed in the destination with the simulator's truth: rows lost, duplicated, stale.

Truth is the in-process simulator's ``Company`` (``visible()`` = the v1 list shape of every live
record). The destination is read through a ``query(sql) -> list[dict]`` callable with ``{schema}``
in the SQL, so the same comparison serves in-process pipelines and DuckDB files written by a
killed-and-restarted subprocess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipedrive_source.rows import parse_timestamp

Query = Callable[[str], list[dict[str, Any]]]

ENTITIES = ("deals", "persons", "organizations", "activities", "products", "notes", "leads")
# child table -> (parent entity, parent key column, how many children a rendered parent has)
CHILDREN: dict[str, tuple[str, str, Callable[[dict[str, Any]], int]]] = {
    "deal_products": ("deals", "deal_id", lambda r: int(r.get("products_count") or 0)),
    "deal_participants": ("deals", "deal_id", lambda r: int(r.get("participants_count") or 0)),
    "deal_followers": ("deals", "deal_id", lambda r: int(r.get("followers_count") or 0)),
    "person_emails": ("persons", "person_id",
                      lambda r: len([e for e in (r.get("email") or []) if isinstance(e, dict)])),
}


@dataclass
class Diff:
    """Differences per table; empty dicts = exact."""

    lost: dict[str, list[Any]] = field(default_factory=dict)  # in truth, not (live) in the destination
    ghosts: dict[str, list[Any]] = field(default_factory=dict)  # live in the destination, not in truth
    duplicated: dict[str, int] = field(default_factory=dict)  # rows beyond one per key
    stale: dict[str, list[Any]] = field(default_factory=dict)  # update_time differs from truth
    checked: dict[str, int] = field(default_factory=dict)  # truth rows compared per table

    @property
    def rows_lost(self) -> int:
        return sum(len(v) for v in self.lost.values())

    @property
    def rows_duplicated(self) -> int:
        return sum(self.duplicated.values())

    @property
    def exact(self) -> bool:
        return not (self.lost or self.ghosts or self.duplicated or self.stale)

    def explain(self) -> str:
        parts = []
        for name in ("lost", "ghosts", "duplicated", "stale"):
            value = getattr(self, name)
            if value:
                shown = {k: (v[:10] if isinstance(v, list) else v) for k, v in value.items()}
                parts.append(f"{name}: {shown}")
        return "; ".join(parts) or "exact"


def duckdb_query(path: str | Path, schema: str = "crm") -> Query:
    """Read a DuckDB file written by another process (read-only connection per call)."""

    def query(sql: str) -> list[dict[str, Any]]:
        con = duckdb.connect(str(path), read_only=True)
        try:
            cur = con.execute(sql.format(schema=schema))
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]
        finally:
            con.close()

    return query


def pipeline_query(pipeline: Any) -> Query:
    from tests.sync_helpers import rows

    return lambda sql: rows(pipeline, sql)


def _tables(query: Query) -> set[str]:
    return {r["table_name"] for r in query(
        "select table_name from information_schema.tables where table_schema = '{schema}'")}


def _same_time(truth: Any, landed: Any) -> bool:
    try:
        t = parse_timestamp(truth)
    except ValueError:
        t = None
    if landed is None or t is None:
        return landed is None and t is None
    if isinstance(landed, datetime):
        landed = landed if landed.tzinfo else landed.replace(tzinfo=UTC)
        return t == landed.astimezone(UTC)
    return t == parse_timestamp(landed)


def compare(company: Any, query: Query, entities: tuple[str, ...] = ENTITIES,
            children: tuple[str, ...] = tuple(CHILDREN)) -> Diff:
    """Every truth record present once, current (update_time), nothing extra; children per parent."""
    diff = Diff()
    present = _tables(query)
    rendered: dict[str, list[dict[str, Any]]] = {}
    for entity in entities:
        truth = list(company.visible(entity, include_deleted_deals=True)) if entity == "deals" \
            else list(company.visible(entity))
        rendered[entity] = truth
        diff.checked[entity] = len(truth)
        if entity not in present:
            if truth:
                diff.lost[entity] = [r["id"] for r in truth]
            continue
        landed = query(f"select id, update_time, is_deleted from {{schema}}.{entity}")
        per_id = Counter(r["id"] for r in landed)
        dups = sum(n - 1 for n in per_id.values() if n > 1)
        if dups:
            diff.duplicated[entity] = dups
        # soft deletes: vanished records stay with is_deleted; deleted deals are part of the truth
        live = {r["id"]: r for r in landed if entity == "deals" or not r.get("is_deleted")}
        truth_by_id = {r["id"]: r for r in truth}
        lost = [i for i in truth_by_id if i not in live]
        ghosts = [i for i in live if i not in truth_by_id]
        stale = [i for i, r in truth_by_id.items()
                 if i in live and not _same_time(r.get("update_time"), live[i].get("update_time"))]
        if lost:
            diff.lost[entity] = lost
        if ghosts:
            diff.ghosts[entity] = ghosts
        if stale:
            diff.stale[entity] = stale
    for table in children:
        parent, key, count = CHILDREN[table]
        if parent not in rendered:
            continue
        want = {r["id"]: count(r) for r in rendered[parent]}
        diff.checked[table] = sum(want.values())
        if table not in present:
            if any(want.values()):
                diff.lost[table] = [p for p, n in want.items() if n]
            continue
        tomb = "_tombstone" in {r["column_name"] for r in query(
            "select column_name from information_schema.columns where table_schema = '{schema}' "
            f"and table_name = '{table}'")}
        where = "where not coalesce(_tombstone, false)" if tomb else ""
        got = {r["p"]: r["n"] for r in query(f"select {key} as p, count(*) as n from {{schema}}.{table} {where} "
                                             f"group by {key}")}
        # one entry per missing child row (children of soft-deleted parents are not judged)
        lost = [p for p, n in want.items() for _ in range(n - got.get(p, 0))]
        extra = sum(max(0, got.get(p, 0) - n) for p, n in want.items())
        if lost:
            diff.lost[table] = lost
        if extra:
            diff.duplicated[table] = extra
    return diff
