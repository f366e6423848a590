"""The client against the simulator's server layer over real sockets: auth, rate limits, budget,
faults, OAuth. Uses sim-server's stand-in route table (`standin_factory`: /deals offset list,
/deals/{id}, /itemSearch, echo writes) so these tests exercise exactly the HTTP behaviour."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from pipedrive_source.client import PipedriveClient
from pipedrive_source.errors import (
    DailyBudgetExhausted,
    PipedriveAuthError,
    PipedriveNotFoundError,
    PipedriveUnavailableError,
)
from pipedrive_source.oauth import OAuthCredentials
from pipedrive_source.pagination import iter_concurrent
from pipedrive_source.ratelimit import next_midnight_utc
from tests.fixtures.simulator import StandinCompany

FAST = {"backoff_initial": 0.01, "backoff_max": 0.05}


def _total(stats: dict, status: str | None = None) -> int:
    if status is None:
        return sum(stats["requests"].values())
    return stats["status"].get(status, 0)


def _ids(client: PipedriveClient, **kw: Any) -> list[int]:
    return [row["id"] for page in client.iter_offset("/deals", **kw) for row in page.items]


# ---- auth -----------------------------------------------------------------------------------------

def test_wrong_token_fails_on_first_request_without_retries(standin_factory: Callable) -> None:
    sim = standin_factory(rate_limit=True)
    with PipedriveClient(base_url=sim.base_url, api_token="wrong-token-4f1d9") as client:
        with pytest.raises(PipedriveAuthError) as info:
            list(client.iter_offset("/deals", {"sort": "id ASC"}))
        assert client.stats.retries == 0
    text = str(info.value)
    assert "GET /v1/deals?sort=id+ASC" in text and "HTTP 401" in text and "unauthorized access" in text
    assert "API token" in text and "wrong-token-4f1d9" not in text
    assert _total(sim.stats()) == 1


def test_errors_are_not_retried(standin_factory: Callable) -> None:
    sim = standin_factory(rate_limit=False)
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token) as client:
        with pytest.raises(PipedriveNotFoundError, match=r"GET /v1/deals/9999 -> HTTP 404: .*Deal not found"):
            client.get("/deals/9999")
        assert client.get("/deals/3")["data"]["id"] == 3
    assert sim.stats()["requests"] == {"GET /v1/deals/{id}": 2}


# ---- faults -------------------------------------------------------------------------------------

FAULTS = ("500:0.08,502:0.04,503:0.04,504:0.04,slow:0.05@0.6,reset:0.06,truncate:0.06,html200:0.05,seed=11")


def test_full_pagination_survives_every_fault_kind(standin_factory: Callable) -> None:
    sim = standin_factory(rate_limit=False, faults=FAULTS, company=StandinCompany(400))
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, timeout=0.3, **FAST) as client:
        ids = _ids(client, limit=10)
        stats = client.stats
    assert ids == list(range(1, 401))  # exactly the right records, once each, in order
    faults = sim.stats()["faults"]
    assert {k for k, v in faults.items() if v} >= {"500", "502", "503", "504", "slow", "reset", "truncate", "html200"}
    assert stats.retries == sum(faults.values())  # one retry per injected fault, none wasted
    assert stats.total_requests == 40 + sum(faults.values())
    deadline = time.monotonic() + 2  # a timed-out slow answer is counted when the server finishes it
    while _total(sim.stats()) < stats.total_requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _total(sim.stats()) == stats.total_requests


def test_gives_up_with_a_clear_error_when_faults_persist(standin_factory: Callable) -> None:
    sim = standin_factory(rate_limit=False, faults="503:1")
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, max_retries=3, **FAST) as client:
        with pytest.raises(PipedriveUnavailableError) as info:
            client.get("/deals", {"start": 0})
    assert "GET /v1/deals?start=0" in str(info.value) and "4 attempts" in str(info.value)
    assert "HTTP 503" in str(info.value)
    assert _total(sim.stats()) == 4


def test_retry_time_is_bounded(standin_factory: Callable) -> None:
    sim = standin_factory(rate_limit=False, faults="slow:1@0.5")
    started = time.monotonic()
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, timeout=0.2,
                         max_retries=100, max_retry_time=1.0, **FAST) as client:
        with pytest.raises(PipedriveUnavailableError, match="ReadTimeout"):
            client.get("/deals")
    assert time.monotonic() - started < 2.5


# ---- 429 and burst limits -------------------------------------------------------------------------

def test_429_storm_pauses_all_threads_and_never_earns_a_lockout(standin_factory: Callable) -> None:
    sim = standin_factory(rate_limit=True, faults="429:0.05@1x4,seed=5", company=StandinCompany(120))
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, max_workers=4, **FAST) as client:
        streams = [lambda s=s: client.iter_offset("/deals", {"start": 0}, limit=10) for s in range(4)]
        got: dict[int, list[int]] = {i: [] for i in range(4)}
        for index, page in iter_concurrent(streams, max_workers=4):
            got[index].extend(row["id"] for row in page.items)
        stats = client.stats
    sim_stats = sim.stats()
    assert all(ids == list(range(1, 121)) for ids in got.values())
    assert sim_stats["lockouts"] == 0 and _total(sim_stats, "403") == 0
    assert stats.rate_limited == _total(sim_stats, "429") >= 4


def test_burst_limit_is_respected_and_learned(standin_factory: Callable) -> None:
    """Essential plan: 20 requests per 2 s. The client starts from its configured guess and
    adopts the server's x-ratelimit-limit; no request is ever refused."""
    sim = standin_factory(rate_limit=True, plan="essential")
    n = 50
    started = time.monotonic()
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, plan="professional",
                         max_workers=4) as client:
        streams = [lambda i=i: [client.get(f"/deals/{1 + (j % 50)}") for j in range(i, n, 4)] for i in range(4)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(4) as pool:
            results = [r for f in [pool.submit(s) for s in streams] for r in f.result()]
        assert client.burst_limit == 20
    elapsed = time.monotonic() - started
    assert len(results) == n
    sim_stats = sim.stats()
    assert _total(sim_stats, "429") == 0 and sim_stats["lockouts"] == 0
    # 50 requests at 19 per 2 s need at least two full windows after the first batch
    assert elapsed >= 4.0


def test_search_endpoints_have_their_own_window(standin_factory: Callable) -> None:
    sim = standin_factory(rate_limit=True, plan="enterprise")
    started = time.monotonic()
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, plan="enterprise") as client:
        for i in range(12):
            client.get("/itemSearch", {"term": f"x{i}"})
    assert time.monotonic() - started >= 2.0  # 9 per 2 s, then wait for the window
    assert _total(sim.stats(), "429") == 0


