"""Fault injection as an httpx client sees it, and the determinism of the fault schedule."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from pipedrive_source.simulator.faults import FaultSchedule, FaultSpec

ADMIN = {"x-api-token": "sim-admin-token"}
_client = httpx.Client(headers=ADMIN, timeout=10)  # one pool: building a client per request is slow


def get(sim, path: str = "/deals") -> httpx.Response:
    return _client.get(f"{sim.base_url}{path}")


@pytest.fixture
def sim(standin_factory):
    return standin_factory(rate_limit=False)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_as_envelope_or_html(sim, status):
    sim.set_faults(f"{status}:1,seed=3")
    answers = [get(sim) for _ in range(12)]
    assert {r.status_code for r in answers} == {status}
    kinds = {r.headers["content-type"].split(";")[0] for r in answers}
    assert kinds == {"application/json", "text/html"}  # both flavours appear
    for r in answers:
        if r.headers["content-type"].startswith("application/json"):
            assert r.json()["success"] is False and r.json()["errorCode"] == status
        else:
            assert f"<h1>{status}" in r.text
    assert sim.stats()["faults"] == {str(status): 12}


def test_slow_answer(sim):
    sim.set_faults("slow:1@0.4")
    t = time.monotonic()
    r = get(sim)
    assert time.monotonic() - t >= 0.4
    assert r.status_code == 200 and r.json()["success"] is True


def test_reset_mid_body_breaks_the_client_read(sim):
    sim.set_faults("reset:1")
    with httpx.Client(headers=ADMIN) as c:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            c.get(f"{sim.base_url}/deals", params={"limit": 50})
        sim.set_faults(None)
        assert c.get(f"{sim.base_url}/deals").status_code == 200  # the client recovers on a new connection


def test_truncated_json_with_status_200(sim):
    sim.set_faults("truncate:1")
    r = get(sim)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.content)


def test_html_page_with_status_200(sim):
    sim.set_faults("html200:1")
    r = get(sim)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text.lstrip().startswith("<!DOCTYPE html>")


def test_injected_429_with_retry_after_and_storms(sim):
    sim.set_faults("429:1@3")
    r = get(sim)
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert "x-ratelimit-limit" in r.headers
    sim.set_faults("429:0.15@1x4,seed=11")
    statuses = [get(sim).status_code for _ in range(60)]
    runs, n = [], 0
    for s in statuses + [200]:
        if s == 429:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    assert runs and min(runs) >= 4  # every storm is at least 4 answers long


def test_after_and_paths_filters(sim):
    sim.set_faults("500:1,after=3,paths=/deals/*")
    assert [get(sim, "/deals/1").status_code for _ in range(5)] == [200, 200, 200, 500, 500]
    assert get(sim, "/deals").status_code == 200  # /deals does not match /deals/*
    assert get(sim, "/users/me").status_code == 200


def test_faults_via_admin_endpoint_and_config(sim, standin_factory):
    r = httpx.post(f"{sim.url}/_sim/faults", json={"spec": "503:1"})
    assert r.status_code == 200
    assert get(sim).status_code == 503
    httpx.post(f"{sim.url}/_sim/faults", json={"spec": None})
    assert get(sim).status_code == 200
    assert httpx.post(f"{sim.url}/_sim/faults", json={"spec": "oops:1"}).status_code == 400
    started = standin_factory(faults="502:1")
    assert get(started).status_code == 502


def _signature(sim, n=40):
    return [(r.status_code, r.headers["content-type"][:9], len(r.content)) for r in (get(sim) for _ in range(n))]


SPEC = "500:0.1,502:0.1,html200:0.1,truncate:0.1,429:0.1@1,seed=5"


def test_same_seed_same_faults(standin_factory):
    a = standin_factory(rate_limit=False, faults=SPEC)
    b = standin_factory(rate_limit=False, faults=SPEC)
    first = _signature(a)
    assert first == _signature(b)
    assert len({s for s, _, _ in first}) >= 4  # a real mix, not all one kind
    c = standin_factory(rate_limit=False, faults=SPEC.replace("seed=5", "seed=6"))
    assert _signature(c) != first
    a.set_faults(SPEC)  # re-installing the spec restarts the sequence
    assert _signature(a) == first


def test_spec_grammar():
    spec = FaultSpec.parse(" 500:0.05, slow:0.1@2.5 ,429:0.2@3x5, seed=9, after=4, paths=/deals*|/v1/persons*")
    assert spec.rates == [("500", 0.05, 0.0, 1), ("slow", 0.1, 2.5, 1), ("429", 0.2, 3.0, 5)]
    assert (spec.seed, spec.after, spec.paths) == (9, 4, ("/deals*", "/v1/persons*"))
    for bad in ("600:0.1", "500:2", "500:0.6,502:0.6", "slow:0.1@-1", "500"):
        with pytest.raises(ValueError):
            FaultSpec.parse(bad)
    assert FaultSchedule(None).next("/v1/deals", "/deals") is None
