"""Run a sync end to end and report it: the one entry point the CLI, scripts and tests share.

Exit codes (documented in the README): 0 success, 1 failure, 2 bad config/input,
3 stopped by the daily token budget (resumable: the next run continues where this one stopped).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo

from .errors import PipedriveAuthError, PipedriveError
from .options import ConfigError
from .source import last_context, pipedrive_source

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_BUDGET = 0, 1, 2, 3
DEFAULT_DATASET = "crm"  # not "pipedrive": a DuckDB schema named like its file makes queries ambiguous
DEFAULT_PIPELINE = "pipedrive"
DEFAULT_DUCKDB = "pipedrive.duckdb"
DESTINATIONS = ("duckdb", "postgres", "sqlalchemy")


@dataclass
class SyncResult:
    exit_code: int
    status: str  # "ok" | "budget_exhausted" | "failed" | "config_error"
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    tokens: int = 0
    seconds: float = 0.0
    resume_at: datetime | None = None
    message: str = ""
    client_stats: dict[str, Any] = field(default_factory=dict)
    parse_workers: dict[str, int] = field(default_factory=dict)  # processes, pages they transformed, fallbacks
    load_info: LoadInfo | None = None

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("load_info", None)
        d["resume_at"] = self.resume_at.isoformat() if self.resume_at else None
        return d


def make_pipeline(
    destination: str = "duckdb",
    *,
    dataset_name: str = DEFAULT_DATASET,
    pipeline_name: str = DEFAULT_PIPELINE,
    duckdb_path: str | os.PathLike[str] | None = None,
    pipelines_dir: str | os.PathLike[str] | None = None,
    credentials: Any = None,
    progress: Any = None,
) -> dlt.Pipeline:
    """A dlt pipeline for one of the supported destinations (credentials from dlt config by default)."""
    if destination not in DESTINATIONS:
        raise ConfigError(f"unknown destination {destination!r}; use one of: {', '.join(DESTINATIONS)}")
    if destination == "duckdb":
        dest: Any = dlt.destinations.duckdb(credentials=str(duckdb_path or credentials or DEFAULT_DUCKDB))
    elif destination == "postgres":
        dest = dlt.destinations.postgres(credentials=credentials) if credentials else "postgres"
    else:
        dest = dlt.destinations.sqlalchemy(credentials=credentials) if credentials else "sqlalchemy"
    kwargs: dict[str, Any] = {}
    if pipelines_dir is not None:
        kwargs["pipelines_dir"] = str(pipelines_dir)
    if progress is not None:
        kwargs["progress"] = progress
    return dlt.pipeline(pipeline_name=pipeline_name, destination=dest, dataset_name=dataset_name, **kwargs)


LOADER_FORMATS = {"duckdb": "parquet", "postgres": "csv"}


def loader_file_format(destination: str) -> str | None:
    """Arrow pages load as parquet into DuckDB (fast path, DLT-NOTES); Postgres takes csv from Arrow."""
    return LOADER_FORMATS.get(destination)


def _loader_format(pipeline: dlt.Pipeline) -> str | None:
    return loader_file_format(pipeline.destination.destination_name if pipeline.destination else "")


def root_cause(exc: BaseException) -> BaseException:
    """The first of our own errors in an exception chain (dlt wraps them in step/extraction errors)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, (PipedriveError, ConfigError)):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return exc


def _iter_row_counts(pipeline: dlt.Pipeline) -> Iterator[tuple[str, int]]:
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace else None
    for table, n in (info.row_counts if info else {}).items():
        if not table.startswith("_dlt"):
            yield table, n


