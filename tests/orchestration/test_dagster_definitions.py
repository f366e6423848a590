"""The Dagster definitions end to end: materialise every asset in-process (own venv) against the simulator.

Run 1 executes job ``pipedrive_sync``; run 2 goes through the ``pipedrive_hourly`` schedule's run
request after a deal rename and must be incremental.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipedrive_source.source import pipedrive_source
from tests.orchestration.harness import (
    REPO,
    assert_synced,
    change_deal,
    clean_env,
    log_tail,
    query,
    run_json,
    total_requests,
)
from tests.orchestration.venvs import ensure_venv

pytestmark = [pytest.mark.orchestration, pytest.mark.timeout(1800)]

DEFINITIONS = REPO / "pipelines" / "dagster_definitions.py"
RUNNER = Path(__file__).with_name("dagster_run.py")


def test_dagster_assets_full_then_scheduled_incremental(simulator, tmp_path):
    venv = ensure_venv("dagster")
    db = tmp_path / "pipedrive.duckdb"
    env = clean_env(
        tmp_path,
        SOURCES__PIPEDRIVE__API_TOKEN=simulator.config.api_token,
        SOURCES__PIPEDRIVE__BASE_URL=simulator.base_url,
        PIPEDRIVE_DUCKDB_PATH=str(db),
        PIPEDRIVE_PIPELINES_DIR=str(tmp_path / "dlt-pipelines"),
        DAGSTER_HOME=str(tmp_path / "dagster"),
    )
    (tmp_path / "dagster").mkdir()
    python = str(venv / "bin" / "python")

    # the code location loads the way `dagster dev -f` / a deployment loads it
    validate = subprocess.run([str(venv / "bin" / "dagster"), "definitions", "validate", "-f", str(DEFINITIONS)],
                              env=env, capture_output=True, text=True, timeout=600, check=False)
    assert validate.returncode == 0, validate.stderr[-3000:]
    assert "All code locations passed validation" in validate.stdout + validate.stderr

    run1 = run_json([python, str(RUNNER), str(DEFINITIONS), "all"], env, tmp_path / "run1.log", timeout=1200)
    assert run1["success"], log_tail(run1)
    resources = pipedrive_source(api_token="x", base_url="http://unused.invalid/api/v1").selected_resources
    expected_keys = {f"pipedrive/{name}" for name in resources}
    assert set(run1["asset_keys"]) == expected_keys
    assert set(run1["materialized"]) == expected_keys, "every asset materialised"
    assert_synced(db, simulator.company)
    run1_gets = total_requests(simulator.stats())

    deal_id = change_deal(simulator, "renamed between Dagster runs")
    simulator.reset_stats()
    run2 = run_json([python, str(RUNNER), str(DEFINITIONS), "schedule"], env, tmp_path / "run2.log", timeout=1200)
    assert run2["success"], log_tail(run2)
    assert run2["schedule"] == {"cron": "0 * * * *", "run_requests": 1}
    assert set(run2["materialized"]) == expected_keys

    stats = simulator.stats()
    run2_gets = total_requests(stats)
    assert run2_gets * 3 < run1_gets, f"run 2 not incremental: {run2_gets} vs {run1_gets} GETs; {stats['requests']}"
    per_deal = sum(n for k, n in stats["requests"].items() if k.startswith("GET /v1/deals/{id}/"))
    assert per_deal <= 3, f"children re-fetched for unchanged deals: {stats['requests']}"
    assert query(db, "select title from crm.deals where id = ?", [deal_id]) == [
        ("renamed between Dagster runs",)]
    assert_synced(db, simulator.company)
