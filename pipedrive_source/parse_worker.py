"""A parse worker: a child process that turns response bodies of one entity into its page tables.

Why: a backfill is CPU-bound in one interpreter (JSON decoding, custom-field flattening and Arrow
building hold the GIL ~90 % of the time), and dlt's parallel extract uses threads. Workers do that
work on the other cores; the sync process keeps the HTTP client (limiter, budget, retries), the
resource state and the column types, and adopts each prepared page (``transform.PageTransformer``).

Protocol (``parse_pool``): pickled messages over stdin/stdout, Arrow buffers out of band. The worker
first sends ``"ready"``; then per job it receives ``(setup key, setup or None, types or None, body)`` and answers
with an envelope whose ``data`` is empty and whose ``PREPARED_KEY`` holds a ``Prepared``, or with
``None`` when the body is anything but a successful list page (the sync process then decodes and
transforms it itself, exactly as without workers: errors, retries and warnings stay in one place).
Started by ``parse_pool`` (``python -c "...parse_worker import main; main()"``); it exits when stdin
closes (also when the sync process is killed).
"""

from __future__ import annotations

import gc
import logging
import pickle
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import pyarrow as pa

from . import custom_fields as cf
from .entities import ENTITY_BY_NAME, Entity
from .envelope import PREPARED_KEY, decode_body
from .gc_tuning import BULK_THRESHOLDS
from .page_rows import PageTable, children_fields, page_tables
from .rows import TableBuilder

HEADER = struct.Struct("!QQ")  # pickle size, number of out-of-band buffers
READY = "ready"


@dataclass
class Prepared:
    """One page, transformed in a worker."""

    tables: list[PageTable]
    types: dict[str, dict[str, str]]  # the logical type of every column of every table
    rows: list[dict[str, Any]]  # per row, the keys deciding on per-parent children (when it has them)
    warnings: list[tuple[str, int, str, bool]]  # (logger, level, message, once per run)
    content: bytes | None = field(default=None, repr=False)  # the body (set by the sync process)


@dataclass
class Setup:
    """What a worker needs to transform pages of one entity as the sync process would."""

    entity: str
    fields: list[dict[str, Any]] | None
    field_map: dict[str, Any] | None
    mode: str
    children: bool  # whether the rows for per-parent children are wanted


def write_message(out: IO[bytes], obj: Any) -> None:
    """Pickle ``obj`` with its Arrow buffers out of band (pickle protocol 5): header, pickle, buffers."""
    buffers: list[pickle.PickleBuffer] = []
    payload = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    out.write(HEADER.pack(len(payload), len(raws)))
    if raws:
        out.write(struct.pack(f"!{len(raws)}Q", *(r.nbytes for r in raws)))
    out.write(payload)
    for raw in raws:
        out.write(raw)
    out.flush()


def read_message(inp: IO[bytes], allocate: Callable[[int], Any] = bytearray) -> Any:
    """The next message; ``EOFError`` at the end of the stream (a message cut short counts as the end).

    ``allocate``: where the Arrow buffers land; the sync process reads them straight into Arrow's
    memory pool (``pa.allocate_buffer``), so a page's columns are neither copied again nor scattered
    over malloc arenas of the stream threads (which grew the sync's RSS with every page).
    """
    head = _read_exactly(inp, HEADER.size)
    size, count = HEADER.unpack(head)
    sizes = struct.unpack(f"!{count}Q", _read_exactly(inp, 8 * count)) if count else ()
    payload = _read_exactly(inp, size)
    buffers = []
    for n in sizes:
        buf = allocate(n)
        view = memoryview(buf).cast("B")
        got = 0
        while got < n:
            k = inp.readinto(view[got:])  # type: ignore[attr-defined]
            if not k:
                raise EOFError("parse worker stream ended inside a message")
            got += k
        buffers.append(buf)
    return pickle.loads(payload, buffers=buffers)