# ---- daily budget ---------------------------------------------------------------------------------

def test_daily_reserve_stops_cleanly_and_resumes_next_day(standin_factory: Callable) -> None:
    sim = standin_factory(rate_limit=True, daily_budget=400)  # /deals costs 20; reserve 20 % = 80 tokens
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, daily_reserve=0.2) as client:
        calls = 0
        with pytest.raises(DailyBudgetExhausted) as info:
            for _ in range(100):
                client.get("/deals", {"limit": 1})
                calls += 1
        assert calls == 16  # 400 - 80 reserved = 320 tokens = 16 calls
        assert sim.stats()["tokens_remaining"] == 80
        assert info.value.resume_at == next_midnight_utc()
        assert "Resume after" in str(info.value) and "reserve" in str(info.value)
        before = _total(sim.stats())
        with pytest.raises(DailyBudgetExhausted):
            client.get("/deals", {"limit": 1})
        assert _total(sim.stats()) == before  # refused locally: no request
        httpx.post(f"{sim.url}/_sim/day").raise_for_status()
        client.reset_daily_budget()
        assert client.get("/deals", {"limit": 1})["success"] is True
        assert client.stats.daily_remaining == 380


def test_server_says_daily_budget_exceeded(standin_factory: Callable) -> None:
    sim = standin_factory(rate_limit=True, daily_budget=40)
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, daily_reserve=0) as first:
        first.get("/deals")
        first.get("/deals")
    # a second integration (fresh client, knows nothing) is refused by the server
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token) as client:
        with pytest.raises(DailyBudgetExhausted) as info:
            client.get("/deals")
        with pytest.raises(DailyBudgetExhausted):
            client.get("/deals")  # refused locally now
        assert client.stats.total_requests == 1 and client.stats.retries == 0
    assert "daily request budget exceeded" in str(info.value)
    expected = sim.clock.next_midnight()
    assert abs((info.value.resume_at - expected).total_seconds()) < 3
    assert sim.stats()["lockouts"] == 0


# ---- OAuth ----------------------------------------------------------------------------------------

