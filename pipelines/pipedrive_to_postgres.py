"""Template: sync Pipedrive into PostgreSQL with the pipedrive-source runner.

Needs the postgres extra (`pip install 'pipedrive-source[postgres]'`). Credentials only from dlt config:

    export SOURCES__PIPEDRIVE__API_TOKEN=...
    export SOURCES__PIPEDRIVE__COMPANY_DOMAIN=acme
    export DESTINATION__POSTGRES__CREDENTIALS=postgresql://loader:password@db.example.com:5432/analytics
    python pipelines/pipedrive_to_postgres.py

(or the same keys in .dlt/secrets.toml). Tables land in schema DATASET. Exit codes as the CLI: 0 ok,
1 failure, 2 bad config, 3 stopped by the daily token budget (resumable).
"""

from __future__ import annotations

import sys

from pipedrive_source.progress import SyncProgress
from pipedrive_source.runner import DEFAULT_DATASET, ConfigError, make_pipeline, run_sync

DATASET = DEFAULT_DATASET  # "crm" (a schema named like the DuckDB file would confuse DuckDB's binder)
PIPELINE_NAME = "pipedrive_postgres"
ENTITIES: list[str] | None = None  # None = default set
RECONCILE_NOW = False  # True: run the id reconciliation (deleted persons/orgs/...) in this run


def main() -> int:
    progress = SyncProgress("auto")  # live table on a terminal, log lines under cron/systemd; "none" to silence
    pipeline = make_pipeline("postgres", dataset_name=DATASET, pipeline_name=PIPELINE_NAME, progress=progress)
    overrides = {"entities": ENTITIES} if ENTITIES else {}
    progress.begin()
    try:
        result = run_sync(pipeline, reconcile_now=RECONCILE_NOW, **overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        progress.end()
    print(
        f"{result.status}: {sum(result.rows.values())} rows in {len(result.rows)} tables, "
        f"{result.requests} requests, {result.tokens} tokens, {result.seconds:.1f}s"
    )
    if result.message:
        print(result.message, file=sys.stderr if result.exit_code else sys.stdout)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
