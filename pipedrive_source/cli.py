"""`pipedrive-sync`: the command line of pipedrive-source (typer).

Owns the user-facing surface: argument parsing, up-front config checks, progress display, the
end-of-run summary and the exit codes. The sync itself is `pipedrive_source.runner`; this module
only wires it. Commands:

    demo      in-process simulator -> real sync into DuckDB -> summary and a sample query
    run       the production sync (credentials only from dlt config/secrets/env vars)
    simulate  the Pipedrive API simulator as a server
    status    what the last runs did, per entity
    tables    the table layout generated from the entity table (`--markdown` for the README)

Exit codes: 0 success, 1 failure, 2 bad config or input, 3 stopped by the daily token budget
(resumable: run again after the reset time printed).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_BUDGET = 0, 1, 2, 3
DESTINATIONS = ("duckdb", "postgres", "sqlalchemy")
DEFAULT_PIPELINE = "pipedrive"
DEMO_PIPELINE = "pipedrive_demo"
LAST_RUN_FILE = "pipedrive_last_run.json"

EXIT_CODES_HELP = (
    "Exit codes: 0 success, 1 failure, 2 bad config or input, "
    "3 stopped by the daily token budget (resumable: run again after the reset)."
)

app = typer.Typer(
    name="pipedrive-sync",
    help="Sync Pipedrive CRM into DuckDB / PostgreSQL / any SQLAlchemy database (dlt-based).\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# --------------------------------------------------------------------------------------------
# output helpers
# --------------------------------------------------------------------------------------------


def _err(message: str) -> None:
    """One clear line on stderr (no traceback); multi-line messages (dlt's) are folded into it."""
    text = " ".join(ln.strip() for ln in str(message).splitlines() if ln.strip())
    typer.echo(f"error: {text}", err=True)


def _die(code: int, message: str) -> NoReturn:
    _err(message)
    raise typer.Exit(code)


def _console(quiet: bool = False) -> Any:
    from rich.console import Console

    return Console(quiet=quiet, highlight=False, soft_wrap=True)


PROGRESS_MODES = ("auto", "rich", "log", "none")


def _progress_mode(quiet: bool, progress: str) -> str:
    if progress not in PROGRESS_MODES:
        _die(EXIT_CONFIG, f"unknown --progress {progress!r}; use one of: {', '.join(PROGRESS_MODES)}")
    return "none" if quiet else progress


# --------------------------------------------------------------------------------------------
# error classification: anything the sync raises -> (exit code, one line)
# --------------------------------------------------------------------------------------------


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (dlt wraps resource errors in PipelineStepFailed & co)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo.extend([e.__cause__, e.__context__, getattr(e, "exception", None)])
    return seen


def classify_exception(exc: BaseException) -> tuple[int, str]:
    """Map an exception from config checks or the sync to an exit code and a one-line message."""
    from pipedrive_source import errors

    try:
        from pipedrive_source.runner import ConfigError
    except ImportError:  # pragma: no cover - runner not importable
        ConfigError = ()  # type: ignore[assignment]

    chain = _causes(exc)
    for e in chain:
        if ConfigError and isinstance(e, ConfigError):
            return EXIT_CONFIG, str(e)
    for e in chain:
        if isinstance(e, errors.DailyBudgetExhausted):
            return EXIT_BUDGET, f"stopped by the daily token budget: {e}"
        if isinstance(e, (errors.PipedriveAuthError, errors.PipedrivePermissionError)):
            return EXIT_CONFIG, str(e)
        if isinstance(e, errors.PipedriveError):
            return EXIT_FAILURE, str(e)
    # dlt config resolution errors (missing secret/credentials) are config errors
    try:
        from dlt.common.configuration.exceptions import ConfigurationException
        from dlt.common.destination.exceptions import UnknownDestinationModule
    except ImportError:  # pragma: no cover
        ConfigurationException = UnknownDestinationModule = ()  # type: ignore[assignment,misc]
    for e in chain:
        if isinstance(e, (ConfigurationException, UnknownDestinationModule)):
            return EXIT_CONFIG, _first_line(str(e))
    root = chain[-1] if len(chain) > 1 else exc
    return EXIT_FAILURE, _first_line(f"{type(root).__name__}: {root}")


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else text


# --------------------------------------------------------------------------------------------
# up-front checks (before any request)
# --------------------------------------------------------------------------------------------


def parse_entities(entities: str | None) -> list[str] | None:
    """`deals,persons` -> ["deals", "persons"]; unknown names -> exit 2 listing the valid ones."""
    if not entities:
        return None
    names = [e.strip() for e in entities.split(",") if e.strip()]
    valid = _entity_names()
    if valid:
        unknown = [n for n in names if n not in valid]
        if unknown:
            _die(EXIT_CONFIG, f"unknown entity {', '.join(unknown)}; valid entities: {', '.join(sorted(valid))}")
    return names


def _entity_names() -> list[str]:
    from pipedrive_source import entities as ent

    return [e.name for e in ent.ENTITIES]


def check_destination(destination: str) -> None:
    if destination not in DESTINATIONS:
        _die(EXIT_CONFIG, f"unknown destination {destination!r}; use one of: {', '.join(DESTINATIONS)}")


def check_base_url(base_url: str | None) -> None:
    """Reject a URL that cannot be Pipedrive's API root before the first request."""
    if not base_url:
        return
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _die(
            EXIT_CONFIG,
            f"bad base URL {base_url!r}: expected e.g. https://yourcompany.pipedrive.com/api/v1",
        )


def check_destination_reachable(pipeline: Any, destination: str) -> None:
    """For server databases, connect once now: a bad DSN must not surface after the API budget is spent."""
    if destination == "duckdb":
        return
    try:
        with pipeline.sql_client() as client:
            client.execute_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001
        from dlt.common.configuration.exceptions import ConfigFieldMissingException

        if any(isinstance(e, ConfigFieldMissingException) for e in _causes(exc)):
            env = f"DESTINATION__{destination.upper()}__CREDENTIALS"
            _die(
                EXIT_CONFIG,
                f"no credentials for destination {destination!r}: set {env} or credentials under "
                f"[destination.{destination}] in .dlt/secrets.toml",
            )
        _die(EXIT_CONFIG, f"cannot use destination {destination!r}: {_first_line(str(exc))}")


# --------------------------------------------------------------------------------------------
# the sync, shared by demo and run
# --------------------------------------------------------------------------------------------


def _pipelines_dir(value: Optional[Path]) -> str | None:
    return str(value) if value else None


def _sync(
    *,
    destination: str,
    dataset: str,
    pipeline_name: str,
    pipelines_dir: str | None,
    duckdb_path: str | None,
    full_refresh: bool,
    reconcile: bool,
    overrides: dict[str, Any],
    progress: str,
    quiet: bool,
) -> tuple[Any, Any]:
    """Make the pipeline, check config, run the sync with progress; returns (pipeline, SyncResult)."""
    from pipedrive_source.progress import SyncProgress
    from pipedrive_source.runner import make_pipeline, run_sync

    collector = SyncProgress(_progress_mode(quiet, progress))
    # the CLI reports the runner's outcome itself (one error line); its own log lines would repeat it
    logging.getLogger("pipedrive_source.runner").setLevel(logging.CRITICAL)
    try:
        pipeline = make_pipeline(
            destination,
            dataset_name=dataset,
            pipeline_name=pipeline_name,
            duckdb_path=duckdb_path,
            pipelines_dir=pipelines_dir,
            progress=collector,
        )
    except Exception as exc:  # noqa: BLE001
        code, message = classify_exception(exc)
        _die(EXIT_CONFIG if code == EXIT_FAILURE else code, message)
    check_destination_reachable(pipeline, destination)

    duckdb_file = None
    if destination == "duckdb":
        from pipedrive_source.runner import DEFAULT_DUCKDB

        duckdb_file = str(Path(duckdb_path or DEFAULT_DUCKDB).resolve())
    collector.begin()
    try:
        result = run_sync(pipeline, full_refresh=full_refresh, reconcile_now=reconcile, **overrides)
    except KeyboardInterrupt:
        collector.end()
        _die(EXIT_FAILURE, "interrupted; the next run resumes from the last committed state")
    except Exception as exc:  # noqa: BLE001
        collector.end()
        code, message = classify_exception(exc)
        if os.environ.get("PIPEDRIVE_SYNC_DEBUG"):
            import traceback

            traceback.print_exc()
        _write_last_run(pipeline, None, error=message, exit_code=code, duckdb_file=duckdb_file)
        _die(code, message)
    collector.end()
    _write_last_run(pipeline, result, duckdb_file=duckdb_file)
    return pipeline, result


def _result_dict(result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    if hasattr(result, "summary"):
        return dict(result.summary())
    data = asdict(result) if is_dataclass(result) else dict(vars(result))
    for k, v in list(data.items()):
        if isinstance(v, datetime):
            data[k] = v.isoformat()
    return data


def _write_last_run(
    pipeline: Any, result: Any, *, error: str | None = None, exit_code: int | None = None, duckdb_file: str | None = None
) -> None:
    """Keep the last run's facts next to the pipeline state, for `status` (which also needs the DuckDB file)."""
    try:
        data = _result_dict(result)
        data["duckdb_path"] = duckdb_file
        data["finished_at"] = datetime.now(timezone.utc).isoformat()
        data["destination"] = pipeline.destination.destination_name if pipeline.destination else None
        data["dataset"] = pipeline.dataset_name
        if error is not None:
            data.update({"exit_code": exit_code, "status": "failed", "message": error})
        path = Path(pipeline.working_dir) / LAST_RUN_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, default=str))
    except Exception:  # noqa: BLE001 - bookkeeping must not change the exit code
        pass


