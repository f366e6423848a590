"""The simulator's HTTP face: a raw ASGI app (auth, rate limits, token costs, faults, stats, error
envelopes, `/oauth/token`, `/_sim/*` admin) in front of sim-core's route tables, plus the uvicorn
runner (`run_simulator()` in a background thread, `serve_forever()` in the foreground).

Raw ASGI + orjson instead of a framework: the hot path (a 500-record page) spends its time in data
generation and JSON, so the server adds as little as it can on top.

Request pipeline for `/v1/...`, `/api/v1/...` (and `/v2/...`, `/api/v2/...` when `api_v2.py` exists):
route match (404) -> auth (401) -> lockout (403 HTML) -> burst/search window (429 retry-after)
-> daily budget (429) -> v1 removed (410) -> fault schedule -> handler (500 on exception) -> JSON.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import formatdate
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson

from .clock import SimClock
from .config import SCALES, SEARCH_BURST_LIMIT, SimulatorConfig
from .faults import Fault, FaultSchedule
from .limits import BurstLimiter, BurstResult, DailyBudget, Lockouts, TokenCosts, normalise_template
from .oauth import OAuthError, OAuthIssuer

log = logging.getLogger("pipedrive_source.simulator")
ADMIN_USER_ID = 1  # the API token's user: a global admin (sim-core's generator.ADMIN_USER_ID)

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict], Any]


class ApiVersion(NamedTuple):
    """One API generation: its route matcher and the request class its handlers take."""

    match_route: Callable[[str, str], Any]
    request_cls: type


#: version -> (module in this package, matcher function). Adding an API generation is one line.
API_MODULES: dict[str, tuple[str, str]] = {
    "v1": ("api_v1", "match_route"),
    "v2": ("api_v2", "match_route_v2"),
}


def load_apis() -> dict[str, ApiVersion]:
    """Import the route tables that exist (api_v2 arrives later, issue 11)."""
    apis: dict[str, ApiVersion] = {}
    for version, (module_name, func) in API_MODULES.items():
        qualified = f"{__package__}.{module_name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name == qualified:
                continue
            raise
        request_cls = getattr(module, "SimRequest", None) or apis["v1"].request_cls
        apis[version] = ApiVersion(getattr(module, func), request_cls)
    return apis


# v1 endpoints Pipedrive deprecated on 2026-01-01 (FACTS.md "API generations"): lists, /collection, single items
_DEPRECATED_ENTITIES = ("deals", "persons", "organizations", "activities", "products", "pipelines", "stages")
DEPRECATED_V1 = frozenset(
    t for e in _DEPRECATED_ENTITIES for t in (f"/{e}", f"/{e}/collection", f"/{e}/{{}}")
)

_JSON = b"application/json"
_HTML = b"text/html; charset=UTF-8"
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}

CLOUDFLARE_403 = (
    b"<!DOCTYPE html>\n<html lang=\"en-US\"><head><title>Access denied | pipedrive.com used Cloudflare to "
    b"restrict access</title></head><body><div id=\"cf-wrapper\"><div id=\"cf-error-details\">"
    b"<h1>Error 1015</h1><h2>You are being rate limited</h2><p>The owner of this website (pipedrive.com) "
    b"has banned you temporarily from accessing this website.</p></div>"
    b"<div class=\"cf-footer\">Cloudflare Ray ID: 0000000000000000 &bull; Performance &amp; security by "
    b"Cloudflare</div></div></body></html>\n"
)
MAINTENANCE_HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Pipedrive</title></head><body><h1>Something went wrong</h1>"
    b"<p>We are experiencing technical difficulties. Please try again in a few minutes.</p></body></html>\n"
)


def gateway_html(status: int) -> bytes:
    reason = _REASONS.get(status, "Error")
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}"
        f"</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def error_body(status: int, message: str, info: str = "") -> dict:
    """Pipedrive's error envelope (FACTS.md "Envelopes and pagination")."""
    return {
        "success": False,
        "error": message,
        "error_info": info,
        "data": None,
        "additional_data": None,
        "errorCode": status,
    }


def _dumps(body: Any) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:  # int dict keys etc.: the option doubles the cost, so only when needed
        return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS, default=str)


class _InjectedReset(Exception):
    """Raised after a partial body so uvicorn drops the connection (fault `reset`)."""


def _drop_injected_reset(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, _InjectedReset)


