"""API v2 semantics of the simulator: same company as v1, cursor paging, windows, filters, costs, v1 removal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pipedrive_source.simulator import Simulator, SimulatorConfig, run_simulator
from pipedrive_source.simulator.api_v2 import match_route_v2
from pipedrive_source.simulator.limits import TokenCosts, normalise_template

FROZEN = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(SimulatorConfig(scale=120, rate_limit=False, start_time=FROZEN)) as s:
        yield s


def v2(s: Simulator, path: str, params: dict | None = None, *, token: str | None = None,
       status: int = 200) -> dict:
    r = httpx.get(f"{s.url}/api/v2{path}", params=params, timeout=30,
                  headers={"x-api-token": token or s.config.api_token})
    assert r.status_code == status, (path, r.status_code, r.text[:300])
    return r.json()


def v1(s: Simulator, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, f"{s.url}/api/v1{path}", headers={"x-api-token": s.config.api_token},
                         timeout=30, **kw)


def all_pages(s: Simulator, path: str, params: dict | None = None, limit: int = 37) -> list[dict]:
    out: list[dict] = []
    cursor = None
    while True:
        p = {**(params or {}), "limit": limit}
        if cursor:
            p["cursor"] = cursor
        body = v2(s, path, p)
        out.extend(body["data"])
        cursor = body["additional_data"]["next_cursor"]
        if not cursor:
            return out


def v1_collection_ids(s: Simulator, entity: str, **params: Any) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        q = {**params, "limit": 500}
        if cursor:
            q["cursor"] = cursor
        body = v1(s, "GET", f"/{entity}/collection", params=q).json()
        ids.extend(r["id"] for r in body["data"] or [])
        cursor = body["additional_data"]["next_cursor"]
        if not cursor:
            return ids


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("entity", ["deals", "persons", "organizations", "activities"])
def test_v2_lists_the_same_records_as_v1(sim: Simulator, entity: str) -> None:
    got = all_pages(sim, f"/{entity}")
    assert [r["id"] for r in got] == v1_collection_ids(sim, entity)
    assert len(got) == sim.company.count(entity)


def test_a_deal_is_the_same_deal_in_both_generations(sim: Simulator) -> None:
    deal_fields = {f["key"]: f for f in sim.company.custom_fields("deals")}
    for did in (1, 2, 3, 50):
        old = v1(sim, "GET", "/deals/collection", params={"limit": 500}).json()["data"][did - 1]
        new = v2(sim, f"/deals/{did}")["data"]
        assert old["id"] == new["id"] == did
        assert new["owner_id"] == old["user_id"]
        assert new["update_time"] == old["update_time"].replace(" ", "T") + "Z"
        assert new["visible_to"] == int(old["visible_to"])
        assert new["is_deleted"] is False and new["status"] == old["status"]
        assert "user_id" not in new and "creator_user_id" not in new  # no v1 leftovers
        for key, f in deal_fields.items():
            if f["field_type"] == "monetary" and old.get(key) is not None:
                assert new["custom_fields"][key] == {"value": old[key], "currency": old[f"{key}_currency"]}
            if f["field_type"] == "set" and old.get(key):
                assert new["custom_fields"][key] == [int(x) for x in old[key].split(",")]
            if f["field_type"] == "people" and old.get(key) is not None:
                assert new["custom_fields"][key] == old[key]["value"]


def test_update_window_since_inclusive_until_exclusive(sim: Simulator) -> None:
    t = sim.clock.now().replace(microsecond=0)
    assert v1(sim, "PUT", "/deals/4", json={"title": "touched at t"}).status_code == 200
    sim.clock.advance(10)
    assert v1(sim, "PUT", "/deals/9", json={"title": "touched at t+10"}).status_code == 200
    ids = lambda **p: [d["id"] for d in all_pages(sim, "/deals", p)]
    assert ids(updated_since=stamp(t)) == [4, 9]
    assert ids(updated_since=stamp(t), updated_until=stamp(t + timedelta(seconds=10))) == [4]
    assert ids(updated_since=stamp(t + timedelta(seconds=1))) == [9]
    assert ids(updated_until=stamp(t)) == [i for i in range(1, 121) if i not in (4, 9)]
    # offsets are RFC 3339 too
    assert ids(updated_since=(t + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")) == [4, 9]


def test_update_time_cursor_is_exact_while_records_change(sim: Simulator) -> None:
    """Keyset cursor on (update_time, id): no record skipped or repeated when earlier ones change."""
    until = stamp(sim.clock.now())
    first = v2(sim, "/persons", {"sort_by": "update_time", "limit": 40, "updated_until": until})
    seen = [p["id"] for p in first["data"]]
    # change records on the page already read and beyond it: they leave the window (update_time >= until)
    sim.clock.advance(5)
    for pid in (seen[0], seen[5], 100):
        assert v1(sim, "PUT", f"/persons/{pid}", json={"name": f"Renamed {pid}"}).status_code == 200
    cursor = first["additional_data"]["next_cursor"]
    while cursor:
        body = v2(sim, "/persons", {"sort_by": "update_time", "limit": 40, "updated_until": until, "cursor": cursor})
        seen.extend(p["id"] for p in body["data"])
        cursor = body["additional_data"]["next_cursor"]
    assert len(seen) == len(set(seen))
    assert set(seen) == set(range(1, 121)) - {100}  # 100 changed before it was reached: next window's job
    times = [p["update_time"] for p in v2(sim, "/persons", {"sort_by": "update_time", "sort_direction": "desc",
                                                           "limit": 500})["data"]]
    assert times == sorted(times, reverse=True)


def test_deleted_and_archived_deals(sim: Simulator) -> None:
    assert v1(sim, "DELETE", "/deals/7").status_code == 200
    c = sim.company
    with c.lock:
        flat = dict(c.get_flat("deals", 8))
        flat.update(is_archived=True, update_time=c.now_str())
        c.stores["deals"].put(8, flat)
    live = {d["id"] for d in all_pages(sim, "/deals")}
    assert 7 not in live and 8 not in live and len(live) == 118
    deleted = all_pages(sim, "/deals", {"status": "deleted"})
    assert [(d["id"], d["is_deleted"], d["status"]) for d in deleted] == [(7, True, "deleted")]
    archived = all_pages(sim, "/deals/archived")
    assert [(d["id"], d["is_archived"]) for d in archived] == [(8, True)]
    everything = {d["id"] for d in all_pages(sim, "/deals", {"status": "open,won,lost,deleted"})}
    assert everything == live | {7}
    won = all_pages(sim, "/deals", {"status": "won"})
    assert won and all(d["status"] == "won" for d in won)


def test_deal_children_v2(sim: Simulator) -> None:
    bulk = all_pages(sim, "/deals/products", {"deal_ids": ",".join(map(str, range(1, 31)))}, limit=5)
    per_deal = [p for did in range(1, 31) for p in v2(sim, f"/deals/{did}/products")["data"]]
    assert sorted(p["id"] for p in bulk) == sorted(p["id"] for p in per_deal) and bulk
    v1_rows = [r for did in range(1, 31) for r in (v1(sim, "GET", f"/deals/{did}/products").json()["data"] or [])]
    assert sorted((r["id"], r["deal_id"], r["sum"]) for r in v1_rows) == sorted(
        (p["id"], p["deal_id"], p["sum"]) for p in bulk)
    v2(sim, "/deals/products", {"deal_ids": ",".join(map(str, range(1, 102)))}, status=400)
    followers = v2(sim, "/deals/1/followers")["data"]
    assert [f["user_id"] for f in followers] == [f["user_id"] for f in v1(sim, "GET", "/deals/1/followers").json()["data"]]


def test_bad_parameters_answer_400(sim: Simulator) -> None:
    v2(sim, "/deals", {"limit": 501}, status=400)
    v2(sim, "/deals", {"sort_by": "title"}, status=400)
    v2(sim, "/deals", {"updated_since": "2026-01-01 00:00:00"}, status=400)
    v2(sim, "/deals", {"cursor": "garbage!"}, status=400)
    v2(sim, "/deals", {"status": "all_not_deleted"}, status=400)
    v2(sim, "/deals", {"include_fields": "user_id"}, status=400)
    cur = v2(sim, "/deals", {"limit": 5})["additional_data"]["next_cursor"]
    v2(sim, "/deals", {"limit": 5, "sort_by": "update_time", "cursor": cur}, status=400)
    v2(sim, "/deals/9999", status=404)


def test_non_admin_sees_only_own_records(sim: Simulator) -> None:
    uid = sim.company.non_admin_user_id
    body = v2(sim, "/deals", {"limit": 500}, token=sim.config.user_token)
    assert body["data"] and all(d["owner_id"] == uid for d in body["data"])
    admin = [d for d in v2(sim, "/deals", {"limit": 500})["data"] if d["owner_id"] == uid]
    assert [d["id"] for d in body["data"]] == [d["id"] for d in admin]


def test_v2_token_costs_and_v1_removal(sim: Simulator) -> None:
    sim.reset_stats()
    v2(sim, "/deals", {"limit": 10})
    v2(sim, "/deals/archived")
    v2(sim, "/pipelines")
    v2(sim, "/stages")
    v2(sim, "/deals/1")
    v2(sim, "/persons/search", {"term": "an"})
    v2(sim, "/deals/products", {"deal_ids": "1,2"})
    stats = sim.stats()
    assert stats["requests"]["GET /v2/deals"] == 1 and stats["requests"]["GET /v2/deals/{id}"] == 1
    assert stats["tokens_spent"] == 10 + 20 + 5 + 5 + 1 + 20 + 10
    sim.set_v1_removed(True)
    assert v1(sim, "GET", "/deals/collection").status_code == 410
    assert v1(sim, "GET", "/persons").status_code == 410
    assert v1(sim, "GET", "/dealFields").status_code == 200  # field endpoints stay in v1
    assert v2(sim, "/deals", {"limit": 1})["data"]


def test_every_route_resolves_to_its_v2_token_cost() -> None:
    """Each template is spelled as in token_costs.tsv (no silent fallback to a default cost)."""
    costs = TokenCosts.load()
    from pipedrive_source.simulator.api_v2 import routes

    for route in routes():
        key = ("v2", route.method, normalise_template(route.template))
        assert key in costs._costs, f"{route.template} is not in token_costs.tsv"
    assert match_route_v2("GET", "/deals/archived")[0].template == "/deals/archived"
    assert match_route_v2("GET", "/deals/12")[1] == {"id": "12"}
    assert match_route_v2("GET", "/notes") is None
