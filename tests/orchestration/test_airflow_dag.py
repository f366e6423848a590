"""The Airflow DAG end to end: ``dag.test()`` in its own venv and AIRFLOW_HOME against the simulator.

Run 1 takes credentials from an Airflow connection, run 2 from the ``dlt_secrets_toml`` Variable;
run 2 follows a deal rename and must be incremental (few requests, the change arrives).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.orchestration.harness import (
    REPO,
    assert_synced,
    change_deal,
    clean_env,
    expected_entity_counts,
    log_tail,
    query,
    run_json,
    total_requests,
)
from tests.orchestration.venvs import ensure_venv

pytestmark = [pytest.mark.orchestration, pytest.mark.timeout(1800)]

DAG_FILE = REPO / "pipelines" / "airflow_dag.py"
CURSOR_TASKS = {"pipedrive_deals", "pipedrive_persons", "pipedrive_organizations", "pipedrive_activities"}


def _airflow_home(venv: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "airflow"
    dags = home / "dags"
    dags.mkdir(parents=True)
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    base = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # parsing imports Airflow + dlt (~7 s CPU); four parses at once on 2 shared cores exceed the 30 s default
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
        "PIPEDRIVE_DUCKDB_PATH": str(tmp_path / "pipedrive.duckdb"),
        "PIPEDRIVE_TASK_RETRIES": "0",
    }
    log = tmp_path / "db-migrate.log"
    with open(log, "w") as out:
        rc = subprocess.run([str(venv / "bin" / "airflow"), "db", "migrate"], env=clean_env(tmp_path, **base),
                            stdout=out, stderr=subprocess.STDOUT, timeout=600, check=False).returncode
    assert rc == 0, log.read_text()[-3000:]
    return dags / DAG_FILE.name, base


def _run_dag(venv: Path, dag_file: Path, env: dict[str, str], logical: str, log: Path) -> dict:
    cmd = [str(venv / "bin" / "python"), str(Path(__file__).with_name("airflow_run.py")), str(dag_file),
           "pipedrive_sync", logical]
    return run_json(cmd, env, log, timeout=1200)


def test_airflow_dag_full_then_incremental(simulator, tmp_path):
    venv = ensure_venv("airflow")
    dag_file, base = _airflow_home(venv, tmp_path)
    db = Path(base["PIPEDRIVE_DUCKDB_PATH"])
    connection = json.dumps({"conn_type": "http", "host": simulator.base_url,
                             "password": simulator.config.api_token})

    run1 = _run_dag(venv, dag_file, clean_env(tmp_path, **base, AIRFLOW_CONN_PIPEDRIVE_DEFAULT=connection),
                    "2026-11-23T10:00:00+00:00", tmp_path / "run1.log")
    assert run1["dag_run_state"] == "success", log_tail(run1)
    tasks = run1["tasks"]
    assert {"pipedrive_reference", "done"} | CURSOR_TASKS <= set(tasks), tasks
    assert len(tasks) > len(CURSOR_TASKS) + 2, f"no 'rest' stage: {tasks}"
    assert set(tasks.values()) == {"success"}, tasks
    assert_synced(db, simulator.company)
    run1_gets = total_requests(simulator.stats())

    deal_id = change_deal(simulator, "renamed between Airflow runs")
    simulator.reset_stats()
    secrets_toml = (f'[sources.pipedrive]\napi_token = "{simulator.config.api_token}"\n'
                    f'base_url = "{simulator.base_url}"\n')
    run2 = _run_dag(venv, dag_file, clean_env(tmp_path, **base, AIRFLOW_VAR_DLT_SECRETS_TOML=secrets_toml),
                    "2026-11-23T11:00:00+00:00", tmp_path / "run2.log")
    assert run2["dag_run_state"] == "success", log_tail(run2)
    assert set(run2["tasks"].values()) == {"success"}, run2["tasks"]

    stats = simulator.stats()
    run2_gets = total_requests(stats)
    assert run2_gets * 3 < run1_gets, f"run 2 not incremental: {run2_gets} vs {run1_gets} GETs; {stats['requests']}"
    per_deal = sum(n for k, n in stats["requests"].items() if k.startswith("GET /v1/deals/{id}/"))
    assert per_deal <= 3, f"children re-fetched for unchanged deals: {stats['requests']}"
    assert query(db, 'select title from crm.deals where id = ?', [deal_id]) == [
        ("renamed between Airflow runs",)]
    assert_synced(db, simulator.company)


@pytest.mark.parametrize("destination, parallel", [("duckdb", 1), ("postgres", 3)])
def test_airflow_dag_layout_parses_without_credentials(tmp_path, destination, parallel):
    """Parsing needs no secrets and makes no request; stages run in order, entities in parallel."""
    venv = ensure_venv("airflow")
    env = clean_env(tmp_path, AIRFLOW_HOME=str(tmp_path / "airflow"), PIPEDRIVE_DESTINATION=destination,
                    AIRFLOW__CORE__LOAD_EXAMPLES="False")
    report = run_json([str(venv / "bin" / "python"), str(Path(__file__).with_name("airflow_run.py")),
                       str(DAG_FILE), "pipedrive_sync", "structure"], env, tmp_path / "parse.log", timeout=300)
    graph = report["tasks"]
    rest = set(graph) - CURSOR_TASKS - {"pipedrive_reference", "done"}
    assert rest >= {"pipedrive_notes", "pipedrive_leads", "pipedrive_products"}, graph
    assert set(graph["pipedrive_reference"]) == CURSOR_TASKS | {"done"}
    for task in CURSOR_TASKS:
        assert set(graph[task]) == rest | {"done"}, (task, graph[task])
    for task in rest:
        assert graph[task] == ["done"]
    assert graph["done"] == []
    assert report["trigger_rules"]["done"] == "all_success"  # any failed entity fails the run
    assert {report["trigger_rules"][t] for t in CURSOR_TASKS | rest} == {"all_done"}
    assert report["max_active_tasks"] == parallel and report["max_active_runs"] == 1
    assert report["retries"]["pipedrive_deals"] == 3


def _run_tasks_concurrently(venv: Path, env: dict[str, str], task_ids: list[str], logical: str,
                            logs: Path) -> dict[str, int]:
    """What parallel Airflow workers do: each task in its own process (``airflow tasks test``), at once.

    Each process gets its own logical date (``logical`` + i seconds): ``airflow tasks test`` creates the
    dag run when none exists, so several of them starting on one logical date race to insert the same
    ``dag_run`` row ("UNIQUE constraint failed: dag_run.dag_id, dag_run.logical_date" in the metadata
    DB). The sync itself does not read the logical date.
    """
    logs.mkdir(exist_ok=True)
    start = datetime.fromisoformat(logical)
    with ExitStack() as stack:
        procs = {}
        for i, task_id in enumerate(task_ids):
            out = stack.enter_context(open(logs / f"{task_id}.log", "w"))
            task_logical = (start + timedelta(seconds=i)).isoformat()
            procs[task_id] = subprocess.Popen(
                [str(venv / "bin" / "airflow"), "tasks", "test", "pipedrive_sync", task_id, task_logical],
                env=env, stdout=out, stderr=subprocess.STDOUT)
        return {task_id: proc.wait(timeout=900) for task_id, proc in procs.items()}


def _pg_counts(engine, tables: list[str]) -> dict[str, int]:
    with engine.connect() as con:
        present = {r[0] for r in con.execute(sa.text(
            "select table_name from information_schema.tables where table_schema = 'crm'"))}
        return {t: con.execute(sa.text(f'select count(*) from crm."{t}"')).scalar() for t in tables if t in present}


@pytest.mark.postgres
def test_airflow_parallel_tasks_into_postgres(simulator, postgres_db, tmp_path):
    """The cursor entities really run at the same time (separate processes) into one Postgres dataset."""
    venv = ensure_venv("airflow")
    _, base = _airflow_home(venv, tmp_path)
    connection = json.dumps({"conn_type": "http", "host": simulator.base_url,
                             "password": simulator.config.api_token})
    env = clean_env(tmp_path, **base, PIPEDRIVE_DESTINATION="postgres",
                    DESTINATION__POSTGRES__CREDENTIALS=postgres_db.dlt_credentials,
                    AIRFLOW_CONN_PIPEDRIVE_DEFAULT=connection)
    logical = "2026-11-23T10:00:00+00:00"
    assert _run_tasks_concurrently(venv, env, ["pipedrive_reference"], logical, tmp_path / "s1") == {
        "pipedrive_reference": 0}
    cursor = sorted(CURSOR_TASKS)
    codes = _run_tasks_concurrently(venv, env, cursor, logical, tmp_path / "s2")
    assert codes == dict.fromkeys(cursor, 0), (codes, tmp_path / "s2")

    company = simulator.company
    entities = ["deals", "persons", "organizations", "activities", "users", "pipelines", "stages"]
    expected = {t: n for t, n in expected_entity_counts(company).items() if t in entities}
    engine = postgres_db.engine()
    assert _pg_counts(engine, entities) == expected
    assert _pg_counts(engine, ["deal_products", "person_emails"])["deal_products"] > 0
    with engine.connect() as con:
        names = {r[0] for r in con.execute(sa.text("select distinct pipeline_name from crm._dlt_pipeline_state"))}
    assert names == {"pipedrive_reference"} | CURSOR_TASKS

    # again, concurrently: each task restored its own state, so this is incremental
    deal_id = change_deal(simulator, "renamed between parallel runs")
    simulator.reset_stats()
    codes = _run_tasks_concurrently(venv, env, cursor, "2026-11-23T11:00:00+00:00", tmp_path / "s3")
    assert codes == dict.fromkeys(cursor, 0), codes
    stats = simulator.stats()
    per_deal = sum(n for k, n in stats["requests"].items() if k.startswith("GET /v1/deals/{id}/"))
    assert per_deal <= 3 and total_requests(stats) < 40, stats["requests"]
    with engine.connect() as con:
        title = con.execute(sa.text("select title from crm.deals where id = :i"), {"i": deal_id}).scalar()
    assert title == "renamed between parallel runs"
    assert _pg_counts(engine, entities) == expected
