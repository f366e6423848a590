"""Admin endpoints (`/_sim/*`), error envelopes (400/404/410/500) and both path prefixes."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

ADMIN = {"x-api-token": "sim-admin-token"}
T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def sim(standin_factory):
    return standin_factory(rate_limit=False, start_time=T0)


@pytest.fixture
def c(sim):
    with httpx.Client(base_url=sim.url, headers=ADMIN, timeout=10) as client:
        yield client


def assert_envelope(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status
    body = r.json()
    assert body["success"] is False and body["error"] and body["data"] is None and "error_info" in body
    return body


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1", "/v2", "/api/v2"])
def test_path_prefixes(c, prefix):
    r = c.get(f"{prefix}/deals/2")
    assert r.status_code == 200 and r.json()["data"]["id"] == 2


def test_unknown_paths_404_envelope(c):
    for path in ("/api/v1/nothing/here", "/v3/deals", "/deals", "/", "/api/v9/deals/1"):
        body = assert_envelope(c.get(path), 404)
        assert body["errorCode"] == 404
    assert_envelope(c.delete("/v1/users/me"), 404)  # known path, unknown method


def test_handler_exception_is_500_envelope_not_a_traceback(c, caplog):
    with caplog.at_level("ERROR", logger="pipedrive_source.simulator"):
        r = c.get("/v1/notes/boom")
    body = assert_envelope(r, 500)
    assert "Traceback" not in r.text and "handler bug" not in r.text
    assert any("handler bug" in (rec.exc_text or str(rec.exc_info)) for rec in caplog.records)
    assert c.get("/v1/deals/1").status_code == 200  # the server lives on
    assert body["errorCode"] == 500


def test_bad_json_body_400_and_bodies_reach_handlers(c):
    r = c.post("/v1/deals", content=b"{not json", headers={"content-type": "application/json"})
    assert_envelope(r, 400)
    r = c.post("/v1/deals", json={"title": "x", "value": 5})
    assert r.json()["data"]["body"] == {"title": "x", "value": 5}
    r = c.put("/v1/deals/3", data={"title": "form"})
    assert r.json()["data"] == {"body": {"title": "form"}, "method": "PUT"}


def test_stats_keys_use_templates_and_reset(sim, c):
    c.get("/api/v1/deals/1")
    c.get("/v1/deals/2")
    c.get("/api/v1/deals", params={"limit": 5})
    c.put("/v1/deals/2", json={})
    c.get("/v1/nothing")
    stats = c.get("/_sim/stats").json()
    assert stats["requests"] == {
        "GET /v1/deals/{id}": 2,
        "GET /v1/deals": 1,
        "PUT /v1/deals/{deal_id}": 1,
        "GET <unmatched>": 1,
    }
    assert stats["status"] == {"200": 4, "404": 1}
    assert stats["tokens_spent"] == 2 + 2 + 20 + 10
    assert stats["lockouts"] == 0 and stats["faults"] == {}
    assert sim.stats()["requests"] == stats["requests"]
    assert c.post("/_sim/reset").status_code == 200
    assert c.get("/_sim/stats").json()["requests"] == {}


def test_clock_endpoint(sim, c):
    assert c.get("/_sim/clock").json() == {"now": "2026-07-01T12:00:00Z", "frozen": True}
    r = c.post("/_sim/clock", json={"advance": 3600})
    assert r.json()["now"] == "2026-07-01T13:00:00Z"
    r = c.post("/_sim/clock", json={"set": "2026-08-01T00:00:00Z"})
    assert sim.clock.now() == datetime(2026, 8, 1, tzinfo=timezone.utc)
    r = c.post("/_sim/clock", json={"freeze": False})
    assert r.json()["frozen"] is False
    assert sim.clock.now() >= datetime(2026, 8, 1, tzinfo=timezone.utc)
    assert c.post("/_sim/clock", json={"freeze": True, "set": "2026-09-01T00:00:00"}).json() == {
        "now": "2026-09-01T00:00:00Z",
        "frozen": True,
    }
    assert c.get("/v1/users/me").json()["data"]["now"].startswith("2026-09-01T00:00:00")
    assert c.post("/_sim/clock", json={"set": "not a time"}).status_code == 400


def test_day_endpoint(c, sim):
    r = c.post("/_sim/day")
    assert r.status_code == 200 and r.json()["now"] == "2026-07-02T00:00:00Z"


def test_v1_removed_410(sim, c):
    assert c.post("/_sim/v1_removed", json={"removed": True}).json()["removed"] is True
    for path in ("/v1/deals", "/api/v1/deals/collection", "/v1/deals/3"):
        body = assert_envelope(c.get(path), 410)
        assert body["errorCode"] == 410
    assert c.get("/v1/users/me").status_code == 200  # v1 stays the only API for users
    assert c.get("/api/v2/deals/3").status_code == 200
    assert c.post("/v1/deals", json={}).status_code == 200  # writes are not in the deprecation list
    sim.set_v1_removed(False)
    assert c.get("/v1/deals").status_code == 200


def test_v1_removed_at_start(standin_factory):
    sim = standin_factory(v1_removed=True)
    assert httpx.get(f"{sim.base_url}/deals/1", headers=ADMIN).status_code == 410


def test_unknown_admin_endpoint_and_admin_needs_no_token(sim):
    assert httpx.get(f"{sim.url}/_sim/stats").status_code == 200
    assert httpx.get(f"{sim.url}/_sim/nope").status_code == 404
    assert httpx.get(f"{sim.url}/_sim/config").json()["plan"] == "professional"


def test_date_header_follows_the_simulator_clock(sim, c):
    for r in (c.get("/v1/deals/1"), c.get("/v1/nothing"), c.get("/_sim/stats"), httpx.get(f"{sim.base_url}/deals/1")):
        assert r.headers["date"] == "Wed, 01 Jul 2026 12:00:00 GMT"
