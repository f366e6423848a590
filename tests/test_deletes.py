"""deletes.py against real destinations: tables loaded by small dlt pipelines, reconciled, merged back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import dlt
import pytest

from pipedrive_source import db
from pipedrive_source.deletes import (
    ReconcileAborted,
    deal_delete_fields,
    mark_deal_deleted,
    reconcile,
    reconcile_due,
)
from tests.test_db import make_pipeline

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 8, 2, 9, 30, 15, tzinfo=timezone.utc)
N = 30


@pytest.fixture(params=["duckdb", "postgres", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
    return request.param


def persons_resource(rows: list[dict], mode: str = "soft") -> Any:
    """Like the real source's entity resources: merge delete-insert on id, is_deleted/deleted_at columns."""
    columns: dict[str, Any] = {
        "update_time": {"data_type": "timestamp", "dedup_sort": "desc"},
        "is_deleted": {"data_type": "bool", "nullable": True},
        "deleted_at": {"data_type": "timestamp", "nullable": True},
        "revenue": {"data_type": "decimal", "precision": 18, "scale": 2},
    }
    if mode == "hard":
        columns["is_deleted"]["hard_delete"] = True

    @dlt.resource(name="persons", primary_key="id", columns=columns,
                  write_disposition={"disposition": "merge", "strategy": "delete-insert"})
    def persons():
        yield rows
    return persons()


def person_rows(ids: range | list[int]) -> list[dict]:
    return [{"id": i, "name": f"Person {i}", "org_id": 100 + i % 4, "score": i / 8,
             "revenue": Decimal(i * 25) / 4,
             "update_time": T0 + timedelta(hours=i), "is_deleted": False, "deleted_at": None} for i in ids]


def loaded(kind, tmp_path, request, mode: str = "soft") -> dlt.Pipeline:
    pipeline = make_pipeline(kind, tmp_path, request, name="deletes_test")
    pipeline.run(persons_resource(person_rows(range(1, N + 1)), mode)).raise_on_failed_jobs()
    return pipeline


def factory(pipeline: dlt.Pipeline, calls: list | None = None):
    def make():
        if calls is not None:
            calls.append(1)
        return db.engine_for_pipeline(pipeline)
    return make


def read_back(pipeline: dlt.Pipeline) -> dict[Any, dict]:
    with db.pipeline_engine(pipeline) as (engine, schema):
        return {r["id"]: r for r in db.fetch_rows(engine, schema, "persons", range(0, 1000), drop_dlt_columns=True)}


def as_utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite stores timestamps as text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def test_soft_reconcile_keeps_whole_rows_and_marks_them_deleted(kind, tmp_path, request):
    pipeline = loaded(kind, tmp_path, request)
    api_ids = [i for i in range(1, N + 1) if i not in (3, 7)] + [999]  # 999: new in the API, not yet synced
    before = read_back(pipeline)

    result = reconcile(lambda: iter(api_ids), factory(pipeline), db.dataset_schema(pipeline), "persons",
                       mode="soft", now=NOW)
    assert result.counts() == {"scanned": N - 1, "live_before": N, "vanished": 2, "reappeared": 0}
    assert result.vanished_ids == [3, 7]
    assert [r["id"] for r in result.rows] == [3, 7]
    assert not any(k.startswith("_dlt") for r in result.rows for k in r)
    assert result.rows[0]["name"] == "Person 3" and result.rows[0]["is_deleted"] is True
    assert result.rows[0]["deleted_at"] == NOW

    pipeline.run(persons_resource(result.rows)).raise_on_failed_jobs()
    after = read_back(pipeline)
    assert sorted(after) == list(range(1, N + 1))  # soft: nothing removed
    for pid in (3, 7):
        row = after[pid]
        assert row["is_deleted"] in (True, 1) and as_utc(row["deleted_at"]) == NOW
        # every other column survived the delete-insert merge
        same = {k: v for k, v in before[pid].items() if k not in ("is_deleted", "deleted_at")}
        assert {k: row[k] for k in same} == same
    assert after[4]["is_deleted"] in (False, 0) and after[4]["deleted_at"] is None
    with db.pipeline_engine(pipeline) as (engine, schema):
        assert db.live_ids(engine, schema, "persons") == set(range(1, N + 1)) - {3, 7}

    again = reconcile(lambda: iter(api_ids), factory(pipeline), db.dataset_schema(pipeline), "persons", now=NOW)
    assert again.vanished == 0 and again.rows == []  # already soft-deleted: not re-emitted


