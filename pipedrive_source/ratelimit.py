"""Pacing shared by every thread of one client: burst windows, the search window and the daily token budget.

Pipedrive limits (FACTS.md, "Rate limits"): per token, a rolling 2-second window of 20/40/100/120 requests
(API token) or 80/160/400/480 (OAuth) by plan, 10 per 2 s on search endpoints, and a daily company budget
of tokens where each operation has a cost (``token_costs.tsv``, shipped as package data). Every answer
carries ``x-ratelimit-limit|remaining|reset`` and ``x-daily-ratelimit-token-limit|remaining``.

Why a small sliding-window log instead of a library: pyrate-limiter (the obvious candidate) fixes its
rates when the bucket is built, has no notion of "pause every caller until T" (what a 429 demands: the
server locks out clients that keep firing), and cannot take the server's ``remaining``/``reset`` into
account, nor that the server stamps a request on *arrival* (any time between our send and its answer).
The window below is ~100 lines around one ``threading.Condition`` and is tested directly
(tests/client/test_ratelimit.py): ``acquire()`` blocks until the call fits and no pause is active;
``release()`` marks the answer (the slot stays taken one window past it); ``pause_until()`` stops all
threads (429, lockout page); ``observe()`` learns limit/remaining/reset from headers.
"""

from __future__ import annotations

import csv
import heapq
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources

from pipedrive_source.errors import DailyBudgetExhausted

logger = logging.getLogger("pipedrive_source.ratelimit")

BURST_WINDOW_SECONDS = 2.0
SEARCH_LIMIT = 10
PLANS = ("essential", "advanced", "professional", "enterprise")
# requests per 2 s, by plan (FACTS.md)
API_TOKEN_BURST = {"essential": 20, "advanced": 40, "professional": 100, "enterprise": 120}
OAUTH_BURST = {"essential": 80, "advanced": 160, "professional": 400, "enterprise": 480}


def burst_limit_for(plan: str, oauth: bool) -> int:
    """Starting guess of the burst limit; the server's ``x-ratelimit-limit`` replaces it on the first answer."""
    key = plan.lower()
    if key not in API_TOKEN_BURST:
        raise ValueError(f"unknown Pipedrive plan {plan!r}; expected one of {', '.join(PLANS)}")
    return (OAUTH_BURST if oauth else API_TOKEN_BURST)[key]


class SlidingWindowLimiter:
    """Thread-safe rolling-window limiter: at most ``limit`` requests in any ``window`` seconds, as the
    server counts them.

    The server stamps a request when it arrives, somewhere between our send and its answer. So a slot
    is held from ``acquire()`` (send) until one window after ``release()`` (answer): then however
    transit delays reorder arrivals, the server never sees more requests in its window than we allowed
    (no guessing of network jitter). The cost is one round-trip per slot per window (~1 % at 20 ms).
    ``headroom`` keeps a few slots spare for clocks that disagree slightly.
    """

    def __init__(self, limit: int, window: float = BURST_WINDOW_SECONDS, *, headroom: float = 0.02,
                 name: str = "burst", clock=time.monotonic) -> None:
        self.name = name
        self.window = window
        self.headroom = headroom
        self._clock = clock
        self._cond = threading.Condition()
        self._done: list[float] = []  # heap of answer times still inside the window
        self._inflight = 0
        self._paused_until = 0.0
        self.server_limit = limit
        self._limit = self._effective(limit)

    def _effective(self, limit: int) -> int:
        margin = max(1, math.ceil(limit * self.headroom)) if self.headroom > 0 and limit > 1 else 0
        return max(1, limit - margin)

    @property
    def limit(self) -> int:
        """Requests let through per window (server limit minus headroom)."""
        return self._limit

    def _purge(self, now: float) -> None:
        cutoff = now - self.window
        while self._done and self._done[0] <= cutoff:
            heapq.heappop(self._done)

    def acquire(self) -> float:
        """Block until a request may be sent and count it in flight; returns the seconds waited.
        Every ``acquire`` must be followed by one ``release`` (answer, error or not sent)."""
        start = self._clock()
        with self._cond:
            while True:
                now = self._clock()
                self._purge(now)
                if self._paused_until > now:
                    self._cond.wait(self._paused_until - now)
                    continue
                if self._inflight + len(self._done) < self._limit:
                    self._inflight += 1
                    return now - start
                # all slots taken: wait for the oldest answer to leave the window, or for an answer
                timeout = self._done[0] + self.window - now if self._done else None
                self._cond.wait(max(timeout, 0.001) if timeout is not None else 1.0)

    def release(self, *, sent: bool = True) -> None:
        """The request got its answer (or failed); ``sent=False`` if it never left, freeing the slot now."""
        with self._cond:
            self._inflight = max(0, self._inflight - 1)
            if sent:
                heapq.heappush(self._done, self._clock())
            self._cond.notify_all()  # a free slot, or an answer time waiters can now wait for

    def pause_until(self, deadline: float) -> None:
        """Stop every caller of ``acquire`` until the monotonic time ``deadline`` (never shortens a pause)."""
        with self._cond:
            if deadline > self._paused_until:
                self._paused_until = deadline
            self._cond.notify_all()

    def pause_for(self, seconds: float) -> None:
        self.pause_until(self._clock() + seconds)

    @property
    def paused_for(self) -> float:
        with self._cond:
            return max(0.0, self._paused_until - self._clock())

    def set_limit(self, limit: int) -> None:
        with self._cond:
            if limit != self.server_limit and limit > 0:
                logger.info("%s limit learned from server: %d per %.0f s (was %d)", self.name, limit,
                            self.window, self.server_limit)
                self.server_limit = limit
                self._limit = self._effective(limit)
                self._cond.notify_all()

    def observe(self, limit: int | None, remaining: int | None, reset: float | None) -> None:
        """Learn from ``x-ratelimit-*`` headers: adopt the server's limit; if it says nothing is left,
        hold every thread until its window resets (others may share the token)."""
        if limit:
            self.set_limit(limit)
        if remaining is not None and remaining <= 0:
            self.pause_for(reset if reset and reset > 0 else self.window)

    def in_window(self) -> int:
        """Slots taken now: requests in flight plus answers less than one window old."""
        with self._cond:
            self._purge(self._clock())
            return self._inflight + len(self._done)


