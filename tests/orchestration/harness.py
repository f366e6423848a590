"""Shared steps of the orchestration tests: clean subprocess env, JSON-reporting runs, DuckDB truth checks.

The orchestrators run as subprocesses of their own venvs (see ``venvs.py``); the test process keeps
the simulator (in-process, real HTTP) and reads the DuckDB file afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx

from pipedrive_source.entities import ENTITIES
from pipedrive_source.options import SyncOptions

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DATASET = "crm"  # runner.DEFAULT_DATASET, used by both orchestrators by default
_LEAKY_PREFIXES = ("SOURCES__", "DESTINATION__", "PIPEDRIVE_", "AIRFLOW", "DLT_", "DAGSTER", "EXTRACT__",
                   "NORMALIZE__", "LOAD__", "RUNTIME__", "DATA_WRITER__")
_LEAKY_NAMES = {"PYTHONPATH", "API_TOKEN", "BASE_URL", "CREDENTIALS"}


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment minus anything that could steer dlt/Airflow/Dagster, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_LEAKY_PREFIXES) and k not in _LEAKY_NAMES}
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    # the orchestrator venvs hold dependencies only: the code under test comes from this checkout
    env.update(TMPDIR=str(tmp), RUNTIME__DLTHUB_TELEMETRY="false", PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
    env.update(extra)
    return env


def run_json(cmd: list[str], env: dict[str, str], log: Path, timeout: float) -> dict[str, Any]:
    """Run ``cmd``; its last stdout line is a JSON report. Output goes to ``log`` (shown on failure)."""
    with open(log, "w") as out:
        proc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                              cwd=log.parent, check=False)  # the report says what went wrong
    lines = log.read_text(errors="replace").splitlines()
    report: dict[str, Any] | None = None
    for line in reversed(lines):
        if line.startswith("{") and line.endswith("}"):
            try:
                report = json.loads(line)
                break
            except ValueError:
                continue
    if report is None:
        tail = "\n".join(lines[-60:])
        raise AssertionError(f"{cmd[1:3]} exited {proc.returncode} without a report; log {log}:\n{tail}")
    report["returncode"] = proc.returncode
    report["log"] = str(log)
    return report


def log_tail(report: dict[str, Any], n: int = 80) -> str:
    lines = Path(report["log"]).read_text(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def table_counts(db_path: Path, dataset: str = DATASET) -> dict[str, int]:
    """Rows per data table (dlt's own ``_dlt_*`` tables left out)."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [dataset]).fetchall()]
        return {n: con.execute(f'select count(*) from "{dataset}"."{n}"').fetchone()[0]
                for n in names if not n.startswith("_dlt")}


def query(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def expected_entity_counts(company: Any) -> dict[str, int]:
    """Truth from the simulated company for every default entity it stores (deals incl. deleted: soft deletes)."""
    expected: dict[str, int] = {}
    for entity in ENTITIES:
        if entity.default and entity.name in company.stores and not entity.admin_only:
            expected[entity.name] = company.count(entity.name, include_deleted_deals=True)
    return expected


def assert_synced(db_path: Path, company: Any) -> dict[str, int]:
    """Every default entity table is there with exactly the simulator's rows, plus field metadata."""
    counts = table_counts(db_path)
    expected = expected_entity_counts(company)
    assert {"deals", "persons", "organizations", "activities"} <= set(expected)
    wrong = {t: (counts.get(t), n) for t, n in expected.items() if counts.get(t) != n}
    assert not wrong, f"table: (loaded, simulator) differ: {wrong}; all counts {counts}"
    for fields_table in ("deal_fields", "person_fields", "organization_fields", "activity_fields"):
        assert counts.get(fields_table, 0) > 0, f"{fields_table} missing or empty: {counts}"
    assert counts.get("deal_products", 0) > 0, f"per-deal children missing: {counts}"
    return counts


def total_requests(stats: dict[str, Any], method: str = "GET") -> int:
    return sum(n for key, n in stats["requests"].items() if key.startswith(method + " "))


def change_deal(sim: Any, title: str) -> int:
    """Rename one deal through the API (a real write), return its id once the next run must see it.

    A run's window ends ``safety_lag_seconds`` before the server's clock (changes younger than that
    are left to the run after), so the rename is only due once that lag has passed; waiting here keeps
    the test independent of how fast the orchestrator starts the next run.
    """
    deal_id = next(company_ids(sim.company, "deals"))
    resp = httpx.put(f"{sim.base_url}/deals/{deal_id}", params={"api_token": sim.config.api_token},
                     json={"title": title}, timeout=30)
    resp.raise_for_status()
    time.sleep(SyncOptions().safety_lag_seconds + 1.0)  # + 1 s: v1 timestamps have whole seconds
    return deal_id


def company_ids(company: Any, entity: str):
    return company.visible_ids(entity)