def _read_exactly(inp: IO[bytes], n: int) -> bytes:
    data = inp.read(n)
    if len(data) < n:
        raise EOFError("parse worker stream ended")
    return data


class _Collector(logging.Handler):
    """Warnings of one job, handed to the sync process to log there."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[str, int, str, bool]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage(), False))

    def warn_once(self, message: str) -> None:
        self.records.append(("pipedrive_source.source", logging.WARNING, message, True))


class PageWorker:
    """Transforms bodies for the setups it was given (one per entity resource)."""

    def __init__(self) -> None:
        self.collector = _Collector()
        self._setups: dict[str, tuple[Setup, Entity, cf.FieldFlattener | None]] = {}
        self._types: dict[str, dict[str, dict[str, str]]] = {}

    def handle(self, key: str, setup: Setup | None, types: dict[str, dict[str, str]] | None,
               content: bytes) -> dict[str, Any] | None:
        if setup is not None:
            flattener = None
            if setup.field_map is not None:
                flattener = cf.FieldFlattener(setup.fields or [], setup.field_map, setup.mode,
                                              warn=self.collector.warn_once)
            self._setups[key] = (setup, ENTITY_BY_NAME[setup.entity], flattener)
        if types is not None:
            self._types[key] = types
        envelope, _ = decode_body(content)
        if envelope is None or envelope.get("success") is False or not isinstance(envelope.get("data"), list):
            return None
        setup, entity, flattener = self._setups[key]
        self.collector.records = []
        prepared = self._prepare(setup, entity, flattener, self._types.get(key, {}), envelope["data"])
        lite = {k: v for k, v in envelope.items() if k != "data"}
        lite["data"] = []
        lite[PREPARED_KEY] = prepared
        return lite

    def _prepare(self, setup: Setup, entity: Entity, flattener: cf.FieldFlattener | None,
                 known: dict[str, dict[str, str]], records: list[dict[str, Any]]) -> Prepared:
        builders: dict[str, TableBuilder] = {}

        def builder(table: str, explicit: dict[str, str] | None = None, key: str = "id") -> TableBuilder:
            b = builders.get(table)
            if b is None:
                b = builders[table] = TableBuilder(table, dict(known.get(table, {})), explicit, key)
            return b

        tables: list[PageTable] = []
        rows: list[dict[str, Any]] = []
        if records:
            if flattener is not None:
                records = flattener.flatten_page(records)
            tables, rows = page_tables(entity, records, builder, flattener.column_types if flattener else None)
        types = {}
        for name, tbl, _ in tables:
            b = builders[name]
            types[name] = {c: b.explicit.get(c) or b.types[c] for c in tbl.column_names}
        wanted = children_fields(entity) if setup.children and entity.children else ()
        kept = [{k: r.get(k) for k in wanted} for r in rows] if wanted else []
        return Prepared(tables, types, kept, self.collector.records)


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """Answer jobs until ``inp`` ends; a job that fails is answered ``None`` (the sync process redoes it)."""
    worker = PageWorker()
    logging.getLogger("pipedrive_source").addHandler(worker.collector)
    logging.getLogger("pipedrive_source").setLevel(logging.WARNING)
    logging.getLogger("pipedrive_source").propagate = False
    write_message(out, READY)
    while True:
        try:
            key, setup, types, content = read_message(inp)
        except EOFError:
            return
        try:
            answer = worker.handle(key, setup, types, content)
        except Exception:  # noqa: BLE001 - the sync process transforms this page itself and reports
            answer = None
        try:
            try:
                write_message(out, answer)
            except (pickle.PicklingError, TypeError, ValueError):  # raised before anything was written
                write_message(out, None)
        except OSError:  # the sync process is gone (killed, or closed the pool mid-job)
            return


def main() -> None:
    gc.set_threshold(*BULK_THRESHOLDS)  # see gc_tuning: a page allocates ~40k small objects at once
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the frames
    pa.set_cpu_count(1)  # one core per worker; the others are for the sync process and its peers
    serve(inp, out)

