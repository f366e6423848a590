"""sim-core through real HTTP: the company behind the uvicorn server (sim-server's fixtures)."""

from __future__ import annotations

import httpx
import pytest

ADMIN = {"x-api-token": "sim-admin-token"}


@pytest.fixture
def http(simulator):
    with httpx.Client(base_url=simulator.base_url, headers=ADMIN, timeout=30) as client:
        yield client


def _cursor_all(http: httpx.Client, path: str, **params) -> list[dict]:
    out: list[dict] = []
    cursor = None
    while True:
        q = dict(params, limit=params.get("limit", 500))
        if cursor:
            q["cursor"] = cursor
        r = http.get(path, params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(body["data"] or [])
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return out


def test_collection_over_http_matches_the_truth(http, simulator) -> None:
    for entity in ("deals", "persons", "organizations", "activities"):
        got = _cursor_all(http, f"/{entity}/collection", limit=150)
        truth = list(simulator.company.visible(entity))
        assert [r["id"] for r in got] == [r["id"] for r in truth]
        assert [r["update_time"] for r in got] == [r["update_time"] for r in truth]


def test_writes_over_http_stamp_the_sim_clock_and_show_up_incrementally(http, simulator) -> None:
    simulator.clock.freeze("2026-11-23T08:00:00Z")
    r = http.put("/deals/12", json={"title": "Changed over HTTP", "value": 1234})
    assert r.status_code == 200 and r.json()["data"]["update_time"] == "2026-11-23 08:00:00"
    r = http.post("/persons", json={"name": "Http Person", "email": ["http@example.org"]})
    assert r.status_code == 201
    new_id = r.json()["data"]["id"]
    r = http.put("/organizations/3", data={"name": "Form Encoded Org"})  # form body: strings
    assert r.status_code == 200 and r.json()["data"]["name"] == "Form Encoded Org"
    simulator.clock.advance(5)
    assert http.delete("/deals/13").status_code == 200
    since = "2026-11-23 08:00:00"
    deals = _cursor_all(http, "/deals/collection", since=since)
    assert [d["id"] for d in deals] == [12]
    assert deals[0]["value"] == 1234 and deals[0]["title"] == "Changed over HTTP"
    deleted = _cursor_all(http, "/deals/collection", since=since, status="deleted")
    assert [(d["id"], d["update_time"]) for d in deleted] == [(13, "2026-11-23 08:00:05")]
    assert [p["id"] for p in _cursor_all(http, "/persons/collection", since=since)] == [new_id]
    assert [o["id"] for o in _cursor_all(http, "/organizations/collection", since="2026-11-23T08:00:00Z")] == [3]
    recents = http.get("/recents", params={"since_timestamp": since}).json()["data"]
    assert {(r["item"], r["id"]) for r in recents} == {("deal", 12), ("deal", 13), ("person", new_id),
                                                      ("organization", 3)}


def test_bad_input_over_http_is_an_envelope(http) -> None:
    for path, params, status in [("/deals", {"limit": "many"}, 400), ("/deals/xyz", {}, 400),
                                 ("/deals/424242", {}, 404), ("/deals/collection", {"cursor": "%%%"}, 400),
                                 ("/recents", {"since_timestamp": "2020-01-01 00:00:00"}, 400)]:
        r = http.get(path, params=params)
        assert r.status_code == status, (path, r.text)
        body = r.json()
        assert body["success"] is False and body["error"] and "Traceback" not in r.text
    r = http.post("/deals", json={"value": 3})
    assert r.status_code == 400 and r.json()["success"] is False
