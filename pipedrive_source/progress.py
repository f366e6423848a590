"""Live sync progress for `pipedrive-sync`: a dlt `Collector` plus an HTTP request counter.

Owns what the user sees while a sync runs:
- on a terminal, a rich table redrawn in place: per table rows, requests (= pages) and rows/s,
  and the overall requests/s and tokens spent, sized to the terminal;
- otherwise (cron, Airflow, systemd), plain timestamped log lines every `log_period` seconds,
  one per table that changed, so a scheduler's log stays grep-able;
- the sync's warnings, de-duplicated (data-quality warnings repeat per record).

Rows per table come from dlt itself (the extract step calls `collector.update(table, n)`).
Requests come from the client's per-request DEBUG records on the `pipedrive_source.client`
logger (`extra` keys `pd_op`, `pd_status`, `pd_tokens`); the counter is attached only while a
sync runs, so the client pays nothing otherwise. Requests per table map each route to the table it
feeds through the entity table (`GET /v1/deals/{id}/products` -> `deal_products`).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from functools import lru_cache
from typing import IO, Any

from dlt.common.runtime.collector import Collector

PACKAGE_LOGGER = "pipedrive_source"
CLIENT_LOGGER = "pipedrive_source.client"
_TEMPLATE_NOISE = re.compile(r"'[^']*'|\"[^\"]*\"|\([^)]*\)|[0-9a-f]{12,}|\d+(\.\d+)?")
_ROUTE = re.compile(r"^[A-Z]+ /(?:api/)?v\d(/\S*)")


def _snake(name: str) -> str:
    """`callLogs` -> `call_logs`, `dealFields` -> `deal_fields` (the table naming of the source)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_ID = re.compile(r"^(\d+|[0-9a-f]{8}-[0-9a-f-]{27,})$")


@lru_cache(maxsize=1)
def _route_tables() -> dict[str, str]:
    """Route path (version-less, ids as `{id}`) -> the table it feeds, from the entity table."""
    from pipedrive_source.entities import ENTITIES

    routes: dict[str, str] = {}
    for e in ENTITIES:
        routes[e.path] = e.name
        routes[f"{e.path}/collection"] = e.name
        if e.v2_path:
            routes.setdefault(e.v2_path, e.name)
        if e.fields_endpoint and e.fields_table:
            routes[e.fields_endpoint] = e.fields_table
        for ch in e.children:
            routes[ch.path] = ch.table
    return routes


def table_of(op: str) -> str | None:
    """`GET /v1/deals/{id}/products` (or `/v1/deals/12/products`) -> `deal_products`; None if unknown."""
    m = _ROUTE.match(op)
    if not m:
        return None
    segments = ["{id}" if _ID.match(s) or (s.startswith("{") and s.endswith("}")) else s
                for s in m.group(1).split("?", 1)[0].split("/") if s]
    path = "/" + "/".join(segments)
    routes = _route_tables()
    if path in routes:
        return routes[path]
    return _snake(segments[0]) if segments else None


