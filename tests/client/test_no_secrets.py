"""No secret anywhere: every log record (DEBUG, incl. httpx/httpcore), exception text and repr of
full paginated runs with distinctive API/OAuth tokens, retries, a refresh and auth failures."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from pipedrive_source.client import PipedriveClient
from pipedrive_source.errors import PipedriveAuthError
from pipedrive_source.oauth import OAuthCredentials
from tests.fixtures.simulator import StandinCompany

API_TOKEN = "pdtok-DISTINCT-7f3a9c51e2d8"
WRONG_TOKEN = "pdtok-WRONG-0b7d44aa91"
CLIENT_SECRET = "csecret-DISTINCT-5e6f7a8b"


def _everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(repr({k: v for k, v in record.__dict__.items() if k not in ("args", "msg")}))
    return "\n".join(parts)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "pipedrive_source", "pipedrive_source.client", "pipedrive_source.oauth"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_api_token_never_logged_or_raised(standin_factory: Callable, debug_logs: pytest.LogCaptureFixture) -> None:
    sim = standin_factory(rate_limit=True, api_token=API_TOKEN, company=StandinCompany(150),
                          faults="500:0.1,reset:0.05,html200:0.05,429:0.05@1,seed=2")
    texts = []
    with PipedriveClient(base_url=sim.base_url, api_token=API_TOKEN, backoff_initial=0.01) as client:
        rows = [r for page in client.iter_offset("/deals", {"sort": "id ASC"}, limit=10) for r in page.items]
        texts += [repr(client), repr(client.stats), str(client.stats.as_dict())]
        assert client.stats.retries > 0  # the failure paths (their log lines) were exercised too
    assert len(rows) == 150
    with PipedriveClient(base_url=sim.base_url, api_token=WRONG_TOKEN) as wrong:
        with pytest.raises(PipedriveAuthError) as info:
            wrong.get("/deals")
        texts += [str(info.value), repr(info.value), repr(wrong)]
    logged = _everything_logged(debug_logs)
    assert "HTTP Request: GET" in logged  # httpx's own INFO lines were captured
    assert any(r.name.startswith("httpcore") for r in debug_logs.records)
    assert any(getattr(r, "pd_op", None) == "GET /v1/deals" for r in debug_logs.records)
    for secret in (API_TOKEN, WRONG_TOKEN):
        assert secret not in logged
        assert all(secret not in t for t in texts)


def test_oauth_secrets_never_logged_or_raised(standin_factory: Callable, debug_logs: pytest.LogCaptureFixture,
                                              tmp_path: Path) -> None:
    sim = standin_factory(rate_limit=True, oauth_client=("cid-1", CLIENT_SECRET), company=StandinCompany(100))
    tokens = sim.oauth_tokens()
    token_file = tmp_path / "tok.json"
    creds = OAuthCredentials(client_id="cid-1", client_secret=CLIENT_SECRET, refresh_token=tokens["refresh_token"],
                             access_token=tokens["access_token"], expires_at=time.time() + 3600,
                             token_url=f"{sim.url}/oauth/token", token_file=token_file)
    texts = [repr(creds)]
    with PipedriveClient(base_url=sim.base_url, oauth=creds) as client:
        rows = []
        for n, page in enumerate(client.iter_offset("/deals", limit=10)):
            rows.extend(page.items)
            if n == 3:
                sim.clock.advance(7200)
        texts += [repr(client), repr(client._oauth), str(client.stats.as_dict())]
        assert client.stats.token_refreshes == 1
    assert len(rows) == 100
    rotated = orjson.loads(token_file.read_bytes())
    # a refresh with a dead refresh token: the error must not echo it
    dead = OAuthCredentials(client_id="cid-1", client_secret=CLIENT_SECRET, refresh_token=tokens["refresh_token"],
                            token_url=f"{sim.url}/oauth/token", token_file=None)
    with pytest.raises(PipedriveAuthError) as info:
        PipedriveClient(oauth=dead)
    texts += [str(info.value), repr(info.value)]
    logged = _everything_logged(debug_logs)
    assert "refreshing OAuth access token" in logged
    secrets = (CLIENT_SECRET, tokens["access_token"], tokens["refresh_token"], rotated["access_token"],
               rotated["refresh_token"])
    for secret in secrets:
        assert secret not in logged
        assert all(secret not in t for t in texts)
