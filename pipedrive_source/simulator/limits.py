"""Rate limiting as Pipedrive does it (FACTS.md "Rate limits"): per-token burst windows, the search
limit, the company's daily token budget with per-endpoint costs, and the Cloudflare lockout that
clients earn by hammering on after a 429.

Burst windows and lockouts run on real monotonic time (clients pace in real time even when the
data clock is frozen); the daily budget follows the simulator clock and resets at UTC midnight.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import date
from importlib import resources

from .clock import SimClock
from .config import BURST_WINDOW_SECONDS

_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def normalise_template(template: str) -> str:
    """`/deals/{deal_id}/products` -> `/deals/{}/products`, so placeholder names never matter."""
    return _PLACEHOLDER.sub("{}", template.rstrip("/") or "/")


class TokenCosts:
    """Token cost of every (version, method, route template), from token_costs.tsv."""

    def __init__(self, rows: list[tuple[str, str, str, int]]) -> None:
        self._costs: dict[tuple[str, str, str], int] = {}
        for version, method, path, cost in rows:
            prefix = "/api/v2" if version == "v2" else "/v1"
            if path.startswith(prefix):
                path = path[len(prefix) :]
            self._costs[(version, method.upper(), normalise_template(path))] = cost

    @classmethod
    def load(cls) -> TokenCosts:
        """Read the table shipped beside this module (a copy of shared/pipedrive-api/token_costs.tsv)."""
        text = resources.files(__package__).joinpath("token_costs.tsv").read_text(encoding="utf-8")
        rows = []
        for line in text.splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) >= 4 and parts[3].strip().isdigit():
                rows.append((parts[0], parts[1], parts[2], int(parts[3])))
        return cls(rows)

    def cost(self, version: str, method: str, template: str) -> int:
        """Cost of a call; routes missing from the table get the documented default for their kind."""
        key = (version, method, normalise_template(template))
        found = self._costs.get(key)
        if found is not None:
            return found
        return self.default_cost(version, method, key[2])

    @staticmethod
    def default_cost(version: str, method: str, template: str) -> int:
        single = template.endswith("{}")
        if version == "v2":
            if method == "GET":
                return 1 if single else 10
            return 3 if method == "DELETE" else 5
        if method == "GET":
            return 2 if single else 20
        return 6 if method == "DELETE" else 10


@dataclass
class BurstResult:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # whole seconds until the window has room again / fully drains
    retry_after: int = 0


class BurstLimiter:
    """Rolling-window request counter per key (real monotonic time)."""

    def __init__(self, window: float = BURST_WINDOW_SECONDS) -> None:
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, enforce: bool = True, now: float | None = None) -> BurstResult:
        """Count one request for `key`; with `enforce`, refuse it once `limit` are inside the window."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque()
            edge = now - self.window
            while hits and hits[0] <= edge:
                hits.popleft()
            if enforce and len(hits) >= limit:
                wait = hits[0] + self.window - now
                secs = max(1, math.ceil(wait))
                return BurstResult(False, limit, 0, secs, secs)
            hits.append(now)
            used = len(hits)
            reset = max(1, math.ceil(hits[0] + self.window - now))
            return BurstResult(True, limit, max(0, limit - used), reset)

    def peek(self, key: str, limit: int, now: float | None = None) -> BurstResult:
        """Current state of `key` without counting a request (for headers on refused answers)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.get(key) or deque()
            inside = [t for t in hits if t > now - self.window]
            reset = max(1, math.ceil(inside[0] + self.window - now)) if inside else int(self.window)
            return BurstResult(True, limit, max(0, limit - len(inside)), reset)

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()


class DailyBudget:
    """The company's daily token budget on the simulator clock; a new UTC day starts a new budget."""

    def __init__(self, clock: SimClock, limit: int) -> None:
        self.clock = clock
        self.limit = limit
        self._spent = 0
        self._day: date = clock.now().date()
        self._lock = threading.Lock()

    def _roll(self) -> None:
        today = self.clock.now().date()
        if today != self._day:
            self._day = today
            self._spent = 0

    def remaining(self) -> int:
        with self._lock:
            self._roll()
            return max(0, self.limit - self._spent)

    def can_spend(self, cost: int) -> bool:
        with self._lock:
            self._roll()
            return self._spent + cost <= self.limit

    def spend(self, cost: int) -> int:
        """Charge `cost` tokens; returns what remains."""
        with self._lock:
            self._roll()
            self._spent += cost
            return max(0, self.limit - self._spent)

    def seconds_to_reset(self) -> int:
        return max(1, math.ceil((self.clock.next_midnight() - self.clock.now()).total_seconds()))

    def clear(self) -> None:
        with self._lock:
            self._spent = 0
            self._day = self.clock.now().date()


class Lockouts:
    """Cloudflare-style lockout: a key that sends more than `threshold` requests while the
    retry-after of a 429 it was given still runs is shut out for `seconds` (real time)."""

    def __init__(self, threshold: int, seconds: float) -> None:
        self.threshold = threshold
        self.seconds = seconds
        self.count = 0  # lockouts handed out
        self._penalty_until: dict[str, float] = {}
        self._strikes: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, key: str, now: float | None = None) -> float:
        """Note a request from `key`; returns seconds of lockout left (0.0 = let it through)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            locked = self._locked_until.get(key, 0.0)
            if locked > now:
                return locked - now
            if self._penalty_until.get(key, 0.0) > now:
                strikes = self._strikes.get(key, 0) + 1
                self._strikes[key] = strikes
                if strikes > self.threshold:
                    self._locked_until[key] = now + self.seconds
                    self._strikes[key] = 0
                    self._penalty_until.pop(key, None)
                    self.count += 1
                    return self.seconds
            else:
                self._strikes.pop(key, None)
            return 0.0

    def penalise(self, key: str, retry_after: float, now: float | None = None) -> None:
        """Record that `key` was told to wait `retry_after` seconds."""
        now = time.monotonic() if now is None else now
        with self._lock:
            until = now + retry_after
            if until > self._penalty_until.get(key, 0.0):
                self._penalty_until[key] = until

    def clear_penalties(self) -> None:
        """Forget pending 429 penalties (a new budget day), keep running lockouts."""
        with self._lock:
            self._penalty_until.clear()
            self._strikes.clear()

    def clear(self) -> None:
        with self._lock:
            self._penalty_until.clear()
            self._strikes.clear()
            self._locked_until.clear()