def test_hard_reconcile_removes_rows(kind, tmp_path, request):
    pipeline = loaded(kind, tmp_path, request, mode="hard")
    api_ids = [i for i in range(1, N + 1) if i not in (1, N)]
    result = reconcile(lambda: api_ids, factory(pipeline), db.dataset_schema(pipeline), "persons", mode="hard", now=NOW)
    assert result.rows == [{"id": 1, "is_deleted": True}, {"id": N, "is_deleted": True}]
    pipeline.run(persons_resource(result.rows, mode="hard")).raise_on_failed_jobs()
    assert sorted(read_back(pipeline)) == api_ids


def test_interrupted_scan_deletes_nothing(tmp_path, request):
    pipeline = loaded("duckdb", tmp_path, request)
    calls: list = []

    def broken_scan():
        yield from range(1, 11)
        raise ConnectionError("page 2 failed")

    with pytest.raises(ConnectionError, match="page 2 failed"):
        reconcile(broken_scan, factory(pipeline, calls), db.dataset_schema(pipeline), "persons", now=NOW)
    assert calls == []  # the destination was not even opened
    with db.pipeline_engine(pipeline) as (engine, schema):
        assert db.live_ids(engine, schema, "persons") == set(range(1, N + 1))


def test_mass_vanishing_is_refused_unless_allowed(tmp_path, request):
    pipeline = loaded("duckdb", tmp_path, request)
    own_items_only = list(range(1, 6))  # what a non-admin token would list
    with pytest.raises(ReconcileAborted, match="would delete 25 of 30 live rows"):
        reconcile(lambda: own_items_only, factory(pipeline), db.dataset_schema(pipeline), "persons", now=NOW)
    with pytest.raises(ReconcileAborted):
        reconcile(lambda: [], factory(pipeline), db.dataset_schema(pipeline), "persons", now=NOW)
    result = reconcile(lambda: own_items_only, factory(pipeline), db.dataset_schema(pipeline), "persons",
                       now=NOW, max_vanished_fraction=None)
    assert result.vanished == 25
    # at the threshold itself it proceeds: 15 of 30 is not more than half
    half = reconcile(lambda: range(1, 16), factory(pipeline), db.dataset_schema(pipeline), "persons", now=NOW)
    assert half.vanished == 15


def test_missing_table_means_nothing_to_reconcile(tmp_path, request):
    pipeline = loaded("duckdb", tmp_path, request)
    result = reconcile(lambda: [1, 2], factory(pipeline), db.dataset_schema(pipeline), "organizations", now=NOW)
    assert (result.scanned, result.live_before, result.rows) == (2, 0, [])


def test_ids_compare_across_int_and_text_and_reappear(tmp_path, request):
    pipeline = make_pipeline("duckdb", tmp_path, request, name="leads_test")

    @dlt.resource(name="leads", primary_key="id", write_disposition={"disposition": "merge", "strategy": "delete-insert"},
                  columns={"is_deleted": {"data_type": "bool", "nullable": True}})
    def leads(rows):
        yield rows

    uuids = [f"0b6f{i:04d}-aaaa-bbbb-cccc-1234567890ab" for i in range(4)]
    pipeline.run(leads([{"id": u, "title": f"lead {n}", "is_deleted": n == 0} for n, u in enumerate(uuids)]))
    # uuids[0] is soft-deleted already but the API lists it again; uuids[3] vanished
    result = reconcile(lambda: uuids[:3], factory(pipeline), db.dataset_schema(pipeline), "leads", now=NOW)
    assert result.vanished_ids == [uuids[3]] and result.reappeared_ids == [uuids[0]]
    assert result.rows[0]["title"] == "lead 3"

    ints = make_pipeline("duckdb", tmp_path, request, name="ints_test")
    ints.run(persons_resource(person_rows(range(1, 4)))).raise_on_failed_jobs()
    result = reconcile(lambda: ["1", "2", "3"], factory(ints), db.dataset_schema(ints), "persons", now=NOW)
    assert result.vanished == 0  # "2" from a text source equals bigint 2


