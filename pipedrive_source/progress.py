"""Live sync progress for `pipedrive-sync`: a dlt `Collector` plus an HTTP request counter.

Owns what the user sees while a sync runs:
- on a terminal, a rich table redrawn in place: per table rows, pages, rows/s, and the
  overall requests/s and tokens spent;
- otherwise (cron, Airflow, systemd), plain timestamped log lines every `log_period` seconds,
  one line per table, so a scheduler's log stays grep-able.

Rows per table come from dlt itself (the extract step calls `collector.update(table, n)`).
Requests come from the client's per-request DEBUG records on the `pipedrive_source.client`
logger (`extra` keys `pd_op`, `pd_status`, `pd_tokens`); the counter is attached only while a
sync runs, so the client pays nothing otherwise. Pages per table are requests whose route names
the table's entity (`GET /v1/deals/collection` -> `deals`).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import IO, Any

from dlt.common.runtime.collector import Collector

CLIENT_LOGGER = "pipedrive_source.client"
_ROUTE_ENTITY = re.compile(r"^[A-Z]+ /(?:api/)?v\d/([A-Za-z]+)")


def _snake(name: str) -> str:
    """`callLogs` -> `call_logs`, `dealFields` -> `deal_fields` (the table naming of the source)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


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
            m = _ROUTE_ENTITY.match(str(op))
            if m:
                self.by_table[_snake(m.group(1))] += 1

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


class _WarningPassThrough(logging.Handler):
    """While the counter hides DEBUG records, keep the client's warnings visible (stderr)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover - never break a sync over a log line
            pass


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
        self._passthrough = _WarningPassThrough()
        self._rows: dict[str, int] = {}
        self._first_seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._step_started = 0.0
        self._run_started: float | None = None
        self._last_log = 0.0
        self._live: Any = None
        self._attached = False

    # -- run lifecycle (called by the CLI around run_sync) -------------------------------------

    def begin(self) -> None:
        """Attach the request counter; call before the sync starts."""
        self._run_started = time.monotonic()
        if not self._attached:
            self.counter.attach()
            logging.getLogger(CLIENT_LOGGER).addHandler(self._passthrough)
            self._attached = True

    def end(self) -> None:
        """Detach the counter and close any live display."""
        if self._attached:
            logging.getLogger(CLIENT_LOGGER).removeHandler(self._passthrough)
            self.counter.detach()
            self._attached = False
        self._close_live()

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
            if name not in self._rows:
                self._rows[name] = 0
                self._first_seen[name] = time.monotonic()
            self._rows[name] += inc
        self._tick()

    def _start(self, step: str) -> None:
        self.step = step
        self._step_started = time.monotonic()
        if self._run_started is None:
            self._run_started = self._step_started
        if self.mode == "log":
            self._line(f"{step}: started")
        elif self.mode == "rich" and step.startswith("Extract"):
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                self._render(),
                console=Console(file=self.stream),
                refresh_per_second=self.refresh_per_second,
                transient=False,
            )
            self._live.start()
        elif self.mode == "rich":
            from rich.console import Console

            Console(file=self.stream).print(f"[dim]{step}…[/dim]")

    def _stop(self) -> None:
        if self.mode == "log" and self.step.startswith("Extract"):
            self._log_tables()
        if self.mode == "log":
            self._line(f"{self.step}: done in {time.monotonic() - self._step_started:.1f}s")
        self._close_live()

    # -- rendering ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Current numbers (also used by tests and the final summary)."""
        elapsed = time.monotonic() - (self._run_started or time.monotonic())
        with self._lock:
            rows = dict(self._rows)
        return {
            "rows": rows,
            "pages": dict(self.counter.by_table),
            "requests": self.counter.requests,
            "tokens": self.counter.tokens,
            "throttled": self.counter.throttled,
            "elapsed": elapsed,
            "requests_per_s": self.counter.requests / elapsed if elapsed > 0 else 0.0,
        }

    def _tick(self) -> None:
        if self.mode == "rich" and self._live is not None:
            self._live.update(self._render())
        elif self.mode == "log":
            now = time.monotonic()
            if now - self._last_log >= self.log_period:
                self._last_log = now
                self._log_tables()

    def _render(self) -> Any:
        from rich.table import Table

        snap = self.snapshot()
        table = Table(
            title=f"{self.step or 'sync'} — {snap['requests']} requests "
            f"({snap['requests_per_s']:.1f}/s), {snap['tokens']} tokens, {snap['elapsed']:.0f}s",
            title_justify="left",
            expand=False,
        )
        table.add_column("table")
        table.add_column("rows", justify="right")
        table.add_column("pages", justify="right")
        table.add_column("rows/s", justify="right")
        now = time.monotonic()
        for name in sorted(snap["rows"]):
            rows = snap["rows"][name]
            age = now - self._first_seen.get(name, now)
            rate = rows / age if age > 0.5 else 0.0
            pages = snap["pages"].get(name)
            table.add_row(name, f"{rows:,}", "" if pages is None else str(pages), f"{rate:,.0f}")
        return table

    def _log_tables(self) -> None:
        snap = self.snapshot()
        self._line(
            f"progress: requests={snap['requests']} ({snap['requests_per_s']:.1f}/s) tokens={snap['tokens']} "
            f"throttled={snap['throttled']} elapsed={snap['elapsed']:.0f}s"
        )
        for name in sorted(snap["rows"]):
            pages = snap["pages"].get(name)
            self._line(f"progress: table={name} rows={snap['rows'][name]}" + (f" pages={pages}" if pages else ""))

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
            try:
                self._live.update(self._render())
                self._live.stop()
            finally:
                self._live = None
