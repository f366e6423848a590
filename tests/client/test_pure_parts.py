"""Direct tests of the client's pure parts: URL validation, redaction, errors, time slicing,
concurrent page streams, the page iterators' envelope handling and the private token file."""

from __future__ import annotations

import os
import pickle
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipedrive_source.client import PipedriveClient, resolve_api_root
from pipedrive_source.errors import (
    DailyBudgetExhausted,
    PipedriveAuthError,
    PipedriveError,
    redact_url,
)
from pipedrive_source.oauth import OAuthCredentials, write_private_json
from pipedrive_source.pagination import (
    Page,
    format_v1_time,
    iter_concurrent,
    iter_cursor,
    iter_offset,
    iter_v2_cursor,
    max_limit_for,
    split_time_range,
)


# ---- base URL -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "root"),
    [
        ({"base_url": "https://acme.pipedrive.com/api/v1"}, "https://acme.pipedrive.com/api"),
        ({"base_url": "https://acme.pipedrive.com/api/v2/"}, "https://acme.pipedrive.com/api"),
        ({"base_url": "https://acme.pipedrive.com"}, "https://acme.pipedrive.com/api"),
        ({"base_url": "https://api.pipedrive.com/v1"}, "https://api.pipedrive.com"),
        ({"base_url": "http://127.0.0.1:8765/api/v1"}, "http://127.0.0.1:8765/api"),
        ({"company_domain": "acme"}, "https://acme.pipedrive.com/api"),
        ({"company_domain": "acme.pipedrive.com"}, "https://acme.pipedrive.com/api"),
        ({"api_domain": "https://acme.pipedrive.com"}, "https://acme.pipedrive.com/api"),
    ],
)
def test_resolve_api_root(kwargs: dict[str, str], root: str) -> None:
    assert resolve_api_root(**kwargs) == root


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "no Pipedrive address"),
        ({"base_url": "acme.pipedrive.com/api/v1"}, "absolute http"),
        ({"base_url": "ftp://acme.pipedrive.com/api/v1"}, "absolute http"),
        ({"base_url": "http://acme.pipedrive.com/api/v1"}, "plain http"),
        ({"base_url": "https://acme.pipedrive.com/api/v1?api_token=SECRET123"}, "query"),
        ({"base_url": "https://user:SECRET123@acme.pipedrive.com/api/v1"}, "credentials"),
        ({"company_domain": "acme/../evil"}, "company domain"),
    ],
)
def test_resolve_api_root_rejects(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        resolve_api_root(**kwargs)
    assert "SECRET123" not in str(info.value)


def test_client_needs_exactly_one_credential() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        PipedriveClient(base_url="https://acme.pipedrive.com/api/v1")
    with pytest.raises(ValueError, match="plain http"):
        PipedriveClient(base_url="http://acme.example.com/api/v1", api_token="t")


def test_token_never_accepted_in_params() -> None:
    with PipedriveClient(base_url="http://127.0.0.1:9/api/v1", api_token="T0KEN-XYZ") as client:
        with pytest.raises(ValueError, match="secret in the URL"):
            client.get("/deals", {"api_token": "T0KEN-XYZ"})
        assert "T0KEN-XYZ" not in repr(client)


# ---- errors -------------------------------------------------------------------------------------

def test_redact_url() -> None:
    url = "https://acme.pipedrive.com/api/v1/deals?start=0&api_token=abc&refresh_token=def&limit=5"
    assert redact_url(url) == "https://acme.pipedrive.com/api/v1/deals?start=0&api_token=***&refresh_token=***&limit=5"
    assert redact_url("/v1/deals?since=2024-01-01 00:00:00") == "/v1/deals?since=2024-01-01+00:00:00"
    assert "pw" not in redact_url("https://u:pw@host/x")


def test_error_message_names_everything() -> None:
    err = PipedriveAuthError("the API token was rejected", method="GET", path="/v1/deals?api_token=S3CR3T&start=0",
                             status=401, error="unauthorized access", error_info="Please check your token")
    text = str(err)
    for part in ("GET", "/v1/deals", "start=0", "HTTP 401", "unauthorized access", "Please check your token",
                 "API token"):
        assert part in text
    assert "S3CR3T" not in text


def test_errors_pickle() -> None:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    err = DailyBudgetExhausted("spent", resume_at=when, method="GET", path="/v1/deals", status=429)
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, DailyBudgetExhausted) and back.resume_at == when and str(back) == str(err)
    assert back.status == 429


