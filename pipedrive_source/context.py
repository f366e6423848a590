"""What the resources of one source instance share: the client, the run's window end, the budget stop,
the destination engine for reconciliation, checkpoints and counters."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import dlt
from sqlalchemy.pool import NullPool

from . import db
from .client import PipedriveClient
from .errors import DailyBudgetExhausted
from .options import SyncOptions
from .parse_pool import ParsePool

log = logging.getLogger("pipedrive_source.source")

_local = threading.local()
_DLT_CONTEXT_LOCK = threading.Lock()


class SyncContext:
    """What the resources of one source instance share: the client, the window end, the budget stop."""

    def __init__(self, options: SyncOptions) -> None:
        self.options = options
        self._client: PipedriveClient | None = None
        self._lock = threading.Lock()
        self._client_lock = threading.Lock()
        self._client_error: Exception | None = None
        self._window_lock = threading.Lock()
        self._until: datetime | None = None
        self.budget_error: DailyBudgetExhausted | None = None
        self.notes: list[str] = []
        self._pool: ThreadPoolExecutor | None = None
        self._field_maps: dict[str, dict[str, Any]] = {}
        self.reconciliation: dict[str, dict[str, int]] = {}
        self.markers: dict[str, int] = {}
        self.started = time.monotonic()
        self.paused = False  # a resource stopped at a checkpoint: the runner runs another round
        self._engine: tuple[Any, str] | None = None
        self._warned: set[str] = set()
        self._fields_lock = threading.Lock()  # not self._lock: held during the HTTP call
        self._fields: dict[str, list[dict[str, Any]]] = {}
        self._parse_pool: ParsePool | None = None
        self._parse_users = 0
        # over the run's pools: worker processes started, pages they transformed, pages parsed here instead
        self.parse_report: dict[str, int] = {"processes": 0, "pages": 0, "fallbacks": 0}

    def destination_engine(self) -> tuple[Any, str]:
        """SQLAlchemy engine + schema of the destination being loaded, built once per run.

        dlt's config contexts are process-global: resolving destination credentials from several
        extract worker threads at once corrupts them (ContainerInjectableContextMangled), so this
        happens once, under a process-wide lock. ``dispose()`` by callers is fine: the engine reconnects.
        """
        with _DLT_CONTEXT_LOCK:
            if self._engine is None:
                pipeline = dlt.current.pipeline()
                # NullPool: no connection outlives its query, so dlt's loader can reopen a DuckDB file
                self._engine = (db.engine_for_pipeline(pipeline, poolclass=NullPool), db.dataset_schema(pipeline))
            return self._engine

    def checkpoint_due(self) -> bool:
        """True once this round has run ``checkpoint_seconds``: long backfills load in rounds so a
        killed process loses at most one round (dlt commits state only with a completed load)."""
        limit = self.options.checkpoint_seconds
        if limit <= 0 or time.monotonic() - self.started < limit:
            return False
        self.paused = True
        return True

    def warn_once(self, message: str) -> None:
        """Log a warning once per run: resources sharing metadata (deals, leads) would repeat it."""
        with self._lock:
            if message in self._warned:
                return
            self._warned.add(message)
        log.warning("%s", message)

    def count_markers(self, table: str, n: int) -> None:
        """Delete markers (tombstones) emitted, so reports count rows, not markers."""
        if n:
            with self._lock:
                self.markers[table] = self.markers.get(table, 0) + n

    def record_reconcile(self, entity: str, report: dict[str, int]) -> None:
        with self._lock:
            self.reconciliation[entity] = report

    def fields(self, endpoint: str, fetch: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """One metadata fetch per endpoint per run: deals and leads both read /dealFields."""
        with self._fields_lock:
            if endpoint not in self._fields:
                self._fields[endpoint] = fetch()
            return self._fields[endpoint]

    def field_map(self, endpoint: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """One field map per metadata endpoint per run, so deals and leads name columns alike."""
        with self._lock:
            if endpoint not in self._field_maps:
                self._field_maps[endpoint] = compute()
            return self._field_maps[endpoint]

    @property
    def client(self) -> PipedriveClient:
        """The run's one client; its first use checks the credentials with one cheap call.

        Resources start in parallel: without this check a wrong token would earn one 401 per
        resource. Every thread waits for the check and re-raises its error without a request.
        """
        with self._client_lock:
            if self._client_error is not None:
                raise self._client_error
            if self._client is None:
                o = self.options
                oauth = None
                if o.oauth_refresh_token:
                    from .oauth import OAuthCredentials

                    oauth = OAuthCredentials(
                        client_id=o.oauth_client_id or "",
                        client_secret=o.oauth_client_secret or "",
                        refresh_token=o.oauth_refresh_token,
                        token_file=o.oauth_token_file,
                        **({"token_url": o.oauth_token_url} if o.oauth_token_url else {}),
                    )
                self._client = PipedriveClient(
                    base_url=o.base_url,
                    company_domain=o.company_domain,
                    api_token=o.api_token,
                    oauth=oauth,
                    plan=o.plan,
                    daily_reserve=o.daily_reserve,
                    max_workers=o.max_workers,
                    max_retries=o.max_retries,
                    max_retry_time=o.max_retry_time,
                )
                try:
                    self._client.get("/users/me")  # also tells the server's clock (Date header)
                except Exception as exc:
                    self._client_error = exc
                    raise
            return self._client

    def window_end(self) -> datetime:
        """``until`` for this run: the server's clock minus the safety lag, fixed on first use."""
        with self._window_lock:
            if self._until is None:
                client = self.client
                server_now = client.server_time()
                if server_now is None:
                    client.get("/users/me")  # cheapest call that tells the server's time (Date header)
                    server_now = client.server_time()
                now = server_now or datetime.now(timezone.utc)
                self._until = (now - timedelta(seconds=self.options.safety_lag_seconds)).replace(microsecond=0)
            return self._until

    def stop_for_budget(self, exc: DailyBudgetExhausted, entity: str) -> None:
        with self._lock:
            if self.budget_error is None:
                self.budget_error = exc
        log.warning("%s: stopped by the daily token budget (%s); loading what was fetched", entity, exc)

    @property
    def budget_stopped(self) -> bool:
        return self.budget_error is not None

    def map_parents(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """Run per-parent calls concurrently under the client's shared limiter, results in order."""
        if len(items) <= 1:
            return [fn(i) for i in items]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.options.max_workers, thread_name_prefix="pipedrive-children")
        return list(self._pool.map(fn, items))

    def parse_pool(self) -> ParsePool | None:
        """The run's parse workers, started on first use inside ``using_parse_workers`` (None when
        ``parse_processes`` is 0 or outside that scope)."""
        if self.options.parse_processes <= 0:
            return None
        with self._lock:
            if self._parse_users <= 0:
                return None
            if self._parse_pool is None:
                self._parse_pool = ParsePool(self.options.parse_processes)
            return self._parse_pool

    @contextmanager
    def using_parse_workers(self) -> Iterator[None]:
        """While any resource reads pages that may go to parse workers; the last one out stops them,
        so no worker outlives the extract (Airflow/Dagster never call ``close``)."""
        with self._lock:
            self._parse_users += 1
        try:
            yield
        finally:
            with self._lock:
                self._parse_users -= 1
                pool = self._parse_pool if self._parse_users == 0 else None
                if pool is not None:
                    self._parse_pool = None
            if pool is not None:
                self._close_pool(pool)

    def _close_pool(self, pool: ParsePool) -> None:
        pool.close()
        self.parse_report["processes"] += pool.processes
        self.parse_report["pages"] += pool.answered
        self.parse_report["fallbacks"] += pool.declined

    def close(self) -> None:
        pool, self._parse_pool = self._parse_pool, None
        if pool is not None:
            self._close_pool(pool)
        if self._engine is not None:
            self._engine[0].dispose()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._client is not None:
            self._client.close()


def last_context() -> SyncContext | None:
    """The context of the source most recently built in this thread (the runner reads its stats)."""
    return getattr(_local, "context", None)
