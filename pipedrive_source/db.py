"""SQLAlchemy access to the data a dlt pipeline loaded (owned by deletes).

dlt writes; everything else that *reads* the destination (tests, the `status` command,
verification, the reconciliation in `deletes.py`) goes through this module, so there is one
place that knows how each destination maps dlt's dataset onto SQL:

- ``duckdb``: the file from the destination credentials, dataset = a schema in that file.
  Needs the ``duckdb-engine`` dialect. The DuckDB file is locked by whichever process has it
  open, and one process cannot open it twice with different settings. So DuckDB engines use
  ``NullPool`` by default (no connection outlives its ``with engine.connect()`` block, the file is
  free again between queries); still dispose engines you create (:func:`pipeline_engine` does).
- ``postgres``: dataset = schema; driver psycopg2 (``dlt[postgres]``).
- ``sqlalchemy``: the destination's own URL and ``engine_kwargs``. For SQLite dlt stores each
  dataset in a sibling file ``<stem>__<dataset><suffix>`` ATTACHed under the dataset name; our
  engine attaches it the same way on every new connection.

dlt's ``sqlalchemy`` destination supports the merge strategies ``delete-insert`` and ``scd2``
only (no ``upsert``: its capabilities list ``["delete-insert", "scd2"]``); ``delete-insert`` with
``primary_key``, ``dedup_sort`` and the ``hard_delete`` column hint works on SQLite
(tests/test_db.py loads, re-merges and hard-deletes through it).

Version notes (checked 2026-11-23): duckdb 2.0.0 + duckdb-engine 0.17.0 + SQLAlchemy 2.1.9 run
queries fine, but SQLAlchemy 2.1's PostgreSQL-flavoured column *reflection*
(``Table(..., autoload_with=)``, ``inspect().get_columns``) fails on DuckDB (it queries
``pg_catalog.pg_collation``, which DuckDB lacks); it works with SQLAlchemy 2.0.x. So this module
never reflects: it reads ``information_schema`` (DuckDB, Postgres) or ``sqlite_master``/``PRAGMA``
(SQLite) and builds lightweight ``sa.table()`` constructs. Use :func:`column_names` and friends
instead of reflection.

Threads: resolving a pipeline's destination config (``pipeline.destination_client()``) from
several dlt extract workers at once corrupts dlt's process-global config contexts
(``ContainerInjectableContextMangled``); the pipeline-level functions here serialise those calls
behind one process-wide lock, and :func:`engine_and_schema` resolves once for both values.

Credentials never appear in messages: engines are built from URL objects, and ``repr(engine)``
masks the password.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine

DLT_PREFIX = "_dlt"
# Keeps the IN (...) list well under SQLite's and psycopg2's parameter limits.
ID_CHUNK = 500


class DestinationNotSupported(ValueError):
    """The pipeline's destination has no SQLAlchemy reading path here."""


# -- engines --------------------------------------------------------------------------------
_DLT_CONFIG_LOCK = threading.Lock()


def _resolve(pipeline: Any) -> tuple[str, Any, str]:
    """(destination type, credentials, SQL schema) of the pipeline, resolved under the lock."""
    with _DLT_CONFIG_LOCK:
        client = pipeline.destination_client()
        return client.config.destination_type, client.config.credentials, str(client.sql_client.dataset_name)


def dataset_schema(pipeline: Any) -> str:
    """The SQL schema (DuckDB/Postgres) or attached database (SQLite) holding the dataset.

    dlt normalizes ``pipeline.dataset_name`` ("Odd-Name_" -> "odd_namex"): always use this instead.
    """
    return _resolve(pipeline)[2]


def engine_and_schema(pipeline: Any, **engine_kwargs: Any) -> tuple[Engine, str]:
    """Engine + SQL schema with one config resolution. The caller must ``dispose()`` the engine."""
    destination_type, credentials, schema = _resolve(pipeline)
    return engine_for_destination(destination_type, credentials, dataset_name=schema, **engine_kwargs), schema


def engine_for_pipeline(pipeline: Any, **engine_kwargs: Any) -> Engine:
    """An engine on the database `pipeline` loads into. The caller must ``dispose()`` it."""
    return engine_and_schema(pipeline, **engine_kwargs)[0]


