"""Template: sync Pipedrive into a local DuckDB file with the pipedrive-source runner.

Copy it, edit the constants, run it from a directory holding `.dlt/secrets.toml` (or with env vars):

    export SOURCES__PIPEDRIVE__API_TOKEN=...          # or OAuth keys, see .dlt/secrets.toml.example
    export SOURCES__PIPEDRIVE__COMPANY_DOMAIN=acme    # https://acme.pipedrive.com
    python pipelines/pipedrive_to_duckdb.py

Every run is incremental (state lives in the pipelines dir and in the DuckDB file itself). The exit code is
the CLI's: 0 ok, 1 failure, 2 bad config, 3 stopped by the daily token budget (run again after the reset).
"""

from __future__ import annotations

import sys

from pipedrive_source.progress import SyncProgress
from pipedrive_source.runner import DEFAULT_DATASET, ConfigError, make_pipeline, run_sync

DUCKDB_PATH = "pipedrive.duckdb"
DATASET = DEFAULT_DATASET  # "crm" (a schema named like the DuckDB file would confuse DuckDB's binder)
PIPELINE_NAME = "pipedrive"
ENTITIES: list[str] | None = None  # e.g. ["deals", "persons", "organizations"]; None = default set


def main() -> int:
    progress = SyncProgress("auto")  # live table on a terminal, log lines under cron/systemd; "none" to silence
    pipeline = make_pipeline(
        "duckdb", dataset_name=DATASET, pipeline_name=PIPELINE_NAME, duckdb_path=DUCKDB_PATH, progress=progress
    )
    overrides = {"entities": ENTITIES} if ENTITIES else {}
    progress.begin()
    try:
        result = run_sync(pipeline, **overrides)
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
