"""Rate limits of the simulator server: burst by plan and token kind, search limit, daily budget with
day reset, 429 retry-after, Cloudflare lockout after hammering, headers on every answer."""

from __future__ import annotations

from datetime import datetime, timezone

import time

import httpx
import pytest

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
ADMIN = {"x-api-token": "sim-admin-token"}
LIMIT_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-daily-ratelimit-token-limit",
    "x-daily-ratelimit-token-remaining",
)


def client(sim, headers=ADMIN) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url, headers=headers, timeout=10)


@pytest.mark.parametrize("plan, limit", [("essential", 20), ("advanced", 40)])
def test_burst_limit_by_plan(standin_factory, plan, limit):
    sim = standin_factory(plan=plan)
    with client(sim) as c:
        answers = [c.get("/deals/1") for _ in range(limit)]
        assert [r.status_code for r in answers] == [200] * limit
        assert [int(r.headers["x-ratelimit-remaining"]) for r in answers] == list(range(limit - 1, -1, -1))
        assert all(r.headers["x-ratelimit-limit"] == str(limit) for r in answers)
        over = c.get("/deals/1")
    assert over.status_code == 429
    assert 1 <= int(over.headers["retry-after"]) <= 2
    assert over.headers["x-ratelimit-remaining"] == "0"
    assert over.json()["success"] is False and over.json()["errorCode"] == 429
    assert sim.stats()["status"]["429"] == 1


def test_oauth_tokens_have_their_own_larger_burst(standin_factory):
    sim = standin_factory(plan="essential", oauth_client=("c", "s"))
    bearer = {"authorization": f"Bearer {sim.oauth_tokens()['access_token']}"}
    with client(sim, bearer) as c:
        statuses = [c.get("/deals/1").status_code for _ in range(81)]
    assert statuses[:80] == [200] * 80 and statuses[80] == 429
    with client(sim) as c:  # the API token has its own, smaller window
        assert c.get("/deals/1").headers["x-ratelimit-limit"] == "20"


def test_search_endpoints_limited_to_10_per_window(standin_factory):
    sim = standin_factory(plan="enterprise")
    with client(sim) as c:
        searches = [c.get("/itemSearch", params={"term": "ab"}) for _ in range(11)]
        other = c.get("/deals/1")
    assert [r.status_code for r in searches] == [200] * 10 + [429]
    assert searches[0].headers["x-ratelimit-limit"] == "10"
    assert "retry-after" in searches[10].headers
    assert other.status_code == 200 and other.headers["x-ratelimit-limit"] == "120"


def test_daily_budget_costs_exhaustion_and_next_day(standin_factory):
    sim = standin_factory(daily_budget=50, start_time=T0)
    with client(sim) as c:
        a = c.get("/deals")  # v1 list: 20 tokens
        b = c.get("/deals/collection")  # /collection: 10 tokens
        assert (a.status_code, b.status_code) == (200, 200)
        assert a.headers["x-daily-ratelimit-token-limit"] == "50"
        assert a.headers["x-daily-ratelimit-token-remaining"] == "30"
        assert b.headers["x-daily-ratelimit-token-remaining"] == "20"
        assert c.get("/deals").status_code == 200  # 20 left -> 0
        spent = c.get("/deals/1")
        assert spent.status_code == 429
        assert spent.json() == {"success": False, "error": "daily request budget exceeded", "errorCode": 429}
        assert spent.headers["x-daily-ratelimit-token-remaining"] == "0"
        assert int(spent.headers["retry-after"]) == 12 * 3600  # until UTC midnight of the sim clock
        assert sim.stats()["tokens_spent"] == 50

        assert httpx.post(f"{sim.url}/_sim/day").status_code == 200
        assert sim.clock.now() == datetime(2026, 7, 2, tzinfo=timezone.utc)
        fresh = c.get("/deals/1")  # single item: 2 tokens
        assert fresh.status_code == 200 and fresh.headers["x-daily-ratelimit-token-remaining"] == "48"


def test_default_budget_from_plan_and_seats(standin_factory):
    sim = standin_factory(plan="advanced", seats=3)
    with client(sim) as c:
        assert c.get("/deals/1").headers["x-daily-ratelimit-token-limit"] == str(30_000 * 2 * 3)


def test_hammering_after_429_earns_cloudflare_403_lockout(standin_factory):
    sim = standin_factory(plan="essential", lockout_seconds=30)
    with client(sim) as c:
        statuses = [c.get("/deals/1").status_code for _ in range(20 + 1 + 11)]
        blocked = c.get("/deals/1")
    assert statuses[:20] == [200] * 20
    assert statuses[20:31] == [429] * 11  # ten ignored retry-afters are tolerated
    assert statuses[31] == 403
    assert blocked.status_code == 403 and blocked.headers["content-type"].startswith("text/html")
    assert "Cloudflare" in blocked.text and "rate limited" in blocked.text
    assert all(h in blocked.headers for h in LIMIT_HEADERS)
    assert sim.stats()["lockouts"] == 1


def test_lockout_ends_after_its_period(standin_factory):
    sim = standin_factory(plan="essential", lockout_seconds=0.3, lockout_threshold=2)
    with client(sim) as c:
        statuses = [c.get("/deals/1").status_code for _ in range(24)]
        assert statuses[-1] == 403
        time.sleep(0.35)
        # the lockout is over; the 2-second burst window (real time) still holds the first 20 requests
        assert c.get("/deals/1").status_code == 429


def test_rate_limit_off_still_sends_headers(standin_factory):
    sim = standin_factory(plan="essential", rate_limit=False, daily_budget=30)
    with client(sim) as c:
        answers = [c.get("/deals") for _ in range(25)]
    assert {r.status_code for r in answers} == {200}
    for r in answers:
        assert all(h in r.headers for h in LIMIT_HEADERS)
    assert answers[0].headers["x-ratelimit-limit"] == "20"
    assert sim.stats()["tokens_spent"] == 25 * 20


def test_headers_on_error_answers(standin_factory):
    sim = standin_factory()
    for r in (
        httpx.get(f"{sim.url}/v1/deals/1"),  # 401
        httpx.get(f"{sim.url}/v1/nowhere", headers=ADMIN),  # 404
        httpx.get(f"{sim.url}/v1/deals/999", headers=ADMIN),  # handler 404
    ):
        assert r.status_code in (401, 404)
        assert all(h in r.headers for h in LIMIT_HEADERS)
