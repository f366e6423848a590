"""The one HTTP client every Pipedrive resource uses: auth, pacing, retries, budget, errors, accounting.

Owns: base-URL resolution and validation; API-token (``x-api-token`` header, never the URL) or OAuth
(``Authorization: Bearer``, refreshed via ``oauth.OAuthSession``) auth; a shared ``httpx.Client`` whose
pool is sized to ``max_workers``; the shared burst/search limiters and the daily token budget
(``ratelimit``); bounded retries with exponential backoff and jitter (tenacity) for 5xx, timeouts,
resets, truncated/non-JSON bodies and HTML pages; 429 handling that pauses every thread for the
``retry-after``; mapping of the remaining statuses to ``errors``; per-endpoint request/token counts.
Knows nothing of dlt. Follows FACTS.md ("Base URLs and auth", "Envelopes", "Rate limits").
"""

from __future__ import annotations

import copy
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type

from pipedrive_source import pagination
from pipedrive_source.envelope import decode_body
from pipedrive_source.errors import (
    SECRET_KEYS,
    DailyBudgetExhausted,
    PipedriveAuthError,
    PipedriveBadRequestError,
    PipedriveError,
    PipedriveGoneError,
    PipedriveNotFoundError,
    PipedrivePermissionError,
    PipedriveUnavailableError,
    redact_url,
)
from pipedrive_source.oauth import OAuthCredentials, OAuthSession
from pipedrive_source.pagination import Page, iter_concurrent, split_time_range
from pipedrive_source.ratelimit import (
    SEARCH_LIMIT,
    DailyBudget,
    SlidingWindowLimiter,
    burst_limit_for,
    is_search_path,
    normalize_path,
    token_cost,
)

__all__ = ["PipedriveClient", "Page", "RunStats", "OAuthCredentials", "resolve_api_root", "split_time_range",
           "iter_concurrent"]

logger = logging.getLogger("pipedrive_source.client")

Decoder = Callable[[bytes], tuple[dict | None, str | None]]  # body -> (envelope, garbage description)

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
DEFAULT_LOCKOUT_PAUSE = 60.0


def resolve_api_root(base_url: str | None = None, company_domain: str | None = None,
                     api_domain: str | None = None) -> str:
    """API root (requests go to ``{root}/{version}{path}``) from the first of base_url, company_domain,
    OAuth api_domain. Raises ValueError with a clear message for anything unusable.

    ``https://acme.pipedrive.com/api/v1`` -> ``https://acme.pipedrive.com/api``; ``acme`` ->
    ``https://acme.pipedrive.com/api``; plain ``http`` is accepted only for loopback hosts (the simulator).
    """
    if base_url:
        source, url = "base_url", base_url.strip()
    elif company_domain:
        domain = company_domain.strip().lower().removeprefix("https://").rstrip("/").removesuffix(".pipedrive.com")
        if not domain or not all(c.isalnum() or c == "-" for c in domain):
            raise ValueError(f"company_domain {company_domain!r} is not a Pipedrive company domain: "
                             "give the part before .pipedrive.com, e.g. 'acme'")
        return f"https://{domain}.pipedrive.com/api"
    elif api_domain:
        source, url = "OAuth api_domain", api_domain.strip()
    else:
        raise ValueError("no Pipedrive address: set base_url (e.g. https://acme.pipedrive.com/api/v1) "
                         "or company_domain (e.g. acme), or use OAuth credentials that carry api_domain")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"{source} {redact_url(url)!r} is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{source} {redact_url(url)!r} must be an absolute http(s) URL such as "
                         "https://acme.pipedrive.com/api/v1")
    if parsed.userinfo:
        raise ValueError(f"{source} must not carry credentials; pass api_token/oauth instead")
    if parsed.query or parsed.fragment:
        raise ValueError(f"{source} {redact_url(url)!r} must not have a query or fragment "
                         "(never put api_token in the URL)")
    if parsed.scheme == "http" and parsed.host not in _LOOPBACK:
        raise ValueError(f"{source} {url!r} uses plain http: only https is allowed outside localhost")
    path = parsed.path.rstrip("/")
    for suffix in ("/v1", "/v2"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    if not path and parsed.host != "api.pipedrive.com":
        path = "/api"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{path}"


@dataclass
class RunStats:
    """Accounting of one client: copy it freely (``client.stats`` returns a copy)."""

    requests: dict[str, int] = field(default_factory=dict)  # "GET /v1/deals/collection" -> HTTP requests sent
    tokens: dict[str, int] = field(default_factory=dict)  # same keys -> tokens charged (answered calls)
    statuses: dict[str, int] = field(default_factory=dict)  # "200" / "429" / "timeout" ... -> count
    rate_limited: int = 0  # 429 burst answers seen
    retries: int = 0  # retries made (all causes)
    token_refreshes: int = 0  # OAuth refreshes
    wait_seconds: float = 0.0  # time threads spent held by the limiters
    daily_limit: int | None = None  # last x-daily-ratelimit-token-limit seen
    daily_remaining: int | None = None  # last x-daily-ratelimit-token-remaining seen
    started_at: float = field(default_factory=time.time)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens.values())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_requests"] = self.total_requests
        data["total_tokens"] = self.total_tokens
        return data