@contextmanager
def pipeline_engine(pipeline: Any, **engine_kwargs: Any) -> Iterator[tuple[Engine, str]]:
    """``with pipeline_engine(p) as (engine, schema):`` — disposed (DuckDB file released) on exit."""
    engine, schema = engine_and_schema(pipeline, **engine_kwargs)
    try:
        yield engine, schema
    finally:
        engine.dispose()


def engine_for_destination(destination_type: str, credentials: Any, *, dataset_name: str | None = None,
                           **engine_kwargs: Any) -> Engine:
    """Build an engine from a dlt destination type and its resolved credentials object."""
    if destination_type == "duckdb":
        database = credentials.database
        if not database or database == ":memory:":
            raise DestinationNotSupported("an in-memory DuckDB destination cannot be opened from another engine")
        engine_kwargs.setdefault("poolclass", sa.pool.NullPool)  # never hold the file lock between queries
        engine = sa.create_engine(sa.engine.URL.create("duckdb", database=str(database)), **engine_kwargs)
        _serialise_duckdb_open_close(engine)
        return engine
    if destination_type == "postgres":
        url = sa.engine.URL.create(
            "postgresql+psycopg2",
            username=credentials.username,
            password=None if credentials.password is None else str(credentials.password),
            host=credentials.host,
            port=credentials.port,
            database=credentials.database,
            query={k: str(v) for k, v in credentials.get_query().items() if v is not None},
        )
        return sa.create_engine(url, **engine_kwargs)
    if destination_type == "sqlalchemy":
        url = sa.engine.make_url(credentials.to_native_representation())
        kwargs = {**(getattr(credentials, "engine_kwargs", None) or {}), **engine_kwargs}
        engine = sa.create_engine(url, **kwargs)
        if url.get_backend_name() == "sqlite" and dataset_name:
            _attach_sqlite_dataset(engine, url.database, dataset_name)
        return engine
    raise DestinationNotSupported(
        f"destination {destination_type!r} is not supported for reading; use duckdb, postgres or sqlalchemy"
    )


# DuckDB keeps one database instance per file per process, destroyed when its last connection
# closes. A connect racing that destruction fails with "Unique file handle conflict: Cannot attach
# ... already attached" (seen with 8 threads opening/closing engines; tests/test_db.py), so all
# DuckDB opens and closes made through this module take one process-wide lock.
_DUCKDB_OPEN_CLOSE = threading.RLock()


def _serialise_duckdb_open_close(engine: Engine) -> None:
    from duckdb_engine import ConnectionWrapper

    class _SerialisedClose(ConnectionWrapper):
        def close(self) -> None:
            with _DUCKDB_OPEN_CLOSE:
                super().close()

    @sa.event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        with _DUCKDB_OPEN_CLOSE:
            conn = dialect.connect(*cargs, **cparams)
        if isinstance(conn, ConnectionWrapper):
            conn.__class__ = _SerialisedClose
        return conn


def _attach_sqlite_dataset(engine: Engine, database: str | None, dataset_name: str) -> None:
    """Mirror dlt: dataset `ds` of `/x/s.db` lives in `/x/s__ds.db`, attached as `ds`."""
    if not database or database == ":memory:" or dataset_name == "main":
        return
    path = Path(database)
    dataset_file = path.parent / f"{path.stem}__{dataset_name}{path.suffix}"

    @sa.event.listens_for(engine, "connect")
    def _attach(dbapi_conn: Any, _record: Any) -> None:
        if dataset_file.exists():
            dbapi_conn.execute("ATTACH DATABASE ? AS ?", (str(dataset_file), dataset_name))


# -- identifiers ----------------------------------------------------------------------------
def quote_ident(engine: Engine, name: str) -> str:
    """Quote one identifier the way the engine's dialect needs it (only when needed)."""
    return engine.dialect.identifier_preparer.quote(name)


def qualified_name(engine: Engine, schema: str | None, table: str) -> str:
    """``schema.table`` quoted for raw SQL text."""
    return f"{quote_ident(engine, schema)}.{quote_ident(engine, table)}" if schema else quote_ident(engine, table)


def _table(schema: str | None, table: str, *columns: str) -> sa.TableClause:
    return sa.table(table, *(sa.column(c) for c in columns), schema=schema)