def _oauth_sim(factory: Callable, **kw: Any):
    return factory(rate_limit=True, oauth_client=("cid-123", "client-secret-9b2e"), company=StandinCompany(120), **kw)


def _creds(sim, tmp_path: Path, **kw: Any) -> OAuthCredentials:
    tokens = sim.oauth_tokens()
    base = dict(client_id="cid-123", client_secret="client-secret-9b2e", refresh_token=tokens["refresh_token"],
                access_token=tokens["access_token"], expires_at=time.time() + tokens["expires_in"],
                token_url=f"{sim.url}/oauth/token", token_file=tmp_path / ".pipedrive" / "oauth_token.json")
    base.update(kw)
    return OAuthCredentials(**base)


def test_oauth_expiry_mid_run_refreshes_and_persists_rotation(standin_factory: Callable, tmp_path: Path) -> None:
    sim = _oauth_sim(standin_factory)
    creds = _creds(sim, tmp_path)
    ids: list[int] = []
    with PipedriveClient(base_url=sim.base_url, oauth=creds) as client:
        for n, page in enumerate(client.iter_offset("/deals", limit=20)):
            ids.extend(r["id"] for r in page.items)
            if n == 1:
                sim.clock.advance(3700)  # access token now expired on the server
        stats = client.stats
    assert ids == list(range(1, 121))
    assert stats.token_refreshes == 1 and _total(sim.stats(), "401") == 1
    token_file = Path(creds.token_file)
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    saved = orjson.loads(token_file.read_bytes())
    assert saved["refresh_token"] != creds.refresh_token  # rotated
    # the old refresh token is dead; a new client picks the rotated one from the file
    with PipedriveClient(base_url=sim.base_url, oauth=_creds(sim, tmp_path, refresh_token=creds.refresh_token,
                                                             access_token=None)) as again:
        assert again.get("/deals/1")["data"]["id"] == 1


def test_oauth_api_domain_from_refresh(standin_factory: Callable, tmp_path: Path) -> None:
    sim = _oauth_sim(standin_factory)
    creds = _creds(sim, tmp_path, access_token=None, expires_at=None)
    with PipedriveClient(oauth=creds) as client:
        assert client.root == f"{sim.url}/api"
        assert client.get("/deals/2")["data"]["id"] == 2


def test_oauth_refresh_rejected_is_a_clear_auth_error(standin_factory: Callable, tmp_path: Path) -> None:
    sim = _oauth_sim(standin_factory)
    creds = _creds(sim, tmp_path, refresh_token="dead-refresh-token-77", access_token="dead-access-token-77")
    with PipedriveClient(base_url=sim.base_url, oauth=creds) as client:
        with pytest.raises(PipedriveAuthError) as info:
            client.get("/deals")
    text = str(info.value)
    assert "POST" in text and "/oauth/token" in text and "HTTP 400" in text and "invalid_grant" in text
    assert "re-authorize" in text
    for secret in ("dead-refresh-token-77", "dead-access-token-77", "client-secret-9b2e"):
        assert secret not in text
    assert _total(sim.stats()) == 1  # the one API call that got 401; then one refresh, no storm


def test_oauth_with_wrong_client_secret(standin_factory: Callable, tmp_path: Path) -> None:
    sim = _oauth_sim(standin_factory)
    creds = _creds(sim, tmp_path, client_secret="not-the-secret", access_token=None)
    with pytest.raises(PipedriveAuthError, match="HTTP 401.*invalid_client"):
        with PipedriveClient(base_url=sim.base_url, oauth=creds) as client:
            client.get("/deals")


def test_lockout_page_pauses_everyone_then_recovers(standin_factory: Callable) -> None:
    """Another process hammering the same token earns the Cloudflare 403 page; the client waits it out."""
    sim = standin_factory(rate_limit=True, plan="essential", lockout_threshold=2, lockout_seconds=1.5)
    headers = {"x-api-token": sim.config.api_token}
    with httpx.Client(base_url=sim.base_url, headers=headers) as rude:
        codes = [rude.get("/deals/1").status_code for _ in range(30)]
    assert 429 in codes and codes[-1] == 403  # locked out now
    started = time.monotonic()
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, plan="essential", **FAST) as client:
        assert client.get("/deals/2")["data"]["id"] == 2
        stats = client.stats
    assert stats.statuses.get("403", 0) >= 1 and stats.statuses.get("200") == 1
    assert time.monotonic() - started >= 1.0
    assert stats.total_requests <= 3