# ---- time slicing ---------------------------------------------------------------------------------

def test_split_time_range_inclusive_has_no_overlap_and_no_gap() -> None:
    since = datetime(2023, 1, 1, tzinfo=UTC)
    until = datetime(2026, 6, 1, tzinfo=UTC)
    slices = split_time_range(since, until, 7)
    assert len(slices) == 7
    assert slices[0][0] == since and slices[-1][1] == until
    for (a0, a1), (b0, _b1) in zip(slices, slices[1:]):
        assert a0 <= a1 and b0 - a1 == timedelta(seconds=1)
    assert format_v1_time(slices[0][0]) == "2023-01-01 00:00:00"
    assert format_v1_time(slices[0][1]) == format_v1_time(slices[1][0] - timedelta(seconds=1))


def test_split_time_range_exclusive_and_short_ranges() -> None:
    since = datetime(2024, 1, 1, tzinfo=UTC)
    slices = split_time_range(since, since + timedelta(hours=4), 4, inclusive=False)
    assert [(s.hour, e.hour) for s, e in slices] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert split_time_range(since, since + timedelta(seconds=2), 10) == [
        (since, since), (since + timedelta(seconds=1), since + timedelta(seconds=1)),
        (since + timedelta(seconds=2), since + timedelta(seconds=2))]
    assert split_time_range(since, since, 3) == [(since, since)]
    with pytest.raises(ValueError):
        split_time_range(since, since - timedelta(1), 2)
    with pytest.raises(ValueError):
        split_time_range(datetime(2024, 1, 1), datetime(2024, 1, 2), 2)


# ---- concurrent streams ---------------------------------------------------------------------------

def _stream(tag: int, n: int, delay: float) -> Iterator[Page]:
    for i in range(n):
        time.sleep(delay)
        yield Page([{"tag": tag, "i": i}], None, None, i + 1 if i + 1 < n else None)


def test_iter_concurrent_keeps_order_per_stream_and_runs_in_parallel() -> None:
    streams = [lambda t=t: _stream(t, 5, 0.02 * (t + 1)) for t in range(3)]
    started = time.monotonic()
    got = list(iter_concurrent(streams, max_workers=3))
    elapsed = time.monotonic() - started
    assert len(got) == 15
    for t in range(3):
        assert [p.items[0]["i"] for i, p in got if i == t] == list(range(5))
    assert elapsed < 0.3 + 0.2 + 0.1 + 0.25  # parallel: bounded by the slowest stream (0.3 s), not the sum


def test_iter_concurrent_ordered_is_fully_deterministic() -> None:
    streams = [lambda t=t: _stream(t, 4, 0.01 * (3 - t)) for t in range(3)]
    got = [(i, p.items[0]["i"]) for i, p in iter_concurrent(streams, max_workers=3, ordered=True)]
    assert got == [(t, i) for t in range(3) for i in range(4)]


def test_iter_concurrent_raises_first_error_and_stops_workers() -> None:
    produced = []

    def endless() -> Iterator[Page]:
        i = 0
        while True:
            produced.append(i)
            i += 1
            yield Page([{"i": i}], None, None, i)

    def broken() -> Iterator[Page]:
        yield Page([], None, None, None)
        raise PipedriveError("boom")

    with pytest.raises(PipedriveError, match="boom"):
        for _ in iter_concurrent([endless, broken], max_workers=2):
            pass
    count = len(produced)
    time.sleep(0.2)
    assert len(produced) <= count + 1  # the endless stream stopped


def test_iter_concurrent_early_close_stops_workers() -> None:
    alive = threading.Event()

    def endless() -> Iterator[Page]:
        alive.set()
        while True:
            yield Page([{}], None, None, 1)

    gen = iter_concurrent([endless, endless], max_workers=2)
    next(gen)
    gen.close()  # returns only after the workers ended
    assert alive.is_set()


# ---- page iterators over an envelope-returning function ----------------------------------------------