logging.getLogger("uvicorn.error").addFilter(_drop_injected_reset)


def split_version(path: str) -> tuple[str | None, str]:
    """`/api/v1/deals` or `/v1/deals` -> ("v1", "/deals"); anything else -> (None, path)."""
    rest = path[4:] if path.startswith("/api/") else path
    if len(rest) >= 3 and rest[0] == "/" and rest[1] == "v" and rest[2].isdigit():
        cut = rest.find("/", 1)
        if cut == -1:
            return rest[1:], "/"
        return rest[1:cut], rest[cut:]
    return None, path


class Stats:
    """Request/status/token/fault counters behind `GET /_sim/stats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: Counter[str] = Counter()
            self.status: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.tokens_spent = 0
            self.lockouts = 0

    def record(self, key: str, status: int) -> None:
        with self._lock:
            self.requests[key] += 1
            self.status[str(status)] += 1

    def add(self, *, tokens: int = 0, lockouts: int = 0, fault: str | None = None) -> None:
        with self._lock:
            self.tokens_spent += tokens
            self.lockouts += lockouts
            if fault is not None:
                self.faults[fault] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "status": dict(self.status),
                "tokens_spent": self.tokens_spent,
                "lockouts": self.lockouts,
                "faults": dict(self.faults),
            }


def _non_admin_user_id(company: Any) -> int:
    """The user behind `user_token`: the company's regular (non-admin) user."""
    uid = getattr(company, "non_admin_user_id", None)
    if uid is None:
        try:
            from .generator import REGULAR_USER_ID as uid  # sim-core's constant
        except ImportError:
            uid = 2
    return int(uid)


class _Identity(NamedTuple):
    key: str  # rate-limit bucket
    kind: str  # "api" | "oauth"
    user_id: int
    is_admin: bool


