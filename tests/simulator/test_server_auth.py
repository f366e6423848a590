"""Auth paths of the simulator server: API token header/query, OAuth bearer + /oauth/token, 401s."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
OAUTH = ("client-1", "secret-1")


@pytest.fixture
def sim(standin_factory):
    return standin_factory(oauth_client=OAUTH, access_token_ttl=60, start_time=T0)


def me(sim, **kwargs) -> httpx.Response:
    return httpx.get(f"{sim.url}/api/v1/users/me", **kwargs)


def test_header_token_is_admin(sim):
    r = me(sim, headers={"x-api-token": "sim-admin-token"})
    assert r.status_code == 200
    assert r.json()["data"]["id"] == 1 and r.json()["data"]["is_admin"] is True


def test_query_token_user_is_not_admin_and_token_not_passed_on(sim):
    r = me(sim, params={"api_token": "sim-user-token", "start": "5"})
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["is_admin"] is False
    assert data["id"] == 7  # StandinCompany.non_admin_user_id
    assert data["query"] == {"start": "5"}  # api_token never reaches the handler


@pytest.mark.parametrize(
    "kwargs, info",
    [
        ({}, "authorized"),
        ({"headers": {"x-api-token": "wrong"}}, "Invalid API token"),
        ({"params": {"api_token": "wrong"}}, "Invalid API token"),
        ({"headers": {"authorization": "Bearer nope"}}, "Invalid access token"),
    ],
)
def test_wrong_credentials_401_envelope(sim, kwargs, info):
    r = me(sim, **kwargs)
    assert r.status_code == 401
    body = r.json()
    assert body["success"] is False and body["error"] == "unauthorized access" and body["errorCode"] == 401
    assert info in body["error_info"]
    assert "x-ratelimit-limit" in r.headers and "x-daily-ratelimit-token-remaining" in r.headers


def refresh(sim, refresh_token: str, auth=OAUTH) -> httpx.Response:
    return httpx.post(
        f"{sim.url}/oauth/token",
        auth=auth,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )


def test_bearer_refresh_rotation_and_expiry(sim):
    pair = sim.oauth_tokens()
    bearer = {"authorization": f"Bearer {pair['access_token']}"}
    r = me(sim, headers=bearer)
    assert r.status_code == 200 and r.json()["data"]["is_admin"] is True
    assert r.headers["x-ratelimit-limit"] == "400"  # OAuth burst, professional plan

    sim.clock.advance(61)  # past access_token_ttl on the simulator clock
    r = me(sim, headers=bearer)
    assert r.status_code == 401 and "expired" in r.json()["error_info"]

    r = refresh(sim, pair["refresh_token"])
    assert r.status_code == 200
    new = r.json()
    assert new["token_type"] == "Bearer" and new["expires_in"] == 60
    assert new["api_domain"] == sim.url and new["scope"]
    assert new["access_token"] != pair["access_token"] and new["refresh_token"] != pair["refresh_token"]
    assert me(sim, headers={"authorization": f"Bearer {new['access_token']}"}).status_code == 200

    again = refresh(sim, pair["refresh_token"])  # rotated: the old refresh token is dead
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert refresh(sim, new["refresh_token"]).status_code == 200


def test_token_endpoint_rejects_wrong_client_and_grant(sim):
    pair = sim.oauth_tokens()
    r = refresh(sim, pair["refresh_token"], auth=("client-1", "bad-secret"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = httpx.post(f"{sim.url}/oauth/token", auth=OAUTH, data={"grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    # the failed attempt with a wrong client did not burn the refresh token
    assert refresh(sim, pair["refresh_token"]).status_code == 200


def test_authorization_code_grant_and_client_in_form(sim):
    code = sim.oauth_code(user_id=7)
    r = httpx.post(
        f"{sim.url}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": OAUTH[0], "client_secret": OAUTH[1]},
    )
    assert r.status_code == 200
    r = me(sim, headers={"authorization": f"Bearer {r.json()['access_token']}"})
    assert r.json()["data"] == {**r.json()["data"], "id": 7, "is_admin": False}


def test_bearer_without_oauth_client_is_401(standin_factory):
    sim = standin_factory()
    assert me(sim, headers={"authorization": "Bearer x"}).status_code == 401
    r = httpx.post(f"{sim.url}/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert r.status_code == 401