class RequestCounter(logging.Handler):
    """Counts the client's per-request log records: total requests, tokens, and requests per table."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self._lock_counts = threading.Lock()
        self.requests = 0
        self.tokens = 0
        self.throttled = 0
        self.by_table: dict[str, int] = defaultdict(int)

    def emit(self, record: logging.LogRecord) -> None:
        op = getattr(record, "pd_op", None)
        if op is None:
            return
        with self._lock_counts:
            self.requests += 1
            self.tokens += int(getattr(record, "pd_tokens", 0) or 0)
            if getattr(record, "pd_status", None) == 429:
                self.throttled += 1
            table = table_of(str(op))
            if table:
                self.by_table[table] += 1

    def attach(self) -> "RequestCounter":
        """Start counting (raises the client logger to DEBUG without letting records reach other handlers)."""
        log = logging.getLogger(CLIENT_LOGGER)
        self._saved = (log.level, log.propagate)
        log.addHandler(self)
        log.setLevel(logging.DEBUG)
        # DEBUG records must not flood the root handlers; WARNING+ still reaches them through our re-emit below
        log.propagate = False
        return self

    def detach(self) -> None:
        log = logging.getLogger(CLIENT_LOGGER)
        log.removeHandler(self)
        level, propagate = getattr(self, "_saved", (logging.NOTSET, True))
        log.setLevel(level)
        log.propagate = propagate


class WarningRelay(logging.Handler):
    """Shows the sync's WARNING+ records while a run is on, without flooding the screen.

    Data-quality warnings repeat per record (a deleted enum option used by 500 deals): each message
    *template* is shown `per_template` times, then counted; `flush_suppressed()` reports the rest.
    On a terminal the lines go through the live display's console so they print above it.
    """

    def __init__(self, progress: "SyncProgress", per_template: int = 3) -> None:
        super().__init__(level=logging.WARNING)
        self.progress = progress
        self.per_template = per_template
        self.seen: dict[tuple[str, str], int] = defaultdict(int)
        self._lock_seen = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # pragma: no cover - a bad format string must not break the sync
            text = str(record.msg)
        # messages are often pre-formatted: strip quoted names, hashes and numbers to find the template
        key = (record.name, _TEMPLATE_NOISE.sub("…", text))
        with self._lock_seen:
            self.seen[key] += 1
            n = self.seen[key]
        if n > self.per_template:
            return
        self.progress.message(f"{record.levelname.lower()}: {record.name}: {text}")

    def flush_suppressed(self) -> None:
        for (name, template), n in self.seen.items():
            if n > self.per_template:
                self.progress.message(f"warning: {name}: {n - self.per_template} more like this not shown: {template}")
        self.seen.clear()


class SyncProgress(Collector):
    """dlt progress collector: rich live table on a TTY, plain log lines otherwise, nothing when quiet."""

    def __init__(
        self,
        mode: str = "auto",
        *,
        log_period: float = 10.0,
        refresh_per_second: float = 4.0,
        stream: IO[str] | None = None,
    ) -> None:
        """mode: auto (rich on a TTY else log) | rich | log | none."""
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "rich" if self.stream.isatty() else "log"
        if mode not in ("rich", "log", "none"):
            raise ValueError(f"progress mode must be auto|rich|log|none, got {mode!r}")
        self.mode = mode
        self.step = ""
        self.log_period = log_period
        self.refresh_per_second = refresh_per_second
        self.counter = RequestCounter()
        self._relay = WarningRelay(self)
        self._rows: dict[str, int] = {}
        self._first_seen: dict[str, float] = {}
        self._last_seen: dict[str, float] = {}
        self._logged: dict[str, int] = {}
        self._lock = threading.Lock()
        self._step_started = 0.0
        self._run_started: float | None = None
        self._last_log = 0.0
        self._live: Any = None
        self._stop_ticker: threading.Event | None = None
        self._last_closed: tuple[int, int] | None = None
        self._attached = False

    # -- run lifecycle (called by the CLI around run_sync) -------------------------------------

    def begin(self) -> None:
        """Attach the request counter; call before the sync starts."""
        self._run_started = time.monotonic()
        if not self._attached:
            self.counter.attach()
            # the client logger no longer propagates (its DEBUG records are for the counter): relay there too
            for name in (PACKAGE_LOGGER, CLIENT_LOGGER):
                logging.getLogger(name).addHandler(self._relay)
            self._attached = True

    def end(self) -> None:
        """Detach the counter and close any live display."""
        if self._attached:
            for name in (PACKAGE_LOGGER, CLIENT_LOGGER):
                logging.getLogger(name).removeHandler(self._relay)
            self.counter.detach()
            self._attached = False
        self._close_live()
        self._relay.flush_suppressed()

    # -- dlt Collector protocol ---------------------------------------------------------------

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        # only table row counters of the extract step are shown; "Resources"/"Files"/"Jobs" are dlt internals
        if not self.step.startswith("Extract") or label or name in ("Resources",) or name.startswith("_dlt"):
            return
        with self._lock:
            now = time.monotonic()
            if name not in self._rows:
                self._rows[name] = 0
                self._first_seen[name] = now
            self._rows[name] += inc
            self._last_seen[name] = now
        self._tick()

    def _ticker(self, stop: threading.Event) -> None:
        """Log mode: a line every log_period even while no rows arrive (children, retries, budget waits)."""
        while not stop.wait(self.log_period):
            self._tick(force=True)

    def _start(self, step: str) -> None:
        self.step = step
        self._step_started = time.monotonic()
        if self._run_started is None:
            self._run_started = self._step_started
        if self.mode == "log":
            self._line(f"{step}: started")
            if step.startswith("Extract"):
                self._stop_ticker = threading.Event()
                threading.Thread(target=self._ticker, args=(self._stop_ticker,), daemon=True).start()
        elif self.mode == "rich" and step.startswith("Extract"):
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                console=Console(file=self.stream),
                get_renderable=self._render,  # redrawn on every refresh: requests/s moves while rows do not
                refresh_per_second=self.refresh_per_second,
                transient=True,  # the end-of-run summary replaces it
            )
            self._live.start()
        elif self.mode == "rich":
            from rich.console import Console

            Console(file=self.stream).print(f"[dim]{step}…[/dim]")

    def _stop(self) -> None:
        if self._stop_ticker is not None:
            self._stop_ticker.set()
            self._stop_ticker = None
        if self.mode == "log" and self.step.startswith("Extract"):
            self._log_tables(final=True)
        if self.mode == "log":
            self._line(f"{self.step}: done in {time.monotonic() - self._step_started:.1f}s")
        self._close_live()

    # -- rendering ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Current numbers (also used by tests and the final summary)."""
        elapsed = time.monotonic() - (self._run_started or time.monotonic())
        with self._lock:
            rows = dict(self._rows)
        with self.counter._lock_counts:
            pages = dict(self.counter.by_table)
        return {
            "rows": rows,
            "pages": pages,
            "requests": self.counter.requests,
            "tokens": self.counter.tokens,
            "throttled": self.counter.throttled,
            "elapsed": elapsed,
            "requests_per_s": self.counter.requests / elapsed if elapsed > 0 else 0.0,
        }

    def _tick(self, force: bool = False) -> None:
        if self.mode == "log":  # (rich mode redraws itself: Live(get_renderable=...))
            now = time.monotonic()
            if now - self._last_log >= self.log_period or (force and now - self._last_log >= self.log_period / 2):
                self._last_log = now
                self._log_tables()

    def _render(self) -> Any:
        """Header line plus the most recently active tables, sized to the terminal (45 tables do not fit)."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        snap = self.snapshot()
        header = Text(
            f"{self.step or 'sync'}: {snap['requests']:,} requests ({snap['requests_per_s']:.1f}/s), "
            f"{snap['tokens']:,} tokens, {sum(snap['rows'].values()):,} rows in {len(snap['rows'])} tables, "
            f"{snap['elapsed']:.0f}s" + (f", {snap['throttled']} x 429" if snap["throttled"] else "")
        )
        table = Table(expand=False, box=None, padding=(0, 1))
        table.add_column("table")
        table.add_column("rows", justify="right")
        table.add_column("requests", justify="right")
        table.add_column("rows/s", justify="right")
        height = self._height()
        names = sorted(snap["rows"], key=lambda n: self._last_seen.get(n, 0.0), reverse=True)
        shown, hidden = names[: max(3, height - 4)], names[max(3, height - 4) :]
        for name in sorted(shown):
            rows = snap["rows"][name]
            span = self._last_seen.get(name, 0.0) - self._first_seen.get(name, 0.0)
            rate = f"{rows / span:,.0f}" if span > 0.5 else ""
            requests = snap["pages"].get(name)
            table.add_row(name, f"{rows:,}", "" if requests is None else f"{requests:,}", rate)
        if hidden:
            table.add_row(f"… {len(hidden)} more tables", f"{sum(snap['rows'][n] for n in hidden):,}", "", "")
        return Group(header, table)

    def _height(self) -> int:
        if self._live is not None:
            return int(self._live.console.size.height)
        return 24

    def _log_tables(self, final: bool = False) -> None:
        """One line overall, then one per table that changed since the last lines (all of them when final)."""
        snap = self.snapshot()
        self._line(
            f"progress: requests={snap['requests']} ({snap['requests_per_s']:.1f}/s) tokens={snap['tokens']} "
            f"throttled={snap['throttled']} elapsed={snap['elapsed']:.0f}s"
        )
        for name in sorted(snap["rows"]):
            rows = snap["rows"][name]
            if not final and self._logged.get(name) == rows:
                continue
            self._logged[name] = rows
            requests = snap["pages"].get(name)
            self._line(f"progress: table={name} rows={rows}" + (f" requests={requests}" if requests else ""))

    def message(self, text: str) -> None:
        """A log line from the sync: above the live display, as a log line, or nothing when quiet."""
        if self.mode == "none":
            return
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
            return
        if self.mode == "log":
            self._line(text)
            return
        try:
            self.stream.write(text + "\n")
        except Exception:  # pragma: no cover
            pass

    def _line(self, text: str) -> None:
        if self.mode != "log":
            return
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            self.stream.write(f"{stamp} {text}\n")
            self.stream.flush()
        except Exception:  # pragma: no cover
            pass

    def _close_live(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()
            snap = self.snapshot()
            key = (sum(snap["rows"].values()), snap["requests"])
            if key == self._last_closed:  # dlt's second, empty extract step (state) changes nothing
                return
            self._last_closed = key
            live.console.print(
                f"[dim]{self.step}: {sum(snap['rows'].values()):,} rows in {len(snap['rows'])} tables, "
                f"{snap['requests']:,} requests, {snap['elapsed']:.0f}s[/dim]"
            )
