"""The simulator's clock: real UTC time by default, or frozen/set/advanced by tests and `/_sim/clock`.

Data timestamps, token expiry and the daily budget follow this clock; the burst window does not
(clients pace themselves in real time), see limits.py.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


def _real_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(value: str | datetime) -> datetime:
    """Aware UTC datetime from an ISO string ("2026-07-01T00:00:00Z", "2026-07-01 00:00:00") or datetime."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = value.strip()
        if text.endswith("Z") or text.endswith("z"):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


class SimClock:
    """Thread-safe simulated UTC clock: an offset from real time, or a frozen instant."""

    def __init__(self, start: datetime | str | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = parse_time(start) if start is not None else None

    def now(self) -> datetime:
        """Current simulated time (aware, UTC, microseconds kept)."""
        frozen = self._frozen
        if frozen is not None:
            return frozen
        return _real_now() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def freeze(self, dt: datetime | str | None = None) -> datetime:
        """Stop the clock at `dt` (default: now)."""
        with self._lock:
            self._frozen = parse_time(dt) if dt is not None else self.now()
            return self._frozen

    def unfreeze(self) -> None:
        """Let the clock run again from the frozen instant."""
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - _real_now()
                self._frozen = None

    def set(self, dt: datetime | str) -> datetime:
        """Jump to `dt`; a frozen clock stays frozen, a running one keeps running from there."""
        target = parse_time(dt)
        with self._lock:
            if self._frozen is not None:
                self._frozen = target
            else:
                self._offset = target - _real_now()
            return target

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward (or back, if negative) by `seconds`."""
        delta = timedelta(seconds=seconds)
        with self._lock:
            if self._frozen is not None:
                self._frozen = self._frozen + delta
            else:
                self._offset += delta
            return self.now()

    def next_midnight(self) -> datetime:
        """The next UTC midnight after now (when the daily budget resets)."""
        now = self.now()
        return datetime(now.year, now.month, now.day, tzinfo=timezone.utc) + timedelta(days=1)

    def to_json(self) -> dict:
        return {"now": self.now().isoformat().replace("+00:00", "Z"), "frozen": self.frozen}