def run_sync(
    pipeline: dlt.Pipeline,
    *,
    full_refresh: bool = False,
    reconcile_now: bool = False,
    max_rounds: int = 1000,
    **source_args: Any,
) -> SyncResult:
    """Build the source (config from dlt config/secrets/env + ``source_args``), run it, report.

    A long backfill pauses at checkpoints (``checkpoint_seconds``); each round is a complete dlt run
    (extract, normalize, load, state committed), and the next round continues from the saved state.
    """
    started = time.monotonic()
    if reconcile_now:
        source_args["reconcile"] = "always"
    total = SyncResult(EXIT_OK, "ok")
    for round_no in range(max_rounds):
        result, paused = _run_round(pipeline, full_refresh=full_refresh and round_no == 0, **source_args)
        total.exit_code, total.status, total.message = result.exit_code, result.status, result.message
        total.resume_at, total.load_info = result.resume_at, result.load_info
        total.requests += result.requests
        total.tokens += result.tokens
        total.client_stats = result.client_stats
        for k, n in result.parse_workers.items():
            total.parse_workers[k] = total.parse_workers.get(k, 0) + n
        for table, n in result.rows.items():
            total.rows[table] = total.rows.get(table, 0) + n
        if result.exit_code != EXIT_OK or not paused:
            break
        log.info("checkpoint: round %d loaded; continuing the backfill", round_no + 1)
    total.seconds = round(time.monotonic() - started, 3)
    if total.exit_code == EXIT_OK:
        total.message = f"synced {sum(total.rows.values())} rows into {len(total.rows)} tables"
    log.info("%s (%d requests, %d tokens, %.1fs)", total.message, total.requests, total.tokens, total.seconds)
    return total


def _run_round(pipeline: dlt.Pipeline, *, full_refresh: bool, **source_args: Any) -> tuple[SyncResult, bool]:
    started = time.monotonic()
    try:
        source = pipedrive_source(**source_args)
    except Exception as exc:  # dlt wraps errors raised while the source function runs
        cause = root_cause(exc)
        if isinstance(cause, ConfigError):
            return SyncResult(EXIT_CONFIG, "config_error", message=str(cause)), False
        raise
    ctx = last_context()
    assert ctx is not None
    result = SyncResult(EXIT_OK, "ok")
    try:
        if pipeline.has_pending_data:
            # a run killed in normalize/load left packages: pipeline.run() would only finish those and
            # return without extracting, so finish them first and then sync as usual
            log.info("finishing load packages left by an interrupted run")
            pipeline.normalize()
            pipeline.load()
        info = pipeline.run(
            source,
            refresh="drop_sources" if full_refresh else None,
            loader_file_format=_loader_format(pipeline),  # type: ignore[arg-type]
        )
        result.load_info = info
    except Exception as exc:
        cause = root_cause(exc)
        result.exit_code = EXIT_CONFIG if isinstance(cause, (ConfigError, PipedriveAuthError)) else EXIT_FAILURE
        result.status = "config_error" if result.exit_code == EXIT_CONFIG else "failed"
        result.message = str(cause)
        log.error("sync failed: %s", cause)
        log.debug("sync failure traceback", exc_info=exc)
    finally:
        ctx.close()
    result.seconds = round(time.monotonic() - started, 3)
    result.parse_workers = dict(ctx.parse_report)
    if ctx._client is not None:  # noqa: SLF001 - the context owns the client
        stats = ctx._client.stats.as_dict()
        result.client_stats = stats
        result.requests = int(stats["total_requests"])
        result.tokens = int(stats["total_tokens"])
    if result.exit_code == EXIT_OK:
        markers = ctx.markers  # delete markers of replaced child tables are not rows
        result.rows = {t: n - markers.get(t, 0) for t, n in _iter_row_counts(pipeline)}
        if ctx.budget_error is not None:
            result.exit_code, result.status = EXIT_BUDGET, "budget_exhausted"
            result.resume_at = ctx.budget_error.resume_at
            result.message = (
                f"stopped by the daily token budget; everything fetched so far is loaded. "
                f"Run again after {result.resume_at:%Y-%m-%d %H:%M} UTC to continue where it stopped."
            )
    return result, ctx.paused and ctx.budget_error is None