class SimApp:
    """The ASGI application. One instance per simulated company."""

    def __init__(
        self,
        config: SimulatorConfig,
        company: Any,
        clock: SimClock,
        apis: dict[str, ApiVersion] | None = None,
    ) -> None:
        self.config = config
        self.company = company
        self.clock = clock
        self.apis = load_apis() if apis is None else apis
        self.url = ""  # set by the runner once the socket is bound (OAuth api_domain)
        self.costs = TokenCosts.load()
        self.burst = BurstLimiter()
        self.budget = DailyBudget(clock, config.daily_tokens())
        self.lockouts = Lockouts(config.lockout_threshold, config.lockout_seconds)
        self.faults = FaultSchedule(config.faults)
        self.stats = Stats()
        self.v1_removed = config.v1_removed
        self.oauth = OAuthIssuer(*config.oauth_client, config.access_token_ttl, clock) if config.oauth_client else None
        self.non_admin_user_id = _non_admin_user_id(company)
        self._tokens = {
            config.api_token: _Identity("api:" + config.api_token, "api", ADMIN_USER_ID, True),
            config.user_token: _Identity("api:" + config.user_token, "api", self.non_admin_user_id, False),
        }

    # -- ASGI entry ---------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        path: str = scope["path"]
        started = False

        async def tracked_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            if path.startswith("/_sim/"):
                await self._admin(scope, receive, tracked_send)
            elif path in ("/oauth/token", "/oauth/token/"):
                await self._oauth_token(scope, receive, tracked_send)
            else:
                await self._api(scope, receive, tracked_send)
        except _InjectedReset:
            raise
        except Exception:
            log.exception("simulator failed on %s %s", scope.get("method"), path)
            self.stats.record(f"{scope.get('method')} <error>", 500)
            if not started:
                await self._send(send, 500, _dumps(error_body(500, "Internal server error")), [])

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, headers: list, ctype: bytes = _JSON) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _read_body(receive: Receive) -> bytes:
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    # -- the Pipedrive API --------------------------------------------------------------------
    def _identify(self, token: str | None, bearer: str | None) -> tuple[_Identity | None, str]:
        if token is not None:
            ident = self._tokens.get(token)
            return (ident, "") if ident else (None, "Invalid API token")
        if bearer is not None:
            if self.oauth is None:
                return None, "OAuth is not enabled on this company"
            user_id, reason = self.oauth.validate(bearer)
            if user_id is None:
                return None, reason
            return _Identity(f"oauth:{user_id}", "oauth", user_id, user_id == ADMIN_USER_ID), ""
        return None, "You need to be authorized to make this request."

    def _limit_headers(self, burst: BurstResult) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(burst.limit).encode()),
            (b"x-ratelimit-remaining", str(burst.remaining).encode()),
            (b"x-ratelimit-reset", str(burst.reset).encode()),
            (b"x-daily-ratelimit-token-limit", str(self.budget.limit).encode()),
            (b"x-daily-ratelimit-token-remaining", str(self.budget.remaining()).encode()),
            self._date(),
        ]

    def _date(self) -> tuple[bytes, bytes]:
        # the real server's Date reflects Pipedrive's clock; clients fix sync windows from it
        return (b"date", formatdate(self.clock.now().timestamp(), usegmt=True).encode())

    def _default_burst(self) -> BurstResult:
        limit = self.config.burst_limit("api")
        return BurstResult(True, limit, limit, 2)

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        version, sub = split_version(path)
        api = self.apis.get(version) if version else None
        matched = api.match_route(method, sub) if api is not None else None

        token = bearer = ctype = authorization = None
        for name, value in scope["headers"]:
            if name == b"x-api-token":
                token = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                ctype = value
        raw_qs: bytes = scope["query_string"]
        query = dict(parse_qsl(raw_qs.decode("latin-1"), keep_blank_values=True)) if raw_qs else {}
        query_token = query.pop("api_token", None)
        if token is None:
            token = query_token
        if token is None and authorization and authorization[:7].lower() == "bearer ":
            bearer = authorization[7:].strip()

        if matched is None:
            self.stats.record(f"{method} <unmatched>", 404)
            body = error_body(404, "Unknown method .", f"No route for {method} {path}")
            await self._send(send, 404, _dumps(body), self._limit_headers(self._default_burst()))
            return
        route, params = matched
        template = normalise_template(route.template)
        key = f"{method} /{version}{route.template}"

        admitted = await self._admit(send, method, version, sub, route, template, key, token, bearer)  # type: ignore[arg-type]
        if admitted is None:
            return
        ident, burst, cost = admitted

        fault = self.faults.next(path, sub) if self.faults.active else None
        if fault is not None:
            self.stats.add(fault=fault.kind)
            if await self._early_fault(send, key, ident, burst, fault):
                return

        request_body = None
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            raw = await self._read_body(receive)
            if raw:
                try:
                    request_body = self._parse_body(raw, ctype)
                except ValueError as exc:
                    self.stats.record(key, 400)
                    body = error_body(400, "Bad request", f"Could not parse the request body: {exc}")
                    await self._send(send, 400, _dumps(body), self._limit_headers(burst))
                    return

        request = api.request_cls(  # type: ignore[union-attr]
            method=method,
            path_params=params,
            query=query,
            body=request_body,
            user_id=ident.user_id,
            is_admin=ident.is_admin,
            now=self.clock.now(),
        )
        try:
            response = route.handler(self.company, request)
            status = response.status
            payload = _dumps(response.body)
        except Exception:
            log.exception("handler for %s failed", key)
            status = 500
            payload = _dumps(error_body(500, "Internal server error", "The simulator handler failed."))
        else:
            self.stats.add(tokens=cost)
            self.budget.spend(cost)
        headers = self._limit_headers(burst)

        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.arg)
        elif fault is not None and fault.kind == "reset":
            self.stats.record(key, status)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", _JSON), (b"content-length", str(len(payload)).encode()), *headers],
                }
            )
            cut = max(1, int(len(payload) * fault.cut)) if len(payload) > 1 else 0
            await send({"type": "http.response.body", "body": payload[:cut], "more_body": True})
            raise _InjectedReset()
        elif fault is not None and fault.kind == "truncate":
            status = 200
            payload = payload[: max(1, int(len(payload) * fault.cut))] if len(payload) > 1 else b"{"
        self.stats.record(key, status)
        await self._send(send, status, payload, headers)

    async def _admit(
        self, send: Send, method: str, version: str, sub: str, route: Any, template: str, key: str,
        token: str | None, bearer: str | None,
    ) -> tuple[_Identity, BurstResult, int] | None:
        """Auth, lockout, burst/search window, daily budget, v1 removal: (identity, burst, cost) if the
        request may go on; otherwise the refusal has been answered and None is returned."""
        ident, reason = self._identify(token, bearer)
        if ident is None:
            self.stats.record(key, 401)
            body = {"success": False, "error": "unauthorized access", "errorCode": 401, "error_info": reason}
            await self._send(send, 401, _dumps(body), self._limit_headers(self._default_burst()))
            return None

        enforce = self.config.rate_limit
        limit = self.config.burst_limit(ident.kind)
        if enforce:
            before = self.lockouts.count
            locked = self.lockouts.check(ident.key)
            if self.lockouts.count != before:
                self.stats.add(lockouts=1)
            if locked:
                self.stats.record(key, 403)
                headers = self._limit_headers(self.burst.peek(ident.key, limit))
                headers.append((b"retry-after", str(max(1, int(locked + 0.999))).encode()))
                await self._send(send, 403, CLOUDFLARE_403, headers, _HTML)
                return None

        burst = self.burst.hit(ident.key, limit, enforce)
        if burst.allowed and getattr(route, "is_search", False):
            search = self.burst.hit(ident.key + ":search", SEARCH_BURST_LIMIT, enforce)
            if not search.allowed:
                burst = search
            elif search.remaining < burst.remaining:
                burst = BurstResult(True, SEARCH_BURST_LIMIT, search.remaining, search.reset)
        if not burst.allowed:
            await self._too_many(send, key, ident, burst, burst.retry_after)
            return None

        cost = self.costs.cost(version, method, template)  # type: ignore[arg-type]
        if enforce and not self.budget.can_spend(cost):
            self.stats.record(key, 429)
            wait = self.budget.seconds_to_reset()
            self.lockouts.penalise(ident.key, min(wait, 60))
            headers = self._limit_headers(burst)
            headers.append((b"retry-after", str(wait).encode()))
            body = {"success": False, "error": "daily request budget exceeded", "errorCode": 429}
            await self._send(send, 429, _dumps(body), headers)
            return None

        if self.v1_removed and version == "v1" and method == "GET" and template in DEPRECATED_V1:
            self.stats.record(key, 410)
            body = error_body(410, "This endpoint has been removed.", f"Use /api/v2{sub} instead.")
            await self._send(send, 410, _dumps(body), self._limit_headers(burst))
            return None

        return ident, burst, cost

    async def _too_many(self, send: Send, key: str, ident: _Identity, burst: BurstResult, wait: int) -> None:
        self.stats.record(key, 429)
        self.lockouts.penalise(ident.key, wait)
        headers = self._limit_headers(burst)
        headers.append((b"retry-after", str(wait).encode()))
        body = error_body(429, "Request over limit", "Too many requests, retry after the time in retry-after.")
        await self._send(send, 429, _dumps(body), headers)

    async def _early_fault(self, send: Send, key: str, ident: _Identity, burst: BurstResult, fault: Fault) -> bool:
        """Answer faults that replace the response outright; False for those applied later."""
        kind = fault.kind
        if kind == "429":
            wait = max(1, int(fault.arg + 0.999))
            await self._too_many(send, key, ident, BurstResult(False, burst.limit, 0, wait, wait), wait)
            return True
        if kind == "html200":
            self.stats.record(key, 200)
            await self._send(send, 200, MAINTENANCE_HTML, self._limit_headers(burst), _HTML)
            return True
        if kind in ("500", "502", "503", "504"):
            status = int(kind)
            self.stats.record(key, status)
            if fault.html:
                await self._send(send, status, gateway_html(status), self._limit_headers(burst), _HTML)
            else:
                body = error_body(status, _REASONS[status], "Injected by the simulator fault schedule.")
                await self._send(send, status, _dumps(body), self._limit_headers(burst))
            return True
        return False

    @staticmethod
    def _parse_body(raw: bytes, ctype: bytes | None) -> dict | None:
        ctype_l = (ctype or b"").lower()
        if ctype_l.startswith(b"application/x-www-form-urlencoded"):
            return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        if ctype_l.startswith(b"multipart/"):
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(str(exc)) from None

    # -- OAuth ----------------------------------------------------------------------------------
    async def _oauth_token(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await self._send(send, 405, _dumps(error_body(405, "Method not allowed")), [self._date()])
            return
        raw = await self._read_body(receive)
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
        if self.oauth is None:
            err = OAuthError(401, "invalid_client", "OAuth is not enabled on this simulator")
            await self._send(send, err.status, _dumps(err.body()), [self._date()])
            return
        try:
            answer = self.oauth.token(authorization, form)
        except OAuthError as err:
            await self._send(send, err.status, _dumps(err.body()), [self._date()])
            return
        answer["api_domain"] = self.url
        await self._send(send, 200, _dumps(answer), [(b"cache-control", b"no-store"), self._date()])

    # -- /_sim admin ------------------------------------------------------------------------------
    def stats_json(self) -> dict:
        data = self.stats.snapshot()
        data["tokens_remaining"] = self.budget.remaining()
        data["tokens_limit"] = self.budget.limit
        return data

    def reset_stats(self, limits: bool = False) -> None:
        """Zero the counters; with `limits`, also empty burst windows, lockouts and today's budget."""
        self.stats.reset()
        if limits:
            self.burst.clear()
            self.lockouts.clear()
            self.budget.clear()

    def next_day(self) -> dict:
        """Jump the clock to the next UTC midnight: a fresh daily budget."""
        self.clock.set(self.clock.next_midnight())
        self.lockouts.clear_penalties()
        return {**self.clock.to_json(), "tokens_remaining": self.budget.remaining()}

    def apply_clock(self, body: dict) -> dict:
        """`{"freeze": bool, "set": ISO, "advance": seconds}`, applied in that order."""
        if "freeze" in body and body["freeze"] is not None:
            if body["freeze"]:
                self.clock.freeze()
            else:
                self.clock.unfreeze()
        if body.get("set"):
            self.clock.set(body["set"])
        if body.get("advance"):
            self.clock.advance(float(body["advance"]))
        return self.clock.to_json()

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"].rstrip("/")
        body: dict = {}
        if method == "POST":
            raw = await self._read_body(receive)
            if raw.strip():
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    await self._send(send, 400, _dumps(error_body(400, "Bad JSON", str(exc))), [self._date()])
                    return
                body = parsed if isinstance(parsed, dict) else {}
        try:
            result = self._admin_action(method, path, body)
        except (ValueError, TypeError) as exc:
            await self._send(send, 400, _dumps(error_body(400, "Bad request", str(exc))), [self._date()])
            return
        if result is None:
            await self._send(send, 404, _dumps(error_body(404, "Unknown admin endpoint", f"{method} {path}")), [self._date()])
            return
        await self._send(send, 200, _dumps(result), [self._date()])

    def _admin_action(self, method: str, path: str, body: dict) -> dict | None:
        if path == "/_sim/stats" and method == "GET":
            return self.stats_json()
        if path == "/_sim/reset" and method == "POST":
            self.reset_stats(limits=bool(body.get("limits")))
            return {"success": True}
        if path == "/_sim/clock" and method == "GET":
            return self.clock.to_json()
        if path == "/_sim/clock" and method == "POST":
            return self.apply_clock(body)
        if path == "/_sim/faults" and method == "POST":
            self.faults.set(body.get("spec"))
            return {"success": True, "spec": self.faults.spec.text}
        if path == "/_sim/faults" and method == "GET":
            return {"spec": self.faults.spec.text}
        if path == "/_sim/day" and method == "POST":
            return self.next_day()
        if path == "/_sim/v1_removed" and method == "POST":
            self.v1_removed = bool(body.get("removed", True))
            return {"success": True, "removed": self.v1_removed}
        if path == "/_sim/v1_removed" and method == "GET":
            return {"removed": self.v1_removed}
        if path == "/_sim/config" and method == "GET":
            c = self.config
            return {
                "url": self.url, "seed": c.seed, "scale": c.scale, "deals": c.deals, "plan": c.plan,
                "rate_limit": c.rate_limit, "seats": c.seats, "daily_budget": self.budget.limit,
                "oauth": self.oauth is not None, "apis": sorted(self.apis),
            }
        return None


# -- running it ---------------------------------------------------------------------------------


def make_company(config: SimulatorConfig, clock: SimClock) -> Any:
    """sim-core's `Company(seed, scale, clock)`; named scales pass through, others as a deal count."""
    from .store import Company

    scale = config.scale if config.scale in SCALES else config.deals
    return Company(config.seed, scale, clock)


def bind_socket(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A listening TCP socket (port 0 = a free port chosen by the OS)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def uvicorn_server(app: SimApp, log_level: str = "warning") -> Any:
    import uvicorn

    config = uvicorn.Config(
        app,
        loop="auto",  # uvloop and httptools when installed (uvicorn[standard]); pure-Python fallbacks otherwise
        http="auto",
        lifespan="off",
        access_log=False,
        log_level=log_level,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


class Simulator:
    """Handle on a running simulator (see CONTRACTS.md "Simulator public API")."""

    def __init__(self, config: SimulatorConfig, app: SimApp, port: int) -> None:
        self.config = config
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/api/v1"
        self.company = app.company
        self.clock = app.clock

    def stats(self) -> dict:
        """Same JSON as `GET /_sim/stats`."""
        return self.app.stats_json()

    def reset_stats(self, limits: bool = False) -> None:
        self.app.reset_stats(limits)

    def set_faults(self, spec: str | None) -> None:
        self.app.faults.set(spec)

    def set_v1_removed(self, flag: bool) -> None:
        self.app.v1_removed = bool(flag)

    def next_day(self) -> None:
        """Jump to the next UTC midnight (daily budget reset), like `POST /_sim/day`."""
        self.app.next_day()

    def oauth_tokens(self, user_id: int = 1) -> dict:
        """Issue an access/refresh pair for the configured OAuth client (as `/oauth/token` answers)."""
        if self.app.oauth is None:
            raise RuntimeError("the simulator was started without oauth_client")
        return {**self.app.oauth.issue(user_id), "api_domain": self.url}

    def oauth_code(self, user_id: int = 1) -> str:
        """An authorization code for the `authorization_code` grant."""
        if self.app.oauth is None:
            raise RuntimeError("the simulator was started without oauth_client")
        return self.app.oauth.mint_code(user_id)

    def __repr__(self) -> str:
        return f"Simulator(url={self.url!r}, seed={self.config.seed}, scale={self.config.scale!r})"


def build_app(config: SimulatorConfig, company: Any = None, apis: dict[str, ApiVersion] | None = None) -> SimApp:
    clock = getattr(company, "clock", None) if company is not None else None
    if not isinstance(clock, SimClock):
        clock = SimClock(config.start_time)
    if company is None:
        company = make_company(config, clock)
    return SimApp(config, company, clock, apis)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        return asyncio.new_event_loop()


async def _serve_until(server: Any, sock: socket.socket, stop: asyncio.Event) -> None:
    """uvicorn's startup, then a prompt shutdown when `stop` is set.

    uvicorn's own loop polls `should_exit` every 0.1 s and sleeps another 0.1 s while shutting
    down; a fixture that starts a server per test pays that 0.2 s hundreds of times."""
    config = server.config
    if not config.loaded:
        config.load()
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])
    await stop.wait()
    for listener in server.servers:
        listener.close()
    for connection in list(server.server_state.connections):
        connection.shutdown()  # idle keep-alive connections close now, busy ones after their answer
    tasks = list(server.server_state.tasks)
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=2.0)
        for task in pending:
            task.cancel()
    for connection in list(server.server_state.connections):
        connection.transport.close()


