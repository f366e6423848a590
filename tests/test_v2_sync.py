"""Issue 11 end to end: the same tables from API v2 as from v1, and ``auto`` switching when v1 goes away.

Real simulator (HTTP), real syncs into DuckDB files. The v1/v2 differences allowed here are exactly the
documented ones (``pipedrive_source.v2.V1_ONLY_TYPES`` + the ``prices`` JSON without price ids).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from pipedrive_source import v2
from pipedrive_source.runner import EXIT_BUDGET, EXIT_OK
from pipedrive_source.simulator import Simulator, SimulatorConfig, run_simulator
from pipedrive_source.simulator.limits import TokenCosts
from pipedrive_source.simulator.server import load_apis

from .sync_helpers import api, duckdb_pipeline, rows, sim_stats, sync

FROZEN = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
V2_ENTITIES = ["deals", "persons", "organizations", "activities", "products", "pipelines", "stages"]
DEPRECATED = ("/deals", "/persons", "/organizations", "/activities", "/products", "/pipelines", "/stages")


# ------------------------------------------------------------------------------------------ helpers
def archive_deal(sim: Simulator, did: int) -> None:
    """Archive a deal in the company (sim-core's v1 PUT has no is_archived for deals)."""
    c = sim.company
    with c.lock:
        flat = dict(c.get_flat("deals", did))
        flat.update(is_archived=True, update_time=c.now_str())
        c.stores["deals"].put(did, flat)


def table_info(p: Any) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for r in rows(p, "select table_name, column_name, data_type from information_schema.columns "
                     "where table_schema = '{schema}'"):
        if not r["table_name"].startswith("_dlt") and not r["column_name"].startswith("_dlt"):
            out.setdefault(r["table_name"], {})[r["column_name"]] = r["data_type"]
    return out


def table_rows(p: Any, table: str, cols: list[str]) -> Counter:
    quoted = ", ".join(f'"{c}"' for c in cols)
    got = rows(p, f"select {quoted} from {{schema}}.{table}")
    return Counter(tuple(_norm(table, c, r[c]) for c in cols) for r in got)


def _norm(table: str, col: str, value: Any) -> Any:
    if table == "products" and col == "prices" and value:  # documented: v2 price objects have no id
        return orjson.dumps([{k: v for k, v in p.items() if k != "id"} for p in orjson.loads(value)]).decode()
    return value


def v1_requests(stats: dict, prefixes: tuple[str, ...] = DEPRECATED) -> dict[str, int]:
    """Requests (any status) to the deprecated v1 lists/collections/items."""
    out = {}
    for key, n in stats["requests"].items():
        path = key.split(" ", 1)[1]
        if path.startswith("/v1/") and any(path[3:] == p or path[3:].startswith(p + "/collection")
                                            or path[3:] == p + "/{id}" for p in prefixes):
            out[key] = n
    return out


def assert_matches_truth(sim: Simulator, p: Any) -> None:
    """The entity tables hold exactly the simulator's live records (deals incl. deleted ones, soft)."""
    for entity in ("deals", "persons", "organizations", "activities", "products"):
        truth = {r["id"]: r for r in sim.company.visible(entity, include_deleted_deals=True)}
        landed = {r["id"]: r for r in rows(p, f"select id, update_time, is_deleted from {{schema}}.{entity}")}
        live = {i for i, r in landed.items() if not r["is_deleted"] or entity == "deals"}
        assert live == set(truth), entity
        for i, rec in truth.items():
            got = landed[i]["update_time"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            assert got == rec["update_time"], (entity, i)


# ------------------------------------------------------------------------------------------ v1 == v2
@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One company with deleted/archived deals, synced once through v1 and once through v2."""
    tmp = tmp_path_factory.mktemp("v1v2")
    with run_simulator(SimulatorConfig(scale=200, rate_limit=False, start_time=FROZEN)) as sim:
        api(sim, "DELETE", "/deals/7")
        api(sim, "PUT", "/deals/8", json={"title": "Renamed via v1", "status": "won"})
        archive_deal(sim, 9)
        sim.clock.advance(60)  # the writes lie inside the window (until = server time - safety lag)
        out: dict[str, Any] = {"sim_truth": {e: sim.company.count(e) for e in ("persons", "activities")}}
        for version in ("v1", "v2"):
            sim.reset_stats()
            p = duckdb_pipeline(tmp / version, name=f"p_{version}")
            result = sync(sim, p, entities=[*V2_ENTITIES, "notes"], api_version=version)
            assert result.exit_code == EXIT_OK, result.message
            out[version] = p
            out[f"{version}_stats"] = sim_stats(sim)
            out[f"{version}_result"] = result
        yield out


def test_v2_sync_uses_v2_for_v2_entities_and_v1_for_the_rest(both: dict[str, Any]) -> None:
    stats = both["v2_stats"]["requests"]
    assert not v1_requests(both["v2_stats"]), "v2 mode called deprecated v1 endpoints"
    for path in ("/v2/deals", "/v2/deals/archived", "/v2/persons", "/v2/organizations", "/v2/activities",
                 "/v2/products", "/v2/pipelines", "/v2/stages", "/v2/deals/products"):
        assert stats.get(f"GET {path}"), path
    assert stats.get("GET /v1/notes"), "notes have no v2 list: v1"
    assert stats.get("GET /v1/dealFields"), "field metadata from v1 (identical *_fields tables)"
    assert not any(k.startswith("GET /v2/") for k in both["v1_stats"]["requests"])


def test_v1_and_v2_produce_the_same_tables(both: dict[str, Any]) -> None:
    a, b = table_info(both["v1"]), table_info(both["v2"])
    assert set(a) == set(b)
    allowed = v2.V1_ONLY_TYPES
    checked = 0
    for table in sorted(a):
        documented = set(allowed.get(table, {}))
        only_a, only_b = set(a[table]) - set(b[table]), set(b[table]) - set(a[table])
        assert only_a <= documented and only_b <= documented, (table, only_a, only_b)
        common = sorted((set(a[table]) & set(b[table])) - documented)
        assert {c: a[table][c] for c in common} == {c: b[table][c] for c in common}, table
        for c in documented & set(b[table]):  # NULL when v2 served the row, with v1's type
            assert b[table][c] == a[table].get(c, b[table][c]), (table, c)
            assert rows(both["v2"], f'select count(*) as n from {{schema}}.{table} where "{c}" is not null')[0]["n"] == 0
        ra, rb = table_rows(both["v1"], table, common), table_rows(both["v2"], table, common)
        assert sum(ra.values()) == sum(rb.values()) > 0 or table.endswith("_options"), table
        diff = (ra - rb) + (rb - ra)
        assert not diff, f"{table}: {len(diff)} rows differ, e.g. {list(diff)[:2]}"
        checked += 1
    assert checked >= 20
    # the documented NULL columns are filled by v1 (the comparison above is not vacuous)
    v1_filled = rows(both["v1"], "select count(creator_user_id) as a, count(next_activity_date) as b "
                                 "from {schema}.deals")[0]
    assert v1_filled["a"] > 0 and v1_filled["b"] > 0


def test_deleted_and_archived_deals_land_alike(both: dict[str, Any]) -> None:
    for version in ("v1", "v2"):
        got = {r["id"]: r for r in rows(both[version], "select id, status, is_deleted, deleted_at, is_archived, title "
                                                       "from {schema}.deals where id in (7, 8, 9)")}
        assert got[7]["is_deleted"] is True and got[7]["status"] == "deleted" and got[7]["deleted_at"]
        assert got[8]["title"] == "Renamed via v1" and got[8]["status"] == "won"
        assert got[9]["is_archived"] is True and got[9]["is_deleted"] is False


def test_v2_spends_fewer_tokens_at_v2_prices(both: dict[str, Any]) -> None:
    costs = TokenCosts.load()
    for version in ("v1", "v2"):
        stats = both[f"{version}_stats"]
        expected = 0
        for key, n in stats["requests"].items():
            method, path = key.split(" ", 1)
            ver, _, template = path[1:].partition("/")
            expected += n * costs.cost(ver, method, "/" + template)
        assert stats["tokens_spent"] == expected  # failures are not charged here: every call was a 200
        assert both[f"{version}_result"].tokens == stats["tokens_spent"], "client-side accounting"
    v2_lists = {k: n for k, n in both["v2_stats"]["requests"].items() if k.startswith("GET /v2/")}
    assert costs.cost("v2", "GET", "/deals") == 10 and costs.cost("v2", "GET", "/deals/archived") == 20
    assert costs.cost("v2", "GET", "/pipelines") == 5 and v2_lists
    assert both["v2_stats"]["tokens_spent"] < both["v1_stats"]["tokens_spent"] * 0.7


# ------------------------------------------------------------------------------------------ auto
def test_auto_switches_between_runs_and_reads_only_the_changes(tmp_path, caplog) -> None:
    with run_simulator(SimulatorConfig(scale=150, rate_limit=False, start_time=FROZEN)) as sim:
        p = duckdb_pipeline(tmp_path)
        assert sync(sim, p, entities=V2_ENTITIES).exit_code == EXIT_OK  # auto = v1 while it exists
        sim.clock.advance(3600)
        api(sim, "PUT", "/deals/3", json={"title": "changed after run 1"})
        api(sim, "PUT", "/persons/4", json={"name": "Changed Person"})
        new = api(sim, "POST", "/deals", json={"title": "brand new deal"})["data"]["id"]
        api(sim, "DELETE", "/deals/5")
        sim.clock.advance(60)
        sim.set_v1_removed(True)
        sim.reset_stats()
        caplog.set_level(logging.WARNING, logger="pipedrive_source.v2")
        result = sync(sim, p, entities=V2_ENTITIES)
        assert result.exit_code == EXIT_OK, result.message
        stats = sim_stats(sim)
        # one 410 per entity, then v2; only the changes were fetched (one page per stream)
        gone = v1_requests(stats)
        assert stats["status"].get("410") == sum(gone.values()) and len(gone) == len(V2_ENTITIES)
        assert stats["requests"]["GET /v2/deals"] == 1 and stats["requests"]["GET /v2/persons"] == 1
        assert result.rows.get("deals") == 3 and result.rows.get("persons") == 1  # 3, 5 and the new one
        switched = [r for r in caplog.records if "switching this entity to API v2" in r.getMessage()]
        assert sorted(r.getMessage().split(":")[0] for r in switched) == sorted(V2_ENTITIES)
        got = {r["id"]: r for r in rows(p, "select id, title, is_deleted from {schema}.deals where id in (3, 5, :n)",
                                        n=new)}
        assert got[3]["title"] == "changed after run 1" and got[5]["is_deleted"] and got[new]["title"] == "brand new deal"
        assert rows(p, "select name from {schema}.persons where id = 4")[0]["name"] == "Changed Person"
        assert_matches_truth(sim, p)
        state = p.state["sources"]["pipedrive"]["resources"]
        assert all(state[e]["api"] == "v2" for e in V2_ENTITIES)
        # the next run goes straight to v2: no 410, no new warning
        caplog.clear()
        sim.reset_stats()
        assert sync(sim, p, entities=V2_ENTITIES).exit_code == EXIT_OK
        assert "410" not in sim_stats(sim)["status"] and not v1_requests(sim_stats(sim))
        assert not [r for r in caplog.records if "switching" in r.getMessage()]


def _remove_v1_after(n: int, template: str = "/deals/collection") -> tuple[dict, list]:
    """Route table whose v1 ``template`` removes v1 (server flag) once it has answered ``n`` times."""
    apis = load_apis()
    seen: list[int] = []
    holder: dict[str, Any] = {}
    v1 = apis["v1"]

    def match(method: str, path: str) -> Any:
        found = v1.match_route(method, path)
        if found is None or found[0].template != template:
            return found
        route, params = found
        inner = route.handler

        def handler(company: Any, req: Any) -> Any:
            out = inner(company, req)
            seen.append(1)
            if len(seen) >= n:
                holder["app"].v1_removed = True
            return out
        return type(route)(route.method, route.template, handler, route.is_search), params

    apis["v1"] = v1._replace(match_route=match)
    return {"apis": apis, "holder": holder}, seen


def test_auto_switches_mid_run(tmp_path) -> None:
    hook, seen = _remove_v1_after(3)
    with run_simulator(SimulatorConfig(scale=900, rate_limit=False, start_time=FROZEN), apis=hook["apis"]) as sim:
        hook["holder"]["app"] = sim.app
        api(sim, "DELETE", "/deals/11")
        sim.clock.advance(60)
        p = duckdb_pipeline(tmp_path)
        result = sync(sim, p, entities=["deals", "persons"], max_workers=2, children=False)
        assert result.exit_code == EXIT_OK, result.message
        assert len(seen) >= 3 and sim.app.v1_removed
        stats = sim_stats(sim)
        assert stats["status"].get("410", 0) >= 1 and stats["requests"].get("GET /v2/deals", 0) >= 1
        state = p.state["sources"]["pipedrive"]["resources"]
        assert state["deals"]["api"] == "v2" and "pending" not in state["deals"]
        assert rows(p, "select count(*) as n from {schema}.deals")[0]["n"] == sim.company.count(
            "deals", include_deleted_deals=True)
        assert_matches_truth_for(sim, p, ("deals", "persons"))
        assert rows(p, "select is_deleted from {schema}.deals where id = 11")[0]["is_deleted"] is True
        # one entity switched: the next run reads deals (with children) through v2 from the saved position
        api(sim, "PUT", "/deals/12", json={"title": "after the switch"})
        sim.clock.advance(60)
        sim.reset_stats()
        assert sync(sim, p, entities=["deals"], max_workers=2).exit_code == EXIT_OK
        stats = sim_stats(sim)["requests"]
        assert stats["GET /v2/deals"] == 1 and stats["GET /v2/deals/products"] == 1 and not v1_requests(
            sim_stats(sim))
        got = rows(p, "select title from {schema}.deals where id = 12")[0]["title"]
        assert got == "after the switch"
        truth = len(sim.company.deal_children("products", 12))
        assert rows(p, "select count(*) as n from {schema}.deal_products where deal_id = 12")[0]["n"] == truth


def assert_matches_truth_for(sim: Simulator, p: Any, entities: tuple[str, ...]) -> None:
    for entity in entities:
        truth = {r["id"]: r["update_time"] for r in sim.company.visible(entity, include_deleted_deals=True)}
        landed = {r["id"]: r["update_time"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
                  for r in rows(p, f"select id, update_time from {{schema}}.{entity}")}
        assert landed == truth, entity


# ------------------------------------------------------------------------------------------ v2 incremental
def test_v2_incremental_window_boundaries(tmp_path) -> None:
    """updated_until is exclusive: the run asks until + 1 s, so a record stamped exactly at the previous
    window end is not lost; the next window starts at that end minus the overlap."""
    with run_simulator(SimulatorConfig(scale=100, rate_limit=False, start_time=FROZEN)) as sim:
        p = duckdb_pipeline(tmp_path)
        api(sim, "PUT", "/deals/19", json={"title": "at the first window end"})  # stamped 12:00:00 = until
        assert sync(sim, p, entities=["deals"], api_version="v2", safety_lag_seconds=0).exit_code == EXIT_OK
        assert rows(p, "select title from {schema}.deals where id = 19")[0]["title"] == "at the first window end"
        state = p.state["sources"]["pipedrive"]["resources"]["deals"]
        assert state["last_until"] == "2026-07-01 12:00:00" and "api" not in state
        api(sim, "PUT", "/deals/20", json={"title": "at the old window end"})  # stamped 12:00:00 = last_until
        sim.clock.advance(120)
        api(sim, "PUT", "/deals/21", json={"title": "two minutes later"})
        sim.reset_stats()
        result = sync(sim, p, entities=["deals"], api_version="v2", safety_lag_seconds=0, overlap_seconds=0)
        assert result.exit_code == EXIT_OK
        titles = {r["id"]: r["title"] for r in rows(p, "select id, title from {schema}.deals where id in (20, 21)")}
        assert titles == {20: "at the old window end", 21: "two minutes later"}
        # 19 and 20 (stamped on the boundary second, since is inclusive) and 21; nothing else
        assert sim_stats(sim)["requests"]["GET /v2/deals"] == 1 and result.rows["deals"] == 3


def _v1_route_gone(template: str) -> dict:
    """Route table whose v1 ``template`` answers 410 Gone (as a removed v1 endpoint does)."""
    from pipedrive_source.simulator.api_v1 import error

    apis = load_apis()
    v1 = apis["v1"]

    def match(method: str, path: str) -> Any:
        found = v1.match_route(method, path)
        if found is None or found[0].template != template:
            return found
        route, params = found
        return type(route)(route.method, route.template, lambda c, r: error(410, "This endpoint has been removed."),
                           route.is_search), params

    apis["v1"] = v1._replace(match_route=match)
    return apis


def test_v2_field_metadata_when_v1_field_endpoints_are_gone(tmp_path) -> None:
    """Custom-field columns come out the same when the field map is built from /api/v2/dealFields."""
    cols = "id, contract_value, contract_value_currency, region, region_id, tags, tags_ids, source, source_2, billing_address_locality"
    got = {}
    for name, apis in (("v1fields", None), ("v2fields", _v1_route_gone("/dealFields"))):
        with run_simulator(SimulatorConfig(scale=60, rate_limit=False, start_time=FROZEN), apis=apis) as sim:
            p = duckdb_pipeline(tmp_path / name, name=name)
            assert sync(sim, p, entities=["deals"], api_version="v2", children=False).exit_code == EXIT_OK
            if apis is not None:
                assert sim_stats(sim)["requests"].get("GET /v2/dealFields") == 1
            got[name] = rows(p, f"select {cols} from {{schema}}.deals order by id")
    assert got["v1fields"] == got["v2fields"] and len(got["v1fields"]) == 60
    assert any(r["contract_value"] is not None for r in got["v2fields"])


def test_v2_reconciliation_scans_ids_through_v2(tmp_path) -> None:
    """Deleted persons are found by an id scan of /api/v2/persons (v1 lists are gone)."""
    with run_simulator(SimulatorConfig(scale=80, rate_limit=False, start_time=FROZEN, v1_removed=True)) as sim:
        p = duckdb_pipeline(tmp_path)
        assert sync(sim, p, entities=["persons"], children=False).exit_code == EXIT_OK  # auto -> v2 at once
        api(sim, "DELETE", "/persons/6")
        sim.clock.advance(60)
        sim.reset_stats()
        assert sync(sim, p, entities=["persons"], children=False, reconcile="always").exit_code == EXIT_OK
        stats = sim_stats(sim)["requests"]
        assert not v1_requests(sim_stats(sim)) and stats["GET /v2/persons"] >= 2  # the window + the id scan
        got = rows(p, "select is_deleted, deleted_at from {schema}.persons where id = 6")[0]
        assert got["is_deleted"] is True and got["deleted_at"] is not None
        assert rows(p, "select count(*) as n from {schema}.persons where not is_deleted")[0]["n"] == 79


def test_v2_budget_stop_resumes_from_the_saved_cursor(tmp_path) -> None:
    """A daily-budget stop mid-window keeps each stream's v2 cursor; the next day continues there."""
    with run_simulator(SimulatorConfig(scale=2500, rate_limit=False, start_time=FROZEN)) as sim:
        p = duckdb_pipeline(tmp_path / "whole", name="whole")
        assert sync(sim, p, entities=["deals"], api_version="v2", children=False, max_workers=1).exit_code == EXIT_OK
        whole = sim_stats(sim)["requests"]["GET /v2/deals"]
    with run_simulator(SimulatorConfig(scale=2500, rate_limit=False, start_time=FROZEN, daily_budget=110)) as sim:
        p = duckdb_pipeline(tmp_path / "split", name="split")
        first = sync(sim, p, entities=["deals"], api_version="v2", children=False, max_workers=1)
        assert first.exit_code == EXIT_BUDGET, first.message
        pending = p.state["sources"]["pipedrive"]["resources"]["deals"]["pending"]
        assert pending["api"] == "v2" and any(isinstance(s, dict) and s["cursor"] for s in pending["streams"].values())
        while True:
            sim.next_day()
            result = sync(sim, p, entities=["deals"], api_version="v2", children=False, max_workers=1)
            if result.exit_code == EXIT_OK:
                break
            assert result.exit_code == EXIT_BUDGET
        pages = sim_stats(sim)["requests"]["GET /v2/deals"]
        assert pages <= whole + 2, f"resumed runs re-read pages: {pages} vs {whole}"
        assert_matches_truth_for(sim, p, ("deals",))


def test_non_admin_token_gets_the_same_own_records_on_v2(tmp_path) -> None:
    """v1 falls back to offset lists for a non-admin (403 on /collection); v2 lists serve it directly."""
    with run_simulator(SimulatorConfig(scale=120, rate_limit=False, start_time=FROZEN)) as sim:
        got = {}
        for version in ("v1", "v2"):
            p = duckdb_pipeline(tmp_path / version, name=f"user_{version}")
            result = sync(sim, p, token=sim.config.user_token, entities=["deals", "persons"], api_version=version,
                          children=False)
            assert result.exit_code == EXIT_OK, result.message
            got[version] = {e: [r["id"] for r in rows(p, f"select id from {{schema}}.{e} order by id")]
                            for e in ("deals", "persons")}
        assert got["v1"] == got["v2"] and got["v2"]["deals"]
        uid = sim.company.non_admin_user_id
        assert got["v2"]["deals"] == [d["id"] for d in sim.company.visible("deals") if d["user_id"]["value"] == uid]
