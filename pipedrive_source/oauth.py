"""OAuth 2 access for the client: refresh before expiry or once on a 401, and persist rotated tokens.

Follows Pipedrive's ``POST https://oauth.pipedrive.com/oauth/token`` (003_*.txt, FACTS.md "Base URLs and
auth"): HTTP Basic ``client_id:client_secret``, form ``grant_type=refresh_token&refresh_token=...``;
the answer holds ``access_token, token_type, refresh_token, scope, expires_in, api_domain``. The refresh
token may rotate, so the newest pair is written to a local JSON file (mode 0600, atomically) and read
back on the next run in preference to the configured one. Tokens never reach a log line, an exception
or a ``repr``; the token file is the only place they are written.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from pipedrive_source.errors import PipedriveAuthError, PipedriveUnavailableError, redact_url

logger = logging.getLogger("pipedrive_source.oauth")

PRODUCTION_TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
DEFAULT_TOKEN_FILE = ".pipedrive/oauth_token.json"
# refresh this long before the access token's announced expiry
EXPIRY_SKEW_SECONDS = 120.0


@dataclass
class OAuthCredentials:
    """What the client needs to use and refresh OAuth tokens. ``repr`` shows no secret."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None  # epoch seconds; None = unknown (refresh on first use)
    api_domain: str | None = None  # e.g. "https://acme.pipedrive.com"
    token_url: str = PRODUCTION_TOKEN_URL
    token_file: str | Path | None = DEFAULT_TOKEN_FILE  # None = do not persist (rotation then lost on exit)

    def __post_init__(self) -> None:
        for name in ("client_id", "client_secret", "refresh_token"):
            if not getattr(self, name):
                raise ValueError(f"OAuthCredentials.{name} is empty")


@dataclass
class _TokenState:
    access_token: str | None
    refresh_token: str
    expires_at: float | None
    api_domain: str | None


class OAuthSession:
    """Thread-safe holder of the current access token; one refresh at a time, shared by all threads."""

    def __init__(self, credentials: OAuthCredentials, http: httpx.Client, *, max_attempts: int = 4) -> None:
        self._creds = credentials
        self._http = http
        self._max_attempts = max_attempts
        self._lock = threading.Lock()
        self.refreshes = 0
        self._file = Path(credentials.token_file).expanduser() if credentials.token_file else None
        self._state = self._load_state()

    def __repr__(self) -> str:
        return f"OAuthSession(client_id={self._creds.client_id!r}, token_file={str(self._file)!r})"

    @property
    def api_domain(self) -> str | None:
        return self._state.api_domain

    def access_token(self) -> str:
        """A valid access token, refreshed first if it is missing or about to expire."""
        with self._lock:
            st = self._state
            if st.access_token is None or (st.expires_at is not None
                                           and st.expires_at - EXPIRY_SKEW_SECONDS <= time.time()):
                self._refresh_locked("access token expired or missing")
            assert self._state.access_token is not None
            return self._state.access_token

    def refresh_after_401(self, rejected_token: str) -> str:
        """Called when the server refused ``rejected_token``: refresh unless another thread already did."""
        with self._lock:
            if self._state.access_token == rejected_token:
                self._refresh_locked("server answered 401")
            assert self._state.access_token is not None
            return self._state.access_token

    # ---- internals ---------------------------------------------------------------------------------

    def _load_state(self) -> _TokenState:
        c = self._creds
        state = _TokenState(c.access_token, c.refresh_token, c.expires_at, c.api_domain)
        if self._file and self._file.exists():
            try:
                saved = orjson.loads(self._file.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                logger.warning("ignoring unreadable OAuth token file %s (%s)", self._file, type(exc).__name__)
                return state
            if saved.get("client_id") == c.client_id and saved.get("refresh_token"):
                # the file holds the newest (possibly rotated) pair: the configured one may be dead
                logger.info("using OAuth tokens from %s (saved %s)", self._file, saved.get("saved_at", "?"))
                state = _TokenState(saved.get("access_token"), saved["refresh_token"],
                                    saved.get("expires_at"), saved.get("api_domain") or c.api_domain)
        return state

    def _refresh_locked(self, why: str) -> None:
        logger.info("refreshing OAuth access token (%s)", why)
        try:
            answer = self._post_refresh(self._state.refresh_token)
        except PipedriveAuthError:
            configured = self._creds.refresh_token
            if configured == self._state.refresh_token:
                raise
            # the saved token was refused; the configured one may be newer (app re-authorized since)
            logger.warning("saved OAuth refresh token refused; trying the configured one")
            answer = self._post_refresh(configured)
        try:
            access = answer["access_token"]
            expires_in = float(answer.get("expires_in") or 3600)
        except (KeyError, TypeError, ValueError):
            raise PipedriveAuthError("OAuth token endpoint answered without an access_token",
                                     method="POST", path=_safe_url(self._creds.token_url), status=200) from None
        rotated = answer.get("refresh_token") or self._state.refresh_token
        if rotated != self._state.refresh_token:
            logger.info("OAuth refresh token rotated; persisting the new one")
        self._state = _TokenState(access, rotated, time.time() + expires_in,
                                  answer.get("api_domain") or self._state.api_domain)
        self.refreshes += 1
        self._persist()

    def _post_refresh(self, refresh_token: str) -> dict[str, Any]:
        url = self._creds.token_url
        last: str = ""
        for attempt in range(1, self._max_attempts + 1):
            try:
                resp = self._http.post(
                    url,
                    data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                    auth=(self._creds.client_id, self._creds.client_secret),
                    headers={"accept": "application/json"},
                )
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}"
            else:
                if resp.status_code == 200:
                    try:
                        body = orjson.loads(resp.content)
                    except orjson.JSONDecodeError:
                        last = "HTTP 200 with a body that is not JSON"
                    else:
                        if isinstance(body, dict):
                            return body
                        last = "HTTP 200 with an unexpected JSON body"
                elif resp.status_code in (400, 401, 403):
                    error, info = _oauth_error(resp)
                    raise PipedriveAuthError(
                        "OAuth refresh was rejected", method="POST", path=_safe_url(url),
                        status=resp.status_code, error=error, error_info=info,
                        hint="The refresh token or client credentials are invalid or revoked: "
                             "re-authorize the app and store the new refresh token",
                    )
                else:
                    last = f"HTTP {resp.status_code}"
            delay = min(2 ** attempt * 0.25, 5.0)
            logger.warning("OAuth refresh attempt %d failed (%s); retrying in %.1f s", attempt, last, delay)
            time.sleep(delay)
        raise PipedriveUnavailableError(f"OAuth refresh failed {self._max_attempts} times: {last}",
                                        method="POST", path=_safe_url(url))

    def _persist(self) -> None:
        if self._file is None:
            return
        payload = {
            "client_id": self._creds.client_id,
            "access_token": self._state.access_token,
            "refresh_token": self._state.refresh_token,
            "expires_at": self._state.expires_at,
            "api_domain": self._state.api_domain,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_private_json(self._file, payload)


def write_private_json(path: Path, payload: dict[str, Any]) -> None:
    """Atomically write ``payload`` to ``path`` with mode 0600 (directory created 0700 if missing)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".oauth-", dir=path.parent)  # mkstemp creates the file 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _oauth_error(resp: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    info = body.get("error_description") or body.get("error_info") or body.get("message")
    return (str(error) if error else None), (str(info) if info else None)


def _safe_url(url: str) -> str:
    return redact_url(url)