def test_reconcile_inside_a_running_dlt_resource(tmp_path, request):
    """The source calls reconcile from within pipeline.run: DuckDB must be readable then and released after."""
    pipeline = loaded("duckdb", tmp_path, request)
    seen: dict[str, Any] = {}

    @dlt.resource(name="persons", primary_key="id",
                  write_disposition={"disposition": "merge", "strategy": "delete-insert"},
                  columns={"is_deleted": {"data_type": "bool"}, "deleted_at": {"data_type": "timestamp"}})
    def persons_with_reconcile():
        current = dlt.current.pipeline()
        result = reconcile(lambda: range(2, N + 1),
                           lambda: db.engine_for_pipeline(current),
                           db.dataset_schema(current), "persons", now=NOW)
        seen["counts"] = result.counts()
        yield result.rows

    pipeline.run(persons_with_reconcile()).raise_on_failed_jobs()
    assert seen["counts"]["vanished"] == 1
    after = read_back(pipeline)
    assert after[1]["is_deleted"] is True and after[1]["name"] == "Person 1"


def test_invalid_mode_is_rejected_before_scanning():
    scanned: list = []
    with pytest.raises(ValueError, match="soft, hard"):
        reconcile(lambda: scanned.append(1) or [], lambda: None, "s", "t", mode="purge")  # type: ignore[arg-type,return-value]
    assert scanned == []


# -- deals -----------------------------------------------------------------------------------
def test_deal_delete_fields():
    deleted = {"id": 1, "status": "deleted", "update_time": "2026-07-01 10:00:00"}
    assert deal_delete_fields(deleted) == {"is_deleted": True, "deleted_at": "2026-07-01 10:00:00"}
    for status in ("open", "won", "lost", None):
        assert deal_delete_fields({"status": status, "update_time": T0}) == {"is_deleted": False, "deleted_at": None}
    assert deal_delete_fields({"status": "open", "is_deleted": True, "update_time": T0}) == {
        "is_deleted": True, "deleted_at": T0}  # v2 flag
    row = {"id": 2, "status": "deleted", "update_time": T0}
    assert mark_deal_deleted(row) is row and row["is_deleted"] is True and row["deleted_at"] == T0


# -- schedule --------------------------------------------------------------------------------
@pytest.mark.parametrize(("last", "schedule", "now", "due"), [
    (None, "daily", NOW, True),
    (NOW - timedelta(minutes=5), "daily", NOW, False),
    (NOW.replace(hour=0, minute=0, second=1), "daily", NOW, False),
    (NOW.replace(hour=23, minute=59) - timedelta(days=1), "daily", NOW.replace(hour=0, minute=1), True),
    (NOW - timedelta(days=3), "daily", NOW, True),
    (NOW, "always", NOW, True),
    (None, "never", NOW, False),
    (NOW - timedelta(days=30), "never", NOW, False),
    (datetime(2026, 8, 1, 23, 0), "daily", datetime(2026, 8, 2, 0, 30, tzinfo=timezone(timedelta(hours=2))), False),
])
def test_reconcile_due(last, schedule, now, due):
    assert reconcile_due(last, schedule, now) is due


def test_reconcile_due_rejects_unknown_schedule():
    with pytest.raises(ValueError, match="always, daily, never"):
        reconcile_due(None, "weekly", NOW)
