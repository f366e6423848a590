"""Fewer, larger items for dlt: consecutive Arrow pages of one table are concatenated before yielding.

Why: dlt's Arrow extractor recomputes and revalidates the table schema and renormalizes the Arrow
schema for *every* item it receives ("contract cache not supported for arrow tables" in
``dlt/extract/extractors.py``), a few ms per item, and a page of 500 records becomes 2-4 items
(entity table + child tables). Handing dlt one table per ~``max_rows`` rows removes most of that.

Safety: tables are held only inside one resource generator and every one is yielded before the
generator returns (also after a budget stop, which the resource catches), so the resource state that
dlt saves when the extract completes never describes rows it did not receive. An exception that
escapes the resource fails the extract, and then no state is committed either.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.items import DataItemWithMeta, TableNameMeta

MAX_ROWS = 10_000  # rows per table held back at most (a few MB of Arrow; progress moves in such steps)


class Coalescer:
    """Buffers ``with_table_name`` Arrow items per table; everything else passes through in order."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows
        self._pending: dict[str, list[pa.Table]] = {}
        self._rows: dict[str, int] = {}

    def feed(self, item: Any) -> Iterator[Any]:
        table = _buffered_table(item)
        if table is None:
            # hints (the first item of each table) or anything else: everything held goes first, in order
            yield from self.flush_all()
            yield item
            return
        name = item.meta.table_name
        self._pending.setdefault(name, []).append(table)
        self._rows[name] = self._rows.get(name, 0) + table.num_rows
        if self._rows[name] >= self.max_rows:
            yield from self.flush(name)

    def flush(self, name: str) -> Iterator[Any]:
        tables = self._pending.pop(name, None)
        self._rows.pop(name, None)
        if not tables:
            return
        if len(tables) == 1:
            yield dlt.mark.with_table_name(tables[0], name)
            return
        try:
            merged = pa.concat_tables(tables, promote_options="default")
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # schemas that do not unify: dlt gets them one by one
            yield from (dlt.mark.with_table_name(t, name) for t in tables)
            return
        yield dlt.mark.with_table_name(merged, name)

    def flush_all(self) -> Iterator[Any]:
        for name in list(self._pending):
            yield from self.flush(name)


def coalesced(items: Iterable[Any], max_rows: int = MAX_ROWS) -> Iterator[Any]:
    """``items`` with consecutive Arrow tables of a table merged; all flushed when ``items`` ends."""
    buffer = Coalescer(max_rows)
    for item in items:
        yield from buffer.feed(item)
    yield from buffer.flush_all()


def _buffered_table(item: Any) -> pa.Table | None:
    if isinstance(item, DataItemWithMeta) and isinstance(item.meta, TableNameMeta) and isinstance(item.data, pa.Table):
        return item.data
    return None
