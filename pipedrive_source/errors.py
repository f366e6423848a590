"""Exception classes raised by the Pipedrive client, and the one place that scrubs secrets from URLs.

Every message names the HTTP method, the path (query secrets replaced by ``***``), the status and
Pipedrive's ``error`` / ``error_info``, plus a hint saying what to do next. No exception ever holds a
token: the request objects are not attached, only the scrubbed strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

# Query keys whose values must never be shown (legacy `api_token`, OAuth and generic secrets).
SECRET_KEYS = frozenset(
    {
        "api_token",
        "access_token",
        "refresh_token",
        "client_secret",
        "token",
        "password",
        "code",
        "secret",
        "authorization",
    }
)


def redact_url(url: str) -> str:
    """Return ``url`` with secret query values replaced by ``***`` and any user:password removed."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = "&".join(f"{quote_plus(k)}=***" if k.lower() in SECRET_KEYS else urlencode([(k, v)], safe="{}/,:")
                         for k, v in pairs)
    else:
        query = ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Copy of query params with secret values replaced by ``***``."""
    return {k: ("***" if k.lower() in SECRET_KEYS else v) for k, v in (params or {}).items()}


class PipedriveError(Exception):
    """Base class: a request to Pipedrive failed. Attributes are safe to log (no secrets)."""

    hint: str = ""

    def __init__(
        self,
        message: str = "",
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        error: str | None = None,
        error_info: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.method = method
        self.path = redact_url(path) if path else path
        self.status = status
        self.error = error
        self.error_info = error_info
        if hint is not None:
            self.hint = hint
        self._message = message
        super().__init__(self._compose(message))

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only constructor: pickle through the instance dict (dlt may move exceptions across workers)
        return (_rebuild, (type(self), self.__dict__.copy(), self.args))

    def _compose(self, message: str) -> str:
        where = " ".join(p for p in (self.method, self.path) if p)
        bits = []
        if where:
            bits.append(where)
        if self.status is not None:
            bits.append(f"-> HTTP {self.status}")
        head = " ".join(bits)
        detail = "; ".join(
            p for p in (message, f"error: {self.error}" if self.error else "",
                        f"error_info: {self.error_info}" if self.error_info else "") if p
        )
        text = f"{head}: {detail}" if head and detail else head or detail
        if self.hint:
            text = f"{text}. {self.hint}"
        return text


def _rebuild(cls: type[PipedriveError], state: dict[str, Any], args: tuple[Any, ...]) -> PipedriveError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class PipedriveAuthError(PipedriveError):
    """401: wrong/revoked API token, or OAuth access still rejected after one refresh."""

    hint = "Check the API token (Settings > Personal preferences > API) or re-authorize the OAuth app"


class PipedrivePermissionError(PipedriveError):
    """403 with a Pipedrive JSON body (e.g. non-admin user on a /collection endpoint)."""

    hint = "The user behind this token lacks permission; use an admin user's token or a non-admin fallback endpoint"


class PipedriveNotFoundError(PipedriveError):
    """404: the item or endpoint does not exist."""


class PipedriveGoneError(PipedriveError):
    """410: the endpoint was removed (e.g. deprecated v1 lists after their sunset)."""

    hint = "This API version of the endpoint is gone; switch the entity to the v2 endpoint"


class PipedriveBadRequestError(PipedriveError):
    """400: Pipedrive rejected the parameters."""


class PipedriveUnavailableError(PipedriveError):
    """Retries exhausted on 5xx, timeouts, connection resets, garbage bodies or rate limiting."""

    hint = "Pipedrive kept failing; the run can be resumed later from its saved state"


class DailyBudgetExhausted(PipedriveError):
    """The company's daily token budget, or the reserve kept for other integrations, is reached.

    ``resume_at`` (aware UTC datetime) is when calls may start again.
    """

    def __init__(self, message: str = "", *, resume_at: datetime, **kwargs: Any) -> None:
        self.resume_at = resume_at
        kwargs.setdefault(
            "hint", f"Resume after {resume_at.strftime('%Y-%m-%d %H:%M:%S')} UTC (the daily budget resets then)"
        )
        super().__init__(message, **kwargs)
