"""db.py reads what real dlt pipelines loaded into DuckDB files, PostgreSQL and SQLite (sqlalchemy)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import pytest
import sqlalchemy as sa

from pipedrive_source import db

KINDS = ["duckdb", "postgres", "sqlite"]
T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)


def destination_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """A dlt destination of `kind` private to the test (Postgres: the module database)."""
    if kind == "duckdb":
        return dlt.destinations.duckdb(str(tmp_path / "test.duckdb"))
    if kind == "postgres":
        return dlt.destinations.postgres(credentials=request.getfixturevalue("postgres_db").dlt_credentials)
    if kind == "sqlite":
        return dlt.destinations.sqlalchemy(f"sqlite:///{tmp_path / 'test.db'}")
    raise ValueError(kind)


def make_pipeline(kind: str, tmp_path: Path, request: pytest.FixtureRequest, name: str = "dbtest") -> dlt.Pipeline:
    # unique dataset per test so the shared Postgres module database never mixes tests
    dataset = ("ds_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name.lower())[:40]).rstrip("_")
    return dlt.pipeline(pipeline_name=name, destination=destination_for(kind, tmp_path, request),
                        dataset_name=dataset, pipelines_dir=str(tmp_path / "pipelines"))


def things(rows: list[dict]) -> Any:
    @dlt.resource(name="things", primary_key="id",
                  write_disposition={"disposition": "merge", "strategy": "delete-insert"},
                  columns={"update_time": {"dedup_sort": "desc", "data_type": "timestamp"},
                           "is_deleted": {"data_type": "bool"},
                           "amount": {"data_type": "decimal", "precision": 18, "scale": 2}})
    def _things():
        yield rows
    return _things()


def sample_rows(n: int) -> list[dict]:
    return [{
        "id": i,
        "name": f"thing {i}",
        "update_time": T0 + timedelta(minutes=i),
        "value": i * 1.5,
        "amount": Decimal(i) / 4,
        "is_deleted": None if i % 3 == 0 else (i % 3 == 1 and i > 10),
        "tags": [f"t{i}", f"u{i}"],
    } for i in range(1, n + 1)]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
    return request.param


def test_counts_rows_and_live_ids_match_what_dlt_loaded(kind, tmp_path, request):
    pipeline = make_pipeline(kind, tmp_path, request)
    rows = sample_rows(1200)  # > 2 * ID_CHUNK: fetch_rows pages its IN lists
    pipeline.run(things(rows)).raise_on_failed_jobs()

    with db.pipeline_engine(pipeline) as (engine, schema):
        assert schema == pipeline.dataset_name
        assert db.table_names(engine, schema) == ["things", "things__tags"]
        assert "_dlt_loads" in db.table_names(engine, schema, include_dlt=True)
        assert db.table_counts(engine, schema) == {"things": 1200, "things__tags": 2400}

        expected_live = {r["id"] for r in rows if not r["is_deleted"]}
        assert db.live_ids(engine, schema, "things") == expected_live
        assert 1198 not in expected_live and {1199, 1200} <= expected_live  # True, False and NULL present

        wanted = list(range(1, 1201, 2))
        got = db.fetch_rows(engine, schema, "things", wanted, drop_dlt_columns=True)
        assert [r["id"] for r in got] == wanted
        first = got[0]
        assert set(first) == {"id", "name", "update_time", "value", "amount", "is_deleted"}
        assert first["name"] == "thing 1" and first["value"] == 1.5
        assert Decimal(str(first["amount"])) == Decimal("0.25")
        ts = first["update_time"]
        if isinstance(ts, str):  # SQLite has no timestamp type: ISO text
            ts = datetime.fromisoformat(ts)
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=timezone.utc)
        assert ts == T0 + timedelta(minutes=1)

        with_dlt = db.fetch_rows(engine, schema, "things", [3])
        assert "_dlt_id" in with_dlt[0] and "_dlt_load_id" in with_dlt[0]


def test_missing_tables_read_as_empty(kind, tmp_path, request):
    pipeline = make_pipeline(kind, tmp_path, request)
    pipeline.run(things(sample_rows(2))).raise_on_failed_jobs()
    with db.pipeline_engine(pipeline) as (engine, schema):
        assert db.column_names(engine, schema, "nope") == []
        assert db.live_ids(engine, schema, "nope") == set()
        assert db.fetch_rows(engine, schema, "nope", [1]) == []
        assert not db.table_exists(engine, schema, "nope")
        assert db.table_exists(engine, schema, "things")
        assert db.fetch_rows(engine, schema, "things", []) == []


def test_merge_re_delivery_and_hard_delete_round_trip(kind, tmp_path, request):
    """delete-insert replaces whole rows, dedups on update_time, and hard_delete removes rows (incl. sqlite)."""
    pipeline = make_pipeline(kind, tmp_path, request)
    pipeline.run(things(sample_rows(5))).raise_on_failed_jobs()

    @dlt.resource(name="things", primary_key="id",
                  write_disposition={"disposition": "merge", "strategy": "delete-insert"},
                  columns={"update_time": {"dedup_sort": "desc"}, "is_deleted": {"hard_delete": True}})
    def changes():
        yield [
            {"id": 2, "name": "old", "update_time": T0, "is_deleted": False},
            {"id": 2, "name": "new", "update_time": T0 + timedelta(days=1), "is_deleted": False},
            {"id": 4, "is_deleted": True},
        ]

    pipeline.run(changes()).raise_on_failed_jobs()
    with db.pipeline_engine(pipeline) as (engine, schema):
        ids = {r["id"]: r for r in db.fetch_rows(engine, schema, "things", range(1, 6))}
        assert sorted(ids) == [1, 2, 3, 5]
        assert ids[2]["name"] == "new" and ids[2]["value"] is None  # whole row replaced
        assert db.table_counts(engine, schema)["things__tags"] == 6  # children of 2 and 4 replaced/removed


def test_dataset_schema_is_the_normalized_name_dlt_really_uses(kind, tmp_path, request):
    """`pipeline.dataset_name` is what the user typed; SQL must use dlt's normalized schema name."""
    pipeline = dlt.pipeline(pipeline_name="norm", destination=destination_for(kind, tmp_path, request),
                            dataset_name="Odd-Name_", pipelines_dir=str(tmp_path / "pipelines"))
    pipeline.run(things(sample_rows(2))).raise_on_failed_jobs()
    with db.pipeline_engine(pipeline) as (engine, schema):
        assert schema != pipeline.dataset_name
        assert db.table_counts(engine, schema) == {"things": 2, "things__tags": 4}
        assert db.table_names(engine, pipeline.dataset_name) == []