class _Retryable(Exception):
    """Internal: this attempt failed in a way worth another try."""

    def __init__(self, reason: str, status: int | None = None, error: str | None = None,
                 error_info: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status, self.error, self.error_info = reason, status, error, error_info


class _RateLimited(_Retryable):
    """429 burst (or lockout): the limiter holds every thread; no extra backoff needed."""


class _AuthRetry(_Retryable):
    """401 with OAuth: refreshed once, try again at once."""


@dataclass
class _CallState:
    started: float
    failures: int = 0  # retryable failures other than rate limiting
    rate_limited: int = 0
    refreshed: bool = False


class PipedriveClient:
    """Thread-safe Pipedrive API client. Use as a context manager or call ``close()``."""

    def __init__(self, *, base_url: str | None = None, company_domain: str | None = None,
                 api_token: str | None = None, oauth: OAuthCredentials | None = None,
                 plan: str = "professional", daily_reserve: float = 0.2, max_workers: int = 4,
                 timeout: float = 60.0, max_retries: int = 8, max_retry_time: float = 300.0,
                 user_agent: str = "pipedrive-source/0.1", burst_limit: int | None = None,
                 max_rate_limit_retries: int = 30, backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 rate_headroom: float = 0.02) -> None:
        if bool(api_token) == bool(oauth):
            raise ValueError("give exactly one of api_token or oauth credentials")
        # validate everything cheap before opening connections
        self._limiter = SlidingWindowLimiter(burst_limit or burst_limit_for(plan, oauth=bool(oauth)),
                                             headroom=rate_headroom, name="burst")
        self._search_limiter = SlidingWindowLimiter(SEARCH_LIMIT, headroom=rate_headroom, name="search")
        self.budget = DailyBudget(daily_reserve)
        if base_url or company_domain:
            resolve_api_root(base_url, company_domain)
        self.max_workers = max(1, max_workers)
        self.max_retries = max_retries
        self.max_retry_time = max_retry_time
        self.max_rate_limit_retries = max_rate_limit_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        pool = self.max_workers + 2
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0), pool=None),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            headers={"user-agent": user_agent, "accept": "application/json"},
            follow_redirects=False,
        )
        self._api_token = api_token
        self._oauth: OAuthSession | None = None
        try:
            if oauth is not None:
                self._oauth = OAuthSession(oauth, self._http)
                if not (base_url or company_domain or self._oauth.api_domain):
                    self._oauth.access_token()  # the refresh answer tells the api_domain
            self.root = resolve_api_root(base_url, company_domain, self._oauth.api_domain if self._oauth else None)
        except BaseException:
            self._http.close()
            raise
        self.auth_kind = "oauth" if oauth else "api_token"
        self.plan = plan
        self._stats = RunStats()
        self._stats_lock = threading.Lock()
        self._server_date: tuple[datetime, float] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"PipedriveClient(root={self.root!r}, auth={self.auth_kind!r}, plan={self.plan!r})"

    # ---- public API --------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, version: str = "v1",
            decode: Decoder | None = None) -> dict:
        """GET ``{root}/{version}{path}`` and return the JSON envelope."""
        return self.request("GET", path, params=params, version=version, decode=decode)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, version: str = "v1", decode: Decoder | None = None) -> dict:
        """Send one call with pacing, budget and retries; returns the envelope or raises a PipedriveError.

        ``decode`` replaces JSON decoding of a body (``envelope.decode_body``), e.g. to decode and
        transform it in a parse worker; a garbage description it returns is retried like any other.
        """
        if self._closed:
            raise RuntimeError("PipedriveClient is closed")
        method = method.upper()
        if version not in ("v1", "v2"):
            raise ValueError(f"version must be 'v1' or 'v2', got {version!r}")
        path = "/" + path.lstrip("/")
        query = _clean_params(params)
        shown = redact_url(f"/{version}{path}" + (f"?{urlencode(query)}" if query else ""))
        endpoint = f"{method} /{version}{normalize_path(path)}"
        cost = token_cost(method, path, version)
        search = is_search_path(path)
        url = f"{self.root}/{version}{path}"
        state = _CallState(started=time.monotonic())
        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            stop=lambda rs: self._should_stop(rs, state, method),
            wait=lambda rs: self._backoff(rs, state),
            before_sleep=lambda rs: self._before_retry(rs, method, shown),
            reraise=False,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(method, url, query, json, state, endpoint=endpoint, cost=cost,
                                         search=search, shown=shown, decode=decode)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            assert isinstance(last, _Retryable)
            attempts = exc.last_attempt.attempt_number
            raise PipedriveUnavailableError(
                f"gave up after {attempts} attempts in {time.monotonic() - state.started:.1f} s; "
                f"last failure: {last.reason}",
                method=method, path=shown, status=last.status, error=last.error, error_info=last.error_info,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def iter_offset(self, path: str, params: Mapping[str, Any] | None = None, *, limit: int = 500,
                    version: str = "v1") -> Iterator[Page]:
        """Pages of a v1 offset list (``start``/``limit``)."""
        return pagination.iter_offset(self.get, path, params, limit=limit, version=version)

    def iter_cursor(self, path: str, params: Mapping[str, Any] | None = None, *, limit: int = 500,
                    decode: Decoder | None = None) -> Iterator[Page]:
        """Pages of a v1 ``/collection`` endpoint (``cursor``; ``since``/``until`` pass through)."""
        get = self.get if decode is None else functools.partial(self.get, decode=decode)
        return pagination.iter_cursor(get, path, params, limit=limit)

    def iter_v2(self, path: str, params: Mapping[str, Any] | None = None, *, limit: int = 500) -> Iterator[Page]:
        """Pages of a v2 cursor list."""
        return pagination.iter_v2_cursor(self.get, path, params, limit=limit)

    @property
    def stats(self) -> RunStats:
        with self._stats_lock:
            snap = copy.deepcopy(self._stats)
        budget = self.budget.snapshot()
        snap.daily_limit, snap.daily_remaining = budget.limit, budget.remaining
        snap.token_refreshes = self._oauth.refreshes if self._oauth else 0
        return snap

    @property
    def burst_limit(self) -> int:
        """The burst limit per 2 s window currently believed (the server's, once seen)."""
        return self._limiter.server_limit

    def server_time(self) -> datetime | None:
        """The server's clock now, from the last ``Date`` header seen (+ time since); None before any.

        Lets callers pick ``until`` windows on the server's clock, not the local one (skew, simulators).
        """
        with self._stats_lock:
            seen = self._server_date
        if seen is None:
            return None
        server_dt, at = seen
        return server_dt + timedelta(seconds=time.monotonic() - at)

    def reset_daily_budget(self) -> None:
        """Forget a reached daily budget (e.g. it was reset out of band); the next call asks the server."""
        self.budget.reset()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        s = self.stats
        logger.info(
            "pipedrive client closed: %d requests, %d tokens, %d x 429, %d retries, %d refreshes, "
            "%.1f s held by limiter, daily budget %s/%s tokens left",
            s.total_requests, s.total_tokens, s.rate_limited, s.retries, s.token_refreshes, s.wait_seconds,
            s.daily_remaining if s.daily_remaining is not None else "?", s.daily_limit or "?",
        )
        self._http.close()

    def __enter__(self) -> PipedriveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- one attempt -------------------------------------------------------------------------------

    def _attempt(self, method: str, url: str, query: dict[str, Any], json: Any, state: _CallState, *,
                 endpoint: str, cost: int, search: bool, shown: str, decode: Decoder | None = None) -> dict:
        try:
            self.budget.reserve_cost(cost)
        except DailyBudgetExhausted as exc:
            raise DailyBudgetExhausted(exc._message, resume_at=exc.resume_at, method=method, path=shown) from None
        cost_open = True  # booked in the budget until the answer's headers settle it
        try:
            waited = self._search_limiter.acquire() if search else 0.0
            try:
                waited += self._limiter.acquire()
            except BaseException:
                if search:
                    self._search_limiter.release(sent=False)
                raise
            sent = False
            try:
                headers, used_token = self._auth_headers()
                self._count(endpoint, waited=waited)
                sent = True
                resp = self._http.request(method, url, params=query or None, json=json, headers=headers)
            except httpx.TimeoutException as exc:
                self._count_status(type(exc).__name__)
                self._log_failure(method, shown, endpoint, type(exc).__name__)
                raise self._maybe_retry(method, shown, f"timeout ({type(exc).__name__})", None,
                                        processed=not isinstance(exc, httpx.ConnectTimeout)) from None
            except httpx.TransportError as exc:
                self._count_status(type(exc).__name__)
                self._log_failure(method, shown, endpoint, type(exc).__name__)
                raise self._maybe_retry(method, shown, f"connection error ({type(exc).__name__})", None,
                                        processed=not isinstance(exc, httpx.ConnectError)) from None
            finally:
                self._limiter.release(sent=sent)
                if search:
                    self._search_limiter.release(sent=sent)
            self._observe(resp, search, cost)
            cost_open = False
        finally:
            if cost_open:
                self.budget.release(cost)
        status = resp.status_code
        self._count_status(str(status))
        body, garbage = _parse(resp, decode)
        # tokens are charged for calls the API processed: JSON answers, success or the handler's own refusal
        charged = cost if not garbage and (200 <= status < 300 or status in (400, 403, 404)) else 0
        if charged:
            self._charge(endpoint, charged)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s -> %d (%d tokens)", method, shown, status, charged,
                         extra={"pd_op": endpoint, "pd_status": status, "pd_tokens": charged})
        error = _text(body.get("error")) if body else None
        info = _text(body.get("error_info") or body.get("message")) if body else None

        if 200 <= status < 300:
            if garbage:
                # the server may have acted on a write before its answer got mangled: only reads are retried
                raise self._maybe_retry(method, shown, f"HTTP {status} with {garbage}", status, processed=True)
            assert body is not None
            if body.get("success") is False:
                raise PipedriveError("answer has success=false", method=method, path=shown, status=status,
                                     error=error, error_info=info)
            return body
        if status == 429:
            if error and "daily" in error.lower() or info and "daily" in info.lower():
                retry_after = _float_header(resp, "retry-after")
                resume = datetime.now(UTC) + timedelta(seconds=retry_after) if retry_after else None
                resume = self.budget.server_exhausted(resume, error or "daily request budget exceeded")
                raise DailyBudgetExhausted("Pipedrive refused the call: the company's daily token budget is spent",
                                           resume_at=resume, method=method, path=shown, status=status,
                                           error=error, error_info=info)
            wait = _float_header(resp, "retry-after") or _float_header(resp, "x-ratelimit-reset") or 2.0
            self._hold_all(wait)
            with self._stats_lock:
                self._stats.rate_limited += 1
            state.rate_limited += 1
            raise _RateLimited(f"HTTP 429 (retry-after {wait:g} s)", status, error, info)
        if status == 401:
            if self._oauth is not None and not state.refreshed and used_token is not None:
                state.refreshed = True
                self._oauth.refresh_after_401(used_token)
                raise _AuthRetry("HTTP 401, OAuth token refreshed", status, error, info)
            raise PipedriveAuthError(
                "the OAuth access token was rejected even after a refresh" if self._oauth
                else "the API token was rejected", method=method, path=shown, status=status, error=error,
                error_info=info)
        if status == 403 and garbage:
            # Cloudflare's HTML lockout page: everyone waits it out, then tries again (bounded)
            wait = _float_header(resp, "retry-after") or DEFAULT_LOCKOUT_PAUSE
            logger.error("%s %s: HTTP 403 HTML page (rate-limit lockout?); pausing all requests %.0f s",
                         method, shown, wait)
            self._hold_all(wait)
            state.rate_limited += 1
            raise _RateLimited(f"HTTP 403 lockout page (paused {wait:g} s)", status)
        if status >= 500:
            raise self._maybe_retry(method, shown, f"HTTP {status}" + (f" with {garbage}" if garbage else ""),
                                    status, error, info, processed=True)
        cls = {400: PipedriveBadRequestError, 403: PipedrivePermissionError, 404: PipedriveNotFoundError,
               410: PipedriveGoneError}.get(status, PipedriveError)
        raise cls("request refused", method=method, path=shown, status=status, error=error, error_info=info)

    @staticmethod
    def _maybe_retry(method: str, shown: str, reason: str, status: int | None, error: str | None = None,
                     info: str | None = None, *, processed: bool = False) -> Exception:
        """Retryable, unless a non-idempotent write may already have been applied by the server."""
        if processed and method not in _IDEMPOTENT:
            return PipedriveUnavailableError(f"{reason}; not retried because {method} is not idempotent",
                                             method=method, path=shown, status=status, error=error,
                                             error_info=info)
        return _Retryable(reason, status, error, info)

    # ---- helpers ----------------------------------------------------------------------------------

    def _auth_headers(self) -> tuple[dict[str, str], str | None]:
        if self._oauth is not None:
            token = self._oauth.access_token()
            return {"authorization": f"Bearer {token}"}, token
        assert self._api_token is not None
        return {"x-api-token": self._api_token}, None

    def _observe(self, resp: httpx.Response, search: bool, cost: int) -> None:
        h = resp.headers
        date = h.get("date")
        if date:
            try:
                server_dt = parsedate_to_datetime(date).astimezone(UTC)
            except (TypeError, ValueError):
                pass
            else:
                with self._stats_lock:
                    self._server_date = (server_dt, time.monotonic())
        limit, remaining = _int_header(resp, "x-ratelimit-limit"), _int_header(resp, "x-ratelimit-remaining")
        reset = _float_header(resp, "x-ratelimit-reset")
        if limit is not None or remaining is not None:
            # the search window answers with its own (lower) numbers
            target = self._search_limiter if search and limit is not None and limit <= SEARCH_LIMIT \
                else self._limiter
            if resp.status_code != 429:
                target.observe(limit, remaining, reset)
        # settle the booked cost and read the server's count in one step; refused calls cost nothing
        refused = resp.status_code in (401, 410, 429) or (resp.status_code == 403 and "html" in
                                                          h.get("content-type", ""))
        self.budget.observe(_int_header(resp, "x-daily-ratelimit-token-limit"),
                            _int_header(resp, "x-daily-ratelimit-token-remaining"), settle=cost,
                            charged=not refused)

    @staticmethod
    def _log_failure(method: str, shown: str, endpoint: str, what: str) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s -> %s", method, shown, what,
                         extra={"pd_op": endpoint, "pd_status": what, "pd_tokens": 0})

    def _hold_all(self, seconds: float) -> None:
        jitter = random.uniform(0.05, 0.25) * max(1.0, seconds)
        self._limiter.pause_for(seconds + jitter)
        self._search_limiter.pause_for(seconds + jitter)

    def _count(self, endpoint: str, *, waited: float) -> None:
        with self._stats_lock:
            self._stats.requests[endpoint] = self._stats.requests.get(endpoint, 0) + 1
            self._stats.wait_seconds += waited

    def _count_status(self, key: str) -> None:
        with self._stats_lock:
            self._stats.statuses[key] = self._stats.statuses.get(key, 0) + 1

    def _charge(self, endpoint: str, cost: int) -> None:
        with self._stats_lock:
            self._stats.tokens[endpoint] = self._stats.tokens.get(endpoint, 0) + cost

    def _should_stop(self, rs: RetryCallState, state: _CallState, method: str) -> bool:
        exc = rs.outcome.exception() if rs.outcome else None
        if isinstance(exc, _AuthRetry):
            return False
        if time.monotonic() - state.started >= self.max_retry_time:
            return True
        if isinstance(exc, _RateLimited):
            return state.rate_limited > self.max_rate_limit_retries
        return state.failures > self.max_retries

    def _backoff(self, rs: RetryCallState, state: _CallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        if isinstance(exc, (_RateLimited, _AuthRetry)):
            return 0.0  # the limiter holds the thread until the retry-after has passed
        state.failures += 1  # tenacity runs wait before stop: count here, stop reads it
        base = min(self.backoff_max, self.backoff_initial * 2 ** max(0, state.failures - 1))
        left = self.max_retry_time - (time.monotonic() - state.started)
        return max(0.0, min(base * random.uniform(0.5, 1.5), left))

    def _before_retry(self, rs: RetryCallState, method: str, shown: str) -> None:
        exc = rs.outcome.exception() if rs.outcome else None
        with self._stats_lock:
            self._stats.retries += 1
        sleep = rs.next_action.sleep if rs.next_action else 0.0
        level = logging.DEBUG if isinstance(exc, (_RateLimited, _AuthRetry)) else logging.WARNING
        logger.log(level, "%s %s failed (%s); retry %d in %.2f s", method, shown,
                   getattr(exc, "reason", type(exc).__name__), rs.attempt_number, sleep)


# ---- module helpers -------------------------------------------------------------------------------

def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key.lower() in SECRET_KEYS:
            raise ValueError(f"query parameter {key!r} would put a secret in the URL; the client sends "
                             "credentials in headers")
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, datetime):
            value = pagination.format_v1_time(value)
        elif isinstance(value, (list, tuple, set)):
            value = ",".join(str(v) for v in value)
        out[key] = value
    return out


def _parse(resp: httpx.Response, decode: Decoder | None = None) -> tuple[dict | None, str | None]:
    """(envelope, None) or (maybe-envelope, description of the garbage)."""
    content = resp.content
    ctype = resp.headers.get("content-type", "")
    head = content[:64].lstrip().lower()
    if "html" in ctype or head.startswith(b"<"):
        return None, "an HTML page instead of JSON"
    if not content:
        return None, "an empty body"
    return (decode or decode_body)(content)


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:500]


def _int_header(resp: httpx.Response, name: str) -> int | None:
    value = resp.headers.get(name)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _float_header(resp: httpx.Response, name: str) -> float | None:
    value = resp.headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