def _finish(console: Any, result: Any, title: str) -> NoReturn:
    """Summary (unless it is a config error: then one line), the message, and the documented exit code."""
    if result.exit_code == EXIT_CONFIG:
        _die(EXIT_CONFIG, result.message or "bad configuration")
    _print_summary(console, result, title)
    if result.exit_code == EXIT_FAILURE:
        _err(result.message or "sync failed")
    elif result.message:
        console.print(result.message)
    raise typer.Exit(result.exit_code)


def _print_summary(console: Any, result: Any, title: str) -> None:
    from rich.table import Table

    rows: dict[str, int] = dict(getattr(result, "rows", {}) or {})
    table = Table(title=title, title_justify="left")
    table.add_column("table")
    table.add_column("rows loaded", justify="right")
    for name in sorted(rows):
        table.add_row(name, f"{rows[name]:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{sum(rows.values()):,}[/bold]")
    console.print(table)
    console.print(
        f"{len(rows)} tables, {sum(rows.values()):,} rows, {result.requests:,} requests, "
        f"{result.tokens:,} tokens, {result.seconds:.1f} s"
    )
    budget = _budget_seen(getattr(result, "client_stats", None) or {})
    if budget:
        console.print(f"daily budget seen: {budget}")


def _budget_seen(stats: dict[str, Any]) -> str:
    """Find the daily budget numbers in the client's stats, whatever their exact key names."""
    limit = remaining = None
    for key, value in _flatten(stats):
        k = key.lower()
        if "daily" in k and "limit" in k and limit is None and isinstance(value, (int, float)):
            limit = value
        elif "daily" in k and "remaining" in k and remaining is None and isinstance(value, (int, float)):
            remaining = value
    if limit is None and remaining is None:
        return ""
    return f"{remaining if remaining is not None else '?'} of {limit if limit is not None else '?'} tokens left"


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            out.extend(_flatten(v, f"{prefix}{k}."))
    else:
        out.append((prefix.rstrip("."), d))
    return out


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------