def test_sqlalchemy_destination_merge_strategies():
    assert dlt.destinations.sqlalchemy().capabilities().supported_merge_strategies == ["delete-insert", "scd2"]


def test_upsert_is_refused_by_the_sqlalchemy_destination(tmp_path, request):
    pipeline = make_pipeline("sqlite", tmp_path, request)

    @dlt.resource(name="things", primary_key="id", write_disposition={"disposition": "merge", "strategy": "upsert"})
    def upserts():
        yield [{"id": 1}]

    with pytest.raises(Exception, match="upsert"):
        pipeline.run(upserts())


def test_duckdb_file_is_free_between_queries(tmp_path, request):
    """Another process (a sync, `status`) can open the DuckDB file whenever we are not inside a query."""
    pipeline = make_pipeline("duckdb", tmp_path, request)
    pipeline.run(things(sample_rows(3))).raise_on_failed_jobs()
    path = tmp_path / "test.duckdb"
    writer = [sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r}).execute('CREATE TABLE x (i INT)')"]

    engine = db.engine_for_pipeline(pipeline)
    try:
        assert db.table_counts(engine, db.dataset_schema(pipeline))["things"] == 3
        released = subprocess.run(writer, capture_output=True, text=True, timeout=60)
        assert released.returncode == 0, released.stderr  # not disposed yet, yet the file is free
        with engine.connect():
            held = subprocess.run(writer, capture_output=True, text=True, timeout=60)
        assert held.returncode != 0 and "lock" in held.stderr.lower()  # inside a query we hold it
    finally:
        engine.dispose()

    pipeline.run(things(sample_rows(4))).raise_on_failed_jobs()  # dlt can load again
    with db.pipeline_engine(pipeline) as (engine, schema):
        assert db.table_counts(engine, schema)["things"] == 4


def test_pipeline_engines_from_many_threads(tmp_path, request):
    """dlt's config resolution is not thread-safe; db serialises it (extract workers call this in parallel)."""
    from concurrent.futures import ThreadPoolExecutor

    pipeline = make_pipeline("duckdb", tmp_path, request)
    pipeline.run(things(sample_rows(3))).raise_on_failed_jobs()

    def count(_: int) -> int:
        with db.pipeline_engine(pipeline) as (engine, schema):
            return db.table_counts(engine, schema)["things"]

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(count, range(32))) == [3] * 32


@pytest.mark.postgres
def test_postgres_engine_uses_pipeline_credentials_without_leaking_them(tmp_path, request, postgres_db):
    pipeline = make_pipeline("postgres", tmp_path, request)
    pipeline.run(things(sample_rows(2))).raise_on_failed_jobs()
    engine = db.engine_for_pipeline(pipeline)
    try:
        assert engine.url.port == postgres_db.server.port and engine.url.database == postgres_db.name
        assert "unused" not in repr(engine) and "unused" not in str(engine.url)
        with engine.connect() as conn:
            types = dict(conn.execute(sa.text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = 'things'"), {"s": db.dataset_schema(pipeline)}).all())
        assert types["update_time"] == "timestamp with time zone"
        assert types["value"] == "double precision" and types["amount"] == "numeric"
        assert types["is_deleted"] == "boolean"
    finally:
        engine.dispose()


def test_quote_ident_per_dialect(tmp_path):
    duck = sa.create_engine(f"duckdb:///{tmp_path / 'q.duckdb'}")
    try:
        assert db.quote_ident(duck, "deals") == "deals"
        assert db.quote_ident(duck, "select") == '"select"'
        assert db.quote_ident(duck, "Mixed Case") == '"Mixed Case"'
        assert db.qualified_name(duck, "pipedrive", "order") == 'pipedrive."order"'
    finally:
        duck.dispose()
    lite = sa.create_engine("sqlite://")
    assert db.quote_ident(lite, 'we"ird') == '"we""ird"'


def test_unsupported_destination_is_a_clear_error():
    with pytest.raises(db.DestinationNotSupported, match="duckdb, postgres or sqlalchemy"):
        db.engine_for_destination("bigquery", None)