class Envelopes:
    """A `get` callable serving canned envelopes, recording the params it was called with."""

    def __init__(self, pages: list[dict]) -> None:
        self.pages, self.calls = pages, []

    def __call__(self, path: str, params: Mapping[str, Any] | None = None, *, version: str = "v1") -> dict:
        self.calls.append((path, dict(params or {}), version))
        return self.pages[len(self.calls) - 1]


def test_iter_offset_pages_and_null_data() -> None:
    get = Envelopes([
        {"success": True, "data": [{"id": 1}], "additional_data": {"pagination": {
            "start": 0, "limit": 50, "more_items_in_collection": True, "next_start": 50}}},
        {"success": True, "data": None, "additional_data": {"pagination": {
            "start": 50, "limit": 50, "more_items_in_collection": False}}},
    ])
    pages = list(iter_offset(get, "/callLogs", {"sort": "id ASC", "start": 99}))
    assert [p.items for p in pages] == [[{"id": 1}], []]
    assert [p.next for p in pages] == [50, None]
    assert get.calls[0][1] == {"sort": "id ASC", "start": 0, "limit": 50}  # callLogs capped at 50
    assert get.calls[1][1]["start"] == 50


def test_iter_offset_refuses_to_loop() -> None:
    same = {"success": True, "data": [], "additional_data": {"pagination": {
        "more_items_in_collection": True, "next_start": 0}}}
    with pytest.raises(PipedriveError, match="did not advance"):
        list(iter_offset(Envelopes([same, same]), "/notes"))


def test_iter_cursor_checks_success_and_repeats() -> None:
    get = Envelopes([
        {"success": True, "data": [{"id": 1}], "additional_data": {"next_cursor": "c1"}},
        {"success": True, "data": [{"id": 2}], "additional_data": {"next_cursor": None}},
    ])
    pages = list(iter_cursor(get, "/deals/collection", {"since": "2024-01-01 00:00:00"}, limit=900))
    assert [p.next for p in pages] == ["c1", None]
    assert get.calls[0][1] == {"since": "2024-01-01 00:00:00", "limit": 500}
    assert get.calls[1][1]["cursor"] == "c1"
    bad = Envelopes([{"success": False, "error": "nope", "data": None}])
    with pytest.raises(PipedriveError, match="nope"):
        list(iter_cursor(bad, "/deals/collection"))
    loop = Envelopes([{"success": True, "data": [], "additional_data": {"next_cursor": "x"}}] * 2)
    with pytest.raises(PipedriveError, match="already returned"):
        list(iter_cursor(loop, "/deals/collection"))


def test_iter_v2_cursor_asks_v2() -> None:
    get = Envelopes([
        {"success": True, "data": [{"id": 1}], "additional_data": {"next_cursor": "eyJpZCI6MX0"}},
        {"success": True, "data": None, "additional_data": {"next_cursor": None}},
    ])
    pages = list(iter_v2_cursor(get, "/deals", {"updated_since": "2024-01-01T00:00:00Z"}, limit=100))
    assert [p.items for p in pages] == [[{"id": 1}], []]
    assert [c[2] for c in get.calls] == ["v2", "v2"]
    assert get.calls[1][1] == {"updated_since": "2024-01-01T00:00:00Z", "limit": 100, "cursor": "eyJpZCI6MX0"}


def test_max_limits() -> None:
    assert max_limit_for("/callLogs") == 50
    assert max_limit_for("/files") == 100
    assert max_limit_for("/deals/12/files") == 100
    assert max_limit_for("/deals") == 500


# ---- token file -----------------------------------------------------------------------------------

def test_private_json_is_0600_and_atomic(tmp_path) -> None:
    target = tmp_path / "nested" / "oauth_token.json"
    write_private_json(target, {"refresh_token": "r1"})
    write_private_json(target, {"refresh_token": "r2"})
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(target.parent).st_mode) == 0o700
    assert target.read_text() == '{"refresh_token": "r2"}'
    assert [p.name for p in target.parent.iterdir()] == ["oauth_token.json"]


def test_oauth_credentials_repr_hides_secrets() -> None:
    creds = OAuthCredentials(client_id="cid", client_secret="CS-SECRET", refresh_token="RT-SECRET",
                             access_token="AT-SECRET")
    text = repr(creds)
    assert "cid" in text and "SECRET" not in text
    with pytest.raises(ValueError):
        OAuthCredentials(client_id="cid", client_secret="", refresh_token="x")