ProgressOpt = typer.Option("auto", "--progress", help="auto (rich on a terminal, log lines otherwise) | rich | log | none")
QuietOpt = typer.Option(False, "--quiet", "-q", help="Only errors and the exit code.")
PipelinesDirOpt = typer.Option(
    None,
    "--pipelines-dir",
    help="Where dlt keeps pipeline state (default: $DLT_DATA_DIR/pipelines, ~/.dlt/pipelines, /var/dlt as root).",
)


@app.command(epilog=EXIT_CODES_HELP)
def run(
    destination: str = typer.Option("duckdb", "--destination", "-d", help="duckdb | postgres | sqlalchemy"),
    dataset: str = typer.Option("crm", "--dataset", help="Dataset (schema) name in the destination."),
    entities: Optional[str] = typer.Option(None, "--entities", "-e", help="Comma-separated subset, e.g. deals,persons."),
    full_refresh: bool = typer.Option(False, "--full-refresh", help="Forget incremental state and reload everything."),
    reconcile: bool = typer.Option(False, "--reconcile", help="Run the id reconciliation (deleted records) now."),
    base_url: Optional[str] = typer.Option(
        None, "--base-url", help="API root, e.g. https://acme.pipedrive.com/api/v1 (else config/env)."
    ),
    duckdb_path: Optional[Path] = typer.Option(None, "--duckdb-path", help="DuckDB file (default pipedrive.duckdb)."),
    pipeline_name: str = typer.Option(DEFAULT_PIPELINE, "--pipeline-name", help="dlt pipeline name (state key)."),
    pipelines_dir: Optional[Path] = PipelinesDirOpt,
    api_version: Optional[str] = typer.Option(
        None, "--api-version", help="auto (v1, moving to v2 when v1 is gone) | v1 | v2 (else config/env)."
    ),
    progress: str = ProgressOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Sync Pipedrive into the destination (incremental; resumable).

    Credentials come only from dlt config: .dlt/secrets.toml section sources.pipedrive, key api_token
    (or the OAuth keys), or env vars such as SOURCES__PIPEDRIVE__API_TOKEN.

    Destination credentials likewise, e.g. DESTINATION__POSTGRES__CREDENTIALS.
    """
    check_destination(destination)
    check_base_url(base_url)
    _progress_mode(quiet, progress)
    names = parse_entities(entities)
    overrides: dict[str, Any] = {}
    if base_url:
        overrides["base_url"] = base_url
    if names:
        overrides["entities"] = names
    if api_version:
        from pipedrive_source.options import API_VERSIONS

        if api_version not in API_VERSIONS:
            _die(EXIT_CONFIG, f"--api-version {api_version!r} is not valid; use one of: {', '.join(API_VERSIONS)}")
        overrides["api_version"] = api_version
    console = _console(quiet)
    _, result = _sync(
        destination=destination,
        dataset=dataset,
        pipeline_name=pipeline_name,
        pipelines_dir=_pipelines_dir(pipelines_dir),
        duckdb_path=str(duckdb_path) if duckdb_path else None,
        full_refresh=full_refresh,
        reconcile=reconcile,
        overrides=overrides,
        progress=progress,
        quiet=quiet,
    )
    _finish(console, result, f"pipedrive -> {destination} (dataset {dataset})")


DEMO_QUERY = """\
SELECT s.name AS stage, COUNT(*) AS open_deals, ROUND(SUM(d.value), 2) AS total_value
FROM {dataset}.deals AS d
JOIN {dataset}.stages AS s ON s.id = d.stage_id
WHERE d.status = 'open'
GROUP BY s.name
ORDER BY total_value DESC
LIMIT 5"""


@app.command(epilog=EXIT_CODES_HELP)
def demo(
    scale: str = typer.Option("small", "--scale", help="small (200 deals) | medium (10k) | large (100k) | N deals."),
    duckdb_path: Path = typer.Option(Path("pipedrive_demo.duckdb"), "--duckdb-path", help="DuckDB file to write."),
    seed: int = typer.Option(1, "--seed", help="Simulator seed (same seed, same company)."),
    plan: str = typer.Option("professional", "--plan", help="Simulated Pipedrive plan (rate limits on)."),
    full_refresh: bool = typer.Option(False, "--full-refresh", help="Reload everything even if the file exists."),
    pipelines_dir: Optional[Path] = PipelinesDirOpt,
    progress: str = ProgressOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Start the bundled Pipedrive simulator and run a real sync of it into DuckDB.

    Nothing leaves this machine; it shows what a sync of your company would load, then runs a sample query.
    """
    from pipedrive_source.simulator import SimulatorConfig, run_simulator

    try:
        sim_config = SimulatorConfig(seed=seed, scale=scale, plan=plan, rate_limit=True)
    except ValueError as exc:
        _die(EXIT_CONFIG, str(exc))
    console = _console(quiet)
    duckdb_path = duckdb_path.resolve()
    # a deleted file with surviving local state would be an incremental load into an empty database
    fresh = full_refresh or not duckdb_path.exists()
    with run_simulator(sim_config) as sim:
        console.print(f"simulator: {sim.base_url} (seed {seed}, scale {scale}, plan {plan}, rate limits on)")
        overrides = {"api_token": sim_config.api_token, "base_url": sim.base_url, "plan": plan}
        pipeline, result = _sync(
            destination="duckdb",
            dataset="crm",
            pipeline_name=DEMO_PIPELINE,
            pipelines_dir=_pipelines_dir(pipelines_dir),
            duckdb_path=str(duckdb_path),
            full_refresh=fresh,
            reconcile=False,
            overrides=overrides,
            progress=progress,
            quiet=quiet,
        )
        sim_stats = sim.stats()
    if result.exit_code != EXIT_OK:
        _finish(console, result, f"demo sync -> {duckdb_path}")
    _print_summary(console, result, f"demo sync -> {duckdb_path}")
    console.print(
        f"simulator saw {sum(sim_stats.get('requests', {}).values()):,} requests, "
        f"{sim_stats.get('tokens_spent', 0):,} tokens spent"
    )
    _demo_query(console, pipeline, duckdb_path)
    # duckdb 2.0's bindings print a "nanobind: leaked N instances" report at interpreter shutdown after a
    # load and a query in one process (harmless, but it is the demo's last word): the work is done and
    # flushed (dlt committed the load, engines are disposed), so the console script skips finalization.
    global _skip_finalization
    _skip_finalization = True
    console.print(
        "\nNext: point it at your Pipedrive —\n"
        "  export SOURCES__PIPEDRIVE__API_TOKEN=...          # Settings > Personal preferences > API\n"
        "  export SOURCES__PIPEDRIVE__COMPANY_DOMAIN=yourco  # https://yourco.pipedrive.com\n"
        "  pipedrive-sync run                                # -> pipedrive.duckdb; --destination postgres for Postgres\n"
        "(or put them in .dlt/secrets.toml / .dlt/config.toml; see README 'Configuration')"
    )


def _demo_query(console: Any, pipeline: Any, duckdb_path: Path) -> None:
    from pipedrive_source.db import dataset_schema

    schema = dataset_schema(pipeline)  # dlt may normalise the dataset name; this is the real SQL schema
    sql = DEMO_QUERY.format(dataset=schema)
    console.print("\nSample query:\n" + sql)
    try:
        columns, rows = query(pipeline, sql)
    except Exception as exc:  # noqa: BLE001 - the demo's sync succeeded; a query problem is informational
        console.print(f"[yellow]query failed: {_first_line(str(exc))}[/yellow]")
        return
    from rich.table import Table

    table = Table()
    for c in columns:
        table.add_column(str(c))
    for r in rows:
        table.add_row(*[f"{v:,.2f}" if isinstance(v, float) else str(v) for v in r])
    console.print(table)
    console.print(
        f"Explore it yourself: open {duckdb_path} with any DuckDB client "
        f"(tables live in schema '{schema}'), or `pipedrive-sync status --pipeline-name {DEMO_PIPELINE}`"
    )


def query(pipeline: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one SQL statement against the pipeline's destination via SQLAlchemy (db.py), else dlt's client."""
    try:
        from pipedrive_source.db import pipeline_engine
    except ImportError:  # pragma: no cover
        pipeline_engine = None  # type: ignore[assignment]
    if pipeline_engine is not None:
        import sqlalchemy as sa

        with pipeline_engine(pipeline) as (engine, _schema):
            with engine.connect() as conn:
                res = conn.execute(sa.text(sql))
                return list(res.keys()), [tuple(r) for r in res.fetchall()]
    with pipeline.sql_client() as client:  # pragma: no cover
        with client.execute_query(sql) as cur:
            cols = [d[0] for d in cur.description]
            return cols, [tuple(r) for r in cur.fetchall()]


@app.command(epilog="Admin endpoints: GET /_sim/stats, POST /_sim/reset, /_sim/clock, /_sim/faults, /_sim/day.")
def simulate(
    port: int = typer.Option(8765, "--port", help="Port on 127.0.0.1 (0 = any free port)."),
    seed: int = typer.Option(1, "--seed", help="Data seed (same seed + scale = same company)."),
    scale: str = typer.Option("small", "--scale", help="small | medium | large | N deals."),
    plan: str = typer.Option("professional", "--plan", help="essential | advanced | professional | enterprise."),
    no_rate_limit: bool = typer.Option(False, "--no-rate-limit", help="No burst limit and no daily budget."),
    faults: Optional[str] = typer.Option(None, "--faults", help="Fault spec (see the simulator's faults module)."),
    api_token: Optional[str] = typer.Option(None, "--api-token", help="Admin API token (default sim-admin-token)."),
    user_token: Optional[str] = typer.Option(None, "--user-token", help="Non-admin token (default sim-user-token)."),
    oauth_client: Optional[str] = typer.Option(None, "--oauth-client", help="Enable OAuth: CLIENT_ID:SECRET."),
    access_token_ttl: Optional[float] = typer.Option(None, "--access-token-ttl", help="OAuth access token TTL, s."),
    daily_budget: Optional[int] = typer.Option(None, "--daily-budget", help="Tokens per day (default by plan, seats)."),
    seats: Optional[int] = typer.Option(None, "--seats", help="Seats (daily budget = 30,000 x plan multiplier x seats)."),
    v1_removed: bool = typer.Option(False, "--v1-removed", help="Deprecated v1 list endpoints answer 410."),
    frozen_clock: Optional[str] = typer.Option(
        None, "--frozen-clock", help="Freeze the simulated clock at this UTC time, e.g. 2026-07-01T00:00:00Z."
    ),
    log_level: Optional[str] = typer.Option(None, "--log-level", help="Server log level (default warning)."),
) -> None:
    """Serve the bundled Pipedrive API simulator (same as `python -m pipedrive_source.simulator`)."""
    from pipedrive_source.simulator.__main__ import main as sim_main

    argv = ["--port", str(port), "--seed", str(seed), "--scale", scale, "--plan", plan]
    if no_rate_limit:
        argv.append("--no-rate-limit")
    if v1_removed:
        argv.append("--v1-removed")
    for flag, value in (
        ("--faults", faults),
        ("--api-token", api_token),
        ("--user-token", user_token),
        ("--oauth-client", oauth_client),
        ("--access-token-ttl", access_token_ttl),
        ("--daily-budget", daily_budget),
        ("--seats", seats),
        ("--frozen-clock", frozen_clock),
        ("--log-level", log_level),
    ):
        if value is not None:
            argv += [flag, str(value)]
    try:
        code = sim_main(argv)
    except KeyboardInterrupt:
        code = 0
    except SystemExit as exc:  # argparse inside the simulator
        code = exc.code if isinstance(exc.code, int) else EXIT_CONFIG
    raise typer.Exit(code or 0)


@app.command()
def tables(
    markdown: bool = typer.Option(False, "--markdown", help="Print the Markdown table used in README.md."),
    update_readme: Optional[Path] = typer.Option(
        None, "--update-readme", help="Rewrite the section between the tables markers of this README."
    ),
) -> None:
    """The table layout: every table, its sync strategy, primary key and contents."""
    rows = table_layout()
    if update_readme:
        path = update_readme
        try:
            text = path.read_text()
            path.write_text(replace_readme_tables(text, layout_markdown(rows)))
        except (OSError, ValueError) as exc:
            _die(EXIT_CONFIG, f"cannot update {path}: {exc}")
        typer.echo(f"updated the table section of {path}")
        return
    if markdown:
        typer.echo(layout_markdown(rows), nl=False)
        return
    from rich.table import Table

    t = Table(title="pipedrive-source tables", title_justify="left")
    for col in ("table", "strategy", "primary key", "contents"):
        t.add_column(col)
    for r in rows:
        t.add_row(*r)
    _console().print(t)


def table_layout() -> list[tuple[str, str, str, str]]:
    """(table, strategy, primary key, description) rows from the entity table."""
    from pipedrive_source.entities import table_layout as layout

    return [(r["table"], r["strategy"], r["primary_key"], r["description"]) for r in layout()]


README_TABLES_START = "<!-- tables:start -->"
README_TABLES_END = "<!-- tables:end -->"


def readme_tables(text: str) -> str:
    """The generated section of a README (between the markers), without the markers."""
    start, end = text.find(README_TABLES_START), text.find(README_TABLES_END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {README_TABLES_START} ... {README_TABLES_END} section")
    return text[start + len(README_TABLES_START) : end].strip("\n") + "\n"


def replace_readme_tables(text: str, markdown: str) -> str:
    readme_tables(text)  # validates the markers
    start = text.index(README_TABLES_START) + len(README_TABLES_START)
    end = text.index(README_TABLES_END)
    return text[:start] + "\n" + markdown + text[end:]


def layout_markdown(rows: list[tuple[str, str, str, str]]) -> str:
    """The README table: one line per table, pipes escaped."""

    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    lines = ["| table | strategy | primary key | contents |", "|---|---|---|---|"]
    for t, strategy, pk, desc in rows:
        lines.append(f"| `{cell(t)}` | {cell(strategy)} | {cell(pk)} | {cell(desc)} |")
    return "\n".join(lines) + "\n"


@app.command(epilog=EXIT_CODES_HELP)
def status(
    pipeline_name: str = typer.Option(DEFAULT_PIPELINE, "--pipeline-name", help="dlt pipeline name (demo: pipedrive_demo)."),
    pipelines_dir: Optional[Path] = PipelinesDirOpt,
    counts: bool = typer.Option(True, "--counts/--no-counts", help="Count rows in the destination (one query per table)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    duckdb_path: Optional[Path] = typer.Option(
        None, "--duckdb-path", help="DuckDB file of the pipeline (default: the one its last CLI run used)."
    ),
) -> None:
    """What the last sync did: per entity window, rows, requests/tokens, daily budget seen."""
    import dlt

    dir_ = _pipelines_dir(pipelines_dir)
    try:
        pipeline = dlt.attach(pipeline_name, pipelines_dir=dir_)
    except Exception:  # noqa: BLE001
        where = pipelines_dir or "the default pipelines dir"
        _die(EXIT_CONFIG, f"no pipeline {pipeline_name!r} in {where}; run `pipedrive-sync run` (or demo) first")
    count_note = None
    if pipeline.destination is not None and pipeline.destination.destination_name == "duckdb":
        # the DuckDB file is not part of dlt's state: without it, attach would open a new empty file
        path = duckdb_path or _read_last_run(pipeline).get("duckdb_path")
        if path and Path(path).exists():
            pipeline = dlt.attach(pipeline_name, pipelines_dir=dir_, destination=dlt.destinations.duckdb(str(path)))
        else:
            counts = False
            count_note = f"DuckDB file {path or '?'} not found; pass --duckdb-path"
    report = status_report(pipeline, counts=counts)
    if count_note:
        report["count_error"] = count_note
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    _print_status(report)


def status_report(pipeline: Any, *, counts: bool = True) -> dict[str, Any]:
    """Collect the status facts from the pipeline state, the last trace, our last-run file and the destination."""
    state = pipeline.state
    source_state = (state.get("sources") or {}).get("pipedrive", {}) if isinstance(state, dict) else {}
    resources = source_state.get("resources", {}) or {}
    entities: dict[str, dict[str, Any]] = {}
    for name, rstate in resources.items():
        entities[name] = {"window": _window_of(rstate)}
    last_run = _read_last_run(pipeline)
    state_last_run = source_state.get("last_run")
    if isinstance(state_last_run, dict):
        last_run = {**state_last_run, **{k: v for k, v in last_run.items() if k not in state_last_run}}
    table_counts: dict[str, int] = {}
    count_error = None
    if counts:
        try:
            table_counts = destination_counts(pipeline)
        except Exception as exc:  # noqa: BLE001
            count_error = _first_line(str(exc))
    for table, n in table_counts.items():
        entities.setdefault(table, {})["rows_in_destination"] = n
    for table, n in (last_run.get("rows") or {}).items():
        entities.setdefault(table, {})["rows_last_run"] = n
    return {
        "pipeline": pipeline.pipeline_name,
        "destination": pipeline.destination.destination_name if pipeline.destination else None,
        "dataset": pipeline.dataset_name,
        "last_run": {
            k: last_run.get(k)
            for k in ("status", "exit_code", "finished_at", "requests", "tokens", "seconds", "resume_at", "message")
            if k in last_run
        },
        "daily_budget_seen": _budget_seen(last_run.get("client_stats") or {}),
        "entities": dict(sorted(entities.items())),
        "count_error": count_error,
    }


def _window_of(rstate: Any) -> dict[str, Any]:
    """Pull since/until-like values out of a resource's state, whatever the exact layout."""
    out: dict[str, Any] = {}
    for key, value in _flatten(rstate):
        leaf = key.rsplit(".", 1)[-1]
        if leaf in ("last_value", "since", "until", "last_since", "last_until", "high_water", "high_water_mark"):
            out[key] = value
        elif leaf in ("last_reconcile", "last_reconciled_at", "reconciled_at"):
            out[key] = value
    return out


def _read_last_run(pipeline: Any) -> dict[str, Any]:
    path = Path(pipeline.working_dir) / LAST_RUN_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def destination_counts(pipeline: Any) -> dict[str, int]:
    """Row count per data table in the destination (soft-deleted rows included), via SQLAlchemy (db.py)."""
    from pipedrive_source.db import pipeline_engine, table_counts

    with pipeline_engine(pipeline) as (engine, schema):
        return table_counts(engine, schema)


_SHORT_KEYS = {"last_until": "until", "high_water": "newest", "reconciled_at": "reconciled", "last_value": "last"}


def _short_key(key: str) -> str:
    parts = key.split(".")
    leaf = _SHORT_KEYS.get(parts[-1], parts[-1])
    return f"pending {leaf}" if "pending" in parts else leaf


def _print_status(report: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    console.print(
        f"pipeline [bold]{report['pipeline']}[/bold] -> {report['destination']} dataset {report['dataset']}"
    )
    lr = report["last_run"]
    if lr:
        console.print(
            "last run: "
            + ", ".join(f"{k}={v}" for k, v in lr.items() if v is not None and k != "message")
            + (f"\n  {lr['message']}" if lr.get("message") else "")
        )
    else:
        console.print("last run: unknown (no run recorded by this CLI)")
    if report["daily_budget_seen"]:
        console.print(f"daily budget seen: {report['daily_budget_seen']}")
    t = Table(title="per table", title_justify="left")
    t.add_column("table", no_wrap=True)
    t.add_column("incremental state", overflow="fold")
    t.add_column("rows last run", justify="right")
    t.add_column("rows in destination", justify="right")
    for name, info in report["entities"].items():
        window = ", ".join(f"{_short_key(k)} {v}" for k, v in (info.get("window") or {}).items())
        t.add_row(
            name,
            window,
            str(info.get("rows_last_run", "")),
            str(info.get("rows_in_destination", "")),
        )
    console.print(t)
    if report.get("count_error"):
        console.print(f"[yellow]could not count destination rows: {report['count_error']}[/yellow]")


_skip_finalization = False


def _exit_now(code: int) -> NoReturn:
    """Leave without interpreter finalization (see `demo`): flush our output, then _exit."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) the documented exit code."""
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_FAILURE)
        if argv is None:
            if _skip_finalization:
                _exit_now(code)
            raise
        return code
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, no traceback
        code, message = classify_exception(exc)
        _err(message)
        if os.environ.get("PIPEDRIVE_SYNC_DEBUG"):
            raise
        if argv is None:
            sys.exit(code)
        return code
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    main()