# -- catalog --------------------------------------------------------------------------------
def table_names(engine: Engine, schema: str, *, include_dlt: bool = False) -> list[str]:
    """Tables of the dataset, sorted; dlt's own `_dlt_*` tables only when asked."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            if not _sqlite_attached(conn, schema):
                return []
            sql = sa.text(f"SELECT name FROM {quote_ident(engine, schema)}.sqlite_master WHERE type = 'table'")
            names = [r[0] for r in conn.execute(sql)]
        elif engine.dialect.name in ("duckdb", "postgresql"):
            names = [r[0] for r in conn.execute(sa.text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = :s AND table_catalog = current_database() AND table_type = 'BASE TABLE'"
            ), {"s": schema})]
        else:  # other SQLAlchemy backends: reflection is fine there
            names = sa.inspect(conn).get_table_names(schema=schema)
    return sorted(n for n in names if include_dlt or not n.startswith(DLT_PREFIX))


def table_exists(engine: Engine, schema: str, table: str) -> bool:
    return table in table_names(engine, schema, include_dlt=True)


def column_names(engine: Engine, schema: str, table: str) -> list[str]:
    """Columns of one table in table order; [] when the table does not exist."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            if not _sqlite_attached(conn, schema):
                return []
            sql = f"PRAGMA {quote_ident(engine, schema)}.table_info({quote_ident(engine, table)})"
            return [r[1] for r in conn.exec_driver_sql(sql)]
        if engine.dialect.name in ("duckdb", "postgresql"):
            return [r[0] for r in conn.execute(sa.text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = :t AND table_catalog = current_database() "
                "ORDER BY ordinal_position"
            ), {"s": schema, "t": table})]
        try:
            return [c["name"] for c in sa.inspect(conn).get_columns(table, schema=schema)]
        except sa.exc.NoSuchTableError:
            return []


def _sqlite_attached(conn: sa.Connection, schema: str) -> bool:
    return schema in {r[1] for r in conn.exec_driver_sql("PRAGMA database_list")}


# -- reads ----------------------------------------------------------------------------------
def table_counts(engine: Engine, schema: str, *, include_dlt: bool = False) -> dict[str, int]:
    """Row count of every table in the dataset (all rows, soft-deleted ones included)."""
    counts: dict[str, int] = {}
    tables = table_names(engine, schema, include_dlt=include_dlt)
    with engine.connect() as conn:
        for name in tables:
            stmt = sa.select(sa.func.count()).select_from(_table(schema, name))
            counts[name] = int(conn.execute(stmt).scalar_one())
    return counts


def fetch_rows(engine: Engine, schema: str, table: str, ids: Iterable[Any], *, id_column: str = "id",
               drop_dlt_columns: bool = False) -> list[dict[str, Any]]:
    """Full rows whose `id_column` is in `ids`, ordered by id; `_dlt_*` columns dropped on request."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    columns = column_names(engine, schema, table)
    if not columns:
        return []
    if drop_dlt_columns:
        columns = [c for c in columns if not c.startswith(DLT_PREFIX)]
    t = _table(schema, table, *columns)
    rows: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for start in range(0, len(wanted), ID_CHUNK):
            chunk = wanted[start:start + ID_CHUNK]
            stmt = sa.select(*t.columns).where(t.c[id_column].in_(chunk)).order_by(t.c[id_column])
            rows.extend(dict(r) for r in conn.execute(stmt).mappings())
    return rows


def live_ids(engine: Engine, schema: str, table: str, id_column: str = "id",
             deleted_column: str = "is_deleted") -> set[Any]:
    """Ids whose `deleted_column` is not true (NULL counts as live); empty set for a missing table."""
    columns = column_names(engine, schema, table)
    if id_column not in columns:
        return set()
    t = _table(schema, table, *columns)
    stmt = sa.select(t.c[id_column])
    if deleted_column in columns:
        flag = t.c[deleted_column]
        stmt = stmt.where(sa.or_(flag.is_(None), flag == sa.false()))
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(stmt)}


def all_ids(engine: Engine, schema: str, table: str, id_column: str = "id") -> set[Any]:
    """Every id in the table, soft-deleted ones included; empty set for a missing table."""
    columns = column_names(engine, schema, table)
    if id_column not in columns:
        return set()
    t = _table(schema, table, id_column)
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(sa.select(t.c[id_column]))}