def next_midnight_utc(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class BudgetSnapshot:
    limit: int | None
    remaining: int | None


class DailyBudget:
    """Daily token budget: books the cost of each call before it is sent and refuses once the budget
    minus the ``reserve`` share (kept for the company's other integrations) would be crossed.

    ``estimate`` = tokens left once every call booked so far is charged. It is kept by local accounting
    (exact when we are the only spender, so concurrent threads neither overshoot nor stop early) and
    clamped by the server's ``x-daily-ratelimit-token-remaining``: with H the lowest value reported today
    (answers arrive out of order; the lowest is the latest count), the truth lies in
    [H - cost still in flight, H], so other spenders and uncharged failures converge. A rise far beyond
    reordering (> max(200, 10 % of the limit)) is a new budget day.
    Once exhausted, calls are refused locally (no request) until ``resume_at`` or ``reset()``.
    """

    def __init__(self, reserve: float = 0.2, *, now=lambda: datetime.now(UTC)) -> None:
        if not 0.0 <= reserve < 1.0:
            raise ValueError(f"daily_reserve must be in [0, 1), got {reserve!r}")
        self.reserve = reserve
        self._now = now
        self._lock = threading.Lock()
        self.limit: int | None = None
        self.remaining: int | None = None  # last value the server sent
        self._estimate: int | None = None
        self._lowest: int | None = None  # lowest remaining the server reported (this budget day)
        self._inflight = 0  # booked cost not yet answered
        self._resume_at: datetime | None = None
        self._exhausted_reason = ""

    @property
    def floor(self) -> int:
        return math.ceil((self.limit or 0) * self.reserve)

    def snapshot(self) -> BudgetSnapshot:
        with self._lock:
            return BudgetSnapshot(self.limit, self.remaining)

    @property
    def estimate(self) -> int | None:
        """Tokens left once every booked call is charged (None until the server has said)."""
        with self._lock:
            return self._estimate

    def reserve_cost(self, cost: int) -> None:
        """Book ``cost`` tokens for a call about to be sent, or raise DailyBudgetExhausted."""
        with self._lock:
            if self._resume_at is not None:
                if self._now() < self._resume_at:
                    raise self._error(self._exhausted_reason, self._resume_at)
                self._forget()
            if self._estimate is not None:
                if cost > self._estimate - self.floor:
                    reason = (f"daily token budget reached: about {self._estimate} of {self.limit} tokens left, "
                              f"{self.floor} ({self.reserve:.0%}) kept in reserve for other integrations")
                    self._mark_exhausted(reason, next_midnight_utc(self._now()))
                    raise self._error(reason, self._resume_at)  # type: ignore[arg-type]
                self._estimate -= cost
            self._inflight += cost

    def release(self, cost: int, *, charged: bool = True) -> None:
        """The call booked with ``cost`` ended without budget headers (e.g. connection lost)."""
        self.observe(None, None, settle=cost, charged=charged)

    def observe(self, limit: int | None, remaining: int | None, *, settle: int = 0, charged: bool = True) -> None:
        """Settle one answered call (``charged=False`` refunds it: 429, 401...) and take the server's numbers."""
        with self._lock:
            self._inflight = max(0, self._inflight - settle)
            if settle and not charged and self._estimate is not None:
                self._estimate += settle
            if remaining is None:
                return
            if limit is not None and limit != self.limit:
                self.limit = limit
                self._estimate = self._lowest = None
            self.remaining = remaining
            # answers arrive out of order: the lowest value seen today is the most recent server count
            if self._lowest is None or remaining < self._lowest:
                self._lowest = remaining
            elif remaining - self._lowest > max(200, (self.limit or 0) // 10):
                self._lowest = remaining  # far more than reordering explains: a new budget day
                self._estimate = None
            low, high = self._lowest - self._inflight, self._lowest
            if self._estimate is None or self._estimate < low:
                self._estimate = low  # first answer, a new day, or failures the server did not charge
            elif self._estimate > high:
                self._estimate = high  # someone else spent too

    def server_exhausted(self, resume_at: datetime | None, message: str) -> datetime:
        """The server answered 429 "daily request budget exceeded": refuse locally until the returned time."""
        with self._lock:
            when = resume_at or next_midnight_utc(self._now())
            self._mark_exhausted(f"Pipedrive says: {message}", when)
            return when

    def reset(self) -> None:
        """Forget what the server said (e.g. an operator knows the budget was reset); next call probes."""
        with self._lock:
            self._forget()

    @property
    def resume_at(self) -> datetime | None:
        return self._resume_at

    def _forget(self) -> None:
        self._resume_at = None
        self._exhausted_reason = ""
        self._estimate = self._lowest = None

    def _mark_exhausted(self, reason: str, resume_at: datetime) -> None:
        self._exhausted_reason = reason
        self._resume_at = resume_at
        logger.warning("%s; calls can resume at %s UTC", reason, resume_at.strftime("%Y-%m-%d %H:%M:%S"))

    @staticmethod
    def _error(reason: str, resume_at: datetime) -> DailyBudgetExhausted:
        return DailyBudgetExhausted(reason, resume_at=resume_at)


# ---- token costs -------------------------------------------------------------------------------------

_ID_SEGMENT = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
_PLACEHOLDER = re.compile(r"^\{[^}]+\}$")


def normalize_path(path: str) -> str:
    """``/deals/12/products`` -> ``/deals/{id}/products`` (numeric and UUID segments become ``{id}``)."""
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    return "/" + "/".join("{id}" if _ID_SEGMENT.match(s) or _PLACEHOLDER.match(s) else s for s in segments)


@lru_cache(maxsize=1)
def _cost_table() -> dict[tuple[str, str], list[tuple[tuple[str, ...], int]]]:
    """(METHOD, version) -> [(template segments with '{id}' placeholders, cost)], most literal first."""
    table: dict[tuple[str, str], list[tuple[tuple[str, ...], int]]] = {}
    text = resources.files("pipedrive_source").joinpath("token_costs.tsv").read_text(encoding="utf-8")
    for row in csv.DictReader(text.splitlines(), delimiter="\t"):
        path = row["path"].removeprefix("/api")
        version, _, rest = path.lstrip("/").partition("/")
        segs = tuple("{id}" if _PLACEHOLDER.match(s) else s for s in rest.strip("/").split("/") if s)
        table.setdefault((row["method"].upper(), version), []).append((segs, int(row["token_cost"])))
    for entries in table.values():
        entries.sort(key=lambda e: -sum(1 for s in e[0] if s != "{id}"))
    return table


def _default_cost(method: str, version: str, segments: tuple[str, ...]) -> int:
    single = bool(segments) and segments[-1] == "{id}"
    if method == "GET":
        if version == "v2":
            return 1 if single else 10
        return 2 if single else 20
    if method == "DELETE":
        return 3 if version == "v2" else 6
    return 5 if version == "v2" else 10


def token_cost(method: str, path: str, version: str = "v1") -> int:
    """Token cost of one call, from Pipedrive's published ``x-token-cost`` table (FACTS.md rules otherwise)."""
    method = method.upper()
    segs = tuple(s for s in normalize_path(path).split("/") if s)
    entries = _cost_table().get((method, version), [])
    for template, cost in entries:
        if len(template) == len(segs) and all(t == s or t == "{id}" for t, s in zip(template, segs)):
            return cost
    return _default_cost(method, version, segs)


def is_search_path(path: str) -> bool:
    """Search endpoints have their own, lower burst limit (10 per 2 s)."""
    segs = [s for s in path.split("?", 1)[0].split("/") if s]
    return bool(segs) and ("itemSearch" in segs or segs[-1] == "search" or segs[-2:-1] == ["search"])
