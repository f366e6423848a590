"""OAuth 2 for the simulator: `POST /oauth/token` (refresh_token and authorization_code grants)
and validation of `Authorization: Bearer` access tokens.

Follows FACTS.md "Base URLs and auth" and 003_*.txt `/oauth/token`: Basic client auth
(`client_id:client_secret`, or the pair in the form), answer `{access_token, token_type,
refresh_token, scope, expires_in, api_domain}`. Access tokens expire after `ttl` seconds of the
simulator clock; refresh tokens rotate: a used refresh token is dead.

Error answers (RFC 6749 style, as Pipedrive's OAuth server gives them):
401 `{"success": false, "error": "invalid_client", "message": ...}` for bad client credentials,
400 `{"success": false, "error": "invalid_grant" | "unsupported_grant_type" | "invalid_request", "message": ...}`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from .clock import SimClock

SCOPE = "base,deals:full,contacts:full,activities:full,products:full,leads:full,users:read,recents:read,search:read"


@dataclass
class _Access:
    user_id: int
    expires: datetime


class OAuthError(Exception):
    """A refused token request: HTTP status plus the OAuth error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict:
        return {"success": False, "error": self.code, "message": self.message, "errorCode": self.status}


class OAuthIssuer:
    """Issues, refreshes (with rotation) and validates tokens for one registered client."""

    def __init__(self, client_id: str, client_secret: str, ttl: float, clock: SimClock) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.ttl = float(ttl)
        self.clock = clock
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, int] = {}  # live refresh token -> user id
        self._codes: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- issuing ----------------------------------------------------------------------------
    def issue(self, user_id: int = 1) -> dict:
        """A fresh access/refresh pair (token answer without api_domain)."""
        access = "sim-oauth-access-" + secrets.token_hex(16)
        refresh = "sim-oauth-refresh-" + secrets.token_hex(16)
        with self._lock:
            self._access[access] = _Access(user_id, self.clock.now() + timedelta(seconds=self.ttl))
            self._refresh[refresh] = user_id
        return {
            "access_token": access,
            "token_type": "Bearer",
            "refresh_token": refresh,
            "scope": SCOPE,
            "expires_in": int(self.ttl),
        }

    def mint_code(self, user_id: int = 1) -> str:
        """An authorization code as `/oauth/authorize` would hand to the redirect URI."""
        code = "sim-oauth-code-" + secrets.token_hex(8)
        with self._lock:
            self._codes[code] = user_id
        return code

    # -- the token endpoint -------------------------------------------------------------------
    def check_client(self, authorization: str | None, form: dict[str, str]) -> None:
        """Raise OAuthError(401) unless the request authenticates this client."""
        cid, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError(401, "invalid_client", "Malformed Basic authorization") from None
            cid, _, secret = decoded.partition(":")
        if cid is None or secret is None:
            raise OAuthError(401, "invalid_client", "Client authentication required")
        ok = hmac.compare_digest(cid, self.client_id) & hmac.compare_digest(secret, self.client_secret)
        if not ok:
            raise OAuthError(401, "invalid_client", "Invalid client credentials")

    def token(self, authorization: str | None, form: dict[str, str]) -> dict:
        """Handle a `POST /oauth/token` form; returns the token answer or raises OAuthError."""
        self.check_client(authorization, form)
        grant = form.get("grant_type")
        if grant == "refresh_token":
            refresh = form.get("refresh_token")
            if not refresh:
                raise OAuthError(400, "invalid_request", "refresh_token is required")
            with self._lock:
                user_id = self._refresh.pop(refresh, None)  # rotation: one use only
            if user_id is None:
                raise OAuthError(400, "invalid_grant", "Invalid refresh token")
            return self.issue(user_id)
        if grant == "authorization_code":
            code = form.get("code")
            if not code:
                raise OAuthError(400, "invalid_request", "code is required")
            with self._lock:
                user_id = self._codes.pop(code, None)
            if user_id is None:
                # minimal flow: any unknown non-empty code authorizes the admin user once
                user_id = 1
            return self.issue(user_id)
        raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant_type {grant!r}")

    # -- resource requests ----------------------------------------------------------------------
    def validate(self, access: str) -> tuple[int | None, str]:
        """(user_id, "") for a live access token, else (None, reason)."""
        entry = self._access.get(access)
        if entry is None:
            return None, "Invalid access token"
        if self.clock.now() >= entry.expires:
            return None, "Access token expired"
        return entry.user_id, ""