def test_oauth_refreshes_before_expiry_without_a_401(standin_factory: Callable, tmp_path: Path) -> None:
    sim = _oauth_sim(standin_factory)
    creds = _creds(sim, tmp_path, expires_at=time.time() + 30)  # inside the refresh margin
    with PipedriveClient(base_url=sim.base_url, oauth=creds) as client:
        assert client.get("/deals/1")["success"] is True
        assert client.stats.token_refreshes == 1
    assert _total(sim.stats(), "401") == 0


def test_oauth_concurrent_401s_refresh_once(standin_factory: Callable, tmp_path: Path) -> None:
    sim = _oauth_sim(standin_factory)
    creds = _creds(sim, tmp_path)
    with PipedriveClient(base_url=sim.base_url, oauth=creds, max_workers=4) as client:
        streams = [lambda: client.iter_offset("/deals", limit=10) for _ in range(4)]
        got: dict[int, list[int]] = {i: [] for i in range(4)}
        for n, (index, page) in enumerate(iter_concurrent(streams, max_workers=4)):
            got[index].extend(r["id"] for r in page.items)
            if n == 6:
                sim.clock.advance(4000)
        stats = client.stats
    assert all(ids == list(range(1, 121)) for ids in got.values())
    assert stats.token_refreshes == 1  # one refresh shared by all threads (the refresh token is single-use)
    assert 1 <= _total(sim.stats(), "401") <= 4


def test_server_time_follows_the_servers_clock(standin_factory: Callable) -> None:
    frozen = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
    sim = standin_factory(rate_limit=False, start_time=frozen)
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token) as client:
        assert client.server_time() is None
        client.get("/deals/1")
        seen = client.server_time()
    assert seen is not None and abs((seen - frozen).total_seconds()) < 2


def test_writes_are_not_replayed_after_the_server_may_have_acted(standin_factory: Callable) -> None:
    sim = standin_factory(rate_limit=False, faults="502:1")
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, max_retries=3, **FAST) as client:
        with pytest.raises(PipedriveUnavailableError, match=r"POST /v1/deals -> HTTP 502.*not idempotent"):
            client.request("POST", "/deals", json={"title": "x"})
        assert _total(sim.stats()) == 1
        with pytest.raises(PipedriveUnavailableError, match="4 attempts"):
            client.request("PUT", "/deals/3", json={"title": "y"})  # idempotent: retried
    assert _total(sim.stats()) == 5
    sim.set_faults(None)
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token) as client:
        assert client.request("POST", "/deals", json={"title": "x"})["data"]["body"] == {"title": "x"}
        assert client.stats.tokens == {"POST /v1/deals": 10}


def test_oauth_falls_back_to_the_configured_token_when_the_saved_one_is_dead(standin_factory: Callable,
                                                                             tmp_path: Path) -> None:
    sim = _oauth_sim(standin_factory)
    first = _creds(sim, tmp_path, access_token=None)
    with PipedriveClient(base_url=sim.base_url, oauth=first) as client:
        client.get("/deals/1")  # refresh -> rotated pair saved
    saved = orjson.loads(Path(first.token_file).read_bytes())
    # the saved refresh token gets used elsewhere (dead now), and the app is re-authorized: new configured token
    httpx.post(f"{sim.url}/oauth/token", auth=("cid-123", "client-secret-9b2e"),
               data={"grant_type": "refresh_token", "refresh_token": saved["refresh_token"]}).raise_for_status()
    sim.clock.advance(3700)  # and the saved access token has expired
    fresh = _creds(sim, tmp_path, access_token=None)
    with PipedriveClient(base_url=sim.base_url, oauth=fresh) as client:
        assert client.get("/deals/2")["data"]["id"] == 2
        assert client.stats.token_refreshes == 1


def test_reserve_holds_with_concurrent_threads(standin_factory: Callable) -> None:
    sim = standin_factory(rate_limit=True, daily_budget=1000)  # reserve 20 % = 200 tokens; /deals costs 20
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, max_workers=4) as client:
        def hammer() -> int:
            done = 0
            try:
                while True:
                    client.get("/deals", {"limit": 1})
                    done += 1
            except DailyBudgetExhausted:
                return done

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(4) as pool:
            done = sum(pool.map(lambda _: hammer(), range(4)))
    left = sim.stats()["tokens_remaining"]
    assert left == 200 and done == 40  # never a token of the reserve spent, none wasted