@contextmanager
def run_simulator(
    config: SimulatorConfig | None = None,
    port: int = 0,
    *,
    company: Any = None,
    apis: dict[str, ApiVersion] | None = None,
) -> Iterator[Simulator]:
    """Serve a simulated company on 127.0.0.1 from a background thread for the `with` block.

    `company`/`apis` replace sim-core's Company and route tables (tests of the server itself).
    """
    config = config or SimulatorConfig()
    app = build_app(config, company, apis)
    sock = bind_socket(port)
    bound = sock.getsockname()[1]
    app.url = f"http://127.0.0.1:{bound}"
    server = uvicorn_server(app)
    loop = _new_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(_serve_until(server, sock, stop))
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            failure.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=serve, daemon=True, name=f"pipedrive-sim:{bound}")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"the simulator server did not start: {failure[0] if failure else 'timeout'}")
        time.sleep(0.002)
    try:
        yield Simulator(config, app, bound)
    finally:
        if thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        sock.close()


def serve_forever(config: SimulatorConfig, port: int = 8765, announce: Callable[[str], None] = print) -> None:
    """Serve in the foreground until Ctrl-C (`python -m pipedrive_source.simulator`)."""
    started = time.monotonic()
    app = build_app(config)
    sock = bind_socket(port)
    bound = sock.getsockname()[1]
    app.url = f"http://127.0.0.1:{bound}"
    server = uvicorn_server(app)
    announce(
        f"Pipedrive simulator (seed={config.seed}, scale={config.scale}, plan={config.plan}) ready in "
        f"{time.monotonic() - started:.2f}s\n{app.url}/api/v1"
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
