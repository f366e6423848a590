"""Custom fields end to end: simulator -> source -> DuckDB / PostgreSQL, every field type, renames, adds, deletes."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any

import pytest

from pipedrive_source.runner import EXIT_OK, make_pipeline

from .sync_helpers import api, duckdb_pipeline, rows, sync

FROZEN = datetime(2026, 7, 1, 12, 0, 0, tzinfo=timezone.utc)

# dlt type -> what information_schema reports, per engine
DB_TYPES = {
    "duckdb": {"double": "DOUBLE", "bigint": "BIGINT", "text": "VARCHAR", "date": "DATE", "time": "TIME"},
    "postgres": {"double": "double precision", "bigint": "bigint", "text": "character varying", "date": "date",
                 "time": "time without time zone"},
}
# field_type -> {column suffix: dlt type}
EXPECTED = {
    "monetary": {"": "double", "_currency": "text"},
    "double": {"": "double"},
    "int": {"": "bigint"},
    "enum": {"": "text", "_id": "bigint"},
    "set": {"": "text", "_ids": "text"},
    "user": {"": "bigint"},
    "org": {"": "bigint"},
    "people": {"": "bigint"},
    "date": {"": "date"},
    "daterange": {"": "date", "_until": "date"},
    "time": {"": "time"},
    "timerange": {"": "time", "_until": "time"},
    "varchar": {"": "text"},
    "varchar_auto": {"": "text"},
    "text": {"": "text"},
    "phone": {"": "text"},
    "address": {"": "text", "_route": "text", "_street_number": "text", "_locality": "text", "_country": "text",
                "_postal_code": "text", "_admin_area_level_1": "text", "_admin_area_level_2": "text",
                "_sublocality": "text", "_subpremise": "text", "_formatted_address": "text"},
}


def _pipeline(kind: str, tmp_path, request) -> Any:
    if kind == "duckdb":
        return duckdb_pipeline(tmp_path)
    pg = request.getfixturevalue("postgres_db")
    return make_pipeline("postgres", credentials=pg.dlt_credentials, pipelines_dir=tmp_path / "dlt",
                         dataset_name=f"cf_{abs(hash(request.node.name)) % 10**8}")


def _column_types(p: Any, table: str) -> dict[str, str]:
    got = rows(p, "select column_name, data_type from information_schema.columns "
                  "where table_schema = :s and table_name = :t", s=_schema(p), t=table)
    return {r["column_name"]: r["data_type"] for r in got}


def _schema(p: Any) -> str:
    from pipedrive_source.db import dataset_schema

    return dataset_schema(p)


def _field_columns(p: Any, table: str = "deal_fields") -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in rows(p, f"select * from {{schema}}.{table}")}


def _raw(v: Any) -> Any:
    return v.get("value") if isinstance(v, dict) else v


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_every_field_type_lands_named_and_typed(kind: str, simulator, tmp_path, request) -> None:
    p = _pipeline(kind, tmp_path, request)
    res = sync(simulator, p, entities=["deals", "leads"], children=False)
    assert res.exit_code == EXIT_OK, res.message
    fields = [f for f in simulator.company.fields["deals"] if f.get("edit_flag")]
    assert {f["field_type"] for f in fields} >= set(EXPECTED) - {"varchar_auto"}
    meta = _field_columns(p)
    types = _column_types(p, "deals")
    lead_types = _column_types(p, "leads")
    columns: dict[str, str] = {}
    for f in fields:
        col = meta[f["key"]]["column_name"]
        columns[f["key"]] = col
        for suffix, dlt_type in EXPECTED[f["field_type"]].items():
            name = col + suffix
            assert types.get(name) == DB_TYPES[kind][dlt_type], (f["name"], name, types.get(name))
            assert lead_types.get(name) == DB_TYPES[kind][dlt_type], ("leads", f["name"], name)
        assert f["key"] not in types  # labels mode: no raw hash columns
    # distinct columns for the duplicate "Source" fields and the custom "Value" next to the system value
    assert len(set(columns.values())) == len(fields)
    by_name = {}
    for f in fields:
        by_name.setdefault(f["name"], []).append(columns[f["key"]])
    assert sorted(by_name["Source"]) == ["source", "source_2"]
    assert by_name["Value"] == ["value_2"] and types["value"] == DB_TYPES[kind]["double"]

    truth = {d["id"]: d for d in simulator.company.visible("deals", include_deleted_deals=True)}
    landed = {r["id"]: r for r in rows(p, "select * from {schema}.deals")}
    checked = {t: 0 for t in EXPECTED}
    for did, deal in truth.items():
        row = landed[did]
        for f in fields:
            col, raw, ftype = columns[f["key"]], deal.get(f["key"]), f["field_type"]
            options = {o["id"]: o["label"] for o in f.get("options") or []}
            if raw in (None, ""):
                assert row[col] is None, (did, col)
                continue
            checked[ftype] += 1
            if ftype == "monetary":
                assert row[col] == pytest.approx(float(raw)) and row[col + "_currency"] == deal[f["key"] + "_currency"]
            elif ftype in ("double",):
                assert row[col] == pytest.approx(float(raw))
            elif ftype == "int":
                assert row[col] == int(raw)
            elif ftype == "enum":
                assert row[col + "_id"] == int(raw) and row[col] == options.get(int(raw))  # deleted option: NULL label
            elif ftype == "set":
                ids = [int(x) for x in str(raw).split(",")]
                assert row[col + "_ids"] == str(raw)
                assert row[col] == ", ".join(options[i] for i in sorted(ids) if i in options) or row[col] is None
            elif ftype in ("user", "org", "people"):
                assert row[col] == int(_raw(raw))
            elif ftype in ("date", "daterange"):
                if str(raw).startswith("0000"):
                    assert row[col] is None
                else:
                    assert row[col] == date.fromisoformat(str(raw)[:10])
            elif ftype in ("time", "timerange"):
                assert row[col] == time.fromisoformat(str(raw))
            elif ftype == "address":
                for sub in ("route", "locality", "country", "postal_code"):
                    assert row[f"{col}_{sub}"] == deal.get(f"{f['key']}_{sub}")
                assert row[col] == raw
            else:
                assert row[col] == str(raw)
    assert all(n > 0 for t, n in checked.items() if t != "varchar_auto" or n), checked
    # a set with several ids, a deleted enum option, two currencies were really exercised
    currencies = {r["c"] for r in rows(p, f"select distinct {columns[_key(fields, 'Contract value')]}_currency as c "
                                         "from {schema}.deals")} - {None}
    assert len(currencies) >= 2
    multi = rows(p, f"select count(*) as n from {{schema}}.deals where {columns[_key(fields, 'Tags')]}_ids like '%,%'")
    assert multi[0]["n"] > 0


def _key(fields: list[dict], name: str) -> str:
    return next(f["key"] for f in fields if f["name"] == name)


def test_rename_add_delete_between_runs_keeps_columns_stable(simulator_factory, tmp_path) -> None:
    sim = simulator_factory(scale="small", rate_limit=False, start_time=FROZEN)
    p = duckdb_pipeline(tmp_path)
    assert sync(sim, p, entities=["deals"], children=False).exit_code == EXIT_OK
    fields = [f for f in sim.company.fields["deals"] if f.get("edit_flag")]
    contract, seats = _key(fields, "Contract value"), _key(fields, "Seats")
    contract_id = next(f["id"] for f in fields if f["key"] == contract)
    seats_id = next(f["id"] for f in fields if f["key"] == seats)
    api(sim, "PUT", f"/dealFields/{contract_id}", json={"name": "Contract amount (renamed)"})
    added = api(sim, "POST", "/dealFields", json={"name": "Priority", "field_type": "varchar"})["data"]
    api(sim, "DELETE", f"/dealFields/{seats_id}")
    deal_id = next(sim.company.visible("deals"))["id"]
    api(sim, "PUT", f"/deals/{deal_id}", json={added["key"]: "P1"})
    sim.clock.advance(60)
    assert sync(sim, p, entities=["deals"], children=False).exit_code == EXIT_OK
    types = _column_types(p, "deals")
    assert "contract_value" in types and "contract_amount_renamed" not in types  # rename: same column
    assert "seats" in types  # delete: column kept
    assert types.get("priority") == "VARCHAR"  # add: new column, filled for the changed deal
    got = rows(p, "select priority, contract_value from {schema}.deals where id = :i", i=deal_id)[0]
    assert got["priority"] == "P1"
    meta = _field_columns(p)
    assert meta[contract]["name"] == "Contract amount (renamed)" and meta[contract]["column_name"] == "contract_value"
    assert meta[seats]["deleted"] is True
    assert meta[added["key"]]["column_name"] == "priority"


def test_hash_and_both_modes(simulator, tmp_path) -> None:
    hash_p = duckdb_pipeline(tmp_path, "hash")
    both_p = duckdb_pipeline(tmp_path, "both")
    assert sync(simulator, hash_p, entities=["deals"], children=False, custom_fields="hash").exit_code == EXIT_OK
    assert sync(simulator, both_p, entities=["deals"], children=False, custom_fields="both").exit_code == EXIT_OK
    fields = [f for f in simulator.company.fields["deals"] if f.get("edit_flag")]
    hash_cols = _column_types(hash_p, "deals")
    both_cols = _column_types(both_p, "deals")
    # dlt's snake_case naming prefixes identifiers that start with a digit ("8e2e..." -> "_8e2e...")
    contract = hash_p.default_schema.naming.normalize_identifier(_key(fields, "Contract value"))
    assert contract in hash_cols and f"{contract}_currency" in hash_cols and "contract_value" not in hash_cols
    assert contract in both_cols and "contract_value" in both_cols
